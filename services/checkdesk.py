"""The household check (入户核查) as use cases, for every channel alike: open or resume the
check of a household, answer its prompt (text, number, photo, location, a pressed choice),
go back, skip, change an answer from the summary, settle what an earlier check found, submit.

Each call takes the acting user and plain inputs, runs the engine once on the check's state,
saves the new state and commits in one transaction, and returns what the channel shows: the
engine's prompt or summary, a refusal, a question before submitting, or the submitted record
with its problems. Sending is the channel's; the answer is committed before anything is sent.

The message a prompt went out as is only known once it has been sent, after that commit; the
channel hands its id back through `record_prompt`, written with other people's of the moment in
one UPDATE that reads nothing (a group commit). If it is lost, the previous id stays: the new
prompt's buttons then read as stale and the question is simply asked again, nothing answered is
lost.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from conversations import (
    AddItem,
    Back,
    CheckState,
    Context,
    Done,
    Edit,
    Event,
    Finished,
    Form,
    Input,
    Invalid,
    KeptPositions,
    Pick,
    Position,
    Prompt,
    RemoveItem,
    Skip,
    Submit,
    Summary,
    params_for,
    start,
    state_document,
)
from conversations.thresholds import IncomeLine, income_line_for
from services.runtime import DEFAULT_ZONE, Runtime, local_date
from storage import (
    CheckSession,
    Household,
    discard_session,
    get_area,
    get_session,
    household_in_area,
    household_with_roster,
    open_session,
    open_sessions_of,
    province_of,
    roster_of,
    save_session,
    start_session,
    submit_check,
)
from storage.campaigns import cutoff_on
from storage.checks import (
    PromptShown,
    set_amendment_kind,
    set_prompt_messages,
    settle_earlier,
    show_in_chat,
)
from storage.deadlines import CheckDeadlines
from storage.errors import StorageError
from storage.findings import found_by, standing_problems, unsettled
from storage.group_commit import GroupCommit
from storage.models import CheckRecord, Problem, User
from storage.monitoring import open_case_of
from storage.progress import load_schedules
from storage.prompts import clear_input
from storage.sqlite_driver import short

FORM_ID = "household_check"
PLACE_SECONDS = 300.0
# Buttons shown before submitting: what became of an earlier problem no longer raised, and
# what an amendment records.
SETTLE_ACTIONS = {"g": "rectified", "w": "error", "c": "correction", "h": "change"}
# Presses that only change what the channel shows, never the check.
SUMMARY_PAGES = ("m", "n", "v")

# Beside the engine's state: the last delivery (the channel's update id) that saved it; the
# last one whose screen was sent is kept with the prompt (`TelegramPrompt.shown_update`). A
# delivery handled again (its instance died before marking it done) is then not applied a
# second time, and its screen is sent only when it never was.
APPLIED = "applied_update"

AreaTexts = Callable[[IncomeLine | None], dict[str, dict[str, str]]]


def prompt_token(cursor: str, phase: str) -> str:
    """A short token naming one prompt of a check, so that old buttons can be told apart."""
    return format(zlib.crc32(f"{phase}|{cursor}".encode()) & 0xFFFFFF, "x")


def token_of(event: Event | None) -> str:
    if isinstance(event, Prompt):
        return prompt_token(event.key, "asking")
    return prompt_token("", "summary")


@dataclass
class Sheet:
    """One check loaded for a step: its row, form, engine context and state, walked once."""

    row: CheckSession
    form: Form
    context: Context
    state: CheckState
    household: Household
    zone: str
    position: tuple[CheckState, Position] | None = None

    def at(self) -> Position:
        if self.position is None or self.position[0] is not self.state:
            self.position = (self.state, Position(self.form, self.state, self.context))
        return self.position[1]

    @property
    def shown(self) -> Prompt | Summary | None:
        """The prompt or summary the check stands at."""
        return self.at().shown


@dataclass(frozen=True)
class Settlement:
    """Asked before submitting: what an amendment records (`problem` None), or what became
    of an earlier problem this check no longer raises."""

    problem: Problem | None


@dataclass(frozen=True)
class Submission:
    """A submitted check: its record, the problems it raised, which were found first now,
    and whether the household is in an open monitoring case."""

    record: CheckRecord
    problems: list[Problem]
    first_found: frozenset[int]
    in_case: bool


@dataclass
class Turn:
    """One input applied to a check, saved: what was shown before it, what shows now."""

    sheet: Sheet
    before: Prompt | Summary | None
    inp: Input
    state: CheckState
    shown: Prompt | Summary | None
    invalid: Invalid | None = None
    settlement: Settlement | None = None
    submitted: Submission | None = None

    @property
    def same_prompt(self) -> bool:
        before, shown = self.before, self.shown
        return isinstance(before, Prompt) and isinstance(shown, Prompt) and before.key == shown.key


@dataclass(frozen=True)
class Opened:
    """A check opened or resumed: where it stands, and what is still open for the household
    (only when it was just started)."""

    sheet: Sheet
    standing: list[Problem]
    earlier_prompt: int | None


@dataclass(frozen=True)
class Refused:
    """The request cannot be met; `message_id` says why, in the catalogs' words."""

    message_id: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Press:
    """A pressed button of a check: its session, the prompt token it was made for, the
    action's code and argument, and the message it was on."""

    session_id: int
    token: str
    action: str
    arg: int | None
    message_id: int | None


