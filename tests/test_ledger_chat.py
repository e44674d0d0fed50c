"""The ledger in the chat: /problems, the problem card, a cadre reporting progress with a photo
and a rectification note, a leader returning and verifying, and the requests that are refused
(a cadre verifying, a stale button, another village's problem) without changing anything."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from sqlalchemy import select

from bot.emulator import ChatMessage, EmulatedUser
from storage.models import Problem, ProblemEvent
from tests.harness import Harness
from tests.ledger_harness import bot_harness, hand_problem, populate

__all__ = ["bot_harness"]


async def until(user: EmulatedUser, wanted: Callable[[ChatMessage], bool]) -> ChatMessage:
    """The next message the bot sends this user that matches (earlier ones are skipped)."""
    while True:
        message = await user.next_message()
        if wanted(message):
            return message


def labels(message: ChatMessage) -> list[str]:
    return [text for text, _ in message.buttons]


async def status_of(h: Harness, problem_id: int) -> tuple[str, int]:
    async with h.sessionmaker() as s:
        problem = await s.get(Problem, problem_id)
        events = list(
            await s.scalars(select(ProblemEvent).where(ProblemEvent.problem_id == problem_id))
        )
    assert problem is not None
    return problem.status, len(events)


async def test_a_cadre_rectifies_and_a_leader_returns_then_verifies_in_the_chat(
    bot_harness: Harness,
) -> None:
    h = bot_harness
    v = await populate(h)
    pid = await hand_problem(h, v, "zhang", "屋顶漏雨", date(2026, 12, 20))
    cadre, leader = v.cadre, v.leader

    await cadre.send_command("problems")
    listing = await until(cadre, lambda m: "Problems (open): 1" in m.content)
    assert "张建国" in listing.content and "27 days left" in listing.content
    await cadre.press_button(lambda label: label.startswith("张建国"))
    card = await until(cadre, lambda m: f"Problem #{pid}" in m.content)
    assert "Status: Open" in card.content and "屋顶漏雨" in card.content
    assert labels(card)[:1] == ["Add progress"] and "Verify (close)" not in labels(card)

    await cadre.press_button("Add progress")
    await until(cadre, lambda m: "Send the progress" in m.content)
    await cadre.send_photo(b"\xff\xd8photo", caption="已联系施工队")
    card = await until(cadre, lambda m: "Status: In progress" in m.content)
    assert "已联系施工队 📷" in card.content and "Saved." in card.content

    await cadre.press_button("Report rectified")
    await until(cadre, lambda m: "rectified (required)" in m.content)
    await cadre.send_text("屋顶已修好")
    card = await until(cadre, lambda m: "Status: Rectified" in m.content)
    assert labels(card) == ["◀ Problems"]  # a cadre cannot verify her own work

    # A cadre forging the verify button is refused; nothing changes.
    before = await status_of(h, pid)
    answer = await cadre.press(card.message_id, f"1A:{pid}:r:v")
    assert answer.text == "Your role cannot do this." and answer.show_alert
    assert await status_of(h, pid) == before

    await leader.send_command("problems")
    await until(leader, lambda m: "Problems (open): 1" in m.content)
    await leader.press_button(lambda label: label.startswith("张建国"))
    card = await until(leader, lambda m: "Status: Rectified" in m.content)
    assert labels(card)[:2] == ["Verify (close)", "Return with a reason"]
    stale_card = card
    await leader.press_button("Return with a reason")
    await until(leader, lambda m: "reason for returning" in m.content)
    await leader.send_text("照片看不清，请补拍")
    card = await until(leader, lambda m: "Status: In progress" in m.content)
    assert "照片看不清，请补拍" in card.content
    # The leader's old card still offers "Verify"; it was made for the rectified state.
    answer = await leader.press(stale_card.message_id, stale_card.callback_data("Verify (close)"))
    assert answer.show_alert and "changed meanwhile" in (answer.text or "")
    assert (await status_of(h, pid))[0] == "in_progress"

    await cadre.send_command("problems")
    await until(cadre, lambda m: "Problems (open)" in m.content)
    await cadre.press_button(lambda label: label.startswith("张建国"))
    await until(cadre, lambda m: "Status: In progress" in m.content)
    await cadre.press_button("Report rectified")
    await until(cadre, lambda m: "rectified (required)" in m.content)
    await cadre.send_photo(b"\xff\xd8again", caption="补拍了照片")
    await until(cadre, lambda m: "Status: Rectified" in m.content)

    await leader.send_command("problems")
    await until(leader, lambda m: "Problems (open)" in m.content)
    await leader.press_button(lambda label: label.startswith("张建国"))
    card = await until(leader, lambda m: "Status: Rectified" in m.content)
    await leader.press_button("Verify (close)")
    edited = await leader.next_edit()
    while "Verified" not in edited.content:  # the stale press above refreshed the old card
        edited = await leader.next_edit()
    assert "Status: Verified (closed)" in edited.content and "Saved." in edited.content
    assert await status_of(h, pid) == ("verified", 6)

    # A stale button on the closed problem changes nothing.
    answer = await leader.press(card.message_id, card.callback_data("Return with a reason"))
    assert answer.show_alert
    assert await status_of(h, pid) == ("verified", 6)


async def test_another_villages_cadre_cannot_open_or_act_on_a_problem(
    bot_harness: Harness,
) -> None:
    h = bot_harness
    v = await populate(h)
    pid = await hand_problem(h, v, "zhang", "屋顶漏雨", date(2026, 12, 20))
    stranger = v.other_cadre
    await stranger.send_command("problems")
    listing = await until(stranger, lambda m: "Problems (open)" in m.content)
    assert "No problems match." in listing.content
    answer = await stranger.press(listing.message_id, f"1A:{pid}:o:g")
    assert answer.show_alert and answer.text == "This problem is not in your area."
    await stranger.press(listing.message_id, f"1K:{pid}")
    refusal = await until(stranger, lambda m: "not in your area" in m.content)
    assert "屋顶漏雨" not in refusal.content
    assert await status_of(h, pid) == ("open", 1)


async def test_filters_and_progress_at_a_glance(bot_harness: Harness) -> None:
    h = bot_harness
    v = await populate(h)
    for n in range(10):
        await hand_problem(h, v, "wang", f"问题{n}", date(2026, 11, 20 + n))
    leader = v.leader
    await leader.send_command("problems")
    listing = await until(leader, lambda m: "Problems (open): 10" in m.content)
    assert "1–8 of 10" in listing.content
    await leader.press_button("Next ▶")
    page = await leader.next_edit()
    assert "9–10 of 10" in page.content
    await leader.press_button("Overdue")
    page = await leader.next_edit()
    assert "Problems (overdue): 3" in page.content and "3 days overdue" in page.content
    await leader.press_button("Village ▾")
    menu = await leader.next_edit()
    assert labels(menu)[:2] == ["幸福村", "和平村"]
    await leader.press_button("和平村")
    page = await leader.next_edit()
    assert "Problems (overdue): 0" in page.content

    await v.cadre.send_command("progress")
    progress = await until(v.cadre, lambda m: "Monthly report due" in m.content)
    assert "幸福村" in progress.content and "checked 0/3" in progress.content
    assert "10 open, 3 overdue" in progress.content and "11 days left" in progress.content


async def test_a_leader_adds_a_problem_by_hand_and_a_cadre_cannot(bot_harness: Harness) -> None:
    h = bot_harness
    v = await populate(h)
    await v.cadre.send_command("addproblem", "王秀兰")
    await until(v.cadre, lambda m: "Your role cannot do this." in m.content)

    leader = v.leader
    await leader.send_command("addproblem", "王")
    await until(leader, lambda m: "Adding a problem to 王秀兰 (幸福村)" in m.content)
    await leader.send_text("饮水安全\n自来水经常停水\n稳定供水\n-\n县水利局")
    card = await until(leader, lambda m: "Problem #" in m.content)
    assert "Saved." in card.content and "自来水经常停水" in card.content
    assert "Dec 23, 2026, 30 days left" in card.content  # no tier given: the default
    assert "added by hand" in card.content

    await leader.send_command("addproblem", "张建国")
    await until(leader, lambda m: "Adding a problem" in m.content)
    await leader.send_text("住房安全\n屋顶漏雨\n住房安全有保障\n维修屋顶\n县住建局\n立行立改")
    card = await until(leader, lambda m: "屋顶漏雨" in m.content)
    # 立行立改: by the end of the reporting period (the eve of the 4th), not of the month.
    assert "Deadline: Dec 3, 2026, 10 days left (Fix at once)" in card.content

    await leader.send_command("addproblem", "张建国")
    await until(leader, lambda m: "Adding a problem" in m.content)
    ongoing = "Ongoing, reviewed every period"  # a tier's name in the person's language
    await leader.send_text(f"收入\n收入不稳定\n收入稳定\n-\n县民政局\n{ongoing}")
    card = await until(leader, lambda m: "收入不稳定" in m.content)
    assert "Deadline: Ongoing, reviewed every period\n" in card.content
    async with h.sessionmaker() as s:
        rows = list(await s.scalars(select(Problem).order_by(Problem.id)))
    assert [(p.check_record_id, p.deadline_tier) for p in rows] == [
        (None, "timed"),
        (None, "immediate"),
        (None, "ongoing"),
    ]
