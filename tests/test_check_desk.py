"""The check desk (services/checkdesk.py): one typed answer reads the user once, walks the
questionnaire once and saves the check in one transaction; the desk works without Telegram."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import aiosqlite
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import event, select, text

from bot.emulator import BotApiEmulator
from bot.services import KEY, Services
from conversations import (
    Back,
    CheckState,
    Position,
    Prompt,
    Show,
    Skip,
    Summary,
    Text,
    state_document,
    step,
)
from conversations import engine as engine_module
from services.checkdesk import Opened, Turn
from storage import CheckSession, User, save_session, user_by_telegram_id
from tests.checkdriver import FORM, open_check
from tests.harness import Harness
from tests.test_engine import CONTEXT as CTX


@contextmanager
def statements(harness: Harness) -> Iterator[list[str]]:
    """Every SQL statement the bot's database engine runs meanwhile."""
    seen: list[str] = []
    engine = harness.sessionmaker.kw["bind"].sync_engine

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def count_walks(monkeypatch: Any) -> list[object]:
    """Every walk of the questionnaire from now on, one entry each, whether made from
    scratch or taking over from an earlier walk."""
    walks: list[object] = []
    real_walk, real_walk_after = engine_module.walk, engine_module.walk_after

    def counted_walk(*args: Any) -> Any:
        walks.append(args)
        return real_walk(*args)

    def counted_walk_after(*args: Any) -> Any:
        walks.append(args)
        return real_walk_after(*args)

    monkeypatch.setattr(engine_module, "walk", counted_walk)
    monkeypatch.setattr(engine_module, "walk_after", counted_walk_after)
    return walks


async def test_a_typed_answer_reads_the_user_once_and_walks_the_form_once(
    harness: Harness, emulator: BotApiEmulator, monkeypatch: Any
) -> None:
    await harness.seed()
    user = emulator.user(3301, "测试干部", language_code="zh-hans")
    await harness.register(user)
    await open_check(harness, user, "王秀兰")
    walks = count_walks(monkeypatch)
    with statements(harness) as seen:
        await user.send_text("入户走访")
        await user.next_message()
    user_reads = [s for s in seen if s.startswith("SELECT") and "FROM users" in s]
    writes = [s for s in seen if s.startswith("UPDATE")]
    answer_writes = [s for s in writes if s.startswith("UPDATE check_sessions")]
    prompt_writes = [s for s in writes if s.startswith("UPDATE telegram_prompts")]
    assert len(user_reads) == 1, user_reads
    # What the bot waits for from the person (a note a card asked for) comes with them.
    assert "pending_inputs" in user_reads[0], user_reads
    assert not [s for s in seen if s.startswith("SELECT") and "FROM pending_inputs" in s], seen
    # Marking the update done waits for nothing: at most one statement for it.
    assert len([s for s in writes if s.startswith("UPDATE received_updates")]) <= 1, writes
    # The answer is saved once; the message its next prompt went out as, once after sending.
    assert len(answer_writes) == 1 and len(prompt_writes) == 1, writes
    # One walk of the state answered; the answer recorded walks the new state once more.
    assert len(walks) <= 2, len(walks)
    assert await harness.cursor(3301) != "visit_type"


