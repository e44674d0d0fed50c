"""A small, safe expression language for questionnaire conditions (relevant, constraint,
calculation, problem rules), in the spirit of XLSForm expressions.

Sources are parsed with `ast.parse(..., mode="eval")` and only a whitelist of nodes is
accepted; the tree is compiled once into closures. Nothing is ever handed to Python's
`eval`, `exec` or `compile`-of-code. Evaluation never raises: an unanswered question
(None), a type mismatch or a division by zero makes comparisons false and arithmetic None.

Names are question ids. Inside a repeat item (a group function's condition, a repeat
child's expression) the item's own fields are looked up first, then the top-level answers.
`value` is the answer being checked by a constraint; `param.NAME` reads a parameter and
`household.NAME` a fact of the household from the roster (e.g. household.type, 户类型).
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

Evaluator = Callable[["Scope"], Any]

# Functions whose first argument names a repeat group and whose other arguments are
# evaluated once per item of that group.
GROUP_FUNCTIONS = frozenset({"count", "sum", "any", "all"})
FUNCTIONS = frozenset(
    {
        *GROUP_FUNCTIONS,
        "age",
        "selected",
        "iif",
        "coalesce",
        "len",
        "min",
        "max",
        "round",
        "today",
    }
)
# (fewest, most) arguments; None means no upper bound.
_ARITY: dict[str, tuple[int, int | None]] = {
    "count": (1, 2),
    "sum": (2, 2),
    "any": (2, 2),
    "all": (2, 2),
    "age": (1, 1),
    "selected": (2, 2),
    "iif": (3, 3),
    "coalesce": (1, None),
    "len": (1, 1),
    "min": (1, None),
    "max": (1, None),
    "round": (1, 2),
    "today": (0, 0),
}
_OPERATOR_SYMBOLS = {
    "Pow": "**",
    "MatMult": "@",
    "BitOr": "|",
    "BitAnd": "&",
    "BitXor": "^",
    "LShift": "<<",
    "RShift": ">>",
}
VALUE_NAME = "value"
PARAM_NAME = "param"
HOUSEHOLD_NAME = "household"
_MAX_SOURCE_LENGTH = 2000

_NODE_WORDS = {
    "Lambda": "lambda",
    "ListComp": "comprehensions",
    "SetComp": "comprehensions",
    "DictComp": "comprehensions",
    "GeneratorExp": "comprehensions",
    "Subscript": "subscripts ([...])",
    "Dict": "dictionaries",
    "Set": "sets",
    "IfExp": "'a if c else b' (use iif(c, a, b))",
    "NamedExpr": "':='",
    "Await": "await",
    "Yield": "yield",
    "YieldFrom": "yield",
    "JoinedStr": "f-strings",
    "FormattedValue": "f-strings",
    "Starred": "'*' arguments",
    "Slice": "slices",
}


class ExpressionError(ValueError):
    """An expression that cannot be accepted; `reason` says why in plain words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Scope:
    """What an expression can see: answers, the current repeat item, params, today and the
    value under constraint check."""

    answers: Mapping[str, Any]
    item: Mapping[str, Any] | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    today: date | None = None
    value: Any = None
    household: Mapping[str, Any] = field(default_factory=dict)

    def lookup(self, name: str) -> Any:
        if self.item is not None and name in self.item:
            return self.item[name]
        return self.answers.get(name)

    def for_item(self, item: Mapping[str, Any]) -> Scope:
        # Built directly: `replace` costs several times more, and this runs per repeat item.
        return Scope(self.answers, item, self.params, self.today, self.value, self.household)

    def with_value(self, value: Any) -> Scope:
        """The scope of a constraint check: `value` is the answer under check."""
        return Scope(self.answers, self.item, self.params, self.today, value, self.household)


@dataclass(frozen=True)
class Expression:
    """A compiled expression.

    `names` are all question names it refers to; `outer_names` those looked up in the
    scope the expression is evaluated in; `item_names` maps a repeat group to the names
    used inside its per-item arguments (e.g. `count(children, status == 'x')` gives
    {"children": {"status"}}). `params` are the `param.NAME` it reads.
    """

    source: str
    names: frozenset[str]
    outer_names: frozenset[str]
    item_names: Mapping[str, frozenset[str]]
    params: frozenset[str]
    household_fields: frozenset[str]
    functions: frozenset[str]
    uses_value: bool
    evaluator: Evaluator = field(repr=False, compare=False)

    def evaluate(self, scope: Scope) -> Any:
        try:
            return self.evaluator(scope)
        except (RecursionError, MemoryError):
            return None


