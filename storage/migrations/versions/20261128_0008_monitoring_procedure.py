"""Monitoring cases follow the real procedure: one open case per household.

Cases get their outcome (纳入 / 不纳入, 风险消除), the category and risk types of an inclusion
and the household type before it; steps get their details (the notice's days, the discovery's
source); a history table names the checks that opened a case or flagged the household again.

Existing data: of several open cases of one household, the one furthest on stays open and the
others close as merged into it (their checks become "flagged again" lines of it). Steps are
renamed to the new procedure (入户核实 becomes the consent step, 县级审批 the county decision),
the discovery step (done when the case was opened) and the county data cross-check are added;
a cross-check that a later step has passed is marked done without a record. Closed cases are
taken as included (or the risk removed).

Revision ID: 0008_monitoring
Revises: 0007_received_updates
Create Date: 2026-11-28 13:00:00.000000+00:00

"""
from datetime import UTC, date, datetime, timedelta
from typing import Any, Sequence, Union

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = '0008_monitoring'
down_revision: Union[str, Sequence[str], None] = '0007_received_updates'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
OUTCOMES = "outcome IN ('included', 'not_included', 'removed', 'not_removed', 'merged')"
IDENTIFY_RENAMES = {
    "home_verification": ("consent", 1),
    "village_review": ("village_review", 3),
    "public_notice": ("public_notice", 4),
    "township_review": ("township_review", 5),
    "county_approval": ("county_decision", 6),
}
REMOVE_RENAMES = {
    "home_verification": ("assessment", 0),
    "village_review": ("village_review", 1),
    "public_notice": ("public_notice", 2),
    "township_review": ("township_review", 3),
    "county_approval": ("county_decision", 4),
}
DATA_CHECK_DAYS = 4

