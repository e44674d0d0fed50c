"""Drives a household check as a cadre would: through the chat (press buttons, type answers),
or through the questionnaire engine alone with the same answers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bot.emulator import ChatMessage, EmulatedUser
from conversations import FORMS_DIRECTORY, Question, engine, load_form
from conversations.model import (
    Done,
    Finished,
    Form,
    Invalid,
    Location,
    Photo,
    Pick,
    Prompt,
    Record,
    Skip,
    Submit,
    Summary,
    Text,
)
from tests.harness import Harness

FORM = load_form(FORMS_DIRECTORY / "household_check.toml")
_INDEX = re.compile(r"\[\d+\]")
CONTINUE, DONE, SKIP, SUBMIT = "继续 ▶", "完成 ✔", "跳过 ⏭", "✅ 提交"

# Answers that raise no problem, by question id; a test overrides what it needs.
GOOD: dict[str, Any] = {
    "visit_type": "home_visit",
    "respondent": "head",
    "social_aid": [],
    "food_ok": "normal",
    "food_staple": "yes",
    "food_nutrition": "yes",
    "clothing_seasonal": "yes",
    "clothing_bedding": "yes",
    "children": CONTINUE,
    "child_ok": "normal",
    "school_status": "in_school",
    "grade": "junior_7",
    "school_aid": "yes",
    "county_assessed": "yes",
    "members": CONTINUE,
    "member_ok": "normal",
    "insurance": "resident",
    "premium_subsidised": "yes",
    "health": ["healthy"],
    "family_doctor": "yes",
    "chronic_card": "yes",
    "treated": "yes",
    "hospitalised": "no",
    "costs_affordable": "yes",
    "disability_subsidy": "yes",
    "pension": "resident",
    "pension_premium_paid": "yes",
    "work": "employed",
    "housing_grade": "A",
    "house_renovated": "no",
    "floor_area": "85.5",
    "house_photo": "photo",
    "water_source": "centralised",
    "water_ok": "normal",
    "water_enough": "yes",
    "water_storage": "yes",
    "water_impurities": "no",
    "water_ill_effects": "no",
    "water_lab_report": "yes",
    "water_piped": "yes",
    "water_short_days": "0",
    "income_wages": "60000",
    "income_business": "3000",
    "income_property": "0",
    "income_transfer": "1200",
    "spending_eligible": "0",
    "risk_factors": [],
    "support_ok": "normal",
    "aid_needed": "no",
    "emergency_unmet": "no",
    "knows_cadre": "yes",
    "contacted_this_month": "yes",
    "leaflet_received": "yes",
    "leaflet_understood": "yes",
    "help_plan": "yes",
    "satisfaction": "satisfied",
    "notes": SKIP,
    "notes_photo": SKIP,
    "location": "location",
}
ALL_NORMAL = {"normal": "全部正常", "each": "逐项填写"}
# The same buttons on English screens.
ENGLISH = {
    CONTINUE: "Continue ▶",
    DONE: "Done ✔",
    SKIP: "Skip ⏭",
    SUBMIT: "✅ Submit",
    "全部正常": "All normal",
    "逐项填写": "Answer each",
    "是": "Yes",
    "否": "No",
}


def button(label: str, lang: str = "zh_CN") -> str:
    """A button's Chinese label as the screens of `lang` show it."""
    return ENGLISH[label] if lang == "en" else label


def covered_by(question: Question) -> set[str]:
    """The ids an all_normal question answers at once: those with a `normal` after it, in
    its section or repeat item, up to the next all_normal."""
    for questions in (FORM.questions, *(q.children for q in FORM.questions)):
        ids = [q.id for q in questions]
        if question.id not in ids:
            continue
        covered: set[str] = set()
        for later in questions[ids.index(question.id) + 1 :]:
            if later.type == "all_normal" or later.section != question.section:
                break
            if later.normal:
                covered.add(later.id)
        return covered
    return set()


def question_at(key: str) -> Question:
    """The form's question at a cursor key such as "children[0].school_status"."""
    parts = _INDEX.sub("", key).split(".")
    questions = FORM.questions
    found: Question | None = None
    for part in parts:
        found = next(q for q in questions if q.id == part)
        questions = found.children
    assert found is not None
    return found


def choice_label(question: Question, value: str, lang: str = "zh_CN") -> str:
    if question.type == "all_normal":
        return button(ALL_NORMAL[value], lang)
    if question.type == "yes_no" and not question.choices:
        return button({"yes": "是", "no": "否"}[value], lang)
    choices = question.choices or ()
    for choice in choices:
        if choice.value == value:
            return choice.labels[lang]
    if question.type == "yes_no":
        return button({"yes": "是", "no": "否"}[value], lang)
    raise LookupError(f"{question.id} has no choice {value}")