def compile_expression(source: str) -> Expression:
    """Compile `source` or raise ExpressionError with a clear reason."""
    return _compile_cached(source)


@lru_cache(maxsize=4096)
def _compile_cached(source: str) -> Expression:
    if not isinstance(source, str) or not source.strip():
        raise ExpressionError("empty expression")
    if len(source) > _MAX_SOURCE_LENGTH:
        raise ExpressionError(f"expression longer than {_MAX_SOURCE_LENGTH} characters")
    tree = _parse(source)
    compiler = _Compiler()
    try:
        evaluator = compiler.node(tree.body, group=None)
    except RecursionError as error:
        raise ExpressionError("expression nested too deeply") from error
    all_names = compiler.outer_names | frozenset().union(*compiler.item_names.values())
    return Expression(
        source=source,
        names=frozenset(all_names),
        outer_names=frozenset(compiler.outer_names),
        item_names={group: frozenset(names) for group, names in compiler.item_names.items()},
        params=frozenset(compiler.params),
        household_fields=frozenset(compiler.household_fields),
        functions=frozenset(compiler.functions),
        uses_value=compiler.uses_value,
        evaluator=evaluator,
    )


def evaluate(source: str, scope: Scope) -> Any:
    """Evaluate `source` in `scope`; an expression that does not compile gives None."""
    try:
        evaluator = _compile_cached(source).evaluator
    except ExpressionError:
        return None
    try:
        return evaluator(scope)
    except (RecursionError, MemoryError, ExpressionError):
        return None


def is_true(value: Any) -> bool:
    """The truth of an expression result: None, False, 0, "" and [] are false."""
    return bool(value)


def _parse(source: str) -> ast.Expression:
    try:
        return ast.parse(source.strip(), mode="eval")
    except SyntaxError as error:
        hint = ""
        if re.search(r"(^|[^\w.])if\s*\(", source):
            hint = " (write iif(condition, a, b) instead of if(...))"
        column = error.offset or 0
        raise ExpressionError(f"syntax error at column {column}{hint}") from error
    except (ValueError, RecursionError, MemoryError) as error:
        raise ExpressionError("the expression cannot be read") from error


# ---------------------------------------------------------------- compiling


