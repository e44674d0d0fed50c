"""One reporting period, one meaning of checked, contacted and open: /progress, /problems,
`hucha remind --dry-run` and the monthly report give the same numbers for the same area and
day (storage/periods.py)."""

from __future__ import annotations

import asyncio
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.cli import main as hucha
from bot.emulator import EmulatedUser
from storage import Household, Problem
from storage.periods import OPEN, period_named, period_of
from storage.problems import act, add_problem
from storage.schedule import AreaSchedule
from tests.checkdriver import SUBMIT, answer_until, open_check
from tests.harness import TOWNSHIP, VILLAGE, Harness
from tests.test_monthly_report import PROBLEM_PLAN, monthly_via_bot


def test_a_period_runs_from_one_reporting_day_to_the_day_before_the_next() -> None:
    schedule = AreaSchedule(reporting_day=4)
    november = period_named(schedule, 2026, 11)
    assert (november.start, november.end) == (date(2026, 10, 4), date(2026, 11, 3))
    assert november.reporting_day == date(2026, 11, 4)
    assert period_of(schedule, date(2026, 11, 3)) == november
    assert period_of(schedule, date(2026, 11, 4)).name == "2026-12"
    assert period_of(schedule, date(2026, 12, 31)).name == "2027-01"
    assert november.previous().name == "2026-10" and november.next().name == "2026-12"
    # On the 1st the period is the calendar month before, named by the month it is filed in.
    first = period_named(AreaSchedule(reporting_day=1), 2026, 3)
    assert (first.start, first.end) == (date(2026, 2, 1), date(2026, 2, 28))


async def check(h: Harness, cadre: EmulatedUser, head: str, plan: dict[str, str]) -> None:
    await open_check(h, cadre, head)
    summary = await answer_until(h, cadre, plan)
    assert summary is not None
    await cadre.press(summary.message_id, summary.callback_data(SUBMIT))
    assert "已提交" in (await cadre.next_message()).content


async def hand_problems(h: Harness, leader_id: int, cadre_id: int) -> None:
    """王秀兰: one overdue, one reported rectified (awaiting 销号), one verified."""
    now = h.clock()
    async with h.sessionmaker.begin() as s:
        ids = []
        for text, deadline in (
            ("屋顶漏雨", date(2026, 11, 25)),
            ("墙体开裂", date(2026, 12, 20)),
            ("厨房漏水", date(2026, 12, 20)),
        ):
            problem = await add_problem(
                s,
                leader_id,
                h.households["wang"],
                category="住房安全",
                text=text,
                goal="住房安全有保障",
                measures="维修",
                responsible_unit="县住房和城乡建设局",
                deadline=deadline,
                deadline_tier=None,
                now=now,
                assignee_user_id=cadre_id,
            )
            ids.append(problem.id)
        _, rectified, verified = ids
        for problem_id in (rectified, verified):
            await act(s, problem_id, cadre_id, "progress", now, note="施工中")
            await act(s, problem_id, cadre_id, "rectify", now, note="已修好")
        await act(s, verified, leader_id, "verify", now)


async def user_id(h: Harness, telegram_id: int) -> int:
    from storage import Identity

    async with h.sessionmaker() as s:
        found = await s.scalar(select(Identity.user_id).where(Identity.address == str(telegram_id)))
    assert found is not None
    return found


async def test_progress_problems_reminders_and_report_give_the_same_numbers(
    harness: Harness, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    h = harness
    await h.seed()
    cadre = h.emulator.user(3201, "王芳", language_code="zh-hans")
    leader = h.emulator.user(3202, "陈队长", language_code="zh-hans")
    await h.register(cadre)
    await h.register(leader, "leader", TOWNSHIP)
    # 1 December 2026, 10:00 in Shanghai: the period "2026-12" runs from 4 November to
    # 3 December, its table is due before 4 December.
    h.clock.advance(timedelta(days=8))
    await check(h, cadre, "张建国", PROBLEM_PLAN)  # a home visit raising two problems
    await check(h, cadre, "李志强", {"visit_type": "phone"})  # a phone call, today
    await hand_problems(h, await user_id(h, leader.user_id), await user_id(h, cadre.user_id))

    async with h.sessionmaker() as s:
        counted = await s.scalar(
            select(func.count())
            .select_from(Problem)
            .join(Household, Household.id == Problem.household_id)
            .where(Household.village_code == VILLAGE, Problem.status.in_(OPEN))
        )
    assert counted == 4  # two from the check, the overdue one, the one awaiting 销号

    # /progress
    await leader.send_command("progress")
    progress = (await leader.next_message()).content
    found = re.search(
        r"幸福村.*\n已核查 (\d+)/3 · 已联系 (\d+)/3\n问题：(\d+) 条未销号，(\d+) 条逾期", progress
    )
    assert found is not None, progress
    checked, contacted, open_, overdue = (int(n) for n in found.groups())
    assert (checked, contacted, open_, overdue) == (2, 2, 4, 1)

    # /problems: the open ones, then the overdue ones
    await leader.send_command("problems")
    ledger = await leader.next_message()
    assert f"问题台账（未销号）：{open_} 条" in ledger.content, ledger
    await leader.press_button(lambda label: label.endswith("已逾期"))
    late = await leader.next_edit()
    assert f"问题台账（已逾期）：{overdue} 条" in late.content, late

    # hucha remind --dry-run at the same moment
    argv = ["--database-url", h.settings.database_url, "remind", "--dry-run"]
    argv += ["--at", "2026-12-01 10:30"]
    capsys.readouterr()
    assert await asyncio.to_thread(hucha, argv) == 0
    printed = capsys.readouterr().out
    unchecked = 3 - checked
    assert f"月报截止 2026年12月4日：幸福村 3 户中还有 {unchecked} 户未核查。" in printed, printed
    assert f"幸福村：{checked}/3" in printed
    assert (
        f"幸福村有 {3 - contacted} 户本期（2026年11月4日至2026年12月3日）尚未联系：王秀兰"
        in printed
    ), printed

    # The monthly report of the period, exported in the chat the same day
    sheets = await monthly_via_bot(leader, "本报告期")
    villages = {line[0]: line for line in sheets["各村核查情况"][3:]}
    assert villages["幸福村"] == ("幸福村", 3, checked, 3 - checked, "未完成", open_, overdue)
    table = sheets["月报表"]
    assert table[2][0] == "报告期：2026年11月4日至2026年12月3日；数据截至2026年12月1日。"
    filled = [line for line in table[4:41] if line[3]]
    assert filled and all(line[3].startswith(f"本期核查 {checked} 户") for line in filled)
    progress = re.compile(
        r"已销号 \d+ 条；已整改，待销号 (\d+) 条；整改中 (\d+) 条；未整改 (\d+) 条；逾期 (\d+) 条"
    )
    counts = [progress.match(line[5]) for line in filled if line[5]]
    assert sum(int(n) for found in counts if found for n in found.groups()[:3]) == open_
    assert sum(int(found.group(4)) for found in counts if found) == overdue