async def test_a_typed_answer_never_leaves_the_event_loop(
    harness: Harness, emulator: BotApiEmulator, monkeypatch: Any
) -> None:
    """On SQLite, an answer's statements run on the event loop's thread (they are short),
    writes too while no other process holds the write lock."""
    await harness.seed()
    user = emulator.user(3304, "测试干部", language_code="zh-hans")
    await harness.register(user)
    await open_check(harness, user, "王秀兰")
    await harness.intake.settled()
    trips: list[str] = []
    real_execute = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        statement = args[1] if len(args) > 1 and isinstance(args[1], str) else fn.__name__
        trips.append(" ".join(statement.split()[:3]))
        return await real_execute(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    with statements(harness) as seen:
        await user.send_text("入户走访")
        await user.next_message()
        await harness.intake.settled()
    assert trips == []
    # the update stored, the answer saved, the prompt's message recorded, the update done:
    # all on the loop's thread, with the reads and the commits
    written = sorted(" ".join(s.split()[:3]) for s in seen if s.startswith(("INSERT", "UPDATE")))
    assert written == [
        "INSERT INTO received_updates",
        "UPDATE check_sessions SET",
        "UPDATE received_updates SET",
        "UPDATE telegram_prompts SET",
    ], seen


async def test_a_press_on_the_check_reads_no_wait_of_its_own(
    harness: Harness, emulator: BotApiEmulator
) -> None:
    await harness.seed()
    user = emulator.user(3303, "测试干部", language_code="zh-hans")
    await harness.register(user)
    prompt = await open_check(harness, user, "王秀兰")
    with statements(harness) as seen:
        await user.press(prompt.message_id, prompt.callback_data("入户走访"))
        await user.next_message()
    assert not [s for s in seen if "FROM pending_inputs" in s], seen
    assert await harness.cursor(3303) != "visit_type"


async def check_opened_at_the_desk(
    harness: Harness, emulator: BotApiEmulator, telegram_id: int
) -> tuple[Services, User, Opened]:
    """A registered cadre with 王秀兰's check opened through the desk itself, not the chat."""
    seeded = await harness.seed()
    await harness.register(emulator.user(telegram_id, "测试干部", language_code="zh-hans"))
    assert harness.app is not None
    svc: Services = harness.app.bot_data[KEY]
    async with harness.sessionmaker() as s:
        person = await user_by_telegram_id(s, telegram_id)
    assert person is not None
    opened = await svc.desk.open_check(person, seeded["wang"], chat_id=telegram_id)
    assert isinstance(opened, Opened), opened
    return svc, person, opened


async def test_the_desk_answers_without_telegram(
    harness: Harness, emulator: BotApiEmulator
) -> None:
    svc, person, _ = await check_opened_at_the_desk(harness, emulator, 3302)
    turn = await svc.desk.answer(person, Text("入户走访"))
    assert turn is not None and turn.invalid is None
    assert turn.before is not None and turn.shown is not None
    async with harness.sessionmaker() as s:
        row = (await s.scalars(select(CheckSession))).one()
        written = await s.scalar(text("SELECT state FROM check_sessions"))
    assert row.state["answers"]["visit_type"] == "home_visit"
    # The answer's JSON text, made once for the kept position, is what was written.
    assert written == state_document(row.state)


async def test_the_next_answer_starts_from_where_the_last_left_the_check_unless_it_moved(
    harness: Harness, emulator: BotApiEmulator, monkeypatch: Any
) -> None:
    svc, person, opened = await check_opened_at_the_desk(harness, emulator, 3305)
    assert (await svc.desk.answer(person, Text("入户走访"))) is not None
    walks = count_walks(monkeypatch)
    turn = await svc.desk.answer(person, Text("户主本人"))
    assert isinstance(turn, Turn) and turn.invalid is None
    assert isinstance(turn.before, Prompt) and turn.before.question_id == "respondent"
    # Only the state answered is walked: where the check stood is the last answer's.
    assert len(walks) == 1, len(walks)
    # Elsewhere (another instance of the bot), the check goes back to the respondent.
    async with harness.sessionmaker() as s:
        row = (await s.scalars(select(CheckSession))).one()
        back, _ = step(FORM, CheckState.from_json(row.state), Back(), opened.sheet.context)
        await save_session(s, row.id, back.to_json(), harness.clock())
        await s.commit()
    turn = await svc.desk.answer(person, Text("户主配偶"))
    assert isinstance(turn, Turn) and turn.invalid is None
    assert isinstance(turn.before, Prompt) and turn.before.question_id == "respondent"
    async with harness.sessionmaker() as s:
        row = (await s.scalars(select(CheckSession))).one()
    assert row.state["answers"]["respondent"] == "spouse"
    assert row.state["cursor"] == "respondent_name"


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from([Text("x"), Text("1"), Skip(), Back()]), max_size=12))
def test_a_position_shows_and_steps_as_the_engine_does(inputs: list[Any]) -> None:
    state, _ = engine_module.start(FORM, CTX)
    for inp in inputs:
        position = Position(FORM, state, CTX)
        shown = [e for e in step(FORM, state, Show(), CTX)[1] if isinstance(e, Prompt | Summary)]
        assert [position.shown] == shown[:1]
        assert position.step(inp) == step(FORM, state, inp, CTX)
        state = position.step(inp)[0]
