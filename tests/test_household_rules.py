"""Each problem rule of the default questionnaire as a table: a household's answers, and
exactly the problems they raise, no more (the false alarms a review found raise nothing)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from conversations import (
    Context,
    Edit,
    Form,
    Input,
    Pick,
    Prompt,
    Text,
    start,
    step,
)
from tests.test_engine import CONTEXT, MEMBERS, TODAY, answer_for, form, submit, walk

__all__ = ["form"]


def context(household_type: str | None = "脱贫户", members: Any = MEMBERS) -> Context:
    return Context(
        TODAY, CONTEXT.params, {"members": tuple(members)}, household={"type": household_type}
    )


DIBAO: dict[str, Input] = {"social_aid": Text("低保")}
MONITORED = context("监测户")
GENERAL = context("一般户")
FIFTEEN = context(
    "脱贫户", [*MEMBERS[:2], {"member_id": "m9", "name": "王小刚", "birth_date": "2009-01-01"}]
)

# (what the household is like, its context, the answers that differ from a good household,
#  the problems raised as (rule, subject))
CASES: list[tuple[str, Context, Mapping[str, Input], list[tuple[str, str | None]]]] = [
    ("nothing wrong", context(), {}, []),
    # 1. medical
    (
        "a monitored household's premium not subsidised",
        MONITORED,
        {"members[0].premium_subsidised": Pick("no")},
        [("member_premium_not_subsidised", "王建国")],
    ),
    (
        "hospitalised, a deposit asked and no one-stop settlement",
        context(),
        {
            "members[1].health": Text("长期慢性病"),
            "members[1].hospitalised": Pick("yes"),
            "members[1].treatment_first": Pick("no"),
            "members[1].one_stop": Pick("no"),
        },
        [("member_hospital_payment", "李秀英")],
    ),
    (
        "a 低保 member in hospital without medical assistance",
        context(),
        {
            **DIBAO,
            "members[0].health": Text("患有大病"),
            "members[0].hospitalised": Pick("yes"),
            "members[0].medical_aid": Pick("no"),
        },
        [("member_no_medical_aid", "王建国")],
    ),
    (
        "chronically ill without a family doctor",
        context(),
        {"members[0].health": Text("长期慢性病"), "members[0].family_doctor": Pick("no")},
        [("member_no_family_doctor", "王建国")],
    ),
    (
        "chronically ill and disabled: both asked, the subsidy missing",
        context(),
        {
            "members[0].health": Text("长期慢性病、残疾"),
            "members[0].disability_type": Pick("physical"),
            "members[0].disability_grade": Pick("2"),
            "members[0].treated": Pick("no"),
            "members[0].disability_subsidy": Pick("no"),
        },
        [("member_untreated", "王建国"), ("member_disability_subsidy_missing", "王建国")],
    ),
    # 2. social security
    (
        "qualifies for 低保 and not covered",
        context(),
        {"aid_needed": Pick("yes")},
        [("aid_not_covered", None)],
    ),
    (
        "an emergency without temporary assistance",
        context(),
        {"emergency_unmet": Pick("yes")},
        [("emergency_not_assisted", None)],
    ),
    (
        "an adult with no pension insurance",
        context(),
        {"members[1].pension": Pick("none")},
        [("member_pension_missing", "李秀英")],
    ),
    (
        "a formerly poor member's pension premium not paid for them",
        context(),
        {"members[0].pension_premium_paid": Pick("no")},
        [("member_pension_premium_not_paid", "王建国")],
    ),
    (
        "able to work, no job and no help",
        context(),
        {"members[1].work": Pick("not_helped")},
        [("member_work_not_helped", "李秀英")],
    ),
    # 3. housing
    (
        "a D house, the family housed in 周转房",
        context(),
        {"housing_grade": Pick("D"), "housing_alternative": Pick("turnover")},
        [],
    ),
    (
        "no house of their own, living with relatives",
        context(),
        {"housing_grade": Pick("no_own_house"), "housing_alternative": Pick("relatives")},
        [],
    ),
    (
        "still in a C house that is in the renovation plan",
        context(),
        {
            "housing_grade": Pick("C"),
            "housing_alternative": Pick("renovation_plan"),
            "renovation_date": Text("2024-04-30"),
        },
        [("housing_unsafe", None)],
    ),
    (
        "renovated, the subsidy not paid in full",
        context(),
        {"house_renovated": Pick("yes"), "renovation_subsidy_full": Pick("no")},
        [("renovation_subsidy_short", None)],
    ),
    # 4. education
    (
        "a 15-year-old who finished compulsory school is no dropout",
        FIFTEEN,
        {"children[0].school_status": Pick("completed")},
        [],
    ),
    (
        "kept home without the county's assessment",
        context(),
        {
            "children[0].school_status": Pick("unable_to_study"),
            "children[0].county_assessed": Pick("no"),
        },
        [("child_not_assessed", "王小明")],
    ),
    (
        "a pupil of a formerly poor household without the aid due",
        context(),
        {"children[0].school_aid": Pick("no")},
        [("child_aid_missing", "王小明")],
    ),
    # 5. help
    (
        "the help booklet missing",
        context(),
        {"help_plan": Pick("no")},
        [("help_plan_missing", None)],
    ),
    # 6. water: what a cadre can see; the lab report is the village's, not the household's
    (
        "not enough water all year",
        context(),
        {"water_enough": Pick("no")},
        [("water_quantity", None)],
    ),
    ("water with a smell", context(), {"water_impurities": Pick("yes")}, [("water_quality", None)]),
    (
        "ill from the water",
        context(),
        {"water_ill_effects": Pick("yes")},
        [("water_quality", None)],
    ),
    ("the scheme's lab report not known", context(), {"water_lab_report": Pick("unknown")}, []),
    ("the scheme has no lab report", context(), {"water_lab_report": Pick("no")}, []),
    # the other rules, each with the answers next to it that must raise nothing
    ("no staple food", context(), {"food_staple": Pick("no")}, [("food_not_met", None)]),
    (
        "no bedding for the winter",
        context(),
        {"clothing_bedding": Pick("no")},
        [("clothing_not_met", None)],
    ),
    (
        "a child dropped out to work",
        context(),
        {
            "children[0].school_status": Pick("dropped_out"),
            "children[0].dropout_reason": Pick("work"),
            "children[0].dropout_note": Text("外出打工"),
        },
        [("child_dropped_out", "王小明")],
    ),
    (
        "a child taught at home after the county's assessment",
        context(),
        {
            "children[0].school_status": Pick("home_teaching"),
            "children[0].county_assessed": Pick("yes"),
        },
        [],
    ),
    (
        "a pupil suspended while ill",
        context(),
        {
            "children[0].school_status": Pick("suspended"),
            "children[0].suspension_reason": Text("生病住院"),
        },
        [],
    ),
    (
        "a member without insurance",
        context(),
        {"members[1].insurance": Pick("none")},
        [("member_not_insured", "李秀英")],
    ),
    (
        "medical costs too heavy",
        context(),
        {"members[0].health": Text("长期慢性病"), "members[0].costs_affordable": Pick("no")},
        [("member_costs_unaffordable", "王建国")],
    ),
    (
        "disabled, grade 3, no aid: the two subsidies are not due",
        GENERAL,
        {
            "members[0].health": Text("残疾"),
            "members[0].disability_type": Pick("visual"),
            "members[0].disability_grade": Pick("3"),
            "members[0].disability_subsidy": Pick("no"),
        },
        [],
    ),
    ("not working, offered training", context(), {"members[1].work": Pick("offered")}, []),
    ("in a public-welfare job", context(), {"members[1].work": Pick("public_job")}, []),
    (
        "the house never assessed",
        context(),
        {"housing_grade": Pick("not_assessed")},
        [("housing_not_assessed", None)],
    ),
    (
        "a 30-minute trip for water",
        context(),
        {"water_piped": Pick("no"), "water_trip_minutes": Text("30")},
        [("water_convenience", None)],
    ),
    (
        "a 15-minute trip for water",
        context(),
        {"water_piped": Pick("no"), "water_trip_minutes": Text("15")},
        [],
    ),
    (
        "short of water 40 days",
        context(),
        {"water_short_days": Text("40")},
        [("water_reliability", None)],
    ),
    ("short of water 36 days", context(), {"water_short_days": Text("36")}, []),
    (
        "income below Yunnan's line of 2024",
        context(),
        {"income_wages": Text("20000"), "income_business": Text("0")},
        [("income_below_line", None)],
    ),
    (
        "income above the line, below it after medical spending",
        context(),
        {
            "income_wages": Text("43000"),
            "income_business": Text("0"),
            "income_transfer": Text("2000"),
            "spending_eligible": Text("20000"),
        },
        [("income_spending_hardship", None)],
    ),
    (
        "income near the line with a risk",
        context(),
        {
            "income_wages": Text("43000"),
            "income_business": Text("0"),
            "income_transfer": Text("2000"),
            "spending_eligible": Text("0"),
            "risk_factors": Text("因病"),
        },
        [("risk_near_line", None)],
    ),
    (
        "income near the line without a risk",
        context(),
        {
            "income_wages": Text("43000"),
            "income_business": Text("0"),
            "income_transfer": Text("2000"),
            "spending_eligible": Text("0"),
        },
        [],
    ),
    ("the help cadre not known", context(), {"knows_cadre": Pick("no")}, [("cadre_unknown", None)]),
    (
        "no contact in the last 30 days",
        context(),
        {"contacted_this_month": Pick("no")},
        [("no_contact_this_month", None)],
    ),
    (
        "not satisfied",
        context(),
        {"satisfaction": Pick("not_satisfied")},
        [("not_satisfied", None)],
    ),
    ("fairly satisfied", context(), {"satisfaction": Pick("fairly")}, []),
]


@pytest.mark.parametrize(
    ("household", "how", "answers", "expected"), CASES, ids=[case[0] for case in CASES]
)
def test_answers_raise_exactly_these_problems(
    form: Form,
    household: str,
    how: Context,
    answers: Mapping[str, Input],
    expected: list[tuple[str, str | None]],
) -> None:
    state, _ = walk(form, overrides=answers, context=how)
    problems = submit(form, state, how).record.problems
    assert [(p.rule_id, p.subject) for p in problems] == expected


def test_every_rule_of_the_questionnaire_has_a_case_above(form: Form) -> None:
    raised = {rule for _, _, _, expected in CASES for rule, _ in expected}
    assert {rule.id for rule in form.rules} - raised == set()


def test_a_family_still_in_a_planned_house_is_due_on_the_plans_date(form: Form) -> None:
    """The plan's date lies ahead as a rule: it is accepted, and it is the deadline."""
    answers = {
        "housing_grade": Pick("D"),
        "housing_alternative": Pick("renovation_plan"),
        "renovation_date": Text("2025年3月31日"),
    }
    state, _ = walk(form, overrides=answers, context=context())
    (problem,) = submit(form, state, context()).record.problems
    assert problem.deadline_date == "2025-03-31"
    assert TODAY.isoformat() < "2025-03-31"


