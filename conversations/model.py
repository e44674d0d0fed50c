"""Value types of the questionnaire engine: forms, inputs, events and the check state.

These are the types that travel between rooms: `bot` and `storage` use them, the engine
produces and consumes them. They are plain frozen dataclasses with no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

# A text in several languages: {"zh_CN": "...", "en": "..."}.
Labels = Mapping[str, str]

QuestionType = Literal[
    "yes_no",
    "select_one",
    "select_many",
    "integer",
    "decimal",
    "text",
    "date",
    "photo",
    "location",
    "repeat",
    "calculate",
    "note",
    "all_normal",
]


@dataclass(frozen=True)
class Choice:
    """One option of a select question."""

    value: str
    labels: Labels


@dataclass(frozen=True)
class Question:
    """One question of a questionnaire (an XLSForm row).

    `relevant`, `constraint` and `calculation` are expression sources; the form loader
    checks and compiles them. For `repeat`, `children` holds the questions asked once per
    item and `source` names the roster list the items are pre-filled from.
    """

    id: str
    type: QuestionType
    labels: Labels
    section: str = ""
    choices: tuple[Choice, ...] = ()
    relevant: str | None = None
    constraint: str | None = None
    constraint_message: Labels = field(default_factory=dict)
    required: bool = True
    default: Any = None
    calculation: str | None = None
    hint: Labels = field(default_factory=dict)
    children: tuple[Question, ...] = ()
    source: str | None = None
    item_label: str | None = None  # expression giving an item's name, e.g. "name"
    minimum: float | None = None
    maximum: float | None = None
    # Added by the engine's author: an expression over a roster item choosing which roster
    # items pre-fill a repeat group (e.g. school-age members), and the fewest items the
    # group accepts.
    filter: str | None = None
    min_items: int = 0
    # An expression giving the answer an `all_normal` question before it fills in when the
    # cadre confirms "everything normal" (e.g. 'yes', or the roster's own words).
    normal: str | None = None
    # When the hint applies (e.g. "look in the kitchen" only at a home visit).
    hint_relevant: str | None = None
    # A date that may be later than today (a plan's due date); other dates may not.
    future: bool = False


@dataclass(frozen=True)
class ProblemRule:
    """A problem rule: when `when` holds, a rectification problem is raised.

    With `each` set to a repeat group id, the rule is evaluated once per item of that group
    and raises one problem per matching item.
    """

    id: str
    when: str
    category: str
    text: Labels
    goal: Labels
    responsible_unit: str
    deadline_days: int | None = None
    deadline_tier: str | None = None  # "immediate" | "timed" | "ongoing"
    measures: Labels = field(default_factory=dict)
    each: str | None = None
    flags_risk: bool = False
    # An expression giving the due date (a date answer, e.g. the renovation plan's date);
    # when it gives none, deadline_days or deadline_tier apply.
    deadline: str | None = None


@dataclass(frozen=True)
class Section:
    id: str
    labels: Labels


@dataclass(frozen=True)
class Form:
    id: str
    version: str
    title: Labels
    sections: tuple[Section, ...]
    questions: tuple[Question, ...]
    rules: tuple[ProblemRule, ...]
    params: Mapping[str, float | None]  # parameter names with their defaults (None: none)
    languages: tuple[str, ...] = ("zh_CN", "en")
    # Added: the fields each roster list offers (e.g. "members": member_id, name, ...), so
    # the loader can check the names used by repeat filters and item expressions.
    rosters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Named texts a rule's texts quote as {name} (e.g. the income line), with defaults.
    texts: Mapping[str, Labels] = field(default_factory=dict)
    # The rules' categories and responsible units in each language, by their Chinese key.
    categories: Mapping[str, Labels] = field(default_factory=dict)
    units: Mapping[str, Labels] = field(default_factory=dict)


@dataclass(frozen=True)
class Context:
    """What the engine is told about the world for one step: it knows no clock and no DB."""

    today: date
    params: Mapping[str, float | None] = field(default_factory=dict)
    roster: Mapping[str, tuple[Mapping[str, Any], ...]] = field(default_factory=dict)
    household: Mapping[str, Any] = field(default_factory=dict)
    # The area's wording of the form's named texts, e.g. which income line applies.
    texts: Mapping[str, Labels] = field(default_factory=dict)


# ---------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Text:
    """Typed text: a number, a date, free text, or a choice typed by its label or number."""

    text: str


@dataclass(frozen=True)
class Pick:
    """A choice button pressed; for select_many it toggles the option."""

    value: str


@dataclass(frozen=True)
class Done:
    """Finish a select_many question or the item list of a repeat group."""


@dataclass(frozen=True)
class Photo:
    file_id: str


@dataclass(frozen=True)
class Location:
    latitude: float
    longitude: float


@dataclass(frozen=True)
class Back:
    pass


@dataclass(frozen=True)
class Skip:
    pass


@dataclass(frozen=True)
class Edit:
    """From the summary: change the answer at `key` (a cursor key, see Prompt.key)."""

    key: str


@dataclass(frozen=True)
class AddItem:
    """In a repeat group's item list: add an item (asks its questions)."""


