"""The questionnaire expression language: operators, functions, None handling, and the
rejection of anything that is not on the whitelist."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from conversations.expressions import (
    ExpressionError,
    Scope,
    compile_expression,
    evaluate,
)

TODAY = date(2024, 5, 1)
ANSWERS: dict[str, Any] = {
    "a": 3,
    "b": None,
    "x": 2.5,
    "word": "yes",
    "picked": ["illness", "other"],
    "born": "2010-05-02",
    "kids": [
        {"name": "甲", "status": "in_school", "cost": 100},
        {"name": "乙", "status": "dropped_out", "cost": None},
        {"name": "丙", "status": "in_school", "cost": 50.5},
    ],
    "empty": [],
}
PARAMS = {"line": 6000, "ratio": 1.1}


def run(source: str, *, item: dict[str, Any] | None = None, value: Any = None) -> Any:
    scope = Scope(ANSWERS, item=item, params=PARAMS, today=TODAY, value=value)
    return compile_expression(source).evaluate(scope)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("a + 1", 4),
        ("a - 5", -2),
        ("a * x", 7.5),
        ("a / 2", 1.5),
        ("7 // 2", 3),
        ("7 % 4", 3),
        ("-a", -3),
        ("+a", 3),
        ("'ab' + 'cd'", "abcd"),
        ("(a + 1) * 2", 8),
    ],
)
def test_arithmetic_operators(source: str, expected: Any) -> None:
    assert run(source) == expected


@pytest.mark.parametrize(
    "source",
    ["b + 1", "1 - b", "b * 2", "b / 2", "b // 2", "b % 2", "-b", "a / 0", "a // 0", "a % 0"],
)
def test_arithmetic_with_unanswered_or_zero_gives_none(source: str) -> None:
    assert run(source) is None


@pytest.mark.parametrize("source", ["word + 1", "a * 'x'", "picked + 1", "'x' * 1000000"])
def test_arithmetic_on_mismatched_types_gives_none(source: str) -> None:
    assert run(source) is None


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("a == 3", True),
        ("a != 3", False),
        ("a < 4", True),
        ("a <= 3", True),
        ("a > 3", False),
        ("a >= 3", True),
        ("1 < a < 5", True),
        ("1 < a < 2", False),
        ("word == 'yes'", True),
        ("born < '2011-01-01'", True),
        ("a == '3'", False),
        ("a < 'z'", False),
    ],
)
def test_comparisons(source: str, expected: bool) -> None:
    assert run(source) is expected


@pytest.mark.parametrize(
    "source",
    ["b == 1", "b != 1", "b < 1", "b <= 1", "b > 1", "b >= 1", "1 < b", "b in [1]", "b not in [1]"],
)
def test_comparison_with_unanswered_is_false(source: str) -> None:
    assert run(source) is False


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("b == None", True),
        ("a == None", False),
        ("b != None", False),
        ("a != None", True),
        ("b is None", True),
        ("a is not None", True),
    ],
)
def test_comparing_with_none_literal_tests_whether_answered(source: str, expected: bool) -> None:
    assert run(source) is expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("a in [1, 2, 3]", True),
        ("a in (4, 5)", False),
        ("a not in [4, 5]", True),
        ("'other' in picked", True),
        ("'disaster' in picked", False),
        ("'disaster' not in picked", True),
        ("'es' in word", True),
        ("1 in word", False),
        ("'x' in a", False),
        ("'x' not in a", False),
    ],
)
def test_membership(source: str, expected: bool) -> None:
    assert run(source) is expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("a > 1 and word == 'yes'", True),
        ("a > 1 and b > 1", False),
        ("a > 5 or word == 'yes'", True),
        ("b or a", True),
        ("not b", True),
        ("not a", False),
        ("not (a > 1)", False),
        ("[]", []),
        ("[a, 'k', None]", [3, "k", None]),
    ],
)
def test_boolean_operators_and_literals(source: str, expected: Any) -> None:
    assert run(source) == expected


def test_param_reads_context_params_and_unknown_param_is_none() -> None:
    assert run("param.line * param.ratio") == pytest.approx(6600)
    assert run("param.missing") is None
    assert run("a < param.missing") is False


def test_value_is_the_answer_under_constraint() -> None:
    assert run("value >= 0 and value <= 10", value=5) is True
    assert run("value >= 0 and value <= 10", value=11) is False
    assert run("value > 0", value=None) is False


def test_item_fields_come_before_top_level_answers() -> None:
    assert run("a", item={"a": 99}) == 99
    assert run("word", item={"a": 99}) == "yes"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("count(kids)", 3),
        ("count(empty)", 0),
        ("count(b)", 0),
        ("count(kids, status == 'in_school')", 2),
        ("count(kids, cost > 60)", 1),
        ("sum(kids, cost)", 150.5),
        ("sum(empty, cost)", 0),
        ("sum(kids, cost * 2)", 301.0),
        ("any(kids, status == 'dropped_out')", True),
        ("any(empty, status == 'dropped_out')", False),
        ("all(kids, status == 'in_school')", False),
        ("all(empty, status == 'in_school')", True),
        ("count(kids, status == word)", 0),
        ("count(kids, a == 3)", 3),
    ],
)
def test_group_functions(source: str, expected: Any) -> None:
    assert run(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("age(born)", 13),
        ("age('2010-05-01')", 14),
        ("age('2010-05-01T08:00:00')", 14),
        ("age(b)", None),
        ("age('not a date')", None),
        ("age(3)", None),
        ("today()", "2024-05-01"),
        ("age(today())", 0),
    ],
)
def test_age_and_today(source: str, expected: Any) -> None:
    assert run(source) == expected


def test_age_accepts_a_date_value_and_needs_today() -> None:
    scope = Scope({"d": date(2000, 1, 1)}, today=TODAY)
    assert compile_expression("age(d)").evaluate(scope) == 24
    assert compile_expression("age(d)").evaluate(Scope({"d": date(2000, 1, 1)})) is None
    assert compile_expression("today()").evaluate(Scope({})) is None


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("selected(picked, 'other')", True),
        ("selected(picked, 'disaster')", False),
        ("selected(word, 'yes')", True),
        ("selected(b, 'yes')", False),
        ("selected(picked, b)", False),
        ("iif(a > 1, 'big', 'small')", "big"),
        ("iif(b, 'big', 'small')", "small"),
        ("iif(a > 1, a, a / 0)", 3),
        ("coalesce(b, a)", 3),
        ("coalesce(b, '', 7)", 7),
        ("coalesce(b)", None),
        ("len(word)", 3),
        ("len(picked)", 2),
        ("len(b)", 0),
        ("len(a)", None),
        ("min(a, x, b)", 2.5),
        ("max(a, x, b)", 3),
        ("max(b)", None),
        ("min([4, 2, 9])", 2),
        ("round(x)", 2),
        ("round(2.345, 2)", 2.35),
        ("round(b, 2)", None),
        ("round(x, 'a')", None),
    ],
)
def test_functions(source: str, expected: Any) -> None:
    assert run(source) == expected


def test_compiled_expression_reports_names_params_functions_and_value() -> None:
    expression = compile_expression(
        "count(kids, status == 'x' and cost > param.line) > 0 and word == 'yes' or value > a"
    )
    assert expression.outer_names == {"kids", "word", "a"}
    assert expression.item_names == {"kids": frozenset({"status", "cost"})}
    assert expression.names == {"kids", "word", "a", "status", "cost"}
    assert expression.params == {"line"}
    assert expression.functions == {"count"}
    assert expression.uses_value


def test_nested_group_functions_keep_each_groups_names() -> None:
    expression = compile_expression("any(households, count(members, age(birth) < 6) > 0)")
    assert expression.outer_names == {"households"}
    assert expression.item_names == {
        "households": frozenset({"members"}),
        "members": frozenset({"birth"}),
    }


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("__import__('os')", "unknown function '__import__'"),
        ("__builtins__", "name '__builtins__' not allowed"),
        ("open('/etc/passwd')", "unknown function 'open'"),
        ("eval('1')", "unknown function 'eval'"),
        ("foo(1)", "unknown function 'foo'"),
        ("a.b", "attribute access not allowed, only param.NAME"),
        ("().__class__", "attribute access not allowed"),
        ("param.__class__", "parameter '__class__' not allowed"),
        ("word.upper()", "only calls of known functions are allowed"),
        ("lambda: 1", "lambda not allowed"),
        ("[k for k in picked]", "comprehensions not allowed"),
        ("{k for k in picked}", "comprehensions not allowed"),
        ("(k for k in picked)", "comprehensions not allowed"),
        ("{'a': 1}", "dictionaries not allowed"),
        ("picked[0]", "subscripts ([...]) not allowed"),
        ("a if b else 1", "use iif(c, a, b)"),
        ("(y := 1)", "':=' not allowed"),
        ("f'{a}'", "f-strings not allowed"),
        ("a ** 2", "operator '**' not allowed"),
        ("a | 1", "operator '|' not allowed"),
        ("~a", "operator '~' not allowed"),
        ("a is 1", "'is' can only compare with None"),
        ("b'x'", "constant b'x' not allowed"),
        ("param", "write param.NAME"),
        ("round(x, ndigits=2)", "round() takes no keyword arguments"),
        ("count()", "count() takes 1 to 2 arguments, not 0"),
        ("iif(a, 1)", "iif() takes 3 arguments, not 2"),
        ("today(1)", "today() takes 0 arguments, not 1"),
        ("count('kids')", "count() needs a repeat group name"),
        ("sum(*picked)", "'*' arguments not allowed"),
        ("a +", "syntax error at column"),
        ("", "empty expression"),
    ],
)
def test_unsafe_or_unknown_expressions_are_rejected(source: str, reason: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(source)
    assert reason in caught.value.reason


def test_syntax_error_names_the_column() -> None:
    with pytest.raises(ExpressionError, match=r"syntax error at column 8"):
        compile_expression("a == 1 1")


def test_if_is_written_iif_and_the_error_says_so() -> None:
    with pytest.raises(ExpressionError, match=r"iif\(condition, a, b\)"):
        compile_expression("if(a > 1, 1, 2)")
    assert run("iif(a > 1, 1, 2)") == 1


def test_evaluate_gives_none_for_an_expression_that_does_not_compile() -> None:
    assert evaluate("__import__('os')", Scope({})) is None


@pytest.mark.parametrize(
    "odd", [None, "", "text", 0, -1.5, True, [], [1, "a"], {"k": 1}, [{"x": 1}], date(2020, 1, 1)]
)
@pytest.mark.parametrize(
    "source",
    [
        "v + 1",
        "v * 2 > 1",
        "v in ['a']",
        "v not in v",
        "-v",
        "count(v, x > 1)",
        "sum(v, x)",
        "all(v, x)",
        "age(v)",
        "len(v)",
        "min(v, 1)",
        "round(v, 1)",
        "selected(v, 'a')",
        "v < v",
    ],
)
def test_evaluation_never_raises_on_odd_values(source: str, odd: Any) -> None:
    compile_expression(source).evaluate(Scope({"v": odd}, today=TODAY))
