"""Every message the bot builds fits Telegram's 4096 characters: a problem card with a long
history, a merged reminder with a very long hand-added problem, and a check of a household
whose roster name is longer than a message are all sent, and the longest of each is tried."""

from __future__ import annotations

import asyncio
from datetime import UTC, date

from sqlalchemy import update

from bot.reminders import run_sweep
from bot.sending import MAX_TEXT, fitted, pieces, visible_length
from storage import Household, Member
from storage.problems import act
from tests.harness import Harness
from tests.ledger_harness import bot_harness, hand_problem, local, populate
from tests.test_ledger_chat import until

__all__ = ["bot_harness"]


def test_pieces_split_between_lines_and_cut_what_cannot_fit() -> None:
    text = "\n".join(f"<b>{n}</b> " + "户" * 1000 for n in range(9))
    parts = pieces(text)
    assert len(parts) == 3 and all(visible_length(part) <= MAX_TEXT for part in parts)
    assert "\n".join(parts) == text
    long_line = "&lt;" + "😀" * 3000
    (cut,) = pieces(long_line)
    assert visible_length(cut) <= MAX_TEXT and cut.endswith("…") and cut.startswith("&lt;")
    assert visible_length(fitted(text)) <= MAX_TEXT


def test_a_text_of_emoji_is_split_when_its_utf16_units_pass_the_limit() -> None:
    """Telegram counts an emoji as two: 2048 of them fill a message, 2049 do not."""
    assert pieces("😀" * (MAX_TEXT // 2)) == ["😀" * (MAX_TEXT // 2)]
    assert pieces("😀" * (MAX_TEXT // 2 + 1)) == ["😀" * (MAX_TEXT // 2 - 1) + "…"]
    assert fitted("😀" * 2047) == "😀" * 2047 and fitted("😀" * 2048) != "😀" * 2048


async def test_a_card_with_nine_long_progress_notes_is_sent_with_its_buttons(
    bot_harness: Harness,
) -> None:
    h = bot_harness
    v = await populate(h)
    pid = await hand_problem(h, v, "zhang", "屋" * 4000, date(2026, 12, 20))
    async with h.sessionmaker.begin() as s:
        for n in range(9):
            note = f"第{n + 1}次进展：" + "已联系施工队，材料已经到位，" * 40
            await act(s, pid, v.ids["cadre"], "progress", h.clock(), note=note)
    await v.leader.send_command("problems")
    await until(v.leader, lambda m: "Problems" in m.content)
    await v.leader.press_button(lambda label: label.startswith("张建国"))
    card = await until(v.leader, lambda m: f"Problem #{pid}" in m.content)
    assert visible_length(card.content) <= MAX_TEXT
    assert "第9次进展" in card.content and "earlier" in card.content
    assert "Add progress" in [text for text, _ in card.buttons]


async def test_a_merged_reminder_with_a_very_long_problem_is_delivered(
    bot_harness: Harness,
) -> None:
    h = bot_harness
    v = await populate(h)
    await hand_problem(h, v, "zhang", "漏" * 4090, date(2026, 11, 26))
    await hand_problem(h, v, "wang", "P-SHORT-1", date(2026, 11, 26))
    await hand_problem(h, v, "li", "P-SHORT-2", date(2026, 11, 26))
    v.cadre._chat.inbox = asyncio.Queue()
    await run_sweep(h.app, local(24, 11, 9).astimezone(UTC))
    received: list[str] = []
    while not v.cadre._chat.inbox.empty():
        received.append(v.cadre._chat.inbox.get_nowait().content)
    whole = "\n".join(received)
    assert received and all(visible_length(text) <= MAX_TEXT for text in received)
    assert "P-SHORT-1" in whole and "P-SHORT-2" in whole and "漏漏漏" in whole


async def test_a_check_of_a_household_with_a_huge_roster_name_goes_on(harness: Harness) -> None:
    households = await harness.seed()
    name = "张" + "建" * 4099
    async with harness.sessionmaker.begin() as s:
        await s.execute(
            update(Household).where(Household.id == households["wang"]).values(head_name=name)
        )
        await s.execute(
            update(Member).where(Member.household_id == households["wang"]).values(name=name)
        )
    cadre = harness.emulator.user(6101, "王芳", language_code="zh-hans")
    await harness.register(cadre)
    await cadre.send_command("check")
    picker = await cadre.next_message()
    await cadre.press(picker.message_id, f"1o:{households['wang']}")
    title = await cadre.next_message()
    assert visible_length(title.content) <= MAX_TEXT and "张建建" in title.content
    prompt = await cadre.next_message()
    assert prompt.buttons
    assert await harness.cursor(6101) is not None
