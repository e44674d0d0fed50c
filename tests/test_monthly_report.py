"""The monthly report remembers: the next period's report carries an earlier period's problem
still open with the progress recorded on it, problems added by hand count in their category's
row, and a report of a past period gives the figures of that day whenever it is asked for.
Everything through the chat: the cadre checks and records progress, the leader exports."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import load_workbook
from sqlalchemy import select

from bot.emulator import ChatMessage, EmulatedUser
from storage import Identity, Problem
from storage.problems import act, add_problem
from tests.checkdriver import SUBMIT, answer_until, open_check
from tests.harness import COUNTY, TOWNSHIP, Harness

Sheets = dict[str, list[tuple[Any, ...]]]
SHANGHAI = ZoneInfo("Asia/Shanghai")
PROBLEM_PLAN = {
    "school_status": "dropped_out",
    "dropout_reason": "work",
    "dropout_note": "在外地打工",
    "housing_grade": "C",
    "housing_alternative": "none",
}


async def until(user: EmulatedUser, wanted: Callable[[ChatMessage], bool]) -> ChatMessage:
    while True:
        message = await user.next_message(timeout=20)
        if wanted(message):
            return message


async def check(h: Harness, cadre: EmulatedUser, head: str, plan: dict[str, str]) -> None:
    await open_check(h, cadre, head)
    summary = await answer_until(h, cadre, plan)
    assert summary is not None
    await cadre.press(summary.message_id, summary.callback_data(SUBMIT))
    await until(cadre, lambda m: "已提交" in m.content)


async def monthly_via_bot(leader: EmulatedUser, which: str) -> Sheets:
    """/export → 月报表 → 示范镇 → the period: the file's sheets, as values."""
    await leader.send_command("export")
    await leader.next_message()
    await leader.press_button("月报表")
    await leader.next_edit()
    await leader.press_button("示范镇")
    periods = await leader.next_edit()
    assert [text for text, _ in periods.buttons] == ["本报告期", "上一报告期"]
    await leader.press_button(which)
    document = await until(leader, lambda m: m.document is not None)
    assert document.document is not None
    while "导出完成" not in (await leader.next_edit(timeout=20)).content:
        pass
    book = load_workbook(io.BytesIO(leader.download(document.document["file_id"])))
    return {name: list(book[name].values) for name in book.sheetnames}


def row(sheets: Sheets, number: int) -> tuple[Any, ...]:
    return next(r for r in sheets["月报表"] if r[0] == number)


def at(day: int, month: int, hour: int = 10) -> datetime:
    return datetime(2026 if month > 1 else 2027, month, day, hour, tzinfo=SHANGHAI).astimezone(UTC)


async def people(h: Harness) -> tuple[EmulatedUser, EmulatedUser, dict[str, int]]:
    await h.seed()
    cadre = h.emulator.user(3301, "王芳", language_code="zh-hans")
    leader = h.emulator.user(3302, "陈队长", language_code="zh-hans")
    await h.register(cadre)
    await h.register(leader, "leader", TOWNSHIP)
    ids = {}
    async with h.sessionmaker() as s:
        for key, user in (("cadre", cadre), ("leader", leader)):
            ids[key] = await s.scalar(
                select(Identity.user_id).where(Identity.address == str(user.user_id))
            )
    return cadre, leader, ids