class _Compiler:
    """Turns a whitelisted AST into closures, collecting the names it refers to."""

    def __init__(self) -> None:
        self.outer_names: set[str] = set()
        self.item_names: dict[str, set[str]] = {}
        self.params: set[str] = set()
        self.household_fields: set[str] = set()
        self.functions: set[str] = set()
        self.uses_value = False

    def node(self, node: ast.AST, group: str | None) -> Evaluator:
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            return self.name(node, group)
        if isinstance(node, ast.Attribute):
            return self.attribute(node)
        if isinstance(node, ast.BoolOp):
            return self.bool_op(node, group)
        if isinstance(node, ast.UnaryOp):
            return self.unary_op(node, group)
        if isinstance(node, ast.BinOp):
            return self.bin_op(node, group)
        if isinstance(node, ast.Compare):
            return self.compare(node, group)
        if isinstance(node, ast.List | ast.Tuple):
            return self.sequence(node, group)
        if isinstance(node, ast.Call):
            return self.call(node, group)
        word = _NODE_WORDS.get(type(node).__name__, f"'{type(node).__name__}'")
        raise ExpressionError(f"{word} not allowed (column {_column(node)})")

    def constant(self, node: ast.Constant) -> Evaluator:
        value = node.value
        if value is not None and not isinstance(value, str | int | float | bool):
            raise ExpressionError(f"constant {value!r} not allowed (column {_column(node)})")
        return lambda scope: value

    def name(self, node: ast.Name, group: str | None) -> Evaluator:
        name = node.id
        if name.startswith("_"):
            raise ExpressionError(f"name '{name}' not allowed (column {_column(node)})")
        if name == PARAM_NAME:
            raise ExpressionError(f"write param.NAME to read a parameter (column {_column(node)})")
        if name == HOUSEHOLD_NAME:
            raise ExpressionError(
                f"write household.NAME to read a household fact (column {_column(node)})"
            )
        if name == VALUE_NAME:
            self.uses_value = True
            return lambda scope: scope.value
        self.remember(name, group)

        def lookup(scope: Scope) -> Any:  # Scope.lookup, inlined: names are read most
            item = scope.item
            if item is not None and name in item:
                return item[name]
            return scope.answers.get(name)

        return lookup

    def remember(self, name: str, group: str | None) -> None:
        if group is None:
            self.outer_names.add(name)
        else:
            self.item_names.setdefault(group, set()).add(name)

    def attribute(self, node: ast.Attribute) -> Evaluator:
        owner = node.value.id if isinstance(node.value, ast.Name) else None
        if owner == HOUSEHOLD_NAME and not node.attr.startswith("_"):
            field_name = node.attr
            self.household_fields.add(field_name)
            return lambda scope: _household_fact(scope, field_name)
        if owner != PARAM_NAME:
            raise ExpressionError(
                "attribute access not allowed, only param.NAME and household.NAME "
                f"(column {_column(node)})"
            )
        name = node.attr
        if name.startswith("_"):
            raise ExpressionError(f"parameter '{name}' not allowed (column {_column(node)})")
        self.params.add(name)
        return lambda scope: _parameter(scope, name)

    def bool_op(self, node: ast.BoolOp, group: str | None) -> Evaluator:
        parts = [self.node(value, group) for value in node.values]
        if isinstance(node.op, ast.And):

            def every(scope: Scope) -> bool:
                for part in parts:
                    if not part(scope):  # is_true, inlined
                        return False
                return True

            return every

        def some(scope: Scope) -> bool:
            for part in parts:
                if part(scope):  # is_true, inlined
                    return True
            return False

        return some

    def unary_op(self, node: ast.UnaryOp, group: str | None) -> Evaluator:
        operand = self.node(node.operand, group)
        if isinstance(node.op, ast.Not):
            return lambda scope: not is_true(operand(scope))
        if isinstance(node.op, ast.USub):
            return lambda scope: _negate(operand(scope))
        if isinstance(node.op, ast.UAdd):
            return lambda scope: _plus(operand(scope))
        raise ExpressionError(f"operator '~' not allowed (column {_column(node)})")

    def bin_op(self, node: ast.BinOp, group: str | None) -> Evaluator:
        function = _ARITHMETIC.get(type(node.op))
        if function is None:
            symbol = _OPERATOR_SYMBOLS.get(type(node.op).__name__, type(node.op).__name__)
            raise ExpressionError(f"operator '{symbol}' not allowed (column {_column(node)})")
        left = self.node(node.left, group)
        right = self.node(node.right, group)
        concatenates = isinstance(node.op, ast.Add)
        return lambda scope: _arithmetic(function, left(scope), right(scope), concatenates)

    def compare(self, node: ast.Compare, group: str | None) -> Evaluator:
        operands = [node.left, *node.comparators]
        links: list[tuple[Evaluator, Callable[[Any, Any], bool], Evaluator]] = []
        for op, left_node, right_node in zip(node.ops, operands, operands[1:], strict=False):
            links.append(
                (
                    self.node(left_node, group),
                    _comparison(op, left_node, right_node),
                    self.node(right_node, group),
                )
            )
        if len(links) == 1:
            ((left, test, right),) = links
            return lambda scope: test(left(scope), right(scope))

        def chain(scope: Scope) -> bool:
            for left, test, right in links:
                if not test(left(scope), right(scope)):
                    return False
            return True

        return chain

    def sequence(self, node: ast.List | ast.Tuple, group: str | None) -> Evaluator:
        elements = [self.node(element, group) for element in node.elts]
        return lambda scope: [element(scope) for element in elements]

    def call(self, node: ast.Call, group: str | None) -> Evaluator:
        if not isinstance(node.func, ast.Name):
            raise ExpressionError(
                f"only calls of known functions are allowed (column {_column(node)})"
            )
        name = node.func.id
        if name not in FUNCTIONS:
            raise ExpressionError(f"unknown function '{name}'")
        if node.keywords:
            raise ExpressionError(f"{name}() takes no keyword arguments")
        if any(isinstance(argument, ast.Starred) for argument in node.args):
            raise ExpressionError(f"'*' arguments not allowed (column {_column(node)})")
        fewest, most = _ARITY[name]
        count = len(node.args)
        if count < fewest or (most is not None and count > most):
            raise ExpressionError(f"{name}() takes {_arity_words(fewest, most)}, not {count}")
        self.functions.add(name)
        if name in GROUP_FUNCTIONS:
            return self.group_call(name, node, group)
        arguments = [self.node(argument, group) for argument in node.args]
        return _CALLS[name](arguments)

    def group_call(self, name: str, node: ast.Call, group: str | None) -> Evaluator:
        first = node.args[0]
        if not isinstance(first, ast.Name) or first.id in (VALUE_NAME, PARAM_NAME):
            raise ExpressionError(f"{name}() needs a repeat group name as its first argument")
        items = self.name(first, group)
        self.item_names.setdefault(first.id, set())
        per_item = [self.node(argument, first.id) for argument in node.args[1:]]
        return _GROUP_CALLS[name](items, per_item)


