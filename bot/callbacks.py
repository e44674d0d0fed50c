"""Callback data: a short, versioned scheme, always under Telegram's 64 bytes. Every button
of the bot is encoded and decoded here (`encode`, `decode`); no handler parses data itself.

A button is a request, not a permission: whoever decodes callback data checks it against the
current state and the user's rights before acting on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.checkdesk import prompt_token as prompt_token
from services.exports import EXPORTS
from storage.exports import ExportFormat, ExportKind
from storage.models import ProblemStatus

VERSION = "1"
LIMIT = 64
# Row ids are 32-bit integers on PostgreSQL; anything larger names no row.
MAX_ID = 2**31 - 1
_ASCII_DIGITS = frozenset("0123456789")


def parse_id(text: str, low: int = 1, high: int = MAX_ID) -> int | None:
    """A number typed or carried by a button, when it is plain ASCII digits (an optional
    leading minus when `low` is negative) within [low, high]; otherwise None.

    `int()` alone accepts "²"-like digits of other scripts, underscores and numbers of any
    size, which the database then refuses with an error nobody handles.
    """
    digits = text[1:] if text.startswith("-") and low < 0 else text
    if not digits or len(digits) > 10 or not set(digits) <= _ASCII_DIGITS:
        return None
    value = int(text)
    return value if low <= value <= high else None


def _int(text: str, low: int = 1) -> int:
    value = parse_id(text, low)
    if value is None:
        raise ValueError(text)
    return value


@dataclass(frozen=True)
class HouseholdPage:
    offset: int
    query: str = ""
    purpose: str = "c"  # "c": pick for a check, "l": the /households list, "m": open a case


@dataclass(frozen=True)
class OpenHousehold:
    household_id: int


@dataclass(frozen=True)
class CheckAction:
    """An action on the prompt of a check session. `token` names the prompt it was made for."""

    session_id: int
    token: str
    action: str  # p pick, d done, b back, s skip, x pause, m edit menu, e edit, y submit,
    # a add item, r remove item (asks), R remove confirmed, k keep, v back to the summary,
    # n another page of the edit menu
    arg: int | None = None


@dataclass(frozen=True)
class OpenSession:
    session_id: int
    choice: str  # "c" continue, "d" discard


@dataclass(frozen=True)
class ChooseLanguage:
    language: str


@dataclass(frozen=True)
class ProblemList:
    """A page of /problems. `scope`: o open, d overdue, a all; `category` indexes the sorted
    categories of the area (-1: any); `menu`: "c" or "v" shows category or village choices."""

    scope: str = "o"
    mine: bool = False
    category: int = -1
    village: str = ""
    offset: int = 0
    menu: str = ""


@dataclass(frozen=True)
class OpenProblem:
    problem_id: int


# Problem statuses and actions in one letter, to keep callback data short.
STATUS_CODES: dict[str, str] = {
    ProblemStatus.OPEN: "o",
    ProblemStatus.IN_PROGRESS: "i",
    ProblemStatus.RECTIFIED: "r",
    ProblemStatus.VERIFIED: "v",
    ProblemStatus.WITHDRAWN: "w",
}
ACTION_CODES = {
    "progress": "g",
    "rectify": "r",
    "verify": "v",
    "return": "b",
    "deadline": "d",
    "unit": "u",
}


@dataclass(frozen=True)
class ProblemAction:
    """A button of a problem card, made for the status the card showed."""

    problem_id: int
    status: str  # a STATUS_CODES value
    action: str  # an ACTION_CODES value


@dataclass(frozen=True)
class OpenCase:
    case_id: int


@dataclass(frozen=True)
class CaseStep:
    """Record a step of a monitoring case; `position` is the step the card offered."""

    case_id: int
    position: int


CASE_ACTIONS = frozenset("ynecrik")
MENU_ACTIONS = frozenset("lhgxas")


@dataclass(frozen=True)
class CaseAnswer:
    """A button of a case card, made for the step at `position`: y passed, n not eligible
    (asks the reason), e the notice (arg: its days, 0 asks the last day), c a category and
    r a risk type (arg: its index), k back to the categories, i include."""

    case_id: int
    position: int
    action: str
    arg: int = 0


@dataclass(frozen=True)
class CaseMenu:
    """From /cases. Risk removal: l list monitored households (arg: offset), h one of them,
    g its risks are gone (asks the income), x not yet (arg: the household). A case opened by
    hand: a pick a household (arg), s its source (arg: the household, extra: the source)."""

    action: str
    arg: int = 0
    extra: int = 0


# /export: the kind in one letter (a trailing u: an office asked for full ID numbers), the
# periods buttons name (see bot.handlers.office.period_dates), and the format buttons.
EXPORT_CODES: dict[str, ExportKind] = {export.code: kind for kind, export in EXPORTS.items()}
EXPORT_STEPS = {"k": 2, "a": 3, "p": 4, "f": 5}  # a step and the fields its data carries
DATE_PERIODS = ("m0", "m1", "q", "y")  # this month, last month, three months, this year
REPORTING_PERIODS = ("r0", "r1")  # the current reporting period, the one before
# A public notice: the check round of this or last month, or the monitoring cases at their
# notice step (inclusion, risk removal).
NOTICE_PERIODS = ("c0", "c1", "ci", "cr")
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("xlsx", "csv")
PHOTOS_CODE = "z"  # the format button of a workbook with its photos (ZIP)


@dataclass(frozen=True)
class ExportRequest:
    """A button of /export: `1x:k:<kind>` kind chosen, `1x:a:<kind>:<area>` area chosen,
    `1x:p:<kind>:<area>:<period>` period chosen, `1x:f:<kind>:<area>:<period>:<format>`
    format chosen (check records only)."""

    step: str  # k, a, p or f
    kind: ExportKind
    unmasked: bool
    area: str | None = None
    period: str | None = None
    fmt: ExportFormat = "xlsx"
    photos: bool = False  # check records: a ZIP of the workbook and the photos

    def kind_code(self) -> str:
        code = next(code for code, kind in EXPORT_CODES.items() if kind == self.kind)
        return code + ("u" if self.unmasked else "")


def _export_data(request: ExportRequest) -> str:
    parts = [request.step, request.kind_code()]
    if request.step in ("a", "p", "f"):
        parts.append(request.area or "")
    if request.step in ("p", "f"):
        parts.append(request.period or "")
    if request.step == "f":
        parts.append(PHOTOS_CODE if request.photos else request.fmt)
    return f"{VERSION}x:" + ":".join(parts)


def _export_request(parts: list[str]) -> ExportRequest | None:
    if len(parts) < 2 or parts[0] not in EXPORT_STEPS:
        return None
    step, code = parts[0], parts[1]
    kind = EXPORT_CODES.get(code.removesuffix("u"))
    expected = EXPORT_STEPS[step]
    if kind is None or len(parts) != expected:
        return None
    area = parts[2] if expected >= 3 else None
    period = parts[3] if expected >= 4 else None
    fmt = parts[4] if expected == 5 else "xlsx"
    if area is not None and not area.isalnum():
        return None
    if period is not None and period not in DATE_PERIODS + REPORTING_PERIODS + NOTICE_PERIODS:
        return None
    if fmt not in (*EXPORT_FORMATS, PHOTOS_CODE):
        return None
    return ExportRequest(
        step,
        kind,
        code.endswith("u"),
        area,
        period,
        "csv" if fmt == "csv" else "xlsx",
        photos=fmt == PHOTOS_CODE and EXPORTS[kind].photos,
    )


Callback = (
    HouseholdPage
    | OpenHousehold
    | CheckAction
    | OpenSession
    | ChooseLanguage
    | ProblemList
    | OpenProblem
    | ProblemAction
    | OpenCase
    | CaseStep
    | CaseAnswer
    | CaseMenu
    | ExportRequest
)


def _fit(prefix: str, tail: str) -> str:
    data = prefix + tail
    while len(data.encode()) > LIMIT and tail:
        tail = tail[:-1]
        data = prefix + tail
    return data


def encode(callback: Callback) -> str:
    match callback:
        case HouseholdPage(offset, query, purpose):
            return _fit(f"{VERSION}h:{purpose}:{offset}:", query)
        case OpenHousehold(household_id):
            return f"{VERSION}o:{household_id}"
        case CheckAction(session_id, token, action, arg):
            tail = "" if arg is None else f":{arg}"
            return f"{VERSION}q:{session_id}:{token}:{action}{tail}"
        case OpenSession(session_id, choice):
            return f"{VERSION}r:{session_id}:{choice}"
        case ChooseLanguage(language):
            return f"{VERSION}l:{language}"
        case ProblemList(scope, mine, category, village, offset, menu):
            return _fit(f"{VERSION}P:{scope}{int(mine)}{menu or '-'}:{offset}:{category}:", village)
        case OpenProblem(problem_id):
            return f"{VERSION}K:{problem_id}"
        case ProblemAction(problem_id, status, action):
            return f"{VERSION}A:{problem_id}:{status}:{action}"
        case OpenCase(case_id):
            return f"{VERSION}C:{case_id}"
        case CaseStep(case_id, position):
            return f"{VERSION}S:{case_id}:{position}"
        case CaseAnswer(case_id, position, action, arg):
            return f"{VERSION}M:{case_id}:{position}:{action}:{arg}"
        case CaseMenu(action, arg, extra):
            return f"{VERSION}N:{action}:{arg}:{extra}"
        case ExportRequest():
            return _export_data(callback)
    raise TypeError(callback)


def decode(data: str | None) -> Callback | None:
    """Parse callback data; None for anything malformed or from another version."""
    if not data or not data.startswith(VERSION) or len(data) < 3:
        return None
    kind, _, rest = data[1], data[2], data[3:]
    parts = rest.split(":")
    try:
        if kind == "h" and len(parts) >= 2:
            return HouseholdPage(_int(parts[1], 0), ":".join(parts[2:]), parts[0])
        if kind == "o" and len(parts) == 1:
            return OpenHousehold(_int(parts[0]))
        if kind == "q" and len(parts) in (3, 4):
            arg = _int(parts[3], 0) if len(parts) == 4 else None
            return CheckAction(_int(parts[0]), parts[1], parts[2], arg)
        if kind == "r" and len(parts) == 2 and parts[1] in ("c", "d"):
            return OpenSession(_int(parts[0]), parts[1])
        if kind == "l" and len(parts) == 1:
            return ChooseLanguage(parts[0])
        if kind == "P" and len(parts) == 4 and len(parts[0]) == 3:
            flags = parts[0]
            return ProblemList(
                flags[0],
                flags[1] == "1",
                _int(parts[2], -1),
                parts[3],
                _int(parts[1], 0),
                "" if flags[2] == "-" else flags[2],
            )
        if kind == "K" and len(parts) == 1:
            return OpenProblem(_int(parts[0]))
        if kind == "A" and len(parts) == 3:
            return ProblemAction(_int(parts[0]), parts[1], parts[2])
        if kind == "C" and len(parts) == 1:
            return OpenCase(_int(parts[0]))
        if kind == "S" and len(parts) == 2:
            return CaseStep(_int(parts[0]), _int(parts[1], 0))
        if kind == "M" and len(parts) == 4 and parts[2] in CASE_ACTIONS:
            return CaseAnswer(_int(parts[0]), _int(parts[1], 0), parts[2], _int(parts[3], 0))
        if kind == "N" and len(parts) == 3 and parts[0] in MENU_ACTIONS:
            return CaseMenu(parts[0], _int(parts[1], 0), _int(parts[2], 0))
        if kind == "x":
            return _export_request(parts)
    except ValueError:
        return None
    return None
