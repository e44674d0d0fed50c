"""Loading questionnaires: the default form loads and covers the check, a broken form is
rejected at load time naming the file, the question (or rule) and the reason; thresholds
are looked up per area and year."""

from __future__ import annotations

from pathlib import Path

import pytest

from conversations import (
    FORMS_DIRECTORY,
    FormError,
    ThresholdError,
    load_form,
    load_forms,
    load_thresholds,
    params_for,
    parse_form,
)
from conversations.expressions import compile_expression
from conversations.thresholds import income_line_for, missing_income_lines, parse_thresholds

HEADER = """
id = "mini"
version = "1"
title = { zh_CN = "小表", en = "Mini" }

[params]
line = 6000

[rosters]
members = ["member_id", "name", "birth_date"]

[[sections]]
id = "water"
label = { zh_CN = "饮水", en = "Water" }
"""

SOURCE = """
[[questions]]
id = "water_source"
type = "select_one"
section = "water"
label = { zh_CN = "水源", en = "Source" }
choices = [
  { value = "piped", label = { zh_CN = "自来水", en = "Piped" } },
  { value = "well", label = { zh_CN = "水井", en = "Well" } },
]
"""

TRIP = """
[[questions]]
id = "water_trip_minutes"
type = "integer"
section = "water"
relevant = "{relevant}"
label = {{ zh_CN = "取水时间", en = "Trip minutes" }}
"""

CHILDREN = """
[[questions]]
id = "children"
type = "repeat"
source = "members"
item_label = "name"
label = { zh_CN = "儿童", en = "Children" }

[[questions.children]]
id = "name"
type = "text"
label = { zh_CN = "姓名", en = "Name" }

[[questions.children]]
id = "status"
type = "select_one"
relevant = "{status_relevant}"
label = { zh_CN = "就学", en = "Schooling" }
choices = [
  { value = "in_school", label = { zh_CN = "在校", en = "At school" } },
  { value = "dropped_out", label = { zh_CN = "辍学", en = "Dropped out" } },
]
"""


def trip(relevant: str = "water_source == 'well'") -> str:
    return TRIP.format(relevant=relevant)


def children(status_relevant: str = "name != None") -> str:
    return CHILDREN.replace("{status_relevant}", status_relevant)


def rule(when: str = "water_trip_minutes > 20", extra: str = 'deadline_tier = "staged"') -> str:
    return f"""
[[rules]]
id = "water_far"
when = "{when}"
category = "饮水安全"
responsible_unit = "县水利局"
{extra}
text = {{ zh_CN = "取水远", en = "Water is far" }}
goal = {{ zh_CN = "就近取水", en = "Water nearby" }}
"""