@dataclass(frozen=True)
class Pressed:
    """A press that changes nothing in the check: `kind` says what the channel does —
    "stale" (ask again), "pause", "page" (summary pages), "confirm" (removal asks once more),
    "summary" (back to it), "choose" (not one of the buttons)."""

    kind: str
    sheet: Sheet
    shown: Prompt | Summary | None


def _shown_update(row: CheckSession) -> int:
    shown = row.telegram.shown_update if row.telegram is not None else None
    return -1 if shown is None else shown


def prompt_message(row: CheckSession) -> int | None:
    """The message the check's current prompt went out as, if known."""
    return row.telegram.message_id if row.telegram is not None else None


def handled_before(row: CheckSession, delivery: int | None) -> bool:
    """Whether this delivery's input is already in the saved state (a delivery whose screen
    was sent was handled)."""
    applied = max(int(row.state.get(APPLIED, -1)), _shown_update(row))
    return delivery is not None and applied >= delivery


def shown_before(row: CheckSession, delivery: int | None) -> bool:
    """Whether the screen that followed this delivery's input was sent."""
    return delivery is not None and _shown_update(row) >= delivery


def saved_state(state: CheckState, delivery: int | None) -> dict[str, Any]:
    """The state as saved, with the delivery that saved it."""
    saved = state.to_json()
    if delivery is not None:
        saved[APPLIED] = delivery
    return saved


def input_for(action: str, arg: int | None, event: Event | None) -> Input | None:
    """Turn a pressed button into an engine input, using the prompt it was made for."""
    match action:
        case "p" if isinstance(event, Prompt) and arg is not None:
            if 0 <= arg < len(event.choices):
                return Pick(event.choices[arg].value)
            return None
        case "d":
            return Done()
        case "b":
            return Back()
        case "s":
            return Skip()
        case "y":
            return Submit()
        case "a":
            return AddItem()
        case "R" if arg is not None:
            return RemoveItem(arg)
        case "e" if isinstance(event, Summary) and arg is not None:
            if 0 <= arg < len(event.items):
                return Edit(event.items[arg].key)
            return None
    return None


@dataclass(frozen=True)
class OpenCheck:
    """An unfinished check: its session, its household, the local day last answered."""

    row: CheckSession
    household: Household
    last_day: date