@dataclass(frozen=True)
class RemoveItem:
    index: int


@dataclass(frozen=True)
class Submit:
    pass


@dataclass(frozen=True)
class Show:
    """Ask for the current prompt (or summary) again, changing nothing."""


Input = (
    Text
    | Pick
    | Done
    | Photo
    | Location
    | Back
    | Skip
    | Edit
    | AddItem
    | RemoveItem
    | Submit
    | Show
)


# ---------------------------------------------------------------- events


@dataclass(frozen=True)
class ItemView:
    """One item of a repeat group as shown in its list."""

    index: int
    label: str


@dataclass(frozen=True)
class Prompt:
    """Ask a question. `key` identifies the cursor position, e.g. "water_source" or
    "children[1].status"; it is what Edit takes and what callback data carry.

    For kind "repeat" the prompt is the group's item list: `items` are the current items,
    the user answers with AddItem, RemoveItem or Done.
    """

    key: str
    question_id: str
    kind: QuestionType
    labels: Labels
    section: Labels
    position: int
    total: int
    choices: tuple[Choice, ...] = ()
    selected: tuple[str, ...] = ()
    can_back: bool = True
    can_skip: bool = False
    hint: Labels = field(default_factory=dict)
    item_label: str | None = None
    items: tuple[ItemView, ...] = ()
    current: Any = None  # the answer given before, if any
    # For kind "all_normal": the answers "everything normal" would give.
    preview: tuple[SummaryItem, ...] = ()
    section_number: int = 0  # the section's place among the sections asked, from 1
    section_count: int = 0
    editing: bool = False  # asked to change an answer picked on the summary


@dataclass(frozen=True)
class Invalid:
    """The input was refused. Either a form's own constraint message (`labels`), or an
    engine message: `message_id` is an English gettext msgid with `{name}` placeholders
    filled from `params` after translation."""

    message_id: str | None = None
    labels: Labels = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SummaryItem:
    key: str
    question_id: str
    labels: Labels
    section: Labels
    value: Any
    display: Labels  # the answer rendered per language (choice labels; raw value otherwise)
    item_label: str | None = None


@dataclass(frozen=True)
class Summary:
    """Every answer, in order; `computed` holds the form's calculated values (read only, so
    they cannot be chosen for a change)."""

    items: tuple[SummaryItem, ...]
    computed: tuple[SummaryItem, ...] = ()
    # The problems the answers would raise if submitted now: what to look at first.
    problems: tuple[RaisedProblem, ...] = ()
    confirmed_at_once: int = 0  # how many answers an "all normal" gave


@dataclass(frozen=True)
class RaisedProblem:
    rule_id: str
    category: str
    text: Labels
    goal: Labels
    measures: Labels
    responsible_unit: str
    deadline_days: int | None
    deadline_tier: str | None
    subject: str | None = None  # the repeat item the problem is about, e.g. a child's name
    deadline_date: str | None = None  # ISO date from the rule's `deadline`, if it gave one


@dataclass(frozen=True)
class Record:
    """A finished check: every answer (repeat groups as lists of dicts), computed values,
    and the problems the rules raise."""

    form_id: str
    form_version: str
    answers: Mapping[str, Any]
    problems: tuple[RaisedProblem, ...]
    at_risk: bool = False


@dataclass(frozen=True)
class Finished:
    record: Record


Event = Prompt | Invalid | Summary | Finished


@dataclass(frozen=True)
class CheckState:
    """Where a check stands. JSON-serialisable through `to_json` / `from_json` so that it can
    be saved after every answer and restored after a restart.

    `phase` is "asking", "summary" or "finished". `cursor` is the current Prompt key.
    `history` holds earlier cursor keys for Back. `pending` holds a select_many selection
    not yet confirmed with Done. `return_to_summary` is set while editing from the summary.
    `done_groups` (added) lists the repeat groups whose item list was confirmed with Done.
    While the summary is shown (phase "summary" or "finished") the cursor is "#summary".
    """

    answers: Mapping[str, Any]
    cursor: str
    phase: Literal["asking", "summary", "finished"] = "asking"
    history: tuple[str, ...] = ()
    pending: tuple[str, ...] = ()
    return_to_summary: bool = False
    done_groups: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "answers": dict(self.answers),
            "cursor": self.cursor,
            "phase": self.phase,
            "history": list(self.history),
            "pending": list(self.pending),
            "return_to_summary": self.return_to_summary,
            "done_groups": list(self.done_groups),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CheckState:
        return cls(
            answers=dict(data.get("answers", {})),
            cursor=str(data.get("cursor", "")),
            phase=data.get("phase", "asking"),
            history=tuple(data.get("history", ())),
            pending=tuple(data.get("pending", ())),
            return_to_summary=bool(data.get("return_to_summary", False)),
            done_groups=tuple(data.get("done_groups", ())),
        )
