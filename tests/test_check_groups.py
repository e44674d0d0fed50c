"""Repeat groups pre-filled from the roster and corrected in the chat; multiple choice."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from sqlalchemy import select

from storage import CheckRecord, Household, Member, Problem
from tests.checkdriver import CONTINUE, SUBMIT, answer_until, edit_of, open_check
from tests.harness import VILLAGE, Harness, forms_with_income_line


async def test_children_list_can_be_corrected_and_risks_chosen(
    harness: Harness, tmp_path: Path
) -> None:
    forms = forms_with_income_line(tmp_path / "forms", "江苏", 2026, 6000)
    harness.settings = replace(harness.settings, forms_dir=forms)
    await harness.restart()
    await harness.seed()
    user = harness.emulator.user(5001, "王芳", language_code="zh-hans")
    await harness.register(user)
    await open_check(harness, user, "李志强")
    await answer_until(harness, user, {}, stop_at="children")
    group = user.bot_messages[-1]
    assert "李文" in group.content  # the school-age child from the roster
    await user.press_button("✖ 删除 李文")
    asked = await edit_of(user, group.message_id)
    assert [text for text, _ in asked.buttons] == ["确认删除 李文", "↩ 保留"]
    await user.press_button("↩ 保留")
    kept = await edit_of(user, group.message_id)
    assert any(text == "✖ 删除 李文" for text, _ in kept.buttons)
    await user.press_button("✖ 删除 李文")
    await edit_of(user, group.message_id)
    await user.press_button("确认删除 李文")
    edited = await edit_of(user, group.message_id)
    assert "李文" not in edited.content
    await user.press_button("➕ 添加")
    edited = await edit_of(user, group.message_id)
    assert "1." in edited.content
    await user.press_button(CONTINUE)
    await user.next_message()
    assert await harness.cursor(5001) == "children[0].name"
    await user.send_text("李武")
    await user.next_message()
    await user.send_text("2016/9/1")
    prompt = await user.next_message()
    assert "⚠️" not in prompt.content and "李武" in prompt.content
    summary = await answer_until(
        harness,
        user,
        {"risk_factors": ["illness", "disaster"], "disaster_type": "flood", "income_wages": "8000"},
    )
    assert summary is not None
    await user.press(summary.message_id, summary.callback_data(SUBMIT))
    await user.next_message()
    async with harness.sessionmaker() as s:
        record = await s.scalar(select(CheckRecord))
        assert record is not None
        children = record.answers["children"]
        assert [c["name"] for c in children] == ["李武"]
        assert children[0]["birth_date"] == "2016-09-01"
        assert sorted(record.answers["risk_factors"]) == ["disaster", "illness"]
        assert record.answers["disaster_type"] == "flood"
        # 8000 + 3000 + 1200 yuan for two people is above 6000 a head but near the line.
        assert record.at_risk
        problems = {p.rule_id: p for p in await s.scalars(select(Problem))}
        assert "接近2026年示范县监测线（6,000元）" in problems["risk_near_line"].text


async def test_household_picker_pages_and_searches(harness: Harness) -> None:
    await harness.seed()
    async with harness.sessionmaker.begin() as s:
        for number in range(10, 22):
            household = Household(
                village_code=VILLAGE,
                number=f"0{number}",
                head_name=f"周{number}",
                created_at=harness.clock(),
                updated_at=harness.clock(),
            )
            s.add(household)
            await s.flush()
            s.add(Member(household_id=household.id, name=f"周{number}", relation="户主"))
    user = harness.emulator.user(5002, "李", language_code="zh-hans")
    await harness.register(user)
    await user.send_command("check")
    picker = await user.next_message()
    assert "共 15 户" in picker.content
    await user.press(picker.message_id, picker.callback_data("下一页 ▶"))
    page = await edit_of(user, picker.message_id)
    assert "第 9–15 户" in page.content
    await user.send_text("周15")
    found = await user.next_message()
    labels = [text for text, _ in found.buttons]
    assert len(labels) == 1 and "周15" in labels[0]
    await user.send_text("003")
    found = await user.next_message()
    assert any("李志强" in text for text, _ in found.buttons)
    await user.send_text("没有这个人")
    found = await user.next_message()
    assert "没有找到" in found.content


async def test_the_list_of_all_answers_pages_on_to_the_later_answers(harness: Harness) -> None:
    """More answers than one page of numbers holds: "▶" shows the next numbers on the same
    message, and an answer from the second page can be changed."""
    await harness.seed()
    cadre = harness.emulator.user(3201, "王芳", language_code="zh-hans")
    await harness.register(cadre)
    await open_check(harness, cadre, "张建国")
    summary = await answer_until(harness, cadre, {})
    assert summary is not None
    await cadre.press(summary.message_id, summary.callback_data("📋 全部回答"))
    listing = await cadre.next_message()
    while "要修改哪一项" not in listing.content:
        listing = await cadre.next_message()
    numbers = [label for label, _ in listing.buttons if label.isdigit()]
    assert numbers[-1] == "40" and "▶" in [label for label, _ in listing.buttons]
    await cadre.press(listing.message_id, listing.callback_data("▶"))
    listing = await edit_of(cadre, listing.message_id)
    numbers = [label for label, _ in listing.buttons if label.isdigit()]
    assert numbers[0] == "41", listing
    last = numbers[-1]
    await cadre.press(listing.message_id, listing.callback_data(last))
    await cadre.next_message()  # the question of that answer, asked again
    assert await harness.cursor(cadre.user_id) not in (None, "summary")
