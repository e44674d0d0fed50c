"""Initial schema.

Areas, users, invitations, households, members, check sessions and records, problems with
their history, and the audit trail.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 12:57:36.935096+00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# JSONB on PostgreSQL, JSON text elsewhere (storage.models.JSONDocument).
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

# revision identifiers, used by Alembic.
revision: str = '0001'
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('areas',
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('parent_code', sa.String(length=32), nullable=True),
    sa.Column('province', sa.String(length=32), nullable=True),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('settings', JSON_DOCUMENT, nullable=False),
    sa.CheckConstraint("level IN ('county', 'township', 'village', 'group')", name=op.f('ck_areas_level')),
    sa.ForeignKeyConstraint(['parent_code'], ['areas.code'], name=op.f('fk_areas_parent_code_areas')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_areas'))
    )
    with op.batch_alter_table('areas', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_areas_parent_code'), ['parent_code'], unique=False)

    op.create_table('households',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('village_code', sa.String(length=32), nullable=False),
    sa.Column('group_name', sa.String(length=100), nullable=True),
    sa.Column('number', sa.String(length=64), nullable=False),
    sa.Column('head_name', sa.String(length=100), nullable=False),
    sa.Column('head_id_number', sa.String(length=32), nullable=True),
    sa.Column('household_type', sa.String(length=16), nullable=True),
    sa.Column('help_cadre', sa.String(length=100), nullable=True),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['village_code'], ['areas.code'], name=op.f('fk_households_village_code_areas')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_households')),
    sa.UniqueConstraint('village_code', 'number', name=op.f('uq_households_village_code_number'))
    )
    with op.batch_alter_table('households', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_households_head_name'), ['head_name'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('telegram_id', sa.BigInteger(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('area_code', sa.String(length=32), nullable=False),
    sa.Column('language', sa.String(length=16), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('cadre', 'leader', 'office')", name=op.f('ck_users_role')),
    sa.ForeignKeyConstraint(['area_code'], ['areas.code'], name=op.f('fk_users_area_code_areas')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('telegram_id', name=op.f('uq_users_telegram_id'))
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_users_area_code'), ['area_code'], unique=False)

    op.create_table('audit_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('details', JSON_DOCUMENT, nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_audit_entries_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_entries'))
    )
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_entries_at'), ['at'], unique=False)

    op.create_table('check_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('form_id', sa.String(length=64), nullable=False),
    sa.Column('state', JSON_DOCUMENT, nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('chat_id', sa.BigInteger(), nullable=False),
    sa.Column('prompt_message_id', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('open', 'submitted', 'discarded')", name=op.f('ck_check_sessions_status')),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'], name=op.f('fk_check_sessions_household_id_households')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_check_sessions_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_check_sessions'))
    )
    with op.batch_alter_table('check_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_check_sessions_household_id'), ['household_id'], unique=False)
        batch_op.create_index('ix_check_sessions_user_id_status', ['user_id', 'status'], unique=False)
        batch_op.create_index('uq_check_sessions_open_user_household', ['user_id', 'household_id'], unique=True, sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"))

    op.create_table('invitations',
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('area_code', sa.String(length=32), nullable=False),
    sa.Column('created_by_user_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('used_by_user_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("role IN ('cadre', 'leader', 'office')", name=op.f('ck_invitations_role')),
    sa.ForeignKeyConstraint(['area_code'], ['areas.code'], name=op.f('fk_invitations_area_code_areas')),
    sa.ForeignKeyConstraint(['created_by_user_id'], ['users.id'], name=op.f('fk_invitations_created_by_user_id_users')),
    sa.ForeignKeyConstraint(['used_by_user_id'], ['users.id'], name=op.f('fk_invitations_used_by_user_id_users')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_invitations'))
    )
    op.create_table('members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('relation', sa.String(length=32), nullable=False),
    sa.Column('id_number', sa.String(length=32), nullable=True),
    sa.Column('sex', sa.String(length=8), nullable=True),
    sa.Column('birth_date', sa.Date(), nullable=True),
    sa.Column('health', sa.String(length=64), nullable=True),
    sa.Column('schooling', sa.String(length=64), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'], name=op.f('fk_members_household_id_households')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_members'))
    )
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_members_household_id'), ['household_id'], unique=False)

    op.create_table('check_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('cadre_user_id', sa.Integer(), nullable=False),
    sa.Column('form_id', sa.String(length=64), nullable=False),
    sa.Column('form_version', sa.String(length=32), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('visit_type', sa.String(length=32), nullable=True),
    sa.Column('housing_grade', sa.String(length=16), nullable=True),
    sa.Column('income_per_person', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('at_risk', sa.Boolean(), nullable=False),
    sa.Column('problems_raised', sa.Integer(), nullable=False),
    sa.Column('answers', JSON_DOCUMENT, nullable=False),
    sa.ForeignKeyConstraint(['cadre_user_id'], ['users.id'], name=op.f('fk_check_records_cadre_user_id_users')),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'], name=op.f('fk_check_records_household_id_households')),
    sa.ForeignKeyConstraint(['session_id'], ['check_sessions.id'], name=op.f('fk_check_records_session_id_check_sessions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_check_records')),
    sa.UniqueConstraint('session_id', name=op.f('uq_check_records_session_id'))
    )
    with op.batch_alter_table('check_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_check_records_cadre_user_id'), ['cadre_user_id'], unique=False)
        batch_op.create_index('ix_check_records_household_id_submitted_at', ['household_id', 'submitted_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_check_records_submitted_at'), ['submitted_at'], unique=False)

    op.create_table('problems',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('check_record_id', sa.Integer(), nullable=True),
    sa.Column('rule_id', sa.String(length=64), nullable=True),
    sa.Column('category', sa.String(length=64), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('text_i18n', JSON_DOCUMENT, nullable=False),
    sa.Column('goal', sa.Text(), nullable=False),
    sa.Column('goal_i18n', JSON_DOCUMENT, nullable=False),
    sa.Column('measures', sa.Text(), nullable=False),
    sa.Column('responsible_unit', sa.String(length=100), nullable=False),
    sa.Column('deadline', sa.Date(), nullable=False),
    sa.Column('deadline_tier', sa.String(length=16), nullable=True),
    sa.Column('subject', sa.String(length=100), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_user_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('open', 'in_progress', 'rectified', 'verified')", name=op.f('ck_problems_status')),
    sa.ForeignKeyConstraint(['check_record_id'], ['check_records.id'], name=op.f('fk_problems_check_record_id_check_records')),
    sa.ForeignKeyConstraint(['created_by_user_id'], ['users.id'], name=op.f('fk_problems_created_by_user_id_users')),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'], name=op.f('fk_problems_household_id_households')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_problems'))
    )
    with op.batch_alter_table('problems', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_problems_check_record_id'), ['check_record_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_problems_deadline'), ['deadline'], unique=False)
        batch_op.create_index(batch_op.f('ix_problems_household_id'), ['household_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_problems_status'), ['status'], unique=False)

    op.create_table('problem_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('problem_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=True),
    sa.Column('to_status', sa.String(length=16), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('photo_file_id', sa.String(length=255), nullable=True),
    sa.ForeignKeyConstraint(['problem_id'], ['problems.id'], name=op.f('fk_problem_events_problem_id_problems')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_problem_events_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_problem_events'))
    )
    with op.batch_alter_table('problem_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_problem_events_problem_id'), ['problem_id'], unique=False)



def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('problem_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_problem_events_problem_id'))

    op.drop_table('problem_events')
    with op.batch_alter_table('problems', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_problems_status'))
        batch_op.drop_index(batch_op.f('ix_problems_household_id'))
        batch_op.drop_index(batch_op.f('ix_problems_deadline'))
        batch_op.drop_index(batch_op.f('ix_problems_check_record_id'))

    op.drop_table('problems')
    with op.batch_alter_table('check_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_check_records_submitted_at'))
        batch_op.drop_index('ix_check_records_household_id_submitted_at')
        batch_op.drop_index(batch_op.f('ix_check_records_cadre_user_id'))

    op.drop_table('check_records')
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_members_household_id'))

    op.drop_table('members')
    op.drop_table('invitations')
    with op.batch_alter_table('check_sessions', schema=None) as batch_op:
        batch_op.drop_index('uq_check_sessions_open_user_household', sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"))
        batch_op.drop_index('ix_check_sessions_user_id_status')
        batch_op.drop_index(batch_op.f('ix_check_sessions_household_id'))

    op.drop_table('check_sessions')
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_entries_at'))

    op.drop_table('audit_entries')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_area_code'))

    op.drop_table('users')
    with op.batch_alter_table('households', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_households_head_name'))

    op.drop_table('households')
    with op.batch_alter_table('areas', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_areas_parent_code'))

    op.drop_table('areas')
