"""The questionnaire engine as a cadre meets it: a household walked through from the first
prompt to the finished record, going back, skipping, editing from the summary, repeat
groups pre-filled from the roster, and every kind of input that does not fit."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from conversations import (
    FORMS_DIRECTORY,
    AddItem,
    Back,
    CheckState,
    Context,
    Done,
    Edit,
    Event,
    Finished,
    Form,
    Input,
    Invalid,
    ItemView,
    KeptPositions,
    Location,
    Photo,
    Pick,
    Position,
    Prompt,
    RemoveItem,
    Show,
    Skip,
    Submit,
    Summary,
    Text,
    display_value,
    load_form,
    load_thresholds,
    params_for,
    parse_form,
    start,
    step,
)
from conversations import messages as m
from conversations.answers import Answer, parse_answer, parse_date
from conversations.walk import walk as walk_questionnaire
from conversations.walk import walk_after

TODAY = date(2024, 5, 1)
MEMBERS = (
    {
        "member_id": "m1",
        "name": "王建国",
        "relation": "户主",
        "birth_date": "1975-04-02",
        "sex": "男",
        "id_number": "530000197504020000",
    },
    {
        "member_id": "m2",
        "name": "李秀英",
        "relation": "配偶",
        "birth_date": "1978-09-10",
        "sex": "女",
    },
    {
        "member_id": "m3",
        "name": "王小明",
        "relation": "之子",
        "birth_date": "2013-06-01",
        "sex": "男",
    },
    {
        "member_id": "m4",
        "name": "王小红",
        "relation": "之女",
        "birth_date": "2019-02-01",
        "sex": "女",
    },
    {
        "member_id": "m5",
        "name": "王大伟",
        "relation": "之子",
        "birth_date": date(2008, 1, 1),
        "sex": "男",
    },
)
CONTEXT = Context(
    today=TODAY,
    params=params_for(load_thresholds(), "云南", 2024),
    roster={"members": MEMBERS},
)

# Answers that raise no problem, by question id.
GOOD: dict[str, Input] = {
    "visit_type": Pick("home_visit"),
    "respondent": Pick("head"),
    "respondent_name": Text("李秀英"),
    "social_aid": Done(),
    "aid_needed": Pick("no"),
    "emergency_unmet": Pick("no"),
    "hospitalised": Pick("no"),
    "house_renovated": Pick("no"),
    "water_impurities": Pick("no"),
    "water_ill_effects": Pick("no"),
    "water_lab_report": Pick("unknown"),
    "pension": Pick("resident"),
    "work": Pick("employed"),
    "school_status": Pick("in_school"),
    "grade": Pick("primary_4"),
    "insurance": Pick("resident"),
    "health": Text("健康"),
    "housing_grade": Pick("A"),
    "floor_area": Text("96.5"),
    "house_photo": Photo("house-1"),
    "water_source": Pick("centralised"),
    "water_trip_minutes": Text("10"),
    "water_short_days": Text("0"),
    "income_wages": Text("60,000"),
    "income_business": Text("12000"),
    "income_property": Text("0"),
    "income_transfer": Text("3000"),
    "spending_eligible": Text("2000"),
    "risk_factors": Done(),
    "satisfaction": Pick("satisfied"),
    "notes": Skip(),
    "notes_photo": Skip(),
    "location": Location(25.03, 101.87),
    "name": Text("王小花"),
    "birth_date": Text("2012-09-01"),
    "children": Done(),
    "members": Done(),
}


@pytest.fixture(scope="module")
def form() -> Form:
    return load_form(FORMS_DIRECTORY / "household_check.toml")


def prompt_of(events: list[Event]) -> Prompt:
    prompts = [event for event in events if isinstance(event, Prompt)]
    assert prompts, events
    return prompts[-1]


def summary_of(events: list[Event]) -> Summary:
    summaries = [event for event in events if isinstance(event, Summary)]
    assert summaries, events
    return summaries[-1]


def invalid_of(events: list[Event]) -> Invalid:
    assert events and isinstance(events[0], Invalid), events
    return events[0]


def answer_for(prompt: Prompt, overrides: Mapping[str, Input]) -> Input:
    for key in (prompt.key, prompt.question_id):
        if key in overrides:
            return overrides[key]
    if prompt.question_id in GOOD:
        return GOOD[prompt.question_id]
    if prompt.kind == "all_normal":
        return Pick("each")  # item by item, so that overrides apply
    if prompt.kind == "yes_no":
        return Pick("yes")
    raise AssertionError(f"no answer for {prompt.key}")


def answer_until(
    form: Form,
    state: CheckState,
    events: list[Event],
    *,
    until: str | None = None,
    overrides: Mapping[str, Input] | None = None,
    context: Context = CONTEXT,
) -> tuple[CheckState, list[Event]]:
    """Answer prompts (overrides first, then GOOD) until `until` is asked or the summary."""
    for _ in range(400):
        if state.phase != "asking":
            return state, events
        prompt = prompt_of(events)
        if prompt.key == until:
            return state, events
        state, events = step(form, state, answer_for(prompt, overrides or {}), context)
        assert not any(isinstance(event, Invalid) for event in events), (prompt.key, events)
    raise AssertionError("the check never ended")


def walk(
    form: Form,
    *,
    until: str | None = None,
    overrides: Mapping[str, Input] | None = None,
    context: Context = CONTEXT,
) -> tuple[CheckState, list[Event]]:
    state, events = start(form, context)
    return answer_until(form, state, events, until=until, overrides=overrides, context=context)


def submit(form: Form, state: CheckState, context: Context = CONTEXT) -> Finished:
    state, events = step(form, state, Submit(), context)
    assert state.phase == "finished", events
    (finished,) = events
    assert isinstance(finished, Finished)
    return finished


def round_trip(state: CheckState) -> CheckState:
    return CheckState.from_json(json.loads(json.dumps(state.to_json(), allow_nan=False)))


# ---------------------------------------------------------------- whole checks


def test_household_walk_through_raises_exactly_housing_education_and_water_problems(form) -> None:
    state, _ = walk(
        form,
        overrides={
            "housing_grade": Pick("C"),
            "housing_alternative": Pick("none"),
            "children[0].school_status": Pick("dropped_out"),
            "dropout_reason": Text("外出务工"),
            "dropout_note": Text("在外地打工"),
            "water_piped": Text("否"),
            "water_trip_minutes": Text("45"),
        },
    )
    assert state.phase == "summary"
    record = submit(form, state).record

    assert [p.rule_id for p in record.problems] == [
        "child_dropped_out",
        "housing_unsafe",
        "water_convenience",
    ]
    assert {p.category for p in record.problems} == {"义务教育", "住房安全", "饮水安全"}
    child = record.problems[0]
    assert child.subject == "王小明"
    assert child.text["zh_CN"] == "义务教育阶段适龄儿童王小明失学辍学。"
    assert child.responsible_unit == "县教育局" and child.deadline_tier == "timed"
    assert record.problems[1].responsible_unit == "县住房和城乡建设局"
    assert record.problems[2].responsible_unit == "县水利局"
    assert not record.at_risk

    answers = record.answers
    assert (record.form_id, record.form_version) == ("household_check", form.version)
    assert answers["visit_type"] == "home_visit"
    assert answers["housing_grade"] == "C"
    assert answers["household_size"] == 5
    assert answers["income_per_person"] == 15000.0
    assert answers["floor_area"] == 96.5
    assert answers["water_trip_minutes"] == 45
    assert answers["children"] == [
        {
            "member_id": "m3",
            "name": "王小明",
            "relation": "之子",
            "birth_date": "2013-06-01",
            "sex": "男",
            "child_ok": "each",
            "school_status": "dropped_out",
            "dropout_reason": "work",
            "dropout_note": "在外地打工",
        }
    ]
    assert [member["name"] for member in answers["members"]] == [m_["name"] for m_ in MEMBERS]
    assert all("id_number" not in member for member in answers["members"])
    json.dumps(answers, allow_nan=False)


def test_household_without_problems_finishes_clean(form) -> None:
    state, _ = walk(form)
    record = submit(form, state).record
    assert record.problems == ()
    assert not record.at_risk
    assert "housing_alternative" not in record.answers
    assert "water_trip_minutes" not in record.answers


def test_income_below_the_area_line_flags_the_household_at_risk(form) -> None:
    low_income: dict[str, Input] = {"income_wages": Text("20000"), "income_business": Text("0")}
    state, _ = walk(form, overrides=low_income)
    record = submit(form, state).record
    assert [p.rule_id for p in record.problems] == ["income_below_line"]
    assert record.answers["income_per_person"] == 4600.0
    assert record.at_risk
    assert record.problems[0].deadline_tier == "ongoing"


def test_a_risk_with_income_near_the_line_is_flagged(form) -> None:
    near: dict[str, Input] = {
        "income_wages": Text("43000"),
        "income_business": Text("0"),
        "income_transfer": Text("2000"),
        "spending_eligible": Text("0"),
        "risk_factors": Text("因病、因自然灾害"),
        "disaster_type": Pick("drought"),
    }
    state, _ = walk(form, overrides=near)
    record = submit(form, state).record
    assert record.answers["income_per_person"] == 9000.0
    assert record.answers["risk_factors"] == ["illness", "disaster"]
    assert record.answers["disaster_type"] == "drought"
    assert [p.rule_id for p in record.problems] == ["risk_near_line"]
    assert record.at_risk


def test_water_quantity_is_asked_as_what_a_cadre_can_see(form) -> None:
    _, events = walk(form, until="water_enough")
    prompt = prompt_of(events)
    assert prompt.labels["zh_CN"] == "全年饮用、做饭、洗漱用水是否够用？"
    assert "35升" in prompt.hint["zh_CN"] and "20升" in prompt.hint["zh_CN"]
    state, _ = walk(form, overrides={"water_enough": Pick("no")})
    assert [p.rule_id for p in submit(form, state).record.problems] == ["water_quantity"]


def test_one_problem_per_member_without_insurance(form) -> None:
    state, _ = walk(
        form,
        overrides={"members[1].insurance": Pick("none"), "members[4].insurance": Pick("none")},
    )
    problems = submit(form, state).record.problems
    assert [(p.rule_id, p.subject) for p in problems] == [
        ("member_not_insured", "李秀英"),
        ("member_not_insured", "王大伟"),
    ]
    assert problems[0].responsible_unit == "县医疗保障局"


def test_ill_member_untreated_and_costs_unaffordable(form) -> None:
    state, _ = walk(
        form,
        overrides={
            "members[0].health": Text("患有大病"),
            "members[0].family_doctor": Pick("yes"),
            "members[0].treated": Pick("no"),
            "members[0].costs_affordable": Pick("no"),
        },
    )
    problems = submit(form, state).record.problems
    assert [(p.rule_id, p.responsible_unit) for p in problems] == [
        ("member_untreated", "县卫生健康局"),
        ("member_costs_unaffordable", "县医疗保障局"),
    ]


# ---------------------------------------------------------------- prompts


def test_first_prompt_shows_position_section_and_choices(form) -> None:
    state, events = start(form, CONTEXT)
    prompt = prompt_of(events)
    assert (state.phase, state.cursor) == ("asking", "visit_type")
    assert prompt.key == "visit_type" and prompt.kind == "select_one"
    assert prompt.position == 1 and prompt.total > 30
    assert prompt.section == {"zh_CN": "基本情况", "en": "Household"}
    assert [choice.value for choice in prompt.choices] == ["home_visit", "phone"]
    assert not prompt.can_back and not prompt.can_skip
    assert prompt.current is None


def test_positions_count_the_relevant_prompts(form) -> None:
    state, events = start(form, CONTEXT)
    state, events = step(form, state, Pick("home_visit"), CONTEXT)
    second = prompt_of(events)
    assert second.position == 2 and second.can_back
    state, events = step(form, state, Pick("spouse"), CONTEXT)
    third = prompt_of(events)
    assert third.key == "respondent_name" and third.can_skip
    assert third.total == second.total + 1  # the respondent's name became relevant


def test_yes_no_prompt_offers_yes_and_no(form) -> None:
    _, events = walk(form, until="food_staple")
    prompt = prompt_of(events)
    assert [(c.value, c.labels["zh_CN"], c.labels["en"]) for c in prompt.choices] == [
        ("yes", "是", "Yes"),
        ("no", "否", "No"),
    ]
    assert prompt.hint["zh_CN"] == "可查看厨房、粮仓。"


def test_calculations_are_never_prompted(form) -> None:
    state, events = start(form, CONTEXT)
    kinds = set()
    while state.phase == "asking":
        prompt = prompt_of(events)
        kinds.add(prompt.kind)
        state, events = step(form, state, answer_for(prompt, {}), CONTEXT)
    assert "calculate" not in kinds
    assert {"repeat", "select_one", "yes_no", "integer", "decimal", "select_many"} <= kinds


def test_show_repeats_the_prompt_and_changes_nothing(form) -> None:
    state, events = walk(form, until="water_short_days")
    again, shown = step(form, state, Show(), CONTEXT)
    assert again == state
    assert shown == [prompt_of(events)]


# ---------------------------------------------------------------- back and skip


def test_back_returns_to_the_previous_prompt_with_its_answer(form) -> None:
    state, _ = walk(form, until="social_aid")
    state, events = step(form, state, Back(), CONTEXT)
    prompt = prompt_of(events)
    assert prompt.key == "respondent" and prompt.current == "head"
    state, events = step(form, state, Back(), CONTEXT)
    assert prompt_of(events).current == "home_visit"
    assert not prompt_of(events).can_back
    after, events = step(form, state, Back(), CONTEXT)
    assert invalid_of(events).message_id == m.FIRST_QUESTION
    assert after == state


def test_answering_again_after_back_walks_forward(form) -> None:
    state, _ = walk(form, until="food_nutrition")
    state, _ = step(form, state, Back(), CONTEXT)
    state, events = step(form, state, Pick("no"), CONTEXT)
    prompt = prompt_of(events)
    assert prompt.key == "food_nutrition"
    assert state.answers["food_staple"] == "no"


def test_back_from_an_item_question_returns_to_the_item_list(form) -> None:
    state, _ = walk(form, until="children[0].child_ok")
    state, events = step(form, state, Back(), CONTEXT)
    prompt = prompt_of(events)
    assert prompt.kind == "repeat" and prompt.items == (ItemView(0, "王小明"),)


def test_skip_records_an_optional_question_as_skipped(form) -> None:
    state, _ = walk(form, overrides={"respondent": Pick("other")}, until="respondent_name")
    state, events = step(form, state, Skip(), CONTEXT)
    assert state.answers["respondent_name"] is None
    assert prompt_of(events).key == "social_aid"
    state, events = answer_until(form, state, events)
    item = next(i for i in summary_of(events).items if i.key == "respondent_name")
    assert item.value is None and item.display == {"zh_CN": "（跳过）", "en": "(skipped)"}
    assert submit(form, state).record.answers["respondent_name"] is None


def test_a_required_question_cannot_be_skipped(form) -> None:
    state, _ = walk(form, until="water_short_days")
    after, events = step(form, state, Skip(), CONTEXT)
    assert invalid_of(events).message_id == m.CANNOT_SKIP
    assert after == state


# ---------------------------------------------------------------- summary and edit


def test_summary_lists_answers_in_order_with_item_labels(form) -> None:
    state, events = walk(
        form, overrides={"risk_factors": Text("1,4"), "disaster_type": Pick("flood")}
    )
    summary = summary_of(events)
    assert (state.phase, state.cursor) == ("summary", "#summary")
    keys = [item.key for item in summary.items]
    assert keys[:3] == ["visit_type", "respondent", "social_aid"]
    assert keys.index("children") < keys.index("children[0].school_status") < keys.index("members")
    by_key = {item.key: item for item in summary.items}
    assert by_key["food_staple"].display == {"zh_CN": "是", "en": "Yes"}
    assert by_key["children"].display["zh_CN"] == "王小明"
    assert by_key["members"].display["zh_CN"] == "王建国、李秀英、王小明、王小红、王大伟"
    assert by_key["members"].value == 5
    assert by_key["members[2].health"].item_label == "王小明"
    assert by_key["risk_factors"].display == {
        "zh_CN": "因病、因自然灾害",
        "en": "Illness, Natural disaster",
    }
    assert by_key["floor_area"].display["en"] == "96.5"
    assert by_key["income_wages"].value == 60000
    assert by_key["house_photo"].display == {"zh_CN": "照片", "en": "Photo"}
    assert by_key["water_source"].section["zh_CN"] == "饮水安全"
    assert "income_per_person" not in by_key
    assert "members[0].name" not in by_key  # filled from the roster, never asked


def test_edit_from_summary_asks_newly_relevant_questions_then_returns(form) -> None:
    state, _ = walk(form)
    state, events = step(form, state, Edit("housing_grade"), CONTEXT)
    prompt = prompt_of(events)
    assert prompt.key == "housing_grade" and prompt.current == "A"
    assert state.return_to_summary
    state, events = step(form, state, Pick("D"), CONTEXT)
    assert prompt_of(events).key == "housing_alternative"
    state, events = step(form, state, Pick("relatives"), CONTEXT)
    summary = summary_of(events)
    assert state.phase == "summary" and not state.return_to_summary
    keys = [item.key for item in summary.items]
    assert keys.index("housing_alternative") == keys.index("housing_grade") + 1
    record = submit(form, state).record
    assert (record.answers["housing_grade"], record.answers["housing_alternative"]) == (
        "D",
        "relatives",
    )
    assert record.problems == ()


def test_edit_that_makes_a_question_irrelevant_drops_its_answer(form) -> None:
    state, _ = walk(form, overrides={"water_piped": Pick("no"), "water_trip_minutes": Text("45")})
    state, _ = step(form, state, Edit("water_piped"), CONTEXT)
    state, events = step(form, state, Text("是"), CONTEXT)
    assert "water_trip_minutes" not in [item.key for item in summary_of(events).items]
    assert state.answers["water_trip_minutes"] == 45  # kept while editing, as in ODK
    record = submit(form, state).record
    assert "water_trip_minutes" not in record.answers
    assert record.problems == ()


def test_back_while_editing_returns_to_the_summary_unchanged(form) -> None:
    state, _ = walk(form)
    editing, _ = step(form, state, Edit("water_short_days"), CONTEXT)
    back, events = step(form, editing, Back(), CONTEXT)
    assert isinstance(events[0], Summary)
    assert back.phase == "summary" and back.answers == state.answers
    assert back.history == state.history


def test_back_in_summary_returns_to_the_last_question(form) -> None:
    state, _ = walk(form)
    state, events = step(form, state, Back(), CONTEXT)
    prompt = prompt_of(events)
    assert prompt.key == "location" and prompt.current == {"latitude": 25.03, "longitude": 101.87}
    state, events = step(form, state, Location(25.0, 101.0), CONTEXT)
    assert isinstance(events[0], Summary)


def test_back_in_summary_after_an_edit_still_returns_to_the_last_question(form) -> None:
    state, _ = walk(form)
    state, _ = step(form, state, Edit("visit_type"), CONTEXT)
    state, _ = step(form, state, Pick("home_visit"), CONTEXT)
    state, events = step(form, state, Back(), CONTEXT)
    assert prompt_of(events).key == "location"


def test_editing_an_item_question_from_summary(form) -> None:
    state, _ = walk(form)
    state, events = step(form, state, Edit("children[0].school_status"), CONTEXT)
    assert prompt_of(events).item_label == "王小明"
    state, events = step(form, state, Pick("dropped_out"), CONTEXT)
    assert prompt_of(events).key == "children[0].dropout_reason"
    state, events = step(form, state, Text("1"), CONTEXT)
    assert prompt_of(events).key == "children[0].dropout_note"
    state, events = step(form, state, Skip(), CONTEXT)
    assert isinstance(events[0], Summary)
    record = submit(form, state).record
    assert [(p.rule_id, p.subject) for p in record.problems] == [("child_dropped_out", "王小明")]
    assert "grade" not in record.answers["children"][0]
    assert "school_aid" not in record.answers["children"][0]


def test_an_answered_question_that_stays_relevant_is_not_asked_again(form) -> None:
    state, _ = walk(form)
    state, _ = step(form, state, Edit("children[0].school_status"), CONTEXT)
    state, events = step(form, state, Pick("suspended"), CONTEXT)
    assert prompt_of(events).key == "children[0].suspension_reason"  # newly relevant
    state, events = step(form, state, Text("生病"), CONTEXT)
    state, events = step(form, state, Edit("children[0].school_status"), CONTEXT)
    state, events = step(form, state, Pick("in_school"), CONTEXT)
    assert isinstance(events[0], Summary)  # the grade was answered already
    assert submit(form, state).record.answers["children"][0]["grade"] == "primary_4"


@pytest.mark.parametrize(
    "key", ["nope", "income_per_person", "members[0].name", "children[7].grade"]
)
def test_only_answered_questions_can_be_edited(form, key: str) -> None:
    state, _ = walk(form)
    after, events = step(form, state, Edit(key), CONTEXT)
    assert invalid_of(events).message_id == m.CANNOT_EDIT
    assert after == state


@pytest.mark.parametrize("inp", [Text("1"), Pick("yes"), Done(), Skip(), AddItem(), Photo("p")])
def test_summary_accepts_only_edit_back_submit_show(form, inp: Input) -> None:
    state, _ = walk(form)
    after, events = step(form, state, inp, CONTEXT)
    assert invalid_of(events).message_id == m.SUMMARY_ACTIONS
    assert after == state
    again, events = step(form, state, Show(), CONTEXT)
    assert again == state and isinstance(events[0], Summary)


def test_submit_revalidates_and_sends_back_to_what_is_missing(form) -> None:
    state, _ = walk(form)
    broken = CheckState.from_json(
        {
            **state.to_json(),
            "answers": {k: v for k, v in state.answers.items() if k != "water_short_days"},
        }
    )
    state, events = step(form, broken, Submit(), CONTEXT)
    assert invalid_of(events).message_id == m.MUST_ANSWER
    assert prompt_of(events).key == "water_short_days"
    state, events = step(form, state, Text("50"), CONTEXT)
    assert isinstance(events[0], Summary)
    assert submit(form, state).record.answers["water_short_days"] == 50


@pytest.mark.parametrize(
    ("key", "value", "message_id"),
    [
        ("water_short_days", 5000, m.MUST_ANSWER),
        ("water_short_days", "lots", m.MUST_ANSWER),
        ("visit_type", "bus", m.MUST_ANSWER),
        ("food_staple", None, m.MUST_ANSWER),
        ("children", [], None),
    ],
)
def test_submit_rejects_a_tampered_record(form, key: str, value: Any, message_id) -> None:
    state, _ = walk(form)
    tampered = CheckState.from_json({**state.to_json(), "answers": {**state.answers, key: value}})
    state, events = step(form, tampered, Submit(), CONTEXT)
    if message_id is None:
        assert isinstance(events[0], Finished)
        assert events[0].record.answers["children"] == []
    else:
        assert invalid_of(events).message_id == message_id
        assert prompt_of(events).key == key


def test_submit_checks_constraints_again(form) -> None:
    state, _ = walk(form)
    children = [dict(item) for item in state.answers["children"]]
    children.append({"name": "老人", "birth_date": "1950-01-01", "school_status": "in_school"})
    tampered = CheckState.from_json(
        {**state.to_json(), "answers": {**state.answers, "children": children}}
    )
    state, events = step(form, tampered, Submit(), CONTEXT)
    assert invalid_of(events).labels["zh_CN"] == "该儿童不在义务教育年龄段内。"
    assert prompt_of(events).key == "children[1].birth_date"


def test_any_input_after_submit_is_refused(form) -> None:
    state, _ = walk(form)
    state, _ = step(form, state, Submit(), CONTEXT)
    for inp in (Show(), Submit(), Back(), Text("1"), Edit("visit_type")):
        after, events = step(form, state, inp, CONTEXT)
        assert invalid_of(events).message_id == m.ALREADY_SUBMITTED
        assert after == state


# ---------------------------------------------------------------- repeat groups


def test_children_are_prefilled_from_the_roster_by_school_age(form) -> None:
    state, events = walk(form, until="children")
    prompt = prompt_of(events)
    assert prompt.kind == "repeat"
    assert prompt.items == (ItemView(0, "王小明"),)  # 10; not 5-year-old 王小红, not 16-year-old
    item = state.answers["children"][0]
    assert {k: item[k] for k in ("member_id", "name", "birth_date", "relation", "sex")} == {
        "member_id": "m3",
        "name": "王小明",
        "birth_date": "2013-06-01",
        "relation": "之子",
        "sex": "男",
    }
    state, events = step(form, state, Done(), CONTEXT)
    assert prompt_of(events).key == "children[0].child_ok"
    assert prompt_of(events).item_label == "王小明"


def test_school_age_follows_the_parameters(form) -> None:
    wider = Context(TODAY, {**CONTEXT.params, "school_age_max": 16}, CONTEXT.roster)
    _, events = walk(form, until="children", context=wider)
    assert [item.label for item in prompt_of(events).items] == ["王小明", "王大伟"]


def test_an_added_child_is_asked_name_and_birth_date(form) -> None:
    state, _ = walk(form, until="children")
    state, events = step(form, state, AddItem(), CONTEXT)
    assert prompt_of(events).items == (ItemView(0, "王小明"), ItemView(1, "#2"))
    state, events = step(form, state, Done(), CONTEXT)
    state, events = answer_until(form, state, events, until="children[1].name")
    assert prompt_of(events).item_label == "#2"
    state, events = step(form, state, Text("王小花"), CONTEXT)
    prompt = prompt_of(events)
    assert prompt.key == "children[1].birth_date" and prompt.item_label == "王小花"
    refused, events = step(form, state, Text("2020-01-01"), CONTEXT)
    assert invalid_of(events).labels == {
        "zh_CN": "该儿童不在义务教育年龄段内。",
        "en": "This child is not of compulsory-school age.",
    }
    assert refused == state
    state, events = step(form, state, Text("2012年9月1日"), CONTEXT)
    assert prompt_of(events).key == "children[1].child_ok"
    state, _ = answer_until(form, state, events)
    children = submit(form, state).record.answers["children"]
    assert [(c["name"], c["birth_date"]) for c in children] == [
        ("王小明", "2013-06-01"),
        ("王小花", "2012-09-01"),
    ]
    assert "member_id" not in children[1]


def test_removing_a_prefilled_child(form) -> None:
    state, _ = walk(form, until="children")
    state, events = step(form, state, RemoveItem(0), CONTEXT)
    assert prompt_of(events).items == ()
    state, events = step(form, state, Done(), CONTEXT)
    assert prompt_of(events).key == "members"
    state, _ = answer_until(form, state, events)
    assert submit(form, state).record.answers["children"] == []


def test_a_household_without_children_passes_the_group_with_done(form) -> None:
    adults = Context(TODAY, CONTEXT.params, {"members": MEMBERS[:2]})
    state, events = walk(form, until="children", context=adults)
    assert prompt_of(events).items == ()
    state, events = step(form, state, Done(), adults)
    assert prompt_of(events).key == "members"


def test_members_need_at_least_one_item(form) -> None:
    nobody = Context(TODAY, CONTEXT.params, {})
    state, events = walk(form, until="members", context=nobody)
    assert prompt_of(events).items == ()
    after, events = step(form, state, Done(), nobody)
    assert invalid_of(events) == Invalid(m.TOO_FEW_ITEMS, params={"min": 1})
    assert after == state
    state, events = step(form, state, AddItem(), nobody)
    state, events = step(form, state, Done(), nobody)
    assert prompt_of(events).key == "members[0].name"
    state, _ = answer_until(form, state, events, context=nobody)
    record = submit(form, state, nobody).record
    assert record.answers["household_size"] == 1
    assert record.answers["members"][0]["name"] == "王小花"


def test_editing_the_item_list_from_summary_asks_the_new_items_questions(form) -> None:
    state, _ = walk(form)
    state, events = step(form, state, Edit("children"), CONTEXT)
    assert prompt_of(events).kind == "repeat"
    state, _ = step(form, state, AddItem(), CONTEXT)
    state, events = step(form, state, Done(), CONTEXT)
    assert prompt_of(events).key == "children[1].name"
    state, events = answer_until(form, state, events)
    assert isinstance(events[0], Summary)
    assert len(submit(form, state).record.answers["children"]) == 2


def test_repeat_answers_are_lists_of_dicts_in_the_state(form) -> None:
    state, _ = walk(form, until="housing_grade")
    assert isinstance(state.answers["members"], list)
    assert all(isinstance(item, dict) for item in state.answers["members"])
    assert state.answers["members"][0]["insurance"] == "resident"
    assert state.done_groups == ("children", "members")


# ---------------------------------------------------------------- select_many


def test_select_many_toggles_then_done(form) -> None:
    state, _ = walk(form, until="risk_factors")
    state, events = step(form, state, Pick("other"), CONTEXT)
    assert prompt_of(events).selected == ("other",)
    state, events = step(form, state, Pick("illness"), CONTEXT)
    assert prompt_of(events).selected == ("illness", "other")  # choice order
    assert state.pending == ("illness", "other")
    state, events = step(form, state, Pick("other"), CONTEXT)
    assert prompt_of(events).selected == ("illness",)
    state, events = step(form, state, Done(), CONTEXT)
    assert state.answers["risk_factors"] == ["illness"] and state.pending == ()
    assert prompt_of(events).key == "support_ok"
    state, events = step(form, state, Back(), CONTEXT)
    assert prompt_of(events).selected == ("illness",)
    assert prompt_of(events).current == ["illness"]


def test_optional_select_many_may_be_done_with_nothing(form) -> None:
    state, _ = walk(form, until="risk_factors")
    state, _ = step(form, state, Done(), CONTEXT)
    assert state.answers["risk_factors"] == []


def test_required_select_many_needs_one_option() -> None:
    form = parse_form(
        """
