"""The walk: one pass over a form with the answers so far, giving the relevant prompts in
order (the slots), what expressions see (irrelevant answers as None, calculations filled
in), the record of relevant answers, and the items of each repeat group.

A slot key is a question id ("water_source"), a repeat group id for its item list
("children"), or a question of one item ("children[0].school_status", 0-based).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from conversations.answers import item_label
from conversations.expressions import Scope, evaluate, is_true
from conversations.model import CheckState, Context, Form, Question

PREFILLED = "_prefilled"  # item key listing the fields copied from the roster (not asked)
MAX_ITEMS = 50


@dataclass(frozen=True)
class Slot:
    """One relevant prompt position."""

    key: str
    question: Question
    group: Question | None = None
    index: int | None = None
    answered: bool = False
    value: Any = None
    item_label: str | None = None


@dataclass
class Walk:
    slots: list[Slot] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    record: dict[str, Any] = field(default_factory=dict)
    items: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    effective_items: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    item_labels: dict[str, list[str]] = field(default_factory=dict)
    scope: Scope = field(default_factory=lambda: Scope({}))
    texts: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def slot(self, key: str) -> Slot | None:
        return next((slot for slot in self.slots if slot.key == key), None)

    def position(self, key: str) -> int:
        for number, slot in enumerate(self.slots, start=1):
            if slot.key == key:
                return number
        return 0

    def after(self, key: str) -> Slot | None:
        """The slot following `key`; the first unanswered one if `key` is gone."""
        position = self.position(key)
        if position == 0:
            return self.first_unanswered()
        return self.slots[position] if position < len(self.slots) else None

    def first_unanswered(self) -> Slot | None:
        return next((slot for slot in self.slots if not slot.answered), None)

    def scope_for(self, slot: Slot) -> Scope:
        """Where a slot's expressions are evaluated: its item, if it has one."""
        if slot.group is None or slot.index is None:
            return self.scope
        items = self.effective_items.get(slot.group.id, [])
        if 0 <= slot.index < len(items):
            return self.scope.for_item(items[slot.index])
        return self.scope


def parameters(form: Form, context: Context) -> dict[str, Any]:
    """The form's parameter defaults overlaid by the area's (Context.params)."""
    return {**form.params, **context.params}


def walk(form: Form, state: CheckState, context: Context) -> Walk:
    answers = state.answers if isinstance(state.answers, Mapping) else {}
    result = Walk(texts={**form.texts, **context.texts})
    result.scope = Scope(result.values, None, parameters(form, context), context.today)
    for question in form.questions:
        if not relevant(question, result.scope):
            result.values[question.id] = None
        elif question.type == "calculate":
            value = calculate(question, result.scope)
            result.values[question.id] = value
            result.record[question.id] = value
        elif question.type == "repeat":
            declared = form.rosters.get(question.source or "")
            _walk_group(result, question, answers, state.done_groups, context, declared)
        else:
            answered = question.id in answers
            value = answers.get(question.id) if answered else None
            result.values[question.id] = value
            if answered and question.type != "note":
                result.record[question.id] = value
            result.slots.append(Slot(question.id, question, answered=answered, value=value))
    return result


def relevant(question: Question, scope: Scope) -> bool:
    return question.relevant is None or is_true(evaluate(question.relevant, scope))


def calculate(question: Question, scope: Scope) -> Any:
    value = evaluate(question.calculation or "", scope)
    return jsonable(value)


def _walk_group(
    result: Walk,
    group: Question,
    answers: Mapping[str, Any],
    done_groups: tuple[str, ...],
    context: Context,
    declared: tuple[str, ...] | None,
) -> None:
    if group.id in answers:
        items = stored_items(answers.get(group.id))
    else:
        items = prefilled_items(group, result.scope, context, declared)
    result.items[group.id] = items
    result.slots.append(Slot(group.id, group, answered=group.id in done_groups, value=len(items)))
    effective: list[dict[str, Any]] = []
    recorded: list[dict[str, Any]] = []
    labels: list[str] = []
    for index, item in enumerate(items):
        values, record, slots = _walk_item(group, index, item, result.scope)
        label = item_label(group, values, result.scope, index)
        effective.append(values)
        recorded.append(record)
        labels.append(label)
        result.slots.extend(_labelled(slot, label) for slot in slots)
    result.values[group.id] = effective
    result.record[group.id] = recorded
    result.effective_items[group.id] = effective
    result.item_labels[group.id] = labels


def _labelled(slot: Slot, label: str) -> Slot:
    return Slot(slot.key, slot.question, slot.group, slot.index, slot.answered, slot.value, label)


def _walk_item(
    group: Question, index: int, item: Mapping[str, Any], scope: Scope
) -> tuple[dict[str, Any], dict[str, Any], list[Slot]]:
    prefilled = prefilled_fields(item)
    values = {key: value for key, value in item.items() if key != PREFILLED}
    for child in group.children:
        values[child.id] = None
    record = dict(values)
    for child in group.children:
        record.pop(child.id, None)
    slots: list[Slot] = []
    item_scope = scope.for_item(values)
    for child in group.children:
        if not relevant(child, item_scope):
            continue
        if child.type == "calculate":
            values[child.id] = record[child.id] = calculate(child, item_scope)
            continue
        answered = child.id in item
        value = item.get(child.id)
        values[child.id] = value
        if child.id in prefilled:
            record[child.id] = value
            continue
        if answered and child.type != "note":
            record[child.id] = value
        key = f"{group.id}[{index}].{child.id}"
        slots.append(Slot(key, child, group, index, answered, value))
    return values, record, slots


def prefilled_fields(item: Mapping[str, Any]) -> set[str]:
    listed = item.get(PREFILLED)
    if not isinstance(listed, list):
        return set()
    return {name for name in listed if isinstance(name, str) and item.get(name) is not None}


def stored_items(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        return []
    return [dict(item) for item in raw if isinstance(item, Mapping)]


def prefilled_items(
    group: Question, scope: Scope, context: Context, declared: tuple[str, ...] | None = None
) -> list[dict[str, Any]]:
    """A repeat group's items as the roster gives them, filtered by the group's filter.
    Only the roster fields the form declares are copied (when it declares any), so that
    e.g. ID numbers do not travel into check records."""
    roster = context.roster.get(group.source or "", ()) if group.source else ()
    children = {child.id for child in group.children}
    items: list[dict[str, Any]] = []
    for entry in roster if isinstance(roster, list | tuple) else ():
        if not isinstance(entry, Mapping):
            continue
        fields = {
            key: jsonable(value)
            for key, value in entry.items()
            if isinstance(key, str)
            and not key.startswith("_")
            and (declared is None or key in declared)
        }
        if group.filter and not is_true(evaluate(group.filter, scope.for_item(fields))):
            continue
        fields[PREFILLED] = sorted(k for k in fields if k in children and fields[k] is not None)
        items.append(fields)
        if len(items) >= MAX_ITEMS:
            break
    return items


def jsonable(value: Any) -> Any:
    """A value JSON can hold: dates as ISO strings, non-finite floats as None."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [jsonable(element) for element in value]
    if isinstance(value, Mapping):
        return {str(key): jsonable(element) for key, element in value.items()}
    return str(value)
