"""A cadre checks a household in the chat, end to end: the record and its problems land."""

from __future__ import annotations

from sqlalchemy import select

from storage import CheckRecord, CheckSession, Problem, ProblemEvent
from tests.checkdriver import SUBMIT, answer_until, open_check
from tests.harness import Harness

PROBLEM_PLAN = {
    "school_status": "dropped_out",
    "dropout_reason": "work",
    "dropout_note": "在外地打工",
    "housing_grade": "C",
    "housing_alternative": "none",
    "water_enough": "no",
}


async def test_full_check_raises_housing_education_and_water_problems(harness: Harness) -> None:
    households = await harness.seed()
    user = harness.emulator.user(2001, "王芳", language_code="zh-hans")
    await harness.register(user)
    first = await open_check(harness, user, "张建国")
    assert "第 1 / 10 部分 · 基本情况" in first.content and "入户走访" in str(first)
    # The child of school age comes from the roster; the dropped-out answer is per child.
    summary = await answer_until(harness, user, PROBLEM_PLAN)
    assert summary is not None and "核查汇总" in "".join(m.content for m in user.bot_messages[-3:])
    # Income per person is computed and shown before submitting: (60000 + 3000 + 1200) / 3.
    assert "人均纯收入（元）：21,400" in summary.content
    await user.press(summary.message_id, summary.callback_data(SUBMIT))
    result = await user.next_message()
    assert "已提交" in result.content and "3 条问题" in result.content, result
    assert "张小明" in result.content
    async with harness.sessionmaker() as s:
        record = await s.scalar(select(CheckRecord))
        assert record is not None
        assert record.household_id == households["zhang"]
        assert record.housing_grade == "C" and record.visit_type == "home_visit"
        assert record.answers["water_enough"] == "no"
        assert record.answers["children"][0]["name"] == "张小明"
        assert record.answers["children"][0]["school_status"] == "dropped_out"
        assert len(record.answers["members"]) == 3
        assert record.answers["house_photo"] and record.answers["location"]
        problems = (await s.scalars(select(Problem).order_by(Problem.id))).all()
        assert sorted(p.rule_id or "" for p in problems) == [
            "child_dropped_out",
            "housing_unsafe",
            "water_quantity",
        ]
        assert {p.category for p in problems} == {"义务教育", "住房安全", "饮水安全"}
        assert all(p.status == "open" and p.responsible_unit for p in problems)
        events = (await s.scalars(select(ProblemEvent))).all()
        assert len(events) == 3
        session = await s.scalar(select(CheckSession))
        assert session is not None and session.status == "submitted"
    # The chat reads as a transcript: answered prompts keep no buttons.
    answered = [m for m in user.bot_messages if "→" in m.content]
    assert answered and all(not m.buttons for m in answered)


async def test_check_without_problems_says_so(harness: Harness) -> None:
    await harness.seed()
    user = harness.emulator.user(2002, "李", language_code="zh-hans")
    await harness.register(user)
    await open_check(harness, user, "王秀兰")
    summary = await answer_until(harness, user, {})
    assert summary is not None
    await user.press(summary.message_id, summary.callback_data(SUBMIT))
    result = await user.next_message()
    assert "未发现问题" in result.content
    await user.send_command("households")
    listing = await user.next_message()
    line = next(line for line in listing.content.splitlines() if "王秀兰" in line)
    assert "上次核查 2026年11月23日" in line
