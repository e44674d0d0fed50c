"""Campaigns (专项排查) through the real bot, the command line and the emulator: an office opens
one answer by answer in the chat (or on the command line); a problem found in it is never due
after its cut-off unless the office says so explicitly; the deadline reminder and the leaders'
digest name it; nobody but an office opens one."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.cli import main
from bot.emulator import EmulatedUser
from bot.reminders import run_sweep
from conversations.model import RaisedProblem
from services import Runtime, ledger
from services.campaigns import open_for_area
from services.policy import Deed
from storage.campaigns import campaigns_for
from storage.deadlines import CheckDeadlines
from storage.errors import StorageError
from storage.models import Campaign, Problem, ProblemEvent
from storage.periods import campaign_start
from storage.schedule import AreaSchedule
from tests.checkdriver import SUBMIT, answer_until, open_check
from tests.harness import COUNTY, TOWNSHIP, VILLAGE, Harness
from tests.ledger_harness import bot_harness, local, populate
from tests.test_ledger_chat import until
from tests.test_problem_identity import PROBLEM_PLAN
from tests.test_reminders import days_with, drain

__all__ = ["bot_harness"]


async def open_in_chat(office: EmulatedUser) -> None:
    """The office enters a campaign for the county: 20 November to 31 December, everything
    rectified by 15 January."""
    await office.send_command("campaign")
    first = await until(office, lambda m: "Send its name" in m.content)
    assert "No campaign has been opened for your area." in first.content
    await office.send_text("脱贫攻坚问题大排查")
    await until(office, lambda m: "first day" in m.content)
    await office.send_text("next week")  # refused, asked again; the name is kept
    again = await until(office, lambda m: "first day" in m.content)
    assert "I could not read a date there." in again.content
    await office.send_text("2026-11-20")
    await until(office, lambda m: "last day of finding problems" in m.content)
    await office.send_text("2026年12月31日")
    await until(office, lambda m: "must be rectified" in m.content)
    await office.send_text("2026-12-20")  # before the end: refused, asked again
    again = await until(office, lambda m: "must be rectified" in m.content)
    assert "The rectification cut-off cannot come before the campaign ends." in again.content
    await office.send_text("2027-01-15")
    opened = await until(office, lambda m: "Campaign opened" in m.content)
    assert (
        "脱贫攻坚问题大排查 (示范县): found from Nov 20, 2026 to Dec 31, 2026, all rectified "
        "by Jan 15, 2027" in opened.content
    )


async def add_planned(h: Harness, leader: EmulatedUser, name: str, text: str) -> Problem:
    await leader.send_command("addproblem", name)
    await until(leader, lambda m: "Adding a problem" in m.content)
    await leader.send_text(f"住房安全\n{text}\n住房安全有保障\n-\n县住建局\n限时整改")
    await until(leader, lambda m: text in m.content and "Saved." in m.content)
    async with h.sessionmaker() as s:
        found = await s.scalar(select(Problem).where(Problem.text == text))
    assert found is not None
    return found


async def test_an_office_opens_a_campaign_and_its_cutoff_holds(bot_harness: Harness) -> None:
    h = bot_harness
    v = await populate(h)
    # A cadre and a leader see the campaigns but cannot open one.
    for person in (v.cadre, v.leader):
        await person.send_command("campaign")
        refused = await until(person, lambda m: "Campaigns" in m.content)
        assert "Only an office can open a campaign." in refused.content
    await open_in_chat(v.office)
    async with h.sessionmaker() as s:
        rows = list(await s.scalars(select(Campaign)))
        assert [(c.status, c.area_code, c.cutoff) for c in rows] == [
            ("open", COUNTY, date(2027, 1, 15))
        ]
        assert [c.name for c in await campaigns_for(s, VILLAGE)] == ["脱贫攻坚问题大排查"]
        # The monthly report's "found so far" counts from the campaign's start.
        assert await campaign_start(s, TOWNSHIP, date(2026, 12, 10)) == date(2026, 11, 20)
        assert await campaign_start(s, TOWNSHIP, date(2027, 3, 1)) == date(2027, 1, 1)

    # 限时整改 would be due 60 days on (22 January): found in the campaign, the cut-off.
    problem = await add_planned(h, v.leader, "王秀兰", "P-CAMPAIGN 危房改造")
    assert problem.deadline == date(2027, 1, 15)
    # A check's deadlines are held to the cut-off the same way; a rule's own earlier date stays.
    policy = CheckDeadlines(AreaSchedule(), date(2026, 11, 23), date(2027, 1, 15))
    raised = RaisedProblem("housing", "住房安全", {}, {}, {}, "县住建局", None, "timed")
    assert policy.due(raised, h.clock()) == date(2027, 1, 15)
    assert policy.due(replace(raised, deadline_date="2026-12-10"), h.clock()) == date(2026, 12, 10)

    # A leader has no deadline to move; the use case refuses it too.
    card_buttons = await _card_buttons(v.leader, problem.id)
    assert "Change the deadline" not in card_buttons
    rt = Runtime(h.sessionmaker, h.clock)
    with pytest.raises(StorageError):
        await ledger.act_on_problem(
            rt,
            v.ids["leader"],
            problem.id,
            Deed.DEADLINE,
            note="晚一点",
            deadline=date(2027, 3, 1),
            past_cutoff=True,
        )

    # The office cannot pass the cut-off without saying so...
    await v.office.send_command("problems")
    listing = await until(v.office, lambda m: "Problems (" in m.content)
    data = next(d for label, d in listing.buttons if label.startswith("王秀兰"))
    await v.office.press(listing.message_id, data)
    card = await until(v.office, lambda m: "P-CAMPAIGN" in m.content)
    await v.office.press(card.message_id, card.callback_data("Change the deadline"))
    await until(v.office, lambda m: "Send the new deadline" in m.content)
    await v.office.send_text("2027-03-01 雨季施工困难")
    refusal = await until(v.office, lambda m: "cut-off" in m.content)
    assert (
        "This problem was found in the campaign 脱贫攻坚问题大排查: its deadline cannot pass "
        "the cut-off Jan 15, 2027." in refusal.content
    )
    assert "followed by “!”" in refusal.content
    # ...and can, with its explicit word, which the history keeps.
    await v.office.send_text("2027-03-01! 雨季施工困难")
    saved = await until(v.office, lambda m: "Saved." in m.content)
    assert "Mar 1, 2027" in saved.content
    assert "deadline set past the campaign's cut-off, on the office's word — 雨季施工困难" in (
        saved.content
    )
    async with h.sessionmaker() as s:
        events = list(
            await s.scalars(
                select(ProblemEvent.action).where(ProblemEvent.problem_id == problem.id)
            )
        )
    assert events == ["added", "deadline_past_cutoff"]


async def _card_buttons(user: EmulatedUser, problem_id: int) -> list[str]:
    await user.send_command("problems")
    listing = await until(user, lambda m: "Problems (" in m.content)
    data = next(d for label, d in listing.buttons if label.startswith("王秀兰"))
    await user.press(listing.message_id, data)
    card = await until(user, lambda m: f"Problem #{problem_id}" in m.content)
    return [label for label, _ in card.buttons]


async def test_the_deadline_reminder_and_the_digest_name_the_campaign(
    bot_harness: Harness,
) -> None:
    h = bot_harness
    v = await populate(h)
    # Opened on the command line by the server's operator, into the bot's own database.
    opened = await asyncio.to_thread(
        main,
        [
            "--database-url",
            h.settings.database_url,
            "--lang",
            "en",
            "campaign",
            "open",
            "--area",
            TOWNSHIP,
            "--name",
            "冬季大排查",
            "--start",
            "2026-11-20",
            "--end",
            "2026-12-31",
            "--cutoff",
            "2027-01-15",
        ],
    )
    assert opened == 0
    problem = await add_planned(h, v.leader, "王秀兰", "P-WINTER 危房改造")
    assert problem.deadline == date(2027, 1, 15)
    inbox: list[tuple[datetime, str]] = []
    v.leader._chat.inbox = asyncio.Queue()
    for day in (local(24, 11, 9), local(12, 1, 9), local(15, 1, 9)):
        h.clock.now = day.astimezone(UTC)
        await run_sweep(h.app, h.clock.now)
        drain(v.leader, day, inbox)
    # The digest of a day with nothing overdue still tells the leader what the campaign has
    # left to rectify.
    digest = next(content for at, content in inbox if at.date() == date(2026, 11, 24))
    assert "Campaign 冬季大排查: 1 problem found in it is still to rectify; everything by " in (
        digest
    )
    assert "are overdue" not in digest
    reminders = [c for _, c in inbox if "P-WINTER" in c and "Rectification due" in c]
    assert days_with(inbox, "Rectification due in 3 days") == [date(2027, 1, 12)]
    assert all(
        "Found in the campaign 冬季大排查: everything rectified by Jan 15, 2027." in c
        for c in reminders
    )
    assert len(reminders) == 2


def test_the_command_line_opens_and_lists_campaigns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    areas = tmp_path / "areas.csv"
    areas.write_text("代码,名称\n320723,灌云县\n320723100,伊山镇\n", encoding="utf-8")
    assert main(["--database-url", url, "areas", "import", str(areas)]) == 0
    base = ["--database-url", url, "campaign", "open", "--area", "320723100"]
    dates = ["--start", "2019-12-14", "--end", "2019-12-31", "--cutoff", "2020-05-31"]
    capsys.readouterr()
    assert main([*base, "--name", "脱贫攻坚问题大排查", *dates]) == 0
    assert capsys.readouterr().out.strip() == (
        "已开展专项排查：320723100 脱贫攻坚问题大排查（伊山镇）：排查 2019年12月14日至"
        "2019年12月31日，2020年5月31日前全部整改到位"
    )
    # The same days again, a cut-off before the end, a date nobody can read: refused.
    assert main([*base, "--name", "重复", *dates]) == 2
    assert capsys.readouterr().err.strip() == (
        "本地区的专项排查“脱贫攻坚问题大排查”与这些日期重叠。"
    )
    bad = ["--start", "2020-06-01", "--end", "2020-06-30", "--cutoff", "2020-06-01"]
    assert main([*base, "--name", "夏季", *bad]) == 2
    assert capsys.readouterr().err.strip() == "整改截止日期不能早于排查结束日期。"
    assert main([*base, "--name", "夏季", "--start", "soon", *bad[2:]]) == 2
    assert "--start 须为日期" in capsys.readouterr().err
    assert main(["--database-url", url, "--lang", "en", "campaign", "list"]) == 0
    assert capsys.readouterr().out.strip() == (
        "320723100 脱贫攻坚问题大排查 (伊山镇): found from Dec 14, 2019 to Dec 31, 2019, "
        "all rectified by May 31, 2020"
    )


async def test_only_an_office_opens_one_and_only_for_its_area(bot_harness: Harness) -> None:
    h = bot_harness
    v = await populate(h)
    rt = Runtime(h.sessionmaker, h.clock)
    start, end, cutoff = date(2026, 12, 1), date(2026, 12, 31), date(2027, 3, 31)
    for who in ("cadre", "leader"):
        with pytest.raises(StorageError, match="Only an office"):
            await open_for_area(rt, v.ids[who], VILLAGE, "x", start, end, cutoff)
    # The office of the county may open one for a village of it, not for an area outside.
    await open_for_area(rt, v.ids["office"], VILLAGE, "村级排查", start, end, cutoff)
    with pytest.raises(StorageError, match="not in your area"):
        await open_for_area(rt, v.ids["office"], "110101", "x", start, end, cutoff)
    async with h.sessionmaker() as s:
        assert len(list(await s.scalars(select(Campaign)))) == 1


async def test_a_check_in_a_campaign_raises_problems_due_by_its_cutoff(harness: Harness) -> None:
    await harness.seed()
    cadre = harness.emulator.user(3101, "王芳", language_code="zh-hans")
    await harness.register(cadre)
    rt = Runtime(harness.sessionmaker, harness.clock)
    # 23 November: the campaign runs to the 28th, everything rectified by 3 December.
    await open_for_area(
        rt, None, COUNTY, "冬季大排查", date(2026, 11, 20), date(2026, 11, 28), date(2026, 12, 3)
    )
    await open_check(harness, cadre, "张建国")
    summary = await answer_until(harness, cadre, PROBLEM_PLAN)
    assert summary is not None
    await cadre.press(summary.message_id, summary.callback_data(SUBMIT))
    assert "2 条问题" in (await cadre.next_message()).content
    async with harness.sessionmaker() as s:
        due = {p.rule_id: (p.deadline, p.deadline_tier) for p in await s.scalars(select(Problem))}
    # 限时整改 of a house would take 60 days: found in the campaign, by its cut-off.
    assert due["housing_unsafe"] == (date(2026, 12, 3), "timed")
    assert all(deadline <= date(2026, 12, 3) for deadline, _ in due.values())
