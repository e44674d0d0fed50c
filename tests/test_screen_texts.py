"""The screens of a whole check with problems, its summary and list of answers, then the
ledger, read through the chat: in English they carry no Chinese (only the names of people
and places, the roster's and the area tree's, may be written in Chinese); in Chinese they
use full-width punctuation and no stray spaces (CONTRIBUTING.md)."""

from __future__ import annotations

import re

from bot.emulator import ChatMessage, EmulatedUser
from tests.checkdriver import FORM, answer_until, open_check
from tests.harness import Harness
from tests.test_text_conventions import offending

HAN = re.compile("[\u3400-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]")
# Proper names: the seeded households' members and the area tree.
NAMES = (
    "张建国",
    "李秀英",
    "张小明",
    "王秀兰",
    "李志强",
    "李文",
    "赵大海",
    "示范县",
    "示范镇",
    "幸福村",
    "和平村",
)
# Problems in most categories, a chronically ill and disabled member, a pupil out of school,
# a household on the minimum living allowance.
PLAN = {
    "social_aid": ["dibao"],
    "food_staple": "no",
    "school_status": "dropped_out",
    "dropout_reason": "work",
    "dropout_note": "Works in the city",
    "health": ["chronic", "disabled"],
    "disability_type": "physical",
    "disability_grade": "2",
    "family_doctor": "no",
    "hospitalised": "yes",
    "treatment_first": "no",
    "one_stop": "yes",
    "medical_aid": "no",
    "housing_grade": "C",
    "housing_alternative": "none",
    "water_enough": "no",
    "knows_cadre": "no",
    "help_plan": "no",
}


def chinese_in(messages: list[ChatMessage]) -> list[str]:
    """Each message or button that holds a Chinese character once names are taken out."""
    found = []
    for message in messages:
        for text in (message.content, *(label for label, _ in message.buttons)):
            for name in NAMES:
                text = text.replace(name, "")
            if HAN.search(text):
                found.append(f"#{message.message_id}: {text}")
    return found


async def read(user: EmulatedUser, command: str) -> ChatMessage:
    await user.send_command(command)
    return await user.next_message()


def texts_of(messages: list[ChatMessage]) -> list[tuple[str, str]]:
    return [
        (f"#{message.message_id}", text)
        for message in messages
        for text in (message.content, *(label for label, _ in message.buttons))
    ]


async def check_and_ledger(harness: Harness, lang: str) -> tuple[EmulatedUser, ChatMessage]:
    """A cadre checks a household with many problems, reads the full list of answers, picks
    the second answer (who answered) to change it and gives it again, submits, then opens
    the ledger, a problem, the households and the progress. Returns the cadre and the
    screen that asked to change the answer (the transcript keeps it as answered)."""
    await harness.seed()
    cadre = harness.emulator.user(2101, "Wang", language_code="en" if lang == "en" else "zh-hans")
    await harness.register(cadre)
    await open_check(harness, cadre, "张建国")
    summary = await answer_until(harness, cadre, PLAN, lang=lang)
    assert summary is not None
    # The summary fits a phone: the problems and the counts; the answers only on request.
    asked = FORM.questions[0].labels[lang]
    assert asked not in summary.content and len(summary.buttons) == 4, summary
    await cadre.press(summary.message_id, summary.buttons[1][1] or "")
    answers = await cadre.next_message()
    while not answers.buttons:  # a long list comes in several messages
        answers = await cadre.next_message()
    await cadre.press(answers.message_id, answers.callback_data("2"))
    change = await cadre.next_message()
    await cadre.press(change.message_id, change.buttons[0][1] or "")  # the head, as before
    summary = await cadre.next_message()
    while not summary.buttons:
        summary = await cadre.next_message()
    await cadre.press(summary.message_id, summary.buttons[0][1] or "")  # submit
    await cadre.next_message()
    listing = await read(cadre, "problems")
    await cadre.press_button(lambda label: label.startswith("张建国"))
    await cadre.next_message()
    for command in ("households", "progress", "cases", "help"):
        await read(cadre, command)
    assert listing.buttons
    return cadre, change


async def test_a_whole_check_and_the_ledger_in_english_show_no_chinese(
    harness: Harness,
) -> None:
    cadre, change = await check_and_ledger(harness, "en")
    said = "\n".join(message.content for message in [*cadre.bot_messages, change])
    assert "Part 1 of 10 · Household" in said and "✅ Submitted" in said
    assert "✏️ Changing an answer (it was: The head of household); then back to the summary." in said
    assert "1 person ·" in said and "3 people ·" in said and "Households 1–3 of 3" in said
    assert chinese_in([*cadre.bot_messages, change]) == []


async def test_a_whole_check_and_the_ledger_in_chinese_use_full_width_punctuation(
    harness: Harness,
) -> None:
    cadre, change = await check_and_ledger(harness, "zh_CN")
    said = "\n".join(message.content for message in [*cadre.bot_messages, change])
    assert "第 1 / 10 部分 · 基本情况" in said and "✅ 已提交" in said
    assert "✏️ 修改回答（原答案：户主本人），改好后回到汇总。" in said
    assert "张建国（幸福村）" in said and "第 1–3 户，共 3 户" in said
    assert "2026年11月23日 10:00 Wang：核查发现" in said  # a Latin name, a Chinese colon
    assert offending(iter(texts_of([*cadre.bot_messages, change]))) == []
