"""An edited message never becomes the answer to the question asked now: not in a check, not
as the note a problem card's button waits for. The person is told how to change an answer."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from storage import CheckSession, Identity
from storage.models import ProblemEvent
from tests.checkdriver import answer_until, open_check
from tests.harness import Harness
from tests.ledger_harness import bot_harness, hand_problem, populate
from tests.test_ledger_chat import until

__all__ = ["bot_harness"]


async def _answers(h: Harness, telegram_id: int) -> dict[str, object]:
    async with h.sessionmaker() as s:
        row = await s.scalar(
            select(CheckSession)
            .join(Identity, Identity.user_id == CheckSession.user_id)
            .where(Identity.address == str(telegram_id), CheckSession.status == "open")
        )
    assert row is not None
    answers: dict[str, object] = row.state["answers"]
    return answers


async def test_editing_an_answer_does_not_answer_the_next_question(harness: Harness) -> None:
    await harness.seed()
    cadre = harness.emulator.user(6001, "王芳", language_code="zh-hans")
    await harness.register(cadre)
    await open_check(harness, cadre, "张建国")
    await answer_until(harness, cadre, {}, stop_at="income_wages")
    wages = await cadre.send_text("60000")
    business = await cadre.next_message()
    assert "生产经营性净收入" in business.content
    assert await harness.cursor(6001) == "income_business"

    await cadre.edit_text(wages.message_id, "65000")
    reply = await cadre.next_message()
    assert "修改过的消息不会被读取" in reply.content and "上一步" in reply.content
    assert await harness.cursor(6001) == "income_business"
    answers = await _answers(harness, 6001)
    assert answers["income_wages"] == 60000 and "income_business" not in answers

    await cadre.send_text("1000")
    await cadre.next_message()
    answers = await _answers(harness, 6001)
    assert (answers["income_wages"], answers["income_business"]) == (60000, 1000)


async def test_editing_a_message_while_a_note_is_awaited_saves_no_note(
    bot_harness: Harness,
) -> None:
    h = bot_harness
    v = await populate(h)
    pid = await hand_problem(h, v, "zhang", "屋顶漏雨", date(2026, 12, 20))
    cadre = v.cadre
    earlier = await cadre.send_text("张建国")
    await cadre.next_message()  # the search result
    await cadre.send_command("problems")
    await until(cadre, lambda m: "Problems (open): 1" in m.content)
    await cadre.press_button(lambda label: label.startswith("张建国"))
    await until(cadre, lambda m: f"Problem #{pid}" in m.content)
    await cadre.press_button("Add progress")
    await until(cadre, lambda m: "Send the progress" in m.content)

    await cadre.edit_text(earlier.message_id, "已联系施工队")
    reply = await until(cadre, lambda m: "Edited messages are not read" in m.content)
    assert "Back" in reply.content
    async with h.sessionmaker() as s:
        notes = list(
            await s.scalars(select(ProblemEvent.note).where(ProblemEvent.problem_id == pid))
        )
    assert "已联系施工队" not in notes

    await cadre.send_text("屋顶材料已到")
    card = await until(cadre, lambda m: "Status: In progress" in m.content)
    assert "屋顶材料已到" in card.content