cases = sa.table(
    "monitoring_cases",
    sa.column("id", sa.Integer),
    sa.column("household_id", sa.Integer),
    sa.column("check_record_id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("status", sa.String),
    sa.column("opened_on", sa.Date),
    sa.column("responsible_user_id", sa.Integer),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("closed_at", sa.DateTime(timezone=True)),
    sa.column("outcome", sa.String),
)
steps = sa.table(
    "monitoring_steps",
    sa.column("id", sa.Integer),
    sa.column("case_id", sa.Integer),
    sa.column("step", sa.String),
    sa.column("position", sa.Integer),
    sa.column("due_on", sa.Date),
    sa.column("done_at", sa.DateTime(timezone=True)),
    sa.column("done_by_user_id", sa.Integer),
    sa.column("details", JSON),
)
events = sa.table(
    "monitoring_case_events",
    sa.column("case_id", sa.Integer),
    sa.column("at", sa.DateTime(timezone=True)),
    sa.column("kind", sa.String),
    sa.column("check_record_id", sa.Integer),
    sa.column("check_id", sa.Integer),
    sa.column("user_id", sa.Integer),
)
records = sa.table(
    "check_records",
    sa.column("id", sa.Integer),
    sa.column("check_id", sa.Integer),
    sa.column("submitted_at", sa.DateTime(timezone=True)),
    sa.column("cadre_user_id", sa.Integer),
)


def _as_date(value: Any) -> date:
    if isinstance(value, str):
        return datetime.fromisoformat(value).date()
    assert isinstance(value, date)
    return value


def _move_data() -> None:
    bind = op.get_bind()
    now = datetime.now(UTC)
    all_cases = bind.execute(sa.select(cases).order_by(cases.c.id)).all()
    all_steps = bind.execute(sa.select(steps).order_by(steps.c.case_id, steps.c.position)).all()
    steps_of: dict[int, list[sa.Row]] = {}
    for row in all_steps:
        steps_of.setdefault(row.case_id, []).append(row)
    chain_of = {
        row.id: (row.check_id or row.id, row.submitted_at, row.cadre_user_id)
        for row in bind.execute(sa.select(records)).all()
    }

    # Steps of the new procedure.
    for case in all_cases:
        renames = REMOVE_RENAMES if case.kind == "remove" else IDENTIFY_RENAMES
        done = {row.step: row for row in steps_of.get(case.id, [])}
        for row in steps_of.get(case.id, []):
            if row.step in renames:
                code, position = renames[row.step]
                bind.execute(
                    steps.update().where(steps.c.id == row.id).values(step=code, position=position)
                )
        if case.kind == "remove":
            continue
        opened_on = _as_date(case.opened_on)
        bind.execute(
            steps.insert().values(
                case_id=case.id,
                step="discovery",
                position=0,
                due_on=opened_on,
                done_at=case.created_at,
                done_by_user_id=case.responsible_user_id,
                details={"source": "cadre_visit"} if case.check_record_id else None,
            )
        )
        later = done.get("village_review")
        passed = later is not None and later.done_at is not None
        done_at = later.done_at if later is not None and passed else None
        done_by = later.done_by_user_id if later is not None and passed else None
        bind.execute(
            steps.insert().values(
                case_id=case.id,
                step="data_check",
                position=2,
                due_on=opened_on + timedelta(days=DATA_CHECK_DAYS),
                done_at=done_at,
                done_by_user_id=done_by,
                details={"not_recorded": True} if passed else None,
            )
        )

    # Closed cases: taken as decided.
    bind.execute(
        cases.update()
        .where(cases.c.status == "closed", cases.c.kind == "identify")
        .values(outcome="included")
    )
    bind.execute(
        cases.update()
        .where(cases.c.status == "closed", cases.c.kind == "remove")
        .values(outcome="removed")
    )

    # One open case per household; the checks that opened cases become history lines.
    open_by_household: dict[int, list[sa.Row]] = {}
    for case in all_cases:
        if case.status == "open":
            open_by_household.setdefault(case.household_id, []).append(case)
    keeper_of: dict[int, int] = {}
    for group in open_by_household.values():
        progress = {
            case.id: sum(1 for row in steps_of.get(case.id, []) if row.done_at is not None)
            for case in group
        }
        keeper = max(group, key=lambda case: (progress[case.id], -case.id))
        for case in group:
            keeper_of[case.id] = keeper.id
            if case.id != keeper.id:
                bind.execute(
                    cases.update()
                    .where(cases.c.id == case.id)
                    .values(status="closed", outcome="merged", closed_at=now)
                )
    counted: set[int] = set()
    for case in all_cases:
        if case.check_record_id is None or case.check_record_id not in chain_of:
            continue
        check_id, submitted_at, cadre = chain_of[case.check_record_id]
        if check_id in counted:
            continue
        counted.add(check_id)
        target = keeper_of.get(case.id, case.id)
        bind.execute(
            events.insert().values(
                case_id=target,
                at=submitted_at or case.created_at,
                kind="opened" if target == case.id else "seen_again",
                check_record_id=case.check_record_id,
                check_id=check_id,
                user_id=cadre,
            )
        )


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('monitoring_case_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('check_record_id', sa.Integer(), nullable=True),
    sa.Column('check_id', sa.Integer(), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("kind IN ('opened', 'seen_again')", name=op.f('ck_monitoring_case_events_kind')),
    sa.ForeignKeyConstraint(['case_id'], ['monitoring_cases.id'], name=op.f('fk_monitoring_case_events_case_id_monitoring_cases')),
    sa.ForeignKeyConstraint(['check_record_id'], ['check_records.id'], name=op.f('fk_monitoring_case_events_check_record_id_check_records')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_monitoring_case_events_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitoring_case_events'))
    )
    with op.batch_alter_table('monitoring_case_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_monitoring_case_events_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_monitoring_case_events_check_id'), ['check_id'], unique=False)

    with op.batch_alter_table('monitoring_cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('outcome', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('outcome_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('category', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('risk_types', JSON, nullable=True))
        batch_op.add_column(sa.Column('previous_household_type', sa.String(length=16), nullable=True))
        batch_op.create_check_constraint('outcome', OUTCOMES)

    with op.batch_alter_table('monitoring_steps', schema=None) as batch_op:
        batch_op.add_column(sa.Column('details', JSON, nullable=True))

    _move_data()

    with op.batch_alter_table('monitoring_cases', schema=None) as batch_op:
        batch_op.create_index(
            'uq_monitoring_cases_open_household',
            ['household_id'],
            unique=True,
            sqlite_where=sa.text("status = 'open'"),
            postgresql_where=sa.text("status = 'open'"),
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('monitoring_cases', schema=None) as batch_op:
        batch_op.drop_index('uq_monitoring_cases_open_household')
        batch_op.drop_constraint('ck_monitoring_cases_outcome', type_='check')
        batch_op.drop_column('previous_household_type')
        batch_op.drop_column('risk_types')
        batch_op.drop_column('category')
        batch_op.drop_column('outcome_reason')
        batch_op.drop_column('outcome')

    with op.batch_alter_table('monitoring_steps', schema=None) as batch_op:
        batch_op.drop_column('details')

    with op.batch_alter_table('monitoring_case_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_monitoring_case_events_check_id'))
        batch_op.drop_index(batch_op.f('ix_monitoring_case_events_case_id'))

    op.drop_table('monitoring_case_events')
