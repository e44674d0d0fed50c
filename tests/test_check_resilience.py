"""Nothing typed is lost: restarts, bad input, stale buttons and commands mid-check."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from storage import CheckSession, user_by_telegram_id
from storage.prompts import await_input
from tests.checkdriver import SUBMIT, answer_until, open_check, question_at
from tests.harness import Harness


async def registered(harness: Harness, user_id: int, lang: str = "zh-hans"):  # type: ignore[no-untyped-def]
    await harness.seed()
    user = harness.emulator.user(user_id, "测试干部", language_code=lang)
    await harness.register(user)
    return user


async def test_cadre_resumes_check_after_restart(harness: Harness) -> None:
    user = await registered(harness, 3001)
    await open_check(harness, user, "张建国")
    await answer_until(harness, user, {}, stop_at="housing_grade")
    async with harness.sessionmaker() as s:
        before = (await s.scalars(select(CheckSession))).one().state
    await harness.restart()
    await user.send_command("check")
    offer = await user.next_message()
    assert "未完成的核查" in offer.content and "张建国" in offer.content
    await user.press_button(lambda text: text.startswith("▶"))
    await user.next_message()  # the check's title
    prompt = await user.next_message()
    assert "房屋安全等级" in prompt.content or "住房" in prompt.content, prompt
    assert await harness.cursor(3001) == "housing_grade"
    async with harness.sessionmaker() as s:
        after = (await s.scalars(select(CheckSession))).one().state
    assert after["answers"] == before["answers"]
    summary = await answer_until(harness, user, {})
    assert summary is not None
    await user.press(summary.message_id, summary.callback_data(SUBMIT))
    assert "已提交" in (await user.next_message()).content


async def test_sticker_where_number_is_due_is_refused_kindly(harness: Harness) -> None:
    user = await registered(harness, 3002)
    await open_check(harness, user, "王秀兰")
    await answer_until(harness, user, {}, stop_at="floor_area")
    await user.send_sticker()
    reply = await user.next_message()
    assert "无法识别" in reply.content and "面积" in reply.content
    assert reply.buttons  # the question is asked again, with its buttons
    assert await harness.cursor(3002) == "floor_area"


async def test_words_and_out_of_range_numbers_are_refused(harness: Harness) -> None:
    user = await registered(harness, 3003)
    await open_check(harness, user, "王秀兰")
    await answer_until(harness, user, {}, stop_at="water_short_days")
    await user.send_text("很多")
    reply = await user.next_message()
    assert "请输入整数" in reply.content
    await user.send_text("400")
    reply = await user.next_message()
    assert "366" in reply.content and "⚠️" in reply.content
    await user.send_photo(b"not a number")
    reply = await user.next_message()
    assert "⚠️" in reply.content
    assert await harness.cursor(3003) == "water_short_days"
    await user.send_text("１０")  # full-width digits, as Chinese keyboards type them
    await user.next_message()
    assert await harness.cursor(3003) != "water_short_days"


async def test_stale_button_says_so_and_shows_current_prompt(harness: Harness) -> None:
    user = await registered(harness, 3004)
    first = await open_check(harness, user, "王秀兰")
    old_data = first.buttons[0][1]
    assert old_data is not None
    await user.press(first.message_id, old_data)  # answers visit_type
    await user.next_message()
    key = await harness.cursor(3004)
    answer = await user.press(first.message_id, old_data)
    assert answer.text == "这个按钮已失效。"
    again = await user.next_message()
    assert again.buttons and question_at(key or "").labels["zh_CN"] in again.content
    assert await harness.cursor(3004) == key


async def test_a_question_on_screen_twice_is_answered_from_either_copy(harness: Harness) -> None:
    """The resume offer (or a restart) sends the current question again; the cadre may press
    the older copy, which is the same question."""
    user = await registered(harness, 3011)
    first = await open_check(harness, user, "王秀兰")
    await user.send_command("check")
    offer = await user.next_message()
    await user.press(offer.message_id, offer.callback_data("▶ 继续 002 王秀兰"))
    again = await user.next_message()
    while not again.buttons:  # the household's heading, then its current question
        again = await user.next_message()
    assert again.content == first.content and again.message_id != first.message_id
    data = first.buttons[0][1]
    assert data is not None
    answer = await user.press(first.message_id, data)
    assert answer.text != "这个按钮已失效。"
    await user.next_message()
    assert await harness.cursor(3011) != "visit_type"


async def test_crafted_callback_for_another_users_check_changes_nothing(harness: Harness) -> None:
    user = await registered(harness, 3005)
    first = await open_check(harness, user, "王秀兰")
    data = first.buttons[0][1]
    assert data is not None
    intruder = harness.emulator.user(3006, "外人", language_code="zh-hans")
    await harness.register(intruder)
    own = intruder.bot_messages[-1].message_id  # crafted data on a message of their own chat
    answer = await intruder.press(own, data)
    assert answer.text == "这个按钮已失效。"
    assert await harness.cursor(3005) == "visit_type"
    garbage = await intruder.press(own, "1q:abc:zz:p:99")
    assert garbage.text == "这个按钮已失效。"


async def test_command_in_the_middle_keeps_the_check(harness: Harness) -> None:
    user = await registered(harness, 3007)
    await open_check(harness, user, "王秀兰")
    await answer_until(harness, user, {}, stop_at="food_staple")
    await user.send_command("help")
    help_text = await user.next_message()
    assert "/check" in help_text.content
    reminder = await user.next_message()
    assert "尚未完成" in reminder.content
    await user.send_command("check")
    await user.next_message()  # the resume offer
    await user.press_button(lambda text: text.startswith("▶"))
    await user.next_message()
    await user.next_message()
    assert await harness.cursor(3007) == "food_staple"


async def test_second_check_offers_discard(harness: Harness) -> None:
    user = await registered(harness, 3008)
    await open_check(harness, user, "王秀兰")
    await user.send_command("check")
    offer = await user.next_message()
    await user.press(offer.message_id, offer.callback_data("🗑 放弃"))
    reply = await user.next_message()
    assert "已放弃" in reply.content
    assert await harness.cursor(3008) is None
    async with harness.sessionmaker() as s:
        row = (await s.scalars(select(CheckSession))).one()
        assert row.status == "discarded" and row.state["answers"] == {}


async def test_the_offer_to_resume_names_the_villages_day(harness: Harness) -> None:
    """Answered at 01:00 in the village (17:00 UTC the day before): the village's day."""
    harness.clock.now = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)
    user = await registered(harness, 3010)
    await open_check(harness, user, "王秀兰")
    await user.send_command("check")
    offer = await user.next_message()
    assert "2026年11月24日" in offer.content and "11月23日" not in offer.content


