"""The database schema as typed ORM models: areas, users, households, checks, problems, audit.

Works on SQLite and PostgreSQL alike: times are stored in UTC with time zone (`UTCDateTime`),
documents in `JSONDocument` (JSONB on PostgreSQL), Telegram ids in BigInteger, and every
constraint is named through the metadata's naming convention so that Alembic can alter it later.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
    false,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection
from sqlalchemy.orm import DeclarativeBase, Mapped, Mapper, mapped_column, relationship
from sqlalchemy.types import TypeEngine

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

AREA_LEVELS = ("county", "township", "village", "group")
ROLES = ("cadre", "leader", "office")
LANGUAGES = ("zh_CN", "en")
SESSION_STATUSES = ("open", "submitted", "discarded")


class ProblemStatus(StrEnum):
    """Where a problem (问题台账 entry) stands; stored as its value."""

    OPEN = "open"
    IN_PROGRESS = "in_progress"
    RECTIFIED = "rectified"  # reported rectified, awaiting a leader's verification
    VERIFIED = "verified"  # 销号
    # Closed as raised in error (误报): an amended check no longer raises it.
    WITHDRAWN = "withdrawn"


PROBLEM_STATUSES = tuple(ProblemStatus)
HOUSEHOLD_TYPES = ("脱贫户", "监测户", "一般户")

# A JSON document: JSONB on PostgreSQL (indexable, compact), JSON text elsewhere.
JSONDocument = JSON().with_variant(JSONB(), "postgresql")


class SerialisedJSON(TypeDecorator[str]):
    """A value for a `JSONDocument` column that is already JSON text, written as it is
    instead of serialised again (a check's state, whose text the answer made anyway)."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        return dialect.type_descriptor(JSONB() if dialect.name == "postgresql" else JSON())

    def bind_processor(self, dialect: Dialect) -> None:
        return None


class UTCDateTime(TypeDecorator[datetime]):
    """A point in time stored in UTC; always returned as an aware UTC datetime, on SQLite too.

    Naive datetimes are refused: a time without a zone is a bug waiting for the first user
    outside UTC+8.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given; pass an aware one")
        utc = value.astimezone(UTC)
        # SQLite has no zone type; it stores the UTC wall time.
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _one_of(column: str, values: tuple[str, ...], name: str) -> CheckConstraint:
    allowed = ", ".join(f"'{value}'" for value in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=name)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Area(Base):
    """An administrative area (county 县 > township 乡镇 > village 村 > group 组)."""

    __tablename__ = "areas"
    __table_args__ = (_one_of("level", AREA_LEVELS, "level"),)

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(16))
    parent_code: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("areas.code"), index=True
    )
    province: Mapped[str | None] = mapped_column(String(32))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    settings: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)


class User(Base):
    """A registered person: cadre (村干部/帮扶责任人), leader (驻村工作队长) or office."""

    __tablename__ = "users"
    __table_args__ = (_one_of("role", ROLES, "role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    area_code: Mapped[str] = mapped_column(String(32), ForeignKey("areas.code"), index=True)
    language: Mapped[str | None] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Inactive because they blocked the bot (unblocking brings them back), not by an office.
    blocked_bot: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Channel(StrEnum):
    """A way people reach Hucha (渠道). An address means something only within its channel.
    Stored as a plain string, so a new channel is a new value here and its adapter, with no
    migration."""

    TELEGRAM = "telegram"


class Identity(Base):
    """How a person is reached on one channel: their address there. For Telegram, the user id,
    which is also the chat id of their private chat with the bot."""

    __tablename__ = "identities"
    __table_args__ = (
        # Who is writing: the lookup of every update.
        UniqueConstraint("channel", "address"),
        # Where to write to someone: one address per person and channel.
        UniqueConstraint("user_id", "channel"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    channel: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(200))


class Invitation(Base):
    """A one-time, expiring invitation code (邀请码) granting a role in an area."""

    __tablename__ = "invitations"
    __table_args__ = (_one_of("role", ROLES, "role"),)

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    area_code: Mapped[str] = mapped_column(String(32), ForeignKey("areas.code"))
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    used_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class Household(Base):
    """A household (户) of a village's roster, identified by its roster number (户编号)."""

    __tablename__ = "households"
    # The unique constraint leads with village_code, so it also serves "households of a village".
    __table_args__ = (UniqueConstraint("village_code", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    village_code: Mapped[str] = mapped_column(String(32), ForeignKey("areas.code"))
    group_name: Mapped[str | None] = mapped_column(String(100))
    number: Mapped[str] = mapped_column(String(64))
    head_name: Mapped[str] = mapped_column(String(100), index=True)
    head_id_number: Mapped[str | None] = mapped_column(String(32))
    household_type: Mapped[str | None] = mapped_column(String(16))
    help_cadre: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Member(Base):
    """A member of a household (家庭成员), the head (户主) included."""

    __tablename__ = "members"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    relation: Mapped[str] = mapped_column(String(32))
    id_number: Mapped[str | None] = mapped_column(String(32))
    sex: Mapped[str | None] = mapped_column(String(8))
    birth_date: Mapped[date | None] = mapped_column(Date)
    health: Mapped[str | None] = mapped_column(String(64))
    schooling: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class CheckSession(Base):
    """A household check (入户核查) in progress: the engine's state, saved after every answer."""

    __tablename__ = "check_sessions"
    __table_args__ = (
        _one_of("status", SESSION_STATUSES, "status"),
        Index("ix_check_sessions_user_id_status", "user_id", "status"),
        # At most one open check per cadre and household; enforced in code as well.
        Index(
            "uq_check_sessions_open_user_household",
            "user_id",
            "household_id",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    form_id: Mapped[str] = mapped_column(String(64))
    state: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    status: Mapped[str] = mapped_column(String(16), default="open")
    # Set when the session amends (更正) a submitted check: the record it will supersede.
    amends_record_id: Mapped[int | None] = mapped_column(
        # use_alter: check_records points back at check_sessions, a cycle to create in two steps.
        ForeignKey("check_records.id", use_alter=True)
    )
    amendment_reason: Mapped[str | None] = mapped_column(Text)
    # What the amendment says happened: "correction" (a wrong answer corrected) or "change"
    # (the situation changed since the check).
    amendment_kind: Mapped[str | None] = mapped_column(String(16))
    # What the cadre said, at the summary, of earlier problems this check no longer raises:
    # problem id -> "rectified" or "error".
    resolutions: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Read with the session in the same statement: every answer needs it.
    telegram: Mapped[TelegramPrompt | None] = relationship(lazy="joined")


class TelegramPrompt(Base):
    """Where Telegram shows a check: its chat, the message the current prompt went out as,
    and the last update whose screen was sent (an update delivered again after a crash then
    sends its screen only if it never was)."""

    __tablename__ = "telegram_prompts"

    session_id: Mapped[int] = mapped_column(ForeignKey("check_sessions.id"), primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    shown_update: Mapped[int | None] = mapped_column(BigInteger)


class CheckRecord(Base):
    """A submitted check (入户核查记录): every answer, plus the columns reports filter on."""

    __tablename__ = "check_records"
    __table_args__ = (
        Index("ix_check_records_household_id_submitted_at", "household_id", "submitted_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("check_sessions.id"), unique=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"))
    cadre_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    form_id: Mapped[str] = mapped_column(String(64))
    form_version: Mapped[str] = mapped_column(String(32))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    visit_type: Mapped[str | None] = mapped_column(String(32))
    housing_grade: Mapped[str | None] = mapped_column(String(16))
    income_per_person: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    at_risk: Mapped[bool] = mapped_column(Boolean, default=False)
    problems_raised: Mapped[int] = mapped_column(Integer, default=0)
    answers: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    # Amendments (更正): each is a new record; `check_id` is the id of the first version and
    # is shared by all versions, `latest` marks the one in force.
    check_id: Mapped[int | None] = mapped_column(Integer, index=True)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    latest: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("check_records.id"))
    amended_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    amended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    amendment_reason: Mapped[str | None] = mapped_column(Text)


class Problem(Base):
    """A rectification problem (问题台账 entry) with its goal, unit and deadline (整改期限)."""

    __tablename__ = "problems"
    __table_args__ = (
        _one_of("status", PROBLEM_STATUSES, "status"),
        # A problem is found again by household, rule and subject.
        Index("ix_problems_household_id_rule_id", "household_id", "rule_id"),
        # The ledger and the overview count an area's problems from this index alone (the tier
        # tells whether one can be overdue).
        Index(
            "ix_problems_village_code_status",
            "village_code",
            "status",
            "category",
            "responsible_unit",
            "deadline",
            "deadline_tier",
        ),
        # A ledger page newest (or oldest) first is read in this order, not sorted.
        Index("ix_problems_created_at", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    # The household's village, kept with the problem so that an area's problems are found
    # without reading households (a household never changes village: it is part of its key).
    # Filled from the household when a problem is stored without it.
    village_code: Mapped[str] = mapped_column(String(32), ForeignKey("areas.code"))
    check_record_id: Mapped[int | None] = mapped_column(ForeignKey("check_records.id"), index=True)
    rule_id: Mapped[str | None] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    text_i18n: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    goal: Mapped[str] = mapped_column(Text)
    goal_i18n: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    measures: Mapped[str] = mapped_column(Text, default="")
    responsible_unit: Mapped[str] = mapped_column(String(100))
    deadline: Mapped[date] = mapped_column(Date, index=True)
    deadline_tier: Mapped[str | None] = mapped_column(String(16))
    subject: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default=ProblemStatus.OPEN, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The cadre who answers for the rectification; None means whoever raised it.
    assignee_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    # A problem found again after its 销号 is a new problem linked to the one it reopens.
    reopened_from_id: Mapped[int | None] = mapped_column(ForeignKey("problems.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


@event.listens_for(Problem, "before_insert")
def _village_of_household(
    _mapper: Mapper[Problem], connection: Connection, problem: Problem
) -> None:
    if problem.village_code is None:
        problem.village_code = connection.scalar(
            select(Household.village_code).where(Household.id == problem.household_id)
        )


class ProblemEvent(Base):
    """One change in a problem's history (整改过程): who did what, when, with which note."""

    __tablename__ = "problem_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problems.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    photo_file_id: Mapped[str | None] = mapped_column(String(255))
    # The check that raised the problem, saw it again or settled it, when a check did.
    check_record_id: Mapped[int | None] = mapped_column(ForeignKey("check_records.id"), index=True)


class AuditEntry(Base):
    """An audit trail entry (操作日志): who did what to which subject, with details."""

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)


CASE_KINDS = ("identify", "remove")
CASE_STATUSES = ("open", "closed")
# How a closed case ended: included in monitoring or not (纳入 / 不纳入), the risk removed or
# not (风险消除), or merged into the household's other open case.
CASE_OUTCOMES = ("included", "not_included", "removed", "not_removed", "merged")
# What the history of a case records besides its steps: the check that opened it, and the
# re-checks that flagged the household again while it was open or monitored.
CASE_EVENT_KINDS = ("opened", "seen_again")
# "unknown": sent, but Telegram's answer never came: perhaps delivered, so never sent again.
OUTBOX_STATUSES = ("pending", "sent", "cancelled", "rerouted", "failed", "unknown")


class MonitoringCase(Base):
    """A monitoring case (防返贫监测) of a household at risk: identification or risk removal
    (风险消除), with its steps and its own clock."""

    __tablename__ = "monitoring_cases"
    __table_args__ = (
        _one_of("kind", CASE_KINDS, "kind"),
        _one_of("status", CASE_STATUSES, "status"),
        _one_of("outcome", CASE_OUTCOMES, "outcome"),
        # One open case per household, whatever opens it.
        Index(
            "uq_monitoring_cases_open_household",
            "household_id",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    # A check opens at most one case; hand-opened cases have none.
    check_record_id: Mapped[int | None] = mapped_column(ForeignKey("check_records.id"), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="identify")
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    opened_on: Mapped[date] = mapped_column(Date)
    responsible_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The decision, once the case is closed (one of CASE_OUTCOMES), and why a household was
    # found not eligible or its risk not removed.
    outcome: Mapped[str | None] = mapped_column(String(16))
    outcome_reason: Mapped[str | None] = mapped_column(Text)
    # On inclusion (纳入): the monitoring category and the risk types (codes of
    # storage.monitoring.CATEGORIES and RISK_TYPES), and the household type it had before.
    category: Mapped[str | None] = mapped_column(String(32))
    risk_types: Mapped[list[str] | None] = mapped_column(JSONDocument)
    previous_household_type: Mapped[str | None] = mapped_column(String(16))


class MonitoringCaseEvent(Base):
    """A line of a case's history: the check that opened it, a re-check that flagged the
    household again. `check_id` names the check whatever its version (更正), so an amended
    check is never counted twice."""

    __tablename__ = "monitoring_case_events"
    __table_args__ = (_one_of("kind", CASE_EVENT_KINDS, "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("monitoring_cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(16))
    check_record_id: Mapped[int | None] = mapped_column(ForeignKey("check_records.id"))
    check_id: Mapped[int | None] = mapped_column(Integer, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class MonitoringStep(Base):
    """One step of a monitoring case (发现, 授权承诺, 部门比对, 村级评议, 公示, 乡镇审核, 县级审定),
    due on its own day."""

    __tablename__ = "monitoring_steps"
    __table_args__ = (UniqueConstraint("case_id", "step"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("monitoring_cases.id"))
    step: Mapped[str] = mapped_column(String(32))
    position: Mapped[int] = mapped_column(Integer)
    due_on: Mapped[date] = mapped_column(Date, index=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    done_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    outcome: Mapped[str | None] = mapped_column(Text)
    # What the step recorded besides its note: the notice's first and last day, the
    # discovery's source, the income given for a risk removal; and, while the step is being
    # recorded, the choices made so far (the category, the risk types ticked).
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)


class OutboxEntry(Base):
    """A reminder (提醒) recorded before it is sent. The key (kind, target, subject, period) is
    unique: whoever inserts it first sends it, so it goes out once whatever runs twice."""

    __tablename__ = "reminder_outbox"
    __table_args__ = (
        UniqueConstraint("kind", "target", "subject", "period"),
        _one_of("status", OUTBOX_STATUSES, "status"),
        Index("ix_reminder_outbox_status_not_before", "status", "not_before"),
        # "Was this problem escalated already?" is asked per problem, by subject.
        Index("ix_reminder_outbox_subject_kind_period", "subject", "kind", "period"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Not sent before this moment: quiet hours (免打扰) hold a reminder until morning.
    not_before: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(200))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class HouseholdChange(Base):
    """One change to a household from a roster import (花名册变更记录): what changed, from
    what to what, who imported which file, and when."""

    __tablename__ = "household_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(200))
    changes: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)


class PendingInput(Base):
    """What the bot waits for from a person after a button (a note, a reason, a new deadline):
    kept in the database so that a restart or another instance knows it too."""

    __tablename__ = "pending_inputs"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    action: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[int] = mapped_column(Integer)
    expected: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WebLogin(Base):
    """A one-time link (登录链接) into the web dashboard, asked for in the bot with /web. Only
    a hash of its token is kept; it expires and is used once."""

    __tablename__ = "web_logins"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebSession(Base):
    """A signed-in browser: only a hash of its cookie is kept, with the form token (CSRF) of
    its pages; it ends on logout or after hours without use."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ReceivedUpdate(Base):
    """A Telegram update as it arrived (收件箱), stored before Telegram is told it arrived:
    a restart processes what was received and not yet done, and an update delivered twice is
    stored, and so processed, once. `bot` names the bot (its numeric id) that received it."""

    __tablename__ = "received_updates"
    __table_args__ = (Index("ix_received_updates_pending", "bot", "done_at", "update_id"),)

    bot: Mapped[str] = mapped_column(String(32), primary_key=True)
    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class BotAccount(Base):
    """A Telegram bot of the deployment and the area it serves (a county or above): its users,
    invitations and reminders are that area's. The token is never stored, only the name of
    the environment variable holding it."""

    __tablename__ = "bots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    area_code: Mapped[str] = mapped_column(String(32), ForeignKey("areas.code"), unique=True)
    token_env: Mapped[str] = mapped_column(String(100))
    username: Mapped[str] = mapped_column(String(64), unique=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())


CAMPAIGN_STATUSES = ("draft", "open")


class Campaign(Base):
    """A campaign (专项排查) an office opens for its area: problems found in it (from `starts_on`
    to `ends_on`, in the area) are to be rectified by `cutoff` (seed 002: "确保5月31日前全部整改
    到位"). A draft is one being entered in the chat, step by step; only open ones count."""

    __tablename__ = "campaigns"
    __table_args__ = (
        _one_of("status", CAMPAIGN_STATUSES, "status"),
        Index("ix_campaigns_area_code_starts_on", "area_code", "starts_on"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    area_code: Mapped[str] = mapped_column(String(32), ForeignKey("areas.code"))
    name: Mapped[str] = mapped_column(String(200), default="")
    starts_on: Mapped[date | None] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    cutoff: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