async def test_the_next_periods_report_carries_an_open_problem_and_its_progress_note(
    harness: Harness,
) -> None:
    h = harness
    cadre, leader, ids = await people(h)
    # 23 November (period "2026-12", 4 November to 3 December): a check finds a child out
    # of school and a grade C house; the cadre records progress on the child in the chat.
    await check(h, cadre, "张建国", PROBLEM_PLAN)
    await cadre.send_command("problems")
    await until(cadre, lambda m: "问题台账" in m.content)
    await cadre.press_button(lambda label: label.startswith("张建国 · 义务教育"))
    await until(cadre, lambda m: "添加进展" in str(m.buttons))
    await cadre.press_button("添加进展")
    await cadre.next_message()
    await cadre.send_text("已联系学校，孩子下周返校")
    await until(cadre, lambda m: "整改中" in m.content)

    # 10 December, the next period ("2027-01"): a leak is added by hand.
    h.clock.now = at(10, 12)
    async with h.sessionmaker.begin() as s:
        await add_problem(
            s,
            ids["leader"],
            h.households["wang"],
            category="住房安全",
            text="屋顶漏雨",
            goal="住房安全有保障",
            measures="更换屋面瓦",
            responsible_unit="县住房和城乡建设局",
            deadline=date(2026, 12, 31),
            deadline_tier=None,
            now=h.clock(),
        )
    sheets = await monthly_via_bot(leader, "本报告期")
    assert sheets["月报表"][2][0] == "报告期：2026年12月4日至2027年1月3日；数据截至2026年12月10日。"
    school = row(sheets, 22)
    assert school[3] == "本期核查 0 户；本期发现问题 0 条，2026年1月1日以来累计 1 条。"
    assert school[5].splitlines() == [
        "已销号 0 条；已整改，待销号 0 条；整改中 1 条；未整改 0 条；逾期 0 条。",
        "张建国，2026年11月23日：已联系学校，孩子下周返校",
    ]
    assert school[4]  # the measures recorded on the problem, not a canned sentence
    house = row(sheets, 32)
    assert house[3] == "本期核查 0 户；本期发现问题 1 条，2026年1月1日以来累计 2 条。"
    assert house[5].startswith("已销号 0 条；已整改，待销号 0 条；整改中 0 条；未整改 2 条")
    assert "更换屋面瓦" in house[4].splitlines()
    # Rows nothing in Hucha checks stay empty; none claims that nothing was found.
    assert not any(row(sheets, 1)[3:6])
    assert not any("未发现" in str(cell) for r in sheets["月报表"] for cell in r)


async def test_a_past_periods_report_gives_the_figures_of_its_day(harness: Harness) -> None:
    h = harness
    cadre, leader, ids = await people(h)
    office = h.emulator.user(3303, "县乡村振兴局", language_code="zh-hans")
    await h.register(office, "office", COUNTY)
    await check(h, cadre, "张建国", PROBLEM_PLAN)
    async with h.sessionmaker.begin() as s:
        office_id = await s.scalar(
            select(Identity.user_id).where(Identity.address == str(office.user_id))
        )
        leak = await add_problem(
            s,
            ids["leader"],
            h.households["wang"],
            category="住房安全",
            text="屋顶漏雨",
            goal="住房安全有保障",
            measures="更换屋面瓦",
            responsible_unit="县住房和城乡建设局",
            deadline=date(2026, 11, 30),
            deadline_tier=None,
            now=h.clock(),
        )
    # The evening of 3 December, the last day of the period "2026-12": the report as filed.
    h.clock.now = at(3, 12, hour=20)
    filed = await monthly_via_bot(leader, "本报告期")
    assert "数据截至2026年12月3日" in filed["月报表"][2][0]
    assert row(filed, 32)[5].startswith(
        "已销号 0 条；已整改，待销号 0 条；整改中 0 条；未整改 2 条；逾期 1 条"
    )

    # Afterwards the child goes back to school (rectified, 销号) and another household is
    # checked.
    h.clock.now = at(5, 12)
    async with h.sessionmaker.begin() as s:
        problems = {p.category: p for p in await s.scalars(select(Problem))}
        school = problems["义务教育"].id
        await act(s, school, ids["cadre"], "progress", h.clock(), note="孩子已返校")
        await act(s, school, ids["cadre"], "rectify", h.clock(), note="已返校就读")
        await act(s, school, ids["leader"], "verify", h.clock())
        # The office gives the overdue leak more time.
        await act(
            s,
            leak.id,
            office_id,
            "deadline",
            h.clock(),
            note="雨季推迟",
            deadline=date(2026, 12, 31),
        )
    await check(h, cadre, "李志强", {})

    # On 10 December the leader asks for the previous period: the same figures as filed.
    h.clock.now = at(10, 12)
    again = await monthly_via_bot(leader, "上一报告期")
    assert again == filed
    assert row(again, 22)[5].startswith(
        "已销号 0 条；已整改，待销号 0 条；整改中 0 条；未整改 1 条"
    )
    villages = {r[0]: r for r in again["各村核查情况"][3:]}
    assert villages["幸福村"][1:5] == (3, 1, 2, "未完成")
    # The current period sees the 销号 and the new check.
    now = await monthly_via_bot(leader, "本报告期")
    assert row(now, 22)[5].startswith("已销号 1 条；")
    assert {r[0]: r for r in now["各村核查情况"][3:]}["幸福村"][2] == 1