async def test_back_skip_and_change_from_summary(harness: Harness) -> None:
    user = await registered(harness, 3009)
    await open_check(harness, user, "王秀兰")
    await answer_until(harness, user, {}, stop_at="social_aid")
    await user.press_button("⬅ 上一步")
    await user.next_message()
    assert await harness.cursor(3009) == "respondent"
    summary = await answer_until(
        harness, user, {"respondent": "other", "respondent_name": "跳过 ⏭"}
    )
    assert summary is not None
    assert "未发现问题" in summary.content and "全部正常" in summary.content
    await user.press(summary.message_id, summary.callback_data("📋 全部回答"))
    menu = await user.next_message()
    while not menu.buttons:
        menu = await user.next_message()
    assert "1. 核查方式：入户走访" in "".join(m.content for m in user.bot_messages[-3:])
    assert "要修改哪一项，请按它的编号。" in menu.content
    await user.press(menu.message_id, menu.callback_data("1"))
    prompt = await user.next_message()
    assert "走访" in str(prompt)
    await user.press_button("电话回访")
    summary_again = await user.next_message()
    while not summary_again.buttons:
        summary_again = await user.next_message()
    assert await harness.cursor(3009) == "summary"
    assert "电话回访" in "".join(m.content for m in user.bot_messages[-4:])
    await user.press(summary_again.message_id, summary_again.callback_data(SUBMIT))
    result = await user.next_message()
    assert "已提交" in result.content


async def test_cancel_pauses_and_keeps_answers(harness: Harness) -> None:
    user = await registered(harness, 3010)
    await open_check(harness, user, "王秀兰")
    await answer_until(harness, user, {}, stop_at="food_staple")
    await user.press_button("⏸ 暂停")
    reply = await user.next_message()
    assert "已暂停" in reply.content
    assert await harness.cursor(3010) == "food_staple"
    await user.send_command("cancel")
    reply = await user.next_message()
    assert "已暂停" in reply.content


async def test_file_sent_in_the_middle_of_a_check_asks_again(harness: Harness) -> None:
    user = await registered(harness, 3011)
    await open_check(harness, user, "王秀兰")
    await answer_until(harness, user, {}, stop_at="food_staple")
    await user.send_document(b"a,b\n", "roster.csv")
    reply = await user.next_message()
    assert "无法识别" in reply.content and reply.buttons
    assert await harness.cursor(3011) == "food_staple"


async def test_a_second_household_can_be_checked_while_one_is_open(harness: Harness) -> None:
    user = await registered(harness, 3012)
    await open_check(harness, user, "王秀兰")
    await user.send_command("check")
    offer = await user.next_message()
    await user.press(offer.message_id, offer.callback_data("➕ 核查其他农户"))
    picker = await user.next_edit()
    while picker.message_id != offer.message_id:
        picker = await user.next_edit()
    await user.press_button(lambda text: "张建国" in text)
    title = await user.next_message()
    assert "张建国" in title.content
    await user.next_message()
    async with harness.sessionmaker() as s:
        rows = (await s.scalars(select(CheckSession).where(CheckSession.status == "open"))).all()
    assert len(rows) == 2


async def test_back_at_the_check_a_typed_answer_is_not_taken_as_a_problem_note(
    harness: Harness,
) -> None:
    user = await registered(harness, 3013)
    await open_check(harness, user, "王秀兰")
    await answer_until(harness, user, {}, stop_at="floor_area")
    async with harness.sessionmaker() as s:
        cadre = await user_by_telegram_id(s, 3013)
        assert cadre is not None
        # As if a problem card had asked for a progress note a moment ago.
        await await_input(s, cadre.id, "progress", 1, "open", harness.clock())
        await s.commit()
    await user.send_command("check")
    await user.next_message()
    await user.press_button(lambda text: text.startswith("▶"))
    await user.next_message()
    await user.next_message()
    await user.send_text("75")
    await user.next_message()
    async with harness.sessionmaker() as s:
        row = (await s.scalars(select(CheckSession))).one()
    assert row.state["answers"]["floor_area"] == 75