def test_only_the_plans_date_may_be_later_than_today(form: Form) -> None:
    from conversations.answers import parse_answer

    members = next(q for q in form.questions if q.id == "members")
    birth = next(q for q in members.children if q.id == "birth_date")
    plan = next(q for q in form.questions if q.id == "renovation_date")
    later = Text("2030-01-01")
    assert getattr(parse_answer(birth, later, TODAY), "message_id", None) == (
        "The date cannot be later than today."
    )
    assert getattr(parse_answer(plan, later, TODAY), "value", None) == "2030-01-01"


def prompts_of(form: Form, how: Context, answers: Mapping[str, Input]) -> list[Prompt]:
    """Every prompt a check shows with these answers (and good ones elsewhere)."""
    state, events = start(form, how)
    seen: list[Prompt] = []
    while state.phase == "asking":
        prompt = next(e for e in reversed(events) if isinstance(e, Prompt))
        seen.append(prompt)
        state, events = step(form, state, answer_for(prompt, answers), how)
    return seen


def test_school_aid_is_asked_only_of_pupils_who_qualify(form: Form) -> None:
    general = {p.question_id for p in prompts_of(form, GENERAL, {})}
    assert "school_aid" not in general
    formerly_poor = {p.question_id for p in prompts_of(form, context(), {})}
    assert "school_aid" in formerly_poor
    meals = Context(
        TODAY, {**CONTEXT.params, "school_meals": 1}, GENERAL.roster, {"type": "一般户"}
    )
    assert "school_aid" in {p.question_id for p in prompts_of(form, meals, {})}


