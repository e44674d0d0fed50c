"""The household check end to end on PostgreSQL: the same bot, another database."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from storage import CheckRecord, Problem
from tests.checkdriver import SUBMIT, answer_until, open_check
from tests.harness import Harness
from tests.test_check_flow import PROBLEM_PLAN

pytestmark = pytest.mark.postgres


async def test_full_check_on_postgres(postgres_harness: Harness) -> None:
    h = postgres_harness
    await h.seed()
    user = h.emulator.user(4001, "王芳", language_code="zh-hans")
    await h.register(user)
    await open_check(h, user, "张建国")
    await answer_until(h, user, PROBLEM_PLAN, stop_at="water_source")
    await h.restart()
    await user.send_command("check")
    await user.next_message()
    await user.press_button(lambda text: text.startswith("▶"))
    await user.next_message()
    await user.next_message()
    assert await h.cursor(4001) == "water_source"
    summary = await answer_until(h, user, PROBLEM_PLAN)
    assert summary is not None
    await user.press(summary.message_id, summary.callback_data(SUBMIT))
    assert "3 条问题" in (await user.next_message()).content
    async with h.sessionmaker() as s:
        record = await s.scalar(select(CheckRecord))
        assert record is not None and record.submitted_at.tzinfo is not None
        assert record.answers["children"][0]["school_status"] == "dropped_out"
        rules = sorted((await s.scalars(select(Problem.rule_id))).all())
        assert rules == ["child_dropped_out", "housing_unsafe", "water_quantity"]