@dataclass
class CheckDesk:
    """The household check's use cases, with what they need loaded once: the database and
    clock, the forms and thresholds, and the area texts in every language (the channel's
    catalogs render them)."""

    runtime: Runtime
    thresholds: Any
    area_texts: AreaTexts
    # village code → (monotonic time read, time zone, province)
    places: dict[str, tuple[float, str, str | None]] = field(default_factory=dict)
    # (province, year) → the engine's thresholds and area texts (`area_terms`).
    terms: dict[
        tuple[str | None, int], tuple[dict[str, float | None], dict[str, dict[str, str]]]
    ] = field(default_factory=dict)
    # Where each check stood after its last step here, walked: the next step starts from it.
    positions: KeptPositions = field(default_factory=KeptPositions)
    # Which messages show the checks' prompts, written for many people at once.
    prompts: GroupCommit[PromptShown] = field(init=False)

    def __post_init__(self) -> None:
        self.prompts = GroupCommit(
            self.runtime.sessionmaker, set_prompt_messages, name="check-prompts"
        )

    async def place_of(self, s: AsyncSession, village_code: str) -> tuple[str, str | None]:
        """A village's time zone and province. Kept for a few minutes: areas hardly ever
        change, and every answer needs them."""
        now = time.monotonic()
        kept = self.places.get(village_code)
        if kept is not None and now - kept[0] < PLACE_SECONDS:
            return kept[1], kept[2]
        area = await get_area(s, village_code)
        zone = area.timezone if area is not None else DEFAULT_ZONE
        province = await province_of(s, village_code)
        self.places[village_code] = (now, zone, province)
        return zone, province

    async def engine_context(
        self, s: AsyncSession, household: Household, roster: Sequence[Any] | None = None
    ) -> tuple[Context, str]:
        """The engine's view of the world for a household: today in its zone, thresholds,
        roster (read unless given)."""
        zone, province = await self.place_of(s, household.village_code)
        today = self.runtime.clock().astimezone(ZoneInfo(zone)).date()
        if roster is None:
            roster = await roster_of(s, household.id)
        params, texts = self.area_terms(province, today.year)
        context = Context(
            today=today,
            params=params,
            roster={"members": tuple(roster)},
            household={
                "number": household.number,
                "head_name": household.head_name,
                "type": household.household_type,
            },
            texts=texts,
        )
        return context, zone

    def area_terms(
        self, province: str | None, year: int
    ) -> tuple[dict[str, float | None], dict[str, dict[str, str]]]:
        """The thresholds and the area texts for a province in a year, made once: they follow
        from the thresholds table and the catalogs, loaded once. Handed out as the same
        objects, a kept position's context is found equal at once."""
        key = (province, year)
        terms = self.terms.get(key)
        if terms is None:
            line = income_line_for(self.thresholds, province, year)
            terms = (params_for(self.thresholds, province, year), self.area_texts(line))
            if len(self.terms) < 256:
                self.terms[key] = terms
        return terms

    async def sheet_of(self, s: AsyncSession, row: CheckSession) -> Sheet | None:
        """Everything the engine needs for one step of this session."""
        found = await household_with_roster(s, row.household_id)
        form = self.runtime.forms.get(row.form_id)
        if found is None or form is None:
            return None
        household, roster = found
        context, zone = await self.engine_context(s, household, roster)
        sheet = Sheet(row, form, context, CheckState.from_json(row.state), household, zone)
        kept = self.positions.position(row.id, form, row.state, context)
        if kept is not None:
            sheet.position = (sheet.state, kept)
        return sheet

    async def current_sheet(self, s: AsyncSession, user_id: int) -> Sheet | None:
        """The check the person is working on (the open one touched last), loaded."""
        rows = await open_sessions_of(s, user_id)
        if not rows:
            return None
        return await self.sheet_of(s, max(rows, key=lambda row: row.updated_at))

    # ------------------------------------------------------------ use cases

    @short
    async def current(self, user: User) -> Sheet | None:
        """Where the person's current check stands (nothing is written)."""
        async with self.runtime.sessionmaker() as s:
            return await self.current_sheet(s, user.id)

    @short
    async def open_checks(self, user: User) -> list[OpenCheck]:
        """The person's unfinished checks, each with its household and the village's day it
        was last answered."""
        async with self.runtime.sessionmaker() as s:
            found = []
            for row in await open_sessions_of(s, user.id):
                household = await s.get(Household, row.household_id)
                if household is None:
                    continue
                area = await get_area(s, household.village_code)
                zone = area.timezone if area is not None else DEFAULT_ZONE
                found.append(OpenCheck(row, household, local_date(row.updated_at, zone)))
            return found

    @short
    async def has_open_check(self, user: User) -> bool:
        async with self.runtime.sessionmaker() as s:
            return bool(await open_sessions_of(s, user.id))

    @short
    async def own_open_check(self, user: User, session_id: int) -> CheckSession | None:
        """An unfinished check of the person's, by its id (a resume or discard button)."""
        async with self.runtime.sessionmaker() as s:
            row = await get_session(s, session_id)
            ours = row is not None and row.user_id == user.id and row.status == "open"
            return row if ours else None

    @short
    async def open_check(self, user: User, household_id: int, chat_id: int) -> Opened | Refused:
        """Open the check of a household of the person's area, or resume the open one."""
        now = self.runtime.clock()
        async with self.runtime.sessionmaker() as s:
            household = await household_in_area(s, household_id, user.area_code)
            if household is None:
                return Refused("This household is not in your area.")
            context, zone = await self.engine_context(s, household)
            row = await open_session(s, user.id, household.id)
            standing = await standing_problems(s, household.id) if row is None else []
            if row is None:
                state, _ = start(self.runtime.forms[FORM_ID], context)
                row = await start_session(
                    s, user.id, household.id, FORM_ID, chat_id, state.to_json(), now
                )
            else:
                # Touched now: the check resumed is the one the next answer goes to.
                await save_session(s, row.id, row.state, now)
            earlier = prompt_message(row)
            await show_in_chat(s, row, chat_id)
            await clear_input(s, user.id)
            await s.commit()
            form = self.runtime.forms[row.form_id]
            sheet = Sheet(row, form, context, CheckState.from_json(row.state), household, zone)
            return Opened(sheet, standing, earlier)

    @short
    async def answer(
        self, user: User, inp: Input, delivery: int | None = None
    ) -> Turn | Pressed | None:
        """A typed answer, photo or location for the current check; None when none is open.
        A delivery already applied is not applied again: `Pressed("replayed")`, or
        `Pressed("unshown")` when its screen was never sent."""
        async with self.runtime.sessionmaker() as s:
            sheet = await self.current_sheet(s, user.id)
            if sheet is None:
                return None
            if handled_before(sheet.row, delivery):
                replayed = "replayed" if shown_before(sheet.row, delivery) else "unshown"
                return Pressed(replayed, sheet, sheet.shown)
            return await self._advance(s, user, sheet, inp, delivery)

    @short
    async def press(
        self,
        user: User,
        press: Press,
        acknowledge: Callable[[], Awaitable[Any]],
        delivery: int | None = None,
        may_wait: bool = True,
    ) -> Turn | Pressed | Refused:
        """A button on a prompt or summary, checked against where the check stands.
        `acknowledge` tells the person the press was taken; it is awaited once the press is
        found valid and before anything is written, so a press whose acknowledgement never
        came back (the process died meanwhile) is applied when the update comes again.
        `may_wait` False: the caller read, with the person, that nothing is awaited from them
        (no note a problem card asked for), so there is no wait to end."""
        async with self.runtime.sessionmaker() as s:
            row = await get_session(s, press.session_id)
            if row is None or row.user_id != user.id or row.status != "open":
                return Refused("This button is no longer valid.")
            sheet = await self.sheet_of(s, row)
            if sheet is None:
                return Refused("This button is no longer valid.")
            shown = sheet.shown
            if handled_before(row, delivery) and shown_before(row, delivery):
                await acknowledge()
                return Pressed("replayed", sheet, shown)
            # A question may be on screen twice (sent again after a restart, or by the
            # resume offer): a press on either copy answers it. The summary's buttons count
            # only on the summary last sent, which shows what would be submitted.
            stale = press.token != token_of(shown) or (
                isinstance(shown, Summary)
                and press.message_id != prompt_message(row)
                and press.action not in SUMMARY_PAGES
            )
            if stale:
                return Pressed("stale", sheet, shown)
            await acknowledge()
            # Back at the check: a note some problem card asked for is no longer awaited, so
            # the next typed answer goes to the check.
            if may_wait and await clear_input(s, user.id):
                await s.commit()
            kind = _display_only(press.action, shown)
            if kind is not None:
                return Pressed(kind, sheet, shown)
            if press.action in SETTLE_ACTIONS and isinstance(shown, Summary):
                try:
                    sheet.row = await _settle(s, row.id, press, self.runtime.clock)
                except StorageError as error:
                    await s.rollback()
                    return Refused(error.message_id, error.params)
                if sheet.row.telegram is not None:
                    sheet.row.telegram.message_id = None
                return await self._advance(s, user, sheet, Submit(), delivery)
            inp = input_for(press.action, press.arg, shown)
            if inp is None:
                return Pressed("choose", sheet, shown)
            return await self._advance(s, user, sheet, inp, delivery)

    @short
    async def discard(self, user: User, session_id: int) -> CheckSession | None:
        """Drop an open check of the person's; None when it is not theirs or not open."""
        async with self.runtime.sessionmaker() as s:
            row = await get_session(s, session_id)
            if row is None or row.user_id != user.id or row.status != "open":
                return None
            await _discard(s, row.id, self.runtime.clock)
            await s.commit()
            return row

    async def record_prompt(
        self, sheet: Sheet, message_id: int | None, delivery: int | None
    ) -> None:
        """The message the check's current prompt went out as (None: unknown, kept as was),
        and that the screen of this delivery was sent."""
        if message_id is not None:
            await self.prompts.add(PromptShown(sheet.row.id, message_id, delivery))

    # ------------------------------------------------------------ one step

    async def _advance(
        self, s: AsyncSession, user: User, sheet: Sheet, inp: Input, delivery: int | None
    ) -> Turn:
        """One engine step, saved and committed before anything is shown."""
        now = self.runtime.clock()
        before = sheet.shown
        state, events = sheet.at().step(inp)
        turn = Turn(
            sheet,
            before,
            inp,
            state,
            shown=next((e for e in reversed(events) if isinstance(e, Prompt | Summary)), None),
            invalid=next((e for e in events if isinstance(e, Invalid)), None),
        )
        finished = next((e for e in events if isinstance(e, Finished)), None)
        if turn.invalid is None and finished is not None:
            turn.settlement = await _settlement(s, sheet, finished)
            if turn.settlement is not None:
                turn.state = sheet.state
                return turn
            self.positions.forget(sheet.row.id)
            await save_session(s, sheet.row.id, state.to_json(), now)
            turn.submitted = await self._submit(s, user, sheet, finished)
            return turn
        saved = saved_state(state, delivery)
        # Its JSON text, made once: written as it is, and kept to know it again.
        document = state_document(saved)
        await save_session(s, sheet.row.id, saved, now, document)
        await s.commit()
        self.positions.keep(sheet.row.id, sheet.at().following(state), saved, document)
        return turn

    async def _submit(
        self, s: AsyncSession, user: User, sheet: Sheet, finished: Finished
    ) -> Submission:
        """Save the record and its problems; the deadlines follow the village's schedule."""
        today = sheet.context.today
        village = sheet.household.village_code
        schedule = (await load_schedules(s)).of(village)
        # Found in a campaign (专项排查): never due after its cut-off.
        deadlines = CheckDeadlines(schedule, today, await cutoff_on(s, village, today))
        record, problems = await submit_check(
            s, sheet.row.id, finished.record, user.id, self.runtime.clock(), deadlines
        )
        first_found = await found_by(s, record.id)
        in_case = record.at_risk and await open_case_of(s, record.household_id) is not None
        await s.commit()
        return Submission(record, problems, frozenset(first_found), in_case)