def test_a_phone_follow_up_leaves_out_what_needs_eyes(form: Form) -> None:
    phone = {"visit_type": Pick("phone")}
    prompts = {p.question_id: p for p in prompts_of(form, context(), phone)}
    assert prompts["food_staple"].hint == {} and prompts["clothing_bedding"].hint == {}
    assert not {"house_photo", "location", "help_plan", "water_lab_report"} & set(prompts)
    visit = {p.question_id: p for p in prompts_of(form, context(), {})}
    assert visit["food_staple"].hint["zh_CN"] == "可查看厨房、粮仓。"


def test_no_question_is_a_double_negative(form: Form) -> None:
    labels = [q.labels["zh_CN"] for q in form.questions] + [
        c.labels["zh_CN"] for q in form.questions for c in q.children
    ]
    for text in labels:
        assert "是否无" not in text and "是否不" not in text, text
    ill = next(q for q in form.questions if q.id == "water_ill_effects")
    assert ill.labels["zh_CN"] == "长期饮用后是否出现过不良反应？"


def test_serious_illness_insurance_is_not_asked_apart(form: Form) -> None:
    ids = {p.question_id for p in prompts_of(form, context(), {})}
    assert "serious_illness_insurance" not in ids and "water_lpd" not in ids


# ---------------------------------------------------------------- all normal at once