id = "many"
version = "1"
title = { zh_CN = "多选", en = "Many" }
[[questions]]
id = "crops"
type = "select_many"
label = { zh_CN = "作物", en = "Crops" }
choices = [
  { value = "rice", label = { zh_CN = "水稻", en = "Rice" } },
  { value = "tea", label = { zh_CN = "茶叶", en = "Tea" } },
]
""",
        "many.toml",
    )
    state, _ = start(form, CONTEXT)
    after, events = step(form, state, Done(), CONTEXT)
    assert invalid_of(events).message_id == m.CHOOSE_AT_LEAST_ONE and after == state
    after, events = step(form, state, Skip(), CONTEXT)
    assert invalid_of(events).message_id == m.CANNOT_SKIP
    state, events = step(form, state, Text("Tea, rice"), CONTEXT)
    assert state.answers["crops"] == ["rice", "tea"] and isinstance(events[0], Summary)


# ---------------------------------------------------------------- refused inputs

REFUSED = [
    ("visit_type", Photo("p"), m.CHOOSE_BUTTON, {}),
    ("visit_type", Location(1, 1), m.CHOOSE_BUTTON, {}),
    ("visit_type", Pick("stale-button"), m.CHOOSE_BUTTON, {}),
    ("visit_type", Done(), m.CHOOSE_BUTTON, {}),
    ("visit_type", Text("9"), m.CHOOSE_BUTTON, {}),
    ("visit_type", Text(""), m.CHOOSE_BUTTON, {}),
    ("visit_type", AddItem(), m.CHOOSE_BUTTON, {}),
    ("visit_type", RemoveItem(0), m.CHOOSE_BUTTON, {}),
    ("visit_type", Edit("visit_type"), m.EDIT_FROM_SUMMARY, {}),
    ("visit_type", Submit(), m.ANSWER_REMAINING, {}),
    ("food_staple", Text("maybe"), m.YES_OR_NO, {}),
    ("food_staple", Photo("p"), m.YES_OR_NO, {}),
    ("food_staple", Pick("maybe"), m.CHOOSE_BUTTON, {}),
    ("water_short_days", Text("abc"), m.WHOLE_NUMBER, {}),
    ("water_short_days", Text("3.5"), m.WHOLE_NUMBER, {}),
    ("water_short_days", Text("1,2"), m.WHOLE_NUMBER, {}),
    ("water_short_days", Text("9" * 400), m.WHOLE_NUMBER, {}),
    ("water_short_days", Photo("p"), m.WHOLE_NUMBER, {}),
    ("water_short_days", Pick("40"), m.WHOLE_NUMBER, {}),
    ("water_short_days", Done(), m.WHOLE_NUMBER, {}),
    ("water_short_days", Text("2000"), m.NUMBER_BETWEEN, {"min": 0, "max": 366}),
    ("water_short_days", Text("-1"), m.NUMBER_BETWEEN, {"min": 0, "max": 366}),
    ("floor_area", Text("3,5"), m.DECIMAL_POINT, {}),
    ("floor_area", Text("abc"), m.NUMBER, {}),
    ("floor_area", Text("1e5"), m.NUMBER, {}),
    ("floor_area", Text("nan"), m.NUMBER, {}),
    ("floor_area", Location(1, 1), m.NUMBER, {}),
    ("floor_area", Text("0.5"), m.NUMBER_BETWEEN, {"min": 1, "max": 2000}),
    ("house_photo", Text("a photo"), m.PHOTO_OR_SKIP, {}),
    ("house_photo", Location(1, 1), m.PHOTO_OR_SKIP, {}),
    ("house_photo", Photo(""), m.PHOTO_OR_SKIP, {}),
    ("location", Photo("p"), m.LOCATION_OR_SKIP, {}),
    ("location", Location(91, 0), m.LOCATION_INVALID, {}),
    ("location", Location(math.nan, 0), m.LOCATION_INVALID, {}),
    ("location", Location(0, 181), m.LOCATION_INVALID, {}),
    ("respondent_name", Text("   "), m.TEXT_EMPTY, {}),
    ("respondent_name", Text("x" * 1001), m.TEXT_TOO_LONG, {"limit": 1000}),
    ("respondent_name", Photo("p"), m.TEXT_EMPTY, {}),
    ("children", Text("1"), m.ITEM_BUTTONS, {}),
    ("children", Pick("x"), m.ITEM_BUTTONS, {}),
    ("children", Skip(), m.CANNOT_SKIP, {}),
    ("children", RemoveItem(3), m.NO_SUCH_ITEM, {"number": 4}),
    ("children", RemoveItem(-1), m.NO_SUCH_ITEM, {"number": 0}),
    ("risk_factors", Pick("nope"), m.CHOOSE_BUTTON, {}),
    ("risk_factors", Photo("p"), m.TOGGLE_THEN_DONE, {}),
    ("risk_factors", Text("1, 99"), m.TOGGLE_THEN_DONE, {}),
    ("risk_factors", AddItem(), m.TOGGLE_THEN_DONE, {}),
]


@pytest.mark.parametrize(
    ("key", "inp", "message_id", "params"),
    REFUSED,
    ids=[f"{case[0]}-{type(case[1]).__name__}-{i}" for i, case in enumerate(REFUSED)],
)
def test_an_input_that_does_not_fit_is_refused_and_changes_nothing(
    form, key: str, inp: Input, message_id: str, params: dict[str, Any]
) -> None:
    state, _ = walk(form, until=key, overrides={"respondent": Pick("other")})
    assert state.cursor == key
    after, events = step(form, state, inp, CONTEXT)
    assert events == [Invalid(message_id, params=params)]
    assert after == state


@pytest.mark.parametrize(
    ("typed", "message_id"),
    [
        ("2015-13-01", m.DATE),
        ("tomorrow", m.DATE),
        ("1899-01-01", m.DATE),
        ("2030-01-01", m.DATE_IN_FUTURE),
        ("2024-05-02", m.DATE_IN_FUTURE),
    ],
)
def test_a_bad_date_is_refused(form, typed: str, message_id: str) -> None:
    state, _ = walk(form, until="children")
    state, events = step(form, state, AddItem(), CONTEXT)
    state, events = step(form, state, Done(), CONTEXT)
    state, events = answer_until(form, state, events, until="children[1].birth_date")
    after, events = step(form, state, Text(typed), CONTEXT)
    assert invalid_of(events).message_id == message_id
    assert after == state


def question(form: Form, question_id: str):
    for q in form.questions:
        if q.id == question_id:
            return q
        for child in q.children:
            if child.id == question_id:
                return child
    raise KeyError(question_id)


@pytest.mark.parametrize(
    ("question_id", "typed", "value"),
    [
        ("water_short_days", "１２", 12),
        ("water_short_days", "  35  ", 35),
        ("water_short_days", "+5", 5),
        ("income_wages", "1,234,567", 1234567),
        ("income_wages", "１２，０００", 12000),
        ("income_business", "-3,000", -3000),
        ("income_business", "−200", -200),
        ("floor_area", "3.5", 3.5),
        ("floor_area", "１２．５", 12.5),
        ("floor_area", "1,234.5", 1234.5),
        ("floor_area", "80", 80.0),
        ("floor_area", ".5e0", None),
        ("birth_date", "2015-03-08", "2015-03-08"),
        ("birth_date", "2015/3/8", "2015-03-08"),
        ("birth_date", "2015.3.8", "2015-03-08"),
        ("birth_date", "2015年3月8日", "2015-03-08"),
        ("birth_date", "2015 年 3 月 8 日", "2015-03-08"),
        ("birth_date", "20150308", "2015-03-08"),
        ("birth_date", "２０１５－０３－０８", "2015-03-08"),
        ("food_staple", "是", "yes"),
        ("food_staple", "有", "yes"),
        ("food_staple", "Y", "yes"),
        ("food_staple", "1", "yes"),
        ("food_staple", "没有", "no"),
        ("food_staple", "否", "no"),
        ("food_staple", " No ", "no"),
        ("food_staple", "2", "no"),
        ("water_source", "2", "dispersed"),
        ("water_source", "集中供水", "centralised"),
        ("water_source", "centralised supply", "centralised"),
        ("water_source", "３", None),
        ("notes", "  见面谈话  ", "见面谈话"),
    ],
)
def test_typed_answers_are_read_generously(form, question_id: str, typed: str, value: Any) -> None:
    result = parse_answer(question(form, question_id), Text(typed), TODAY)
    if value is None:
        assert isinstance(result, Invalid)
    else:
        assert result == Answer(value)
        assert type(result.value) is type(value)


def test_a_photo_and_a_location_are_stored_as_plain_values(form) -> None:
    assert parse_answer(question(form, "house_photo"), Photo("AgAD"), TODAY) == Answer("AgAD")
    assert parse_answer(question(form, "location"), Location(25, 101), TODAY) == Answer(
        {"latitude": 25.0, "longitude": 101.0}
    )


# ---------------------------------------------------------------- saving and resuming


def test_state_survives_json_mid_check_and_gives_the_same_next_events(form) -> None:
    state, _ = walk(form, until="risk_factors")
    state, _ = step(form, state, Pick("illness"), CONTEXT)
    restored = round_trip(state)
    assert restored == state
    for inp in (Pick("water"), Done(), Pick("yes"), Back(), Back(), Show()):
        state, expected = step(form, state, inp, CONTEXT)
        restored, events = step(form, restored, inp, CONTEXT)
        assert events == expected and restored == state
        restored = round_trip(restored)
        assert restored == state


def test_state_inside_a_repeat_group_survives_json(form) -> None:
    state, _ = walk(form, until="members[2].health")
    restored = round_trip(state)
    assert step(form, restored, Pick("healthy"), CONTEXT) == step(
        form, state, Pick("healthy"), CONTEXT
    )


def test_a_stale_cursor_resumes_at_the_first_unanswered_question(form) -> None:
    state, _ = walk(form, until="water_short_days")
    stale = CheckState.from_json({**state.to_json(), "cursor": "question_removed_from_form"})
    resumed, events = step(form, stale, Show(), CONTEXT)
    assert prompt_of(events).key == "water_short_days" and resumed.cursor == "water_short_days"


def kept_after(form: Form, until: str, inp: Input) -> tuple[KeptPositions, CheckState]:
    """The check answered up to `until`, then `inp`, its position kept as the check desk keeps
    it; and the state it stands at."""
    state, _ = walk(form, until=until)
    position = Position(form, state, CONTEXT)
    state, _ = position.step(inp)
    kept = KeptPositions()
    kept.keep(7, position.following(state), state.to_json())
    return kept, state


def test_a_kept_position_serves_only_the_state_it_was_kept_with(form) -> None:
    kept, state = kept_after(form, "floor_area", Text("96.5"))
    saved = round_trip(state).to_json()
    position = kept.position(7, form, saved, CONTEXT)
    assert position is not None and position.state == state
    assert position.shown == Position(form, state, CONTEXT).shown
    assert kept.position(8, form, saved, CONTEXT) is None
    # 96 typed is the decimal 96.0; a state saved with the whole number 96 (equal in
    # Python, not in JSON) is another state
    kept_96, state_96 = kept_after(form, "floor_area", Text("96"))
    saved_96 = round_trip(state_96).to_json()
    assert saved_96["answers"]["floor_area"] == 96.0
    assert kept_96.position(7, form, saved_96, CONTEXT) is not None
    # a database may give the keys back in another order
    reordered = dict(reversed(saved_96.items()))
    reordered["answers"] = dict(reversed(saved_96["answers"].items()))
    assert kept_96.position(7, form, reordered, CONTEXT) is not None
    whole = {**saved_96, "answers": {**saved_96["answers"], "floor_area": 96}}
    assert kept_96.position(7, form, whole, CONTEXT) is None
    assert kept_96.position(7, form, {**saved_96, "cursor": "water_source"}, CONTEXT) is None
    # the form loaded again (perhaps changed), or another day, is walked afresh
    reloaded = load_form(FORMS_DIRECTORY / "household_check.toml")
    assert kept.position(7, reloaded, saved, CONTEXT) is None
    tomorrow = Context(date(2024, 5, 2), CONTEXT.params, CONTEXT.roster)
    assert kept.position(7, form, saved, tomorrow) is None
    kept.forget(7)
    assert kept.position(7, form, saved, CONTEXT) is None


def test_an_answer_walks_again_only_what_it_can_change(form) -> None:
    """After an answer, the questions before it and the repeat items it is not in are taken
    over from the last walk, not walked again; what follows it is walked again."""
    state, _ = walk(form, until="members[1].health")
    toggled, _ = Position(form, state, CONTEXT).step(Pick("healthy"))
    position = Position(form, toggled, CONTEXT)
    state, _ = position.step(Done())
    before, (after,) = position.current, position.current.made
    assert after.answers is state.answers
    kept = {slot.key for slot in before.slots if any(slot is s for s in after.slots)}
    assert "visit_type" in kept and "members" not in kept
    assert "members[0].health" in kept and "members[2].health" in kept
    assert "members[1].health" not in kept and "housing_grade" not in kept


def test_an_answer_before_a_repeat_group_walks_its_items_again_only_if_they_read_it(
    form,
) -> None:
    state, _ = walk(form, until="housing_grade")
    before = walk_questionnaire(form, state, CONTEXT)

    def members_taken_over(answers: dict[str, Any]) -> bool:
        after = walk_after(before, form, replace(state, answers=answers), CONTEXT)
        assert after == walk_questionnaire(form, replace(state, answers=answers), CONTEXT)
        slot = before.slot("members[0].health")
        return any(slot is other for other in after.slots)

    assert members_taken_over({**state.answers, "visit_type": "phone"})
    assert not members_taken_over({**state.answers, "social_aid": ["dibao"]})


def test_kept_positions_keep_the_latest_checks_only(form) -> None:
    state, _ = walk(form, until="floor_area")
    kept = KeptPositions(limit=2)
    for check in (1, 2, 3):
        kept.keep(check, Position(form, state, CONTEXT), state.to_json())
    found = [kept.position(check, form, state.to_json(), CONTEXT) for check in (1, 2, 3)]
    assert [position is not None for position in found] == [False, True, True]


def test_a_position_that_does_not_read_back_from_json_is_not_kept(form) -> None:
    state, _ = walk(form, until="floor_area")
    odd = CheckState({**state.answers, "social_aid": ("dibao",)}, state.cursor)
    kept = KeptPositions()
    kept.keep(1, Position(form, odd, CONTEXT), odd.to_json())
    # as the database gives it back: the tuple is a list
    saved = json.loads(json.dumps(odd.to_json()))
    assert kept.position(1, form, saved, CONTEXT) is None


def test_same_inputs_give_same_outputs(form) -> None:
    first = walk(form, overrides={"housing_grade": Pick("not_assessed")})
    second = walk(form, overrides={"housing_grade": Pick("not_assessed")})
    assert first == second


# ---------------------------------------------------------------- notes and display


NOTE_FORM = """
id = "noted"
version = "1"
title = { zh_CN = "说明", en = "Note" }
[[questions]]
id = "intro"
type = "note"
label = { zh_CN = "请向农户说明来意。", en = "Explain why you are visiting." }
[[questions]]
id = "count"
type = "integer"
label = { zh_CN = "人数", en = "People" }
default = 3
"""


def test_a_note_is_shown_then_passed_with_done() -> None:
    form = parse_form(NOTE_FORM.replace('id = "count"', 'id = "people"'), "noted.toml")
    state, events = start(form, CONTEXT)
    assert prompt_of(events).kind == "note" and not prompt_of(events).can_skip
    after, events = step(form, state, Photo("p"), CONTEXT)
    assert invalid_of(events).message_id == m.NOTE_CONTINUE and after == state
    state, events = step(form, state, Done(), CONTEXT)
    assert prompt_of(events).key == "people" and prompt_of(events).current == 3
    state, events = step(form, state, Text("4"), CONTEXT)
    assert [item.key for item in summary_of(events).items] == ["people"]
    record = submit(form, state).record
    assert record.answers == {"people": 4}


def test_display_value_for_the_bot(form) -> None:
    assert display_value(form, "housing_grade", "C", "zh_CN") == "C级（局部危房）"
    assert display_value(form, "housing_grade", "C", "en") == "C (locally unsafe)"
    assert display_value(form, "food_staple", "no", "en") == "No"
    assert display_value(form, "children[0].school_status", "dropped_out", "zh_CN") == "失学辍学"
    assert (
        display_value(form, "risk_factors", ["illness", "water"], "en") == "Illness, Drinking water"
    )
    assert display_value(form, "risk_factors", [], "zh_CN") == "无"
    assert display_value(form, "floor_area", 80.0, "en") == "80"
    assert display_value(form, "water_short_days", 35, "zh_CN") == "35"
    assert display_value(form, "water_short_days", None, "en") == "(skipped)"
    assert display_value(form, "location", {"latitude": 1, "longitude": 2}, "en") == (
        "1.00000, 2.00000"
    )
    assert display_value(form, "members", [{"name": "甲"}, {}], "zh_CN") == "甲、#2"
    assert display_value(form, question(form, "grade"), "senior", "fr") == "高中阶段（普高、中职）"
    assert display_value(form, "no_such_question", 5, "en") == "5"


def test_income_problems_name_the_line_they_compare_with(form) -> None:
    line = {"zh_CN": "2024年云南省防返贫监测线（8,700元）", "en": "Yunnan's line of 2024"}
    context = Context(TODAY, CONTEXT.params, CONTEXT.roster, texts={"income_line": line})
    low: dict[str, Input] = {"income_wages": Text("20000"), "income_business": Text("0")}
    state, _ = walk(form, overrides=low, context=context)
    (problem,) = submit(form, state, context).record.problems
    assert problem.text["zh_CN"] == "家庭人均纯收入低于2024年云南省防返贫监测线（8,700元）。"
    assert problem.text["en"] == "Net income per person is below Yunnan's line of 2024."


def test_without_an_income_line_income_raises_nothing(form) -> None:
    no_line = Context(TODAY, {**CONTEXT.params, "monitoring_line": None}, CONTEXT.roster)
    low: dict[str, Input] = {"income_wages": Text("2000"), "income_business": Text("0")}
    state, _ = walk(form, overrides=low, context=no_line)
    record = submit(form, state, no_line).record
    assert record.problems == () and not record.at_risk


@pytest.mark.parametrize(
    "typed",
    [
        "2026-12-31",
        "2026/12/31",
        "2026.12.31",
        "2026年12月31日",
        "2026年12月31号",
        "20261231",
        "２０２６年１２月３１日",
        " 2026 年 12 月 31 日 ",
        "2026－12－31",
    ],
)
def test_a_date_reads_the_same_however_it_is_typed(typed: str) -> None:
    """One reading of a typed date for the check, deadlines, campaigns and the command line."""
    assert parse_date(typed) == date(2026, 12, 31)


@pytest.mark.parametrize("typed", ["2026-13-01", "2026-02-30", "12/31", "明天", "1899-01-01"])
def test_what_is_not_a_date_is_refused(typed: str) -> None:
    assert parse_date(typed) is None
