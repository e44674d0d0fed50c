"""English screens carry no Chinese: a whole check with problems, its summary and list of
answers, then the ledger, read in English through the chat. Only the names of people and
places (the roster's and the area tree's) may be written in Chinese."""

from __future__ import annotations

import re

from bot.emulator import ChatMessage, EmulatedUser
from tests.checkdriver import answer_until, open_check
from tests.harness import Harness

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


async def test_a_whole_check_and_the_ledger_in_english_show_no_chinese(
    harness: Harness,
) -> None:
    await harness.seed()
    cadre = harness.emulator.user(2101, "Wang", language_code="en")
    await harness.register(cadre)
    first = await open_check(harness, cadre, "张建国")
    assert "Part 1 of 10" in first.content, first
    summary = await answer_until(harness, cadre, PLAN, lang="en")
    assert summary is not None
    await cadre.press_button("📋 All answers")
    answers = await cadre.next_message()
    while not answers.buttons:  # a long list comes in several messages
        answers = await cadre.next_message()
    await cadre.press_button(lambda label: label.endswith("Back to the summary"))
    await cadre.next_message()
    await cadre.press_button("✅ Submit")
    result = await cadre.next_message()
    assert "Submitted" in result.content, result

    listing = await read(cadre, "problems")
    await cadre.press_button(lambda label: label.startswith("张建国"))
    card = await cadre.next_message()
    assert "Problem #" in card.content, card
    households = await read(cadre, "households")
    assert "1 person ·" in households.content and "3 people ·" in households.content
    assert "Households 1–3 of 3" in households.content
    for command in ("progress", "cases", "help"):
        await read(cadre, command)
    assert listing.buttons
    assert chinese_in(cadre.bot_messages) == []
