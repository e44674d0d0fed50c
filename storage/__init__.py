"""Storage: the only room that knows SQL. Models, migrations, and the queries and units of work
the bot calls. Functions take an AsyncSession first, flush but never commit: the caller owns
the transaction (`async with sessionmaker.begin() as s:`)."""

from storage.areas import (
    add_area,
    area_codes_within,
    area_contains,
    get_area,
    province_of,
    provinces_within,
)
from storage.audit import audit
from storage.bots import BotRecord, add_bot, bot_serving, list_bots, remove_bot
from storage.checks import (
    discard_session,
    get_session,
    last_checks,
    open_session,
    open_sessions_of,
    problems_of_record,
    records_of_household,
    save_session,
    start_session,
)
from storage.db import (
    database_url_from_env,
    make_engine,
    make_sessionmaker,
    normalized_database_url,
    upgrade,
)
from storage.deadlines import CheckDeadlines, deadline_from
from storage.demo import DemoSeed, seed_demo
from storage.errors import InvitationError, StorageError
from storage.households import (
    HouseholdPage,
    HouseholdRow,
    household_in_area,
    household_with_roster,
    households_page,
    roster_of,
)
from storage.models import (
    Area,
    AuditEntry,
    Base,
    CheckRecord,
    CheckSession,
    Household,
    Invitation,
    Member,
    Problem,
    ProblemEvent,
    User,
)
from storage.rosters import (
    ImportReport,
    RowError,
    check_id_number,
    import_roster,
    import_roster_csv,
    mask_id_number,
)
from storage.submissions import submit_check
from storage.users import (
    create_invitation,
    redeem_invitation,
    set_active,
    set_blocked_bot,
    set_language,
    user_by_telegram_id,
)

__all__ = [
    "Area",
    "AuditEntry",
    "Base",
    "BotRecord",
    "CheckDeadlines",
    "CheckRecord",
    "CheckSession",
    "DemoSeed",
    "Household",
    "HouseholdPage",
    "HouseholdRow",
    "ImportReport",
    "Invitation",
    "InvitationError",
    "Member",
    "Problem",
    "ProblemEvent",
    "RowError",
    "StorageError",
    "User",
    "add_area",
    "add_bot",
    "area_codes_within",
    "area_contains",
    "audit",
    "bot_serving",
    "check_id_number",
    "create_invitation",
    "database_url_from_env",
    "deadline_from",
    "discard_session",
    "get_area",
    "get_session",
    "household_in_area",
    "household_with_roster",
    "households_page",
    "import_roster",
    "import_roster_csv",
    "last_checks",
    "list_bots",
    "make_engine",
    "make_sessionmaker",
    "mask_id_number",
    "normalized_database_url",
    "open_session",
    "open_sessions_of",
    "problems_of_record",
    "province_of",
    "provinces_within",
    "records_of_household",
    "redeem_invitation",
    "remove_bot",
    "roster_of",
    "save_session",
    "seed_demo",
    "set_active",
    "set_blocked_bot",
    "set_language",
    "start_session",
    "submit_check",
    "upgrade",
    "user_by_telegram_id",
]