def _column(node: ast.AST) -> int:
    return int(getattr(node, "col_offset", 0)) + 1


def _arity_words(fewest: int, most: int | None) -> str:
    if most is None:
        return f"at least {fewest} argument{'s' if fewest != 1 else ''}"
    if fewest == most:
        return f"{fewest} argument{'s' if fewest != 1 else ''}"
    return f"{fewest} to {most} arguments"


# ---------------------------------------------------------------- runtime semantics


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _parameter(scope: Scope, name: str) -> Any:
    value = scope.params.get(name)
    return value if _is_number(value) or isinstance(value, str) else None


def _household_fact(scope: Scope, name: str) -> Any:
    value = scope.household.get(name)
    return value if _is_number(value) or isinstance(value, str) else None


def _negate(value: Any) -> Any:
    return -value if _is_number(value) else None


def _plus(value: Any) -> Any:
    return value if _is_number(value) else None


_ARITHMETIC: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _arithmetic(function: Callable[[Any, Any], Any], left: Any, right: Any, concat: bool) -> Any:
    if _is_number(left) and _is_number(right):
        try:
            return _finite(function(left, right))
        except (ArithmeticError, ValueError):
            return None
    if concat and isinstance(left, str) and isinstance(right, str):
        return left + right
    return None


def _comparison(op: ast.cmpop, left: ast.expr, right: ast.expr) -> Callable[[Any, Any], bool]:
    """The test for one comparison operator. A None operand makes the comparison false,
    except `x == None` / `x != None` (or `is` / `is not`), which test whether x is
    unanswered."""
    literal_none = _is_none_literal(left) or _is_none_literal(right)
    if isinstance(op, ast.Is | ast.IsNot) and not literal_none:
        raise ExpressionError("'is' can only compare with None; use == instead")
    if literal_none and isinstance(op, ast.Eq | ast.Is):
        return lambda a, b: a is None and b is None
    if literal_none and isinstance(op, ast.NotEq | ast.IsNot):
        return lambda a, b: not (a is None and b is None)
    if isinstance(op, ast.In):
        return _contains
    if isinstance(op, ast.NotIn):
        return _lacks
    function = _COMPARISONS.get(type(op))
    if function is None:
        raise ExpressionError(f"comparison {type(op).__name__} not allowed")
    return _guarded(function)


_COMPARISONS: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}