def _display_only(action: str, shown: Prompt | Summary | None) -> str | None:
    if action == "x":
        return "pause"
    if action in SUMMARY_PAGES and isinstance(shown, Summary):
        return "page"
    if action in ("r", "k") and isinstance(shown, Prompt):
        return "confirm"
    if action == "u" and isinstance(shown, Summary):
        return "summary"
    return None


async def _settle(
    s: AsyncSession, session_id: int, press: Press, clock: Callable[[], Any]
) -> CheckSession:
    if press.action in ("g", "w"):
        row = await settle_earlier(
            s, session_id, press.arg or 0, SETTLE_ACTIONS[press.action], clock()
        )
    else:
        row = await set_amendment_kind(s, session_id, SETTLE_ACTIONS[press.action], clock())
    await s.commit()
    return row


async def _discard(s: AsyncSession, session_id: int, clock: Callable[[], Any]) -> None:
    await discard_session(s, session_id, clock())


async def _settlement(s: AsyncSession, sheet: Sheet, finished: Finished) -> Settlement | None:
    """What must be asked before submitting: for an amendment, whether an answer was wrong or
    the situation changed; for a check, what became of an earlier problem it no longer
    raises. None when nothing is left to ask."""
    row = sheet.row
    if row.amends_record_id is not None:
        return Settlement(None) if row.amendment_kind is None else None
    pending = await unsettled(s, row.household_id, finished.record.problems, row.resolutions)
    return Settlement(pending[0]) if pending else None