def test_all_normal_shows_the_answers_it_gives_and_records_them(form: Form) -> None:
    state, events = walk(form, until="food_ok", context=context())
    prompt = events[-1]
    assert isinstance(prompt, Prompt) and prompt.kind == "all_normal"
    assert [c.value for c in prompt.choices] == ["normal", "each"]
    assert [(item.question_id, item.value) for item in prompt.preview] == [
        ("food_staple", "yes"),
        ("food_nutrition", "yes"),
        ("clothing_seasonal", "yes"),
        ("clothing_bedding", "yes"),
    ]
    state, events = step(form, state, Pick("normal"), context())
    after = next(e for e in reversed(events) if isinstance(e, Prompt))
    assert after.section["zh_CN"] == "义务教育"  # the four questions are not asked
    record = submit(
        form, walk(form, overrides={"food_ok": Pick("normal")}, context=context())[0], context()
    ).record
    assert record.answers["food_staple"] == "yes" and record.answers["clothing_bedding"] == "yes"


def test_a_members_usual_answers_come_from_the_roster(form: Form) -> None:
    members = [
        {
            "member_id": "a",
            "name": "刘志强",
            "birth_date": "1972-03-01",
            "health_on_roster": "残疾（肢体二级）",
        },
        {
            "member_id": "b",
            "name": "张桂兰",
            "birth_date": "1948-03-01",
            "health_on_roster": "长期慢性病（高血压）",
        },
    ]
    how = context("监测户", members)
    _, events = walk(form, until="members[0].member_ok", context=how)
    preview = {item.question_id: item.value for item in events[-1].preview}  # type: ignore[union-attr]
    assert preview["health"] == ["disabled"]
    assert preview["disability_type"] == "physical" and preview["disability_grade"] == "2"
    assert preview["disability_subsidy"] == "yes" and preview["pension"] == "resident"
    record_state, _ = walk(form, context=how, overrides={"member_ok": Pick("normal")})
    answers = submit(form, record_state, how).record.answers["members"]
    assert answers[1]["health"] == ["chronic"] and answers[1]["pension"] == "receiving"
    assert answers[1]["family_doctor"] == "yes"


def test_answer_each_asks_every_question_and_an_edit_overrides_all_normal(form: Form) -> None:
    prompts = prompts_of(form, context(), {"food_ok": Pick("each")})
    assert {"food_staple", "clothing_bedding"} <= {p.question_id for p in prompts}
    state, _ = walk(form, overrides={"food_ok": Pick("normal")}, context=context())
    state, _ = step(form, state, Edit("food_nutrition"), context())
    state, _ = step(form, state, Pick("no"), context())
    problems = submit(form, state, context()).record.problems
    assert [p.rule_id for p in problems] == ["food_not_met"]


def test_progress_counts_sections_not_questions(form: Form) -> None:
    prompts = prompts_of(form, context(), {})
    assert {(p.section_count) for p in prompts} == {10}
    numbers = [p.section_number for p in prompts]
    assert numbers[0] == 1 and numbers[-1] == 10 and numbers == sorted(numbers)


def test_a_family_of_four_with_no_problems_takes_at_most_30_inputs(form: Form) -> None:
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "bench" / "taps.py"
    spec = importlib.util.spec_from_file_location("taps", path)
    assert spec is not None and spec.loader is not None
    taps = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(taps)
    first = taps.demo_rosters(taps.TODAY)[0]
    assert len(first.members) == 4
    how = Context(
        taps.TODAY, CONTEXT.params, {"members": first.members}, {"type": first.household_type}
    )
    inputs, problems = taps.count_inputs(form, how, "all normal")
    assert problems == 0 and inputs + taps.OPENING <= 30
    each, _ = taps.count_inputs(form, how, "each item")
    assert each > 2 * inputs


def test_contact_is_asked_over_a_reporting_period_not_the_calendar_month(form: Form) -> None:
    """On the 2nd of a month nobody has been "contacted this month" yet: the question and the
    problem speak of the last 30 days, one reporting period, so early days raise nothing."""
    contact = next(q for q in form.questions if q.id == "contacted_this_month")
    rule = next(r for r in form.rules if r.id == "no_contact_this_month")
    for labels in (contact.labels, rule.text):
        assert "本月" not in labels["zh_CN"] and "30" in labels["zh_CN"]
        assert "this month" not in labels["en"] and "30 days" in labels["en"]