def _is_none_literal(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _guarded(function: Callable[[Any, Any], Any]) -> Callable[[Any, Any], bool]:
    def test(left: Any, right: Any) -> bool:
        if left is None or right is None:
            return False
        if _is_number(left) != _is_number(right):
            return False
        try:
            return bool(function(left, right))
        except (TypeError, ValueError):
            return False

    return test


def _contains(item: Any, container: Any) -> bool:
    if item is None:
        return False
    if isinstance(container, list | tuple):
        return any(_guarded(operator.eq)(item, element) for element in container)
    if isinstance(container, str) and isinstance(item, str):
        return item in container
    return False


def _lacks(item: Any, container: Any) -> bool:
    if item is None or not isinstance(container, list | tuple | str):
        return False
    if isinstance(container, str) and not isinstance(item, str):
        return False
    return not _contains(item, container)


# ---------------------------------------------------------------- functions


def _items(value: Any) -> list[Mapping[str, Any]]:
    if not isinstance(value, list | tuple):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def _count(items: Evaluator, per_item: Sequence[Evaluator]) -> Evaluator:
    def run(scope: Scope) -> Any:
        entries = _items(items(scope))
        if not per_item:
            return len(entries)
        condition = per_item[0]
        return sum(1 for entry in entries if is_true(condition(scope.for_item(entry))))

    return run


def _sum(items: Evaluator, per_item: Sequence[Evaluator]) -> Evaluator:
    def run(scope: Scope) -> Any:
        total: int | float = 0
        for entry in _items(items(scope)):
            amount = per_item[0](scope.for_item(entry))
            if _is_number(amount):
                total += amount
        return _finite(total)

    return run


def _any(items: Evaluator, per_item: Sequence[Evaluator]) -> Evaluator:
    return lambda scope: any(
        is_true(per_item[0](scope.for_item(entry))) for entry in _items(items(scope))
    )


def _all(items: Evaluator, per_item: Sequence[Evaluator]) -> Evaluator:
    return lambda scope: all(
        is_true(per_item[0](scope.for_item(entry))) for entry in _items(items(scope))
    )


_GROUP_CALLS: dict[str, Callable[[Evaluator, Sequence[Evaluator]], Evaluator]] = {
    "count": _count,
    "sum": _sum,
    "any": _any,
    "all": _all,
}


def as_date(value: Any) -> date | None:
    """A date from a date or an ISO string "YYYY-MM-DD"; anything else gives None."""
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            return None
    return None


def whole_years(born: date, on: date) -> int:
    """Age in whole years on a day (a birthday on 29 February counts from 1 March)."""
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _age(arguments: Sequence[Evaluator]) -> Evaluator:
    def run(scope: Scope) -> Any:
        born = as_date(arguments[0](scope))
        if born is None or scope.today is None:
            return None
        return whole_years(born, scope.today)

    return run


def _selected(arguments: Sequence[Evaluator]) -> Evaluator:
    def run(scope: Scope) -> Any:
        answer, option = arguments[0](scope), arguments[1](scope)
        if option is None:
            return False
        if isinstance(answer, list | tuple):
            return option in answer
        return answer is not None and answer == option

    return run


def _iif(arguments: Sequence[Evaluator]) -> Evaluator:
    condition, when_true, when_false = arguments
    return lambda scope: when_true(scope) if is_true(condition(scope)) else when_false(scope)


def _coalesce(arguments: Sequence[Evaluator]) -> Evaluator:
    def run(scope: Scope) -> Any:
        for argument in arguments:
            value = argument(scope)
            if value is not None and value != "":
                return value
        return None

    return run


def _len(arguments: Sequence[Evaluator]) -> Evaluator:
    def run(scope: Scope) -> Any:
        value = arguments[0](scope)
        if value is None:
            return 0
        if isinstance(value, str | list | tuple):
            return len(value)
        return None

    return run


def _extreme(pick: Callable[[Sequence[Any]], Any]) -> Callable[[Sequence[Evaluator]], Evaluator]:
    def build(arguments: Sequence[Evaluator]) -> Evaluator:
        def run(scope: Scope) -> Any:
            values = [argument(scope) for argument in arguments]
            if len(values) == 1 and isinstance(values[0], list | tuple):
                values = list(values[0])
            numbers = [value for value in values if _is_number(value)]
            return pick(numbers) if numbers else None

        return run

    return build


def _round(arguments: Sequence[Evaluator]) -> Evaluator:
    def run(scope: Scope) -> Any:
        value = arguments[0](scope)
        digits = arguments[1](scope) if len(arguments) > 1 else 0
        if not _is_number(value) or not isinstance(digits, int) or isinstance(digits, bool):
            return None
        if not -20 <= digits <= 20:
            return None
        return round(value) if len(arguments) == 1 else round(value, digits)

    return run


def _today(arguments: Sequence[Evaluator]) -> Evaluator:
    return lambda scope: scope.today.isoformat() if scope.today is not None else None


_CALLS: dict[str, Callable[[Sequence[Evaluator]], Evaluator]] = {
    "age": _age,
    "selected": _selected,
    "iif": _iif,
    "coalesce": _coalesce,
    "len": _len,
    "min": _extreme(min),
    "max": _extreme(max),
    "round": _round,
    "today": _today,
}
