"""Household history and check amendments.

The history of households changed by roster imports (household_changes); versions of check
records (check_id, version, latest, previous_id, who amended and why); the session that
amends a record; and the "withdrawn" problem status (closed as raised in error).

Revision ID: 0003_offices
Revises: 0002
Create Date: 2026-11-23 13:30:00.000000+00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = '0003_offices'
down_revision: Union[str, Sequence[str], None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

OLD_STATUSES = "status IN ('open', 'in_progress', 'rectified', 'verified')"
NEW_STATUSES = "status IN ('open', 'in_progress', 'rectified', 'verified', 'withdrawn')"


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('household_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('changes', sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'], name=op.f('fk_household_changes_household_id_households')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_household_changes_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_household_changes'))
    )
    with op.batch_alter_table('household_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_household_changes_household_id'), ['household_id'], unique=False)

    with op.batch_alter_table('check_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('check_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('latest', sa.Boolean(), server_default=sa.text('true'), nullable=False))
        batch_op.add_column(sa.Column('previous_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('amended_by_user_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('amended_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('amendment_reason', sa.Text(), nullable=True))
        batch_op.create_index(batch_op.f('ix_check_records_check_id'), ['check_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_check_records_previous_id_check_records'), 'check_records', ['previous_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_check_records_amended_by_user_id_users'), 'users', ['amended_by_user_id'], ['id'])
    op.execute("UPDATE check_records SET check_id = id WHERE check_id IS NULL")

    with op.batch_alter_table('check_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('amends_record_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('amendment_reason', sa.Text(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_check_sessions_amends_record_id_check_records'), 'check_records', ['amends_record_id'], ['id'])

    with op.batch_alter_table('problems', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_problems_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_problems_status'), NEW_STATUSES)


def downgrade() -> None:
    """Downgrade schema."""
    op.execute("UPDATE problems SET status = 'verified' WHERE status = 'withdrawn'")
    with op.batch_alter_table('problems', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_problems_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_problems_status'), OLD_STATUSES)

    with op.batch_alter_table('check_sessions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_check_sessions_amends_record_id_check_records'), type_='foreignkey')
        batch_op.drop_column('amendment_reason')
        batch_op.drop_column('amends_record_id')

    with op.batch_alter_table('check_records', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_check_records_amended_by_user_id_users'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_check_records_previous_id_check_records'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_check_records_check_id'))
        batch_op.drop_column('amendment_reason')
        batch_op.drop_column('amended_at')
        batch_op.drop_column('amended_by_user_id')
        batch_op.drop_column('previous_id')
        batch_op.drop_column('latest')
        batch_op.drop_column('version')
        batch_op.drop_column('check_id')

    with op.batch_alter_table('household_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_household_changes_household_id'))

    op.drop_table('household_changes')
