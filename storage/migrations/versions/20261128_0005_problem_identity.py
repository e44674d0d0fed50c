"""A problem is one thing over time.

Problem events name the check that raised or saw a problem again (problem_events
.check_record_id); a problem that comes back after its 销号 links to the one it reopens
(problems.reopened_from_id); an open check keeps what the cadre said about earlier problems no
longer raised (check_sessions.resolutions) and an amendment says what happened
(check_sessions.amendment_kind).

Existing duplicates (the same household, rule and subject still open more than once, one per
visit) are merged into the first: the later ones' history moves to it as "seen again", it takes
the furthest status and the earliest deadline, and the duplicates are deleted.

Revision ID: 0005_identity
Revises: 0004_blocked
Create Date: 2026-11-28 10:00:00.000000+00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = '0005_identity'
down_revision: Union[str, Sequence[str], None] = '0004_blocked'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

NOT_CLOSED = ("open", "in_progress", "rectified")
RANK = {"open": 0, "in_progress": 1, "rectified": 2}


def _merge_duplicates() -> None:
    bind = op.get_bind()
    problems = sa.table(
        "problems",
        sa.column("id", sa.Integer),
        sa.column("household_id", sa.Integer),
        sa.column("rule_id", sa.String),
        sa.column("subject", sa.String),
        sa.column("status", sa.String),
        sa.column("deadline", sa.Date),
        sa.column("check_record_id", sa.Integer),
    )
    events = sa.table(
        "problem_events",
        sa.column("id", sa.Integer),
        sa.column("problem_id", sa.Integer),
        sa.column("action", sa.String),
        sa.column("check_record_id", sa.Integer),
    )
    rows = bind.execute(
        sa.select(
            problems.c.id,
            problems.c.household_id,
            problems.c.rule_id,
            problems.c.subject,
            problems.c.status,
            problems.c.deadline,
        )
        .where(problems.c.rule_id.is_not(None), problems.c.status.in_(NOT_CLOSED))
        .order_by(problems.c.id)
    ).all()
    groups: dict[tuple[int, str, str], list[sa.Row]] = {}
    for row in rows:
        groups.setdefault((row.household_id, row.rule_id, row.subject or ""), []).append(row)
    for group in groups.values():
        if len(group) < 2:
            continue
        keeper, duplicates = group[0], group[1:]
        status = max((row.status for row in group), key=RANK.__getitem__)
        deadline = min(row.deadline for row in group)
        ids = [row.id for row in duplicates]
        bind.execute(
            events.update()
            .where(events.c.problem_id.in_(ids), events.c.action == "raised")
            .values(action="seen_again")
        )
        bind.execute(
            events.update().where(events.c.problem_id.in_(ids)).values(problem_id=keeper.id)
        )
        bind.execute(
            problems.update()
            .where(problems.c.id == keeper.id)
            .values(status=status, deadline=deadline)
        )
        bind.execute(problems.delete().where(problems.c.id.in_(ids)))


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('problem_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('check_record_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_problem_events_check_record_id'), ['check_record_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_problem_events_check_record_id_check_records'), 'check_records', ['check_record_id'], ['id'])

    with op.batch_alter_table('problems', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reopened_from_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_problems_reopened_from_id_problems'), 'problems', ['reopened_from_id'], ['id'])
        batch_op.create_index('ix_problems_household_id_rule_id', ['household_id', 'rule_id'], unique=False)

    with op.batch_alter_table('check_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('resolutions', sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True))
        batch_op.add_column(sa.Column('amendment_kind', sa.String(length=16), nullable=True))

    # The check that raised each problem, on its "raised" event.
    op.execute(
        "UPDATE problem_events SET check_record_id = "
        "(SELECT problems.check_record_id FROM problems WHERE problems.id = problem_events.problem_id) "
        "WHERE action = 'raised'"
    )
    _merge_duplicates()


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('check_sessions', schema=None) as batch_op:
        batch_op.drop_column('amendment_kind')
        batch_op.drop_column('resolutions')

    with op.batch_alter_table('problems', schema=None) as batch_op:
        batch_op.drop_index('ix_problems_household_id_rule_id')
        batch_op.drop_constraint(batch_op.f('fk_problems_reopened_from_id_problems'), type_='foreignkey')
        batch_op.drop_column('reopened_from_id')

    with op.batch_alter_table('problem_events', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_problem_events_check_record_id_check_records'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_problem_events_check_record_id'))
        batch_op.drop_column('check_record_id')