async def answer(
    user: EmulatedUser, question: Question, value: Any, lang: str = "zh_CN"
) -> ChatMessage:
    """Give one answer the way a person would; return the bot's next message."""
    if value in (CONTINUE, SKIP, DONE):
        await user.press_button(button(value, lang))
    elif question.type in ("yes_no", "select_one"):
        await user.press_button(choice_label(question, value, lang))
    elif question.type == "select_many":
        for item in value:
            await user.press_button(
                lambda text, item=item: text.endswith(choice_label(question, item, lang))
            )
            await user.next_edit()
        await user.press_button(button(DONE, lang))
    elif question.type == "photo":
        await user.send_photo(b"\x89PNG fake house photo")
    elif question.type == "location":
        await user.send_location(34.6, 119.2)
    else:
        await user.send_text(str(value))
    return await user.next_message()


async def open_check(h: Harness, user: EmulatedUser, head_name: str) -> ChatMessage:
    """/check, then pick the household by its head's name; return the first prompt."""
    await user.send_command("check")
    await user.next_message()  # the household picker
    await user.press_button(lambda text: head_name in text)
    title = await user.next_message()
    assert head_name in title.content, title
    return await user.next_message()


async def answer_until(
    h: Harness,
    user: EmulatedUser,
    plan: Mapping[str, Any],
    stop_at: str | None = None,
    lang: str = "zh_CN",
) -> ChatMessage | None:
    """Answer prompt after prompt from the plan (else GOOD) until the summary, or until the
    cursor reaches the question id `stop_at`. Returns the summary's last message. `lang` is
    the language of the user's screens (the buttons to press)."""
    for _ in range(200):
        key = await h.cursor(user.user_id)
        assert key is not None
        if key == "summary":
            return None
        question = question_at(key)
        if question.id == stop_at:
            return None
        value = plan.get(question.id, GOOD.get(question.id))
        if question.type == "all_normal" and question.id not in plan:
            wanted = {*plan, stop_at} if stop_at else set(plan)
            value = "each" if covered_by(question) & wanted else "normal"
        assert value is not None, f"no answer planned for {key}"
        message = await answer(user, question, value, lang)
        assert "⚠️" not in message.content, f"answer {value!r} to {key} refused: {message}"
        if await h.cursor(user.user_id) == "summary":
            while not message.buttons:
                message = await user.next_message()
            return message
    raise AssertionError("the check did not end")


async def edit_of(user: EmulatedUser, message_id: int) -> ChatMessage:
    """The next edit of one message (older edits of other messages are passed over)."""
    while True:
        edited = await user.next_edit()
        if edited.message_id == message_id:
            return edited


# Situations a test or bench gives a household (answers over GOOD).
NO_INCOME = {
    "income_wages": "0",
    "income_business": "0",
    "income_property": "0",
    "income_transfer": "0",
}
DROPPED_OUT = {"school_status": "dropped_out", "dropout_reason": "work", "dropout_note": "外出打工"}
UNSAFE_HOUSE = {"housing_grade": "C", "housing_alternative": "none"}


def engine_record(form: Form, context: Any, plan: Mapping[str, Any]) -> Record:
    """A check answered in the questionnaire engine as the chat would answer it."""
    state, events = engine.start(form, context)
    queue: list[Any] = []
    for _ in range(500):
        last = events[-1]
        if isinstance(last, Finished):
            return last.record
        assert not any(isinstance(e, Invalid) for e in events), (state.cursor, events)
        if not queue:
            if isinstance(last, Summary):
                queue = [Submit()]
            else:
                assert isinstance(last, Prompt), last
                queue = inputs_for(question_at(state.cursor), plan)
        state, events = engine.step(form, state, queue.pop(0), context)
    raise AssertionError("the check did not end")


def inputs_for(question: Any, plan: Mapping[str, Any]) -> list[Any]:
    """What a cadre gives at this prompt under `plan` (GOOD where the plan is silent)."""
    value = plan.get(question.id, GOOD.get(question.id))
    if question.type == "all_normal" and question.id not in plan:
        value = "each" if covered_by(question) & set(plan) else "normal"
    if value == CONTINUE:
        return [Done()]
    if value == SKIP:
        return [Skip()]
    if question.type == "select_many":
        return [*(Pick(item) for item in value), Done()]
    if question.type in ("yes_no", "select_one", "all_normal"):
        return [Pick(value)]
    if question.type == "photo":
        return [Photo("house-photo")]
    if question.type == "location":
        return [Location(34.6, 119.2)]
    return [Text(str(value))]
