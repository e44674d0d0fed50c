"""A problem keeps its household's village; the ledger and the overview read covering indexes.

problems.village_code is filled from the households, then required. Two indexes: (village,
status, category, responsible unit, deadline), from which an area's problems are counted without
reading the table, and (created_at, id), the order of a ledger page.

Revision ID: 0009_problem_village
Revises: 0008_monitoring
Create Date: 2026-11-28 13:00:00.000000+00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = '0009_problem_village'
down_revision: Union[str, Sequence[str], None] = '0008_monitoring'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('problems', schema=None) as batch_op:
        batch_op.add_column(sa.Column('village_code', sa.String(length=32), nullable=True))
    op.execute(
        "UPDATE problems SET village_code = "
        "(SELECT households.village_code FROM households WHERE households.id = problems.household_id)"
    )
    with op.batch_alter_table('problems', schema=None) as batch_op:
        batch_op.alter_column('village_code', existing_type=sa.String(length=32), nullable=False)
        batch_op.create_foreign_key(
            batch_op.f('fk_problems_village_code_areas'), 'areas', ['village_code'], ['code']
        )
        batch_op.create_index(
            'ix_problems_village_code_status',
            ['village_code', 'status', 'category', 'responsible_unit', 'deadline'],
            unique=False,
        )
        batch_op.create_index('ix_problems_created_at', ['created_at', 'id'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('problems', schema=None) as batch_op:
        batch_op.drop_index('ix_problems_created_at')
        batch_op.drop_index('ix_problems_village_code_status')
        batch_op.drop_constraint(batch_op.f('fk_problems_village_code_areas'), type_='foreignkey')
        batch_op.drop_column('village_code')