def write(tmp_path: Path, text: str, name: str = "household_check.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str) -> str:
    with pytest.raises(FormError) as caught:
        load_form(write(tmp_path, text))
    return str(caught.value)


# ---------------------------------------------------------------- the default form


@pytest.fixture(scope="module")
def household_check():
    return load_form(FORMS_DIRECTORY / "household_check.toml")


def test_default_forms_load_from_the_package_directory() -> None:
    forms = load_forms()
    assert list(forms) == ["household_check"]


def test_default_form_keeps_the_ids_storage_relies_on(household_check) -> None:
    by_id = {question.id: question for question in household_check.questions}
    assert by_id["visit_type"].type == "select_one"
    assert [c.value for c in by_id["visit_type"].choices] == ["home_visit", "phone"]
    assert by_id["housing_grade"].type == "select_one"
    grades = [c.value for c in by_id["housing_grade"].choices]
    assert grades == ["A", "B", "C", "D", "not_assessed", "no_own_house"]
    assert by_id["income_per_person"].type == "calculate"


def test_default_form_covers_every_section_of_the_check(household_check) -> None:
    sections = {question.section for question in household_check.questions}
    assert sections == {
        "household",
        "food",
        "education",
        "medical",
        "housing",
        "water",
        "income",
        "risk",
        "support",
        "notes",
    }
    by_id = {question.id: question for question in household_check.questions}
    children = by_id["children"]
    assert (children.type, children.source) == ("repeat", "members")
    assert children.filter is not None and "param.school_age_min" in children.filter
    statuses = {c.value for c in {q.id: q for q in children.children}["school_status"].choices}
    assert statuses == {
        "in_school",
        "home_teaching",
        "unable_to_study",
        "suspended",
        "completed",
        "dropped_out",
    }
    members = {q.id: q for q in by_id["members"].children}
    assert {"insurance", "premium_subsidised", "health", "disability_type"} <= set(members)
    assert "serious_illness_insurance" not in members  # asked with resident insurance
    assert members["health"].type == "select_many"
    assert {"hospitalised", "treatment_first", "one_stop", "medical_aid"} <= set(members)
    assert {"disability_subsidy", "pension", "pension_premium_paid", "work"} <= set(members)
    assert [c.value for c in members["disability_grade"].choices] == ["1", "2", "3", "4"]
    assert {"family_doctor", "chronic_card", "treated", "costs_affordable"} <= set(members)
    assert len(by_id["risk_factors"].choices) == 11
    assert by_id["risk_factors"].type == "select_many"
    assert by_id["floor_area"].type == "decimal"
    for optional in ("house_photo", "notes", "notes_photo", "location"):
        assert not by_id[optional].required


def test_default_form_has_both_languages_everywhere(household_check) -> None:
    def complete(labels) -> bool:
        return all(labels.get(lang, "").strip() for lang in ("zh_CN", "en"))

    questions = [*household_check.questions]
    questions += [child for q in household_check.questions for child in q.children]
    for question in questions:
        assert complete(question.labels), question.id
        for choice in question.choices:
            assert complete(choice.labels), (question.id, choice.value)
    for rule_ in household_check.rules:
        assert complete(rule_.text) and complete(rule_.goal) and complete(rule_.measures)
    assert complete(household_check.title)


def test_default_rules_follow_the_ledger_mapping(household_check) -> None:
    rules = {rule_.id: rule_ for rule_ in household_check.rules}
    units: dict[str, set[str]] = {rule_.category: set() for rule_ in rules.values()}
    tiers: dict[str, set[str | None]] = {rule_.category: set() for rule_ in rules.values()}
    for rule_ in rules.values():
        units[rule_.category].add(rule_.responsible_unit)
        tiers[rule_.category].add(rule_.deadline_tier)
    assert set(units) == {
        "不愁吃",
        "不愁穿",
        "义务教育",
        "基本医疗",
        "住房安全",
        "饮水安全",
        "收入",
        "帮扶",
        "社会保障",
        "就业",
    }
    assert units["社会保障"] == {"县民政局", "县残疾人联合会", "县人力资源和社会保障局"}
    assert units["就业"] == {"县人力资源和社会保障局"}
    assert units["住房安全"] == {"县住房和城乡建设局"}
    assert units["义务教育"] == {"县教育局"}
    assert units["基本医疗"] == {"县医疗保障局", "县卫生健康局"}
    assert units["饮水安全"] == {"县水利局"}
    assert units["收入"] == {"县民政局"}
    assert units["帮扶"] == {"乡镇人民政府"}
    for category in ("不愁吃", "不愁穿", "帮扶"):
        assert tiers[category] == {"immediate"}
    for category in ("住房安全", "饮水安全", "义务教育", "基本医疗"):
        assert tiers[category] == {"timed"}
    assert tiers["收入"] == {"ongoing"}
    assert rules["child_dropped_out"].each == "children"
    assert rules["member_not_insured"].each == "members"
    assert rules["income_below_line"].flags_risk and rules["risk_near_line"].flags_risk


# ---------------------------------------------------------------- good forms


def test_a_small_form_with_repeat_rules_and_choice_lists_loads(tmp_path: Path) -> None:
    text = (
        HEADER.replace(
            "[[sections]]",
            '[choice_lists]\nyn = [{ value = "a", label = '
            '{ zh_CN = "甲", en = "A" } }]\n\n[[sections]]',
        )
        + SOURCE
        + trip()
        + children("name != None and water_source == 'well'")
        + rule("count(children, status == 'dropped_out') > 0 and param.line > 1")
        + rule("status == 'dropped_out'", 'deadline_days = 30\neach = "children"').replace(
            "water_far", "child_out"
        )
        + """
[[questions]]
id = "pick"
type = "select_one"
label = { zh_CN = "选", en = "Pick" }
choices = "yn"
default = "a"
"""
    )
    form = load_form(write(tmp_path, text))
    assert [question.id for question in form.questions] == [
        "water_source",
        "water_trip_minutes",
        "children",
        "pick",
    ]
    assert form.questions[2].children[0].section == ""
    assert form.questions[3].choices[0].value == "a"
    assert form.questions[3].default == "a"
    assert form.rules[1].deadline_days == 30 and form.rules[1].each == "children"
    assert form.rosters == {"members": ("member_id", "name", "birth_date")}
    assert form.params == {"line": 6000}


def test_one_language_form_needs_only_that_language() -> None:
    text = HEADER.replace('id = "mini"', 'id = "mini"\nlanguages = ["zh_CN"]') + SOURCE.replace(
        ', en = "Source"', ""
    )
    assert parse_form(text, "mini.toml").languages == ("zh_CN",)


# ---------------------------------------------------------------- broken forms


def test_unknown_name_names_file_question_and_reason(tmp_path: Path) -> None:
    message = load_error(tmp_path, HEADER + SOURCE + trip("water_sorce == 'well'"))
    assert message == (
        "household_check.toml: question 'water_trip_minutes': relevant: unknown name 'water_sorce'"
    )


BROKEN = [
    (
        "forward reference",
        lambda: (
            HEADER
            + SOURCE.replace(
                'section = "water"', 'section = "water"\nrelevant = "water_trip_minutes > 1"'
            )
            + trip()
        ),
        "question 'water_source': relevant: 'water_trip_minutes' is defined later",
    ),
    (
        "unknown param",
        lambda: (
            HEADER
            + SOURCE
            + trip().replace(
                "relevant = \"water_source == 'well'\"",
                'constraint = "value < param.nope"\n'
                'constraint_message = { zh_CN = "太长", en = "Too long" }',
            )
        ),
        "question 'water_trip_minutes': constraint: unknown parameter 'param.nope'",
    ),
    (
        "unknown function",
        lambda: HEADER + SOURCE + trip("foo(water_source)"),
        "question 'water_trip_minutes': relevant: unknown function 'foo'",
    ),
    (
        "bad expression",
        lambda: HEADER + SOURCE + trip("water_source =="),
        "question 'water_trip_minutes': relevant: syntax error at column",
    ),
    (
        "python escape",
        lambda: HEADER + SOURCE + trip("__import__('os').system('x')"),
        "question 'water_trip_minutes': relevant: only calls of known functions are allowed",
    ),
    (
        "duplicate id",
        lambda: HEADER + SOURCE + SOURCE,
        "question 'water_source': duplicate question id",
    ),
    (
        "select without choices",
        lambda: (
            HEADER
            + """
[[questions]]
id = "kind"
type = "select_one"
label = { zh_CN = "类型", en = "Kind" }
"""
        ),
        "question 'kind': select_one without choices",
    ),
    (
        "empty choices",
        lambda: (
            HEADER
            + """
[[questions]]
id = "kind"
type = "select_many"
label = { zh_CN = "类型", en = "Kind" }
choices = []
"""
        ),
        "question 'kind': select_many without choices",
    ),
    (
        "label missing a language",
        lambda: HEADER + SOURCE.replace(', en = "Source"', ""),
        "question 'water_source': label: missing 'en'",
    ),
    (
        "choice label missing a language",
        lambda: HEADER + SOURCE.replace('zh_CN = "水井", ', ""),
        "question 'water_source': choice 'well': label: missing 'zh_CN'",
    ),
    (
        "repeat without children",
        lambda: (
            HEADER
            + """
[[questions]]
id = "children"
type = "repeat"
source = "members"
label = { zh_CN = "儿童", en = "Children" }
"""
        ),
        "question 'children': a repeat group needs [[questions.children]]",
    ),
    (
        "value outside a constraint",
        lambda: HEADER + SOURCE + trip("value > 1"),
        "question 'water_trip_minutes': relevant: 'value' can only be used in a constraint",
    ),
    (
        "child refers to an unknown name",
        lambda: HEADER + children("grade == 1"),
        "question 'children.status': relevant: unknown name 'grade'",
    ),
    (
        "child refers to a later sibling",
        lambda: (
            HEADER
            + children("name != None").replace(
                'relevant = "name != None"', "relevant = \"status == 'x'\""
            )
        ),
        "question 'children.status': relevant: 'status' is defined later",
    ),
    (
        "top-level question refers to an item field",
        lambda: HEADER + children() + trip("status == 'in_school'"),
        "relevant: 'status' is a question of another repeat group",
    ),
    (
        "child refers to a later top-level question",
        lambda: HEADER + children("water_source == 'well'") + SOURCE,
        "question 'children.status': relevant: 'water_source' is defined later",
    ),
    (
        "misspelt key",
        lambda: HEADER + SOURCE.replace('section = "water"', 'section = "water"\ncontraint = "1"'),
        "question 'water_source': unknown key 'contraint'",
    ),
    (
        "rule with an unknown name",
        lambda: HEADER + SOURCE + trip() + rule("nothing > 1"),
        "rule 'water_far': when: unknown name 'nothing'",
    ),
    (
        "rule each on a non-group",
        lambda: (
            HEADER + SOURCE + trip() + rule(extra='deadline_tier = "staged"\neach = "water_source"')
        ),
        "rule 'water_far': each: 'water_source' is not a repeat group",
    ),
    (
        "rule without a deadline",
        lambda: HEADER + SOURCE + trip() + rule(extra=""),
        "rule 'water_far': give deadline_days or deadline_tier",
    ),
    (
        "rule with an unknown tier",
        lambda: HEADER + SOURCE + trip() + rule(extra='deadline_tier = "soon"'),
        "rule 'water_far': deadline_tier: must be one of immediate, timed, ongoing",
    ),
    (
        "rule text missing a language",
        lambda: HEADER + SOURCE + trip() + rule().replace(', en = "Water is far"', ""),
        "rule 'water_far': text: missing 'en'",
    ),
    (
        "duplicate rule id",
        lambda: HEADER + SOURCE + trip() + rule() + rule(),
        "rule 'water_far': duplicate rule id",
    ),
    (
        "unknown section",
        lambda: HEADER + SOURCE.replace('section = "water"', 'section = "nowhere"'),
        "question 'water_source': section: unknown section 'nowhere'",
    ),
    (
        "unknown roster",
        lambda: HEADER + children().replace('source = "members"', 'source = "people"'),
        "question 'children': source: unknown roster 'people'",
    ),
    (
        "filter with an unknown roster field",
        lambda: (
            HEADER
            + children().replace(
                'source = "members"', 'source = "members"\nfilter = "age(birthday) > 6"'
            )
        ),
        "question 'children': filter: unknown name 'birthday'",
    ),
    (
        "group function over a non-group",
        lambda: HEADER + SOURCE + trip("count(water_source) > 0"),
        "question 'water_trip_minutes': relevant: 'water_source' is not a repeat group",
    ),
    (
        "unknown name inside a group condition",
        lambda: HEADER + children() + trip("count(children, stauts == 'x') > 0"),
        "relevant: unknown name 'stauts' in the items of 'children'",
    ),
    (
        "duplicate choice value",
        lambda: HEADER + SOURCE.replace('value = "well"', 'value = "piped"'),
        "question 'water_source': duplicate choice value 'piped'",
    ),
    (
        "unknown choice list",
        lambda: (
            HEADER
            + """
[[questions]]
id = "kind"
type = "select_one"
label = { zh_CN = "类型", en = "Kind" }
choices = "kinds"
"""
        ),
        "question 'kind': choices: unknown choice list 'kinds'",
    ),
    (
        "calculate without calculation",
        lambda: HEADER + '\n[[questions]]\nid = "total"\ntype = "calculate"\n',
        "question 'total': calculation: missing for a calculate question",
    ),
    (
        "constraint without message",
        lambda: (
            HEADER
            + SOURCE
            + trip().replace("relevant = \"water_source == 'well'\"", 'constraint = "value < 60"')
        ),
        "question 'water_trip_minutes': constraint_message: missing for the constraint",
    ),
    (
        "min above max",
        lambda: HEADER + SOURCE + trip().replace('section = "water"', "min = 10\nmax = 1"),
        "question 'water_trip_minutes': min is greater than max",
    ),
    (
        "unknown type",
        lambda: HEADER + SOURCE.replace('type = "select_one"', 'type = "dropdown"'),
        "question 'water_source': type: 'dropdown' is not one of",
    ),
    (
        "repeat inside a repeat",
        lambda: (
            HEADER
            + children()
            + '\n[[questions.children]]\nid = "inner"\ntype = "repeat"\n'
            + 'label = { zh_CN = "内", en = "Inner" }\n'
            + '[[questions.children.children]]\nid = "x"\ntype = "text"\n'
            + 'label = { zh_CN = "x", en = "x" }\n'
        ),
        "question 'children.inner': a repeat group cannot be inside another repeat group",
    ),
    (
        "child id shadows a top-level id",
        lambda: (
            HEADER
            + """
[[questions]]
id = "name"
type = "text"
label = { zh_CN = "户主", en = "Head" }
"""
            + children()
        ),
        "question 'children.name': id 'name' is already used by a top-level question",
    ),
    (
        "reserved id",
        lambda: HEADER + SOURCE.replace('id = "water_source"', 'id = "value"'),
        "question 'value': id 'value' is reserved",
    ),
    (
        "yes_no with other choices",
        lambda: HEADER + SOURCE.replace('type = "select_one"', 'type = "yes_no"'),
        "question 'water_source': choices: a yes_no question's choices must be 'yes' then 'no'",
    ),
    (
        "default that is not a choice",
        lambda: HEADER + SOURCE.replace('section = "water"', 'section = "water"\ndefault = "sea"'),
        "question 'water_source': default: 'sea' is not one of the choices",
    ),
    ("not TOML", lambda: HEADER + "[[questions]\n", "not valid TOML"),
    ("no questions", lambda: HEADER, "questions: the form has no [[questions]]"),
]


@pytest.mark.parametrize(
    ("build", "expected"), [(case[1], case[2]) for case in BROKEN], ids=[case[0] for case in BROKEN]
)
def test_broken_form_is_rejected_naming_file_question_and_reason(
    tmp_path: Path, build, expected: str
) -> None:
    message = load_error(tmp_path, build())
    assert message.startswith("household_check.toml: ")
    assert expected in message


def test_a_rule_text_may_quote_only_declared_texts(tmp_path: Path) -> None:
    text = HEADER + SOURCE + trip() + rule().replace("取水远", "取水远于{far}")
    assert "rule 'water_far': text: '{far}' is not in [texts]" in load_error(tmp_path, text)
    declared = text.replace(
        "[rosters]", '[texts]\nfar = { zh_CN = "二十分钟", en = "20 min" }\n\n[rosters]'
    )
    assert load_form(write(tmp_path, declared)).texts == {
        "far": {"zh_CN": "二十分钟", "en": "20 min"}
    }


def test_an_unreadable_file_is_a_form_error(tmp_path: Path) -> None:
    with pytest.raises(FormError, match=r"missing\.toml: cannot be read"):
        load_form(tmp_path / "missing.toml")


def test_two_files_with_the_same_form_id_are_rejected(tmp_path: Path) -> None:
    write(tmp_path, HEADER + SOURCE, "a.toml")
    write(tmp_path, HEADER + SOURCE, "b.toml")
    write(tmp_path, "not a form", "thresholds.toml")
    with pytest.raises(FormError, match=r"b\.toml: form id 'mini' is already used by a\.toml"):
        load_forms(tmp_path)


def test_expressions_of_a_loaded_form_compile(household_check) -> None:
    sources = [q.relevant for q in household_check.questions] + [
        rule_.when for rule_ in household_check.rules
    ]
    for source in filter(None, sources):
        compile_expression(source)


# ---------------------------------------------------------------- thresholds


@pytest.fixture(scope="module")
def thresholds():
    return load_thresholds()


@pytest.mark.parametrize(
    ("area", "year", "line"),
    [
        (None, 2020, 6000),
        (None, 2021, 6000),
        ("江苏", 2019, 6000),
        ("江苏", 2020, 6000),
        ("云南", 2024, 8700),
        ("云南", 2023, None),
        ("云南/元谋", 2023, 8050),
        ("云南/元谋", 2024, 8700),
        ("云南/元谋", 2021, 6000),
        ("云南省", 2024, 8700),
        ("云南省/元谋县", 2023, 8050),
        ("江苏省/连云港市", 2019, 6000),
        # No line of its own: never another place's or year's (the 2019 Lianyungang 6000).
        (None, 2024, None),
        ("", 2024, None),
        ("西藏", 2024, None),
        ("云南", 2025, None),
        ("江苏", 2026, None),
        ("江苏", 2018, None),
    ],
)
def test_income_line_by_area_and_year(thresholds, area, year, line) -> None:
    assert params_for(thresholds, area, year)["monitoring_line"] == line


def test_every_income_line_names_itself_and_its_source(thresholds) -> None:
    assert thresholds.income_lines
    for line in thresholds.income_lines:
        assert line.name["zh_CN"] and line.name["en"] and line.source
    jiangsu = income_line_for(thresholds, "江苏", 2019)
    assert jiangsu is not None and jiangsu.name["zh_CN"] == "连云港市脱贫标准"


def test_provinces_without_an_income_line_are_listed_once(thresholds) -> None:
    missing = missing_income_lines(thresholds, ["江苏", "云南", "云南/元谋", "江苏", None], 2024)
    assert [(line.province, line.year) for line in missing] == [("江苏", 2024), ("全国", 2024)]
    assert missing_income_lines(thresholds, ["云南省", "云南/元谋"], 2024) == []


def test_thresholds_carry_every_default(thresholds) -> None:
    params = params_for(thresholds, "云南", 2024)
    assert params == {
        "monitoring_line": 8700,
        "monitoring_line_year": 2024,
        "near_line_ratio": 1.1,
        "water_min_lpd": 35,
        "water_min_lpd_scarce": 20,
        "water_scarce": 0,
        "water_max_trip_minutes": 20,
        "water_max_short_days": 36,
        "school_age_min": 6,
        "school_age_max": 15,
        "school_meals": 0,
    }


def test_default_form_params_match_the_threshold_defaults(thresholds, household_check) -> None:
    with_default = {k: v for k, v in household_check.params.items() if v is not None}
    assert with_default == dict(thresholds.defaults)
    assert household_check.params["monitoring_line"] is None


def test_each_parameter_comes_from_its_most_recent_row() -> None:
    table = parse_thresholds(
        {
            "defaults": {"line": 6000, "water_scarce": 0},
            "rows": [
                {"area": "甘肃", "year": 2021, "water_scarce": 1},
                {"area": "甘肃", "year": 2023, "line": 7000},
                {"area": "甘肃/ 定西 ", "year": 2023, "line": 6800},
            ],
        }
    )
    no_line = {"monitoring_line": None, "monitoring_line_year": None}
    assert params_for(table, "甘肃", 2024) == {"line": 7000, "water_scarce": 1, **no_line}
    assert params_for(table, "甘肃/定西", 2024) == {"line": 6800, "water_scarce": 1, **no_line}
    assert params_for(table, "甘肃", 2020) == {"line": 6000, "water_scarce": 0, **no_line}


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"rows": [{"year": 2020}]}, "row 1: area: missing"),
        ({"rows": [{"area": "云南", "year": "2020"}]}, "row 1: year: must be a year"),
        ({"rows": [{"area": "云南", "year": 2020, "line": "high"}]}, "'line' must be a number"),
        ({"defaults": {"line": float("nan")}}, "defaults: 'line' must be a number"),
        ({"rows": {}}, "rows: must be a list"),
        ({"income_lines": [{"area": "云南", "year": 2024, "line": 8700}]}, "name: must be"),
        (
            {
                "income_lines": [
                    {"area": "云南", "year": 2024, "line": 8700, "name": {"zh_CN": "线"}}
                ]
            },
            "source: say where",
        ),
        ({"income_lines": [{"area": "云南", "year": 2024, "until": 2023}]}, "until: must be"),
    ],
)
def test_a_broken_thresholds_table_is_rejected(data, reason: str) -> None:
    with pytest.raises(ThresholdError, match=reason):
        parse_thresholds(data, "thresholds.toml")


def test_unreadable_thresholds_file(tmp_path: Path) -> None:
    (tmp_path / "t.toml").write_text("[defaults\n", encoding="utf-8")
    with pytest.raises(ThresholdError, match=r"t\.toml: cannot be read"):
        load_thresholds(tmp_path / "t.toml")
