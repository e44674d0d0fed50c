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
from itertools import islice
from typing import Any

from conversations.answers import (
    NORMAL,
    choice_for_text,
    choices_for_text,
    choices_of,
    item_label,
    stored_value_fits,
)
from conversations.expressions import Scope, evaluate, is_true
from conversations.model import CheckState, Choice, Context, Form, Question

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
    # The key of the `all_normal` question whose "everything normal" gave this answer; such
    # a slot is answered but never asked (unless chosen from the summary).
    normal_from: str | None = None


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
    context: Context | None = None
    # What it was walked from: a state's answers (the object itself) and confirmed groups.
    answers: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)
    done_groups: tuple[str, ...] = field(default=(), compare=False, repr=False)
    # Walks of states a step made from this one, kept so that a state is walked once: for
    # its prompt's preview, its answer and its own position. `normal_walks`, by an
    # all_normal slot's key: the answers "everything normal" there was added to, the answers
    # with it, and their walk.
    made: list[Walk] = field(default_factory=list, compare=False, repr=False)
    normal_walks: dict[str, tuple[Mapping[str, Any], Mapping[str, Any], Walk]] = field(
        default_factory=dict, compare=False, repr=False
    )
    # What `walk_after` takes over from: the form walked; before each top-level question (and
    # after the last) the numbers of slots, records and repeat groups so far and the
    # all_normal shortcut in force; where each repeat item's slots begin, by group.
    form: Form | None = field(default=None, compare=False, repr=False)
    marks: list[tuple[int, int, int, str | None, str | None]] = field(
        default_factory=list, compare=False, repr=False
    )
    item_starts: dict[str, tuple[int, ...]] = field(default_factory=dict, compare=False, repr=False)

    def slot(self, key: str) -> Slot | None:
        return next((slot for slot in self.slots if slot.key == key), None)

    def position(self, key: str) -> int:
        for number, slot in enumerate(self.slots, start=1):
            if slot.key == key:
                return number
        return 0

    def after(self, key: str) -> Slot | None:
        """The slot following `key`, passing over answers "everything normal" gave; the
        first unanswered one if `key` is gone."""
        position = self.position(key)
        if position == 0:
            return self.first_unanswered()
        return next((slot for slot in self.slots[position:] if slot.normal_from is None), None)

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
    result = _begun(form, state, context)
    _walk_questions(result, form, state, context, 0, _Shortcut(), None)
    return result


def walk_after(previous: Walk, form: Form, state: CheckState, context: Context) -> Walk:
    """The walk of `state`, equal to `walk(form, state, context)`, made from `previous`, a walk
    of the same form and context: the questions before the first one whose answer (or
    confirmation) is not the very same are taken over from it, since a question's walk reads
    only its own answer and what the questions before it gave. When that first question is
    a repeat group, the items that are the very items `previous` walked there are taken
    over too: an item's walk reads only the item and what the questions before the group
    gave."""
    start = _first_changed(previous, form, state, context)
    if start == 0:
        return walk(form, state, context)
    result = _begun(form, state, context)
    slots, records, groups, key, section = previous.marks[start]
    result.slots = previous.slots[:slots]
    result.values.update(islice(previous.values.items(), start))
    result.record.update(islice(previous.record.items(), records))
    result.items.update(islice(previous.items.items(), groups))
    result.effective_items.update(islice(previous.effective_items.items(), groups))
    result.item_labels.update(islice(previous.item_labels.items(), groups))
    result.item_starts.update(islice(previous.item_starts.items(), groups))
    result.marks = previous.marks[:start]
    _walk_questions(result, form, state, context, start, _Shortcut(key, section), previous)
    return result


def _first_changed(previous: Walk, form: Form, state: CheckState, context: Context) -> int:
    """The index of the first top-level question whose walk may differ from `previous`'s;
    0 when nothing can be taken over."""
    questions = form.questions
    if (
        previous.form is not form
        or previous.context is not context
        or len(previous.marks) != len(questions) + 1
        or len({question.id for question in questions}) != len(questions)
    ):
        return 0
    old = previous.answers if isinstance(previous.answers, Mapping) else {}
    new = state.answers if isinstance(state.answers, Mapping) else {}
    old_done, new_done = previous.done_groups, state.done_groups
    for index, question in enumerate(questions):
        if question.type == "calculate":
            continue  # reads no answer of its own
        key = question.id
        if (key in old) != (key in new) or old.get(key) is not new.get(key):
            return index
        if question.type == "repeat" and (key in old_done) != (key in new_done):
            return index
    return len(questions)


def _begun(form: Form, state: CheckState, context: Context) -> Walk:
    result = Walk(
        texts={**form.texts, **context.texts},
        context=context,
        answers=state.answers,
        done_groups=state.done_groups,
        form=form,
    )
    household = context.household if isinstance(context.household, Mapping) else {}
    result.scope = Scope(
        result.values, None, parameters(form, context), context.today, household=household
    )
    return result


def _walk_questions(
    result: Walk,
    form: Form,
    state: CheckState,
    context: Context,
    start: int,
    shortcut: _Shortcut,
    previous: Walk | None,
) -> None:
    """Walk the form's questions from the one at `start` on, `result` holding the walk of
    those before it; `previous` is a walk whose items of the group at `start` (if it is one)
    may be taken over."""
    answers = state.answers if isinstance(state.answers, Mapping) else {}
    marks = result.marks
    for index in range(start, len(form.questions)):
        question = form.questions[index]
        marks.append(
            (
                len(result.slots),
                len(result.record),
                len(result.items),
                shortcut.key,
                shortcut.section,
            )
        )
        shortcut.leave_section(question.section)
        if not relevant(question, result.scope):
            result.values[question.id] = None
        elif question.type == "calculate":
            value = calculate(question, result.scope)
            result.values[question.id] = value
            result.record[question.id] = value
        elif question.type == "repeat":
            declared = form.rosters.get(question.source or "")
            walked = previous if index == start else None
            _walk_group(result, question, answers, state.done_groups, context, declared, walked)
        else:
            answered = question.id in answers
            value = answers.get(question.id) if answered else None
            normal_from = None
            if not answered and shortcut.key is not None:
                value = normal_answer(question, result.scope)
                answered, normal_from = (
                    value is not None,
                    shortcut.key if value is not None else None,
                )
            result.values[question.id] = value
            if answered and question.type != "note":
                result.record[question.id] = value
            result.slots.append(
                Slot(question.id, question, answered=answered, value=value, normal_from=normal_from)
            )
            shortcut.passed(question, question.id, value, question.section)
    marks.append(
        (len(result.slots), len(result.record), len(result.items), shortcut.key, shortcut.section)
    )


@dataclass
class _Shortcut:
    """The `all_normal` question in force: its key while its answer is "normal", until the
    next one or, at the top level, the end of its section."""

    key: str | None = None
    section: str | None = None

    def leave_section(self, section: str) -> None:
        if self.key is not None and section != self.section:
            self.key = None

    def passed(self, question: Question, key: str, value: Any, section: str | None) -> None:
        if question.type == "all_normal":
            self.key = key if value == NORMAL else None
            self.section = section


def _choice_named_before_a_note(choices: tuple[Choice, ...], words: str) -> str | None:
    """The one choice whose label is `words` followed by a note in brackets: the roster's
    "初中二年级" is the choice "初中二年级（八年级）"."""
    words = words.strip()
    found = {
        choice.value
        for choice in choices
        for label in choice.labels.values()
        if words and label.startswith(words) and label[len(words) : len(words) + 1] in ("（", "(")
    }
    return found.pop() if len(found) == 1 else None


def normal_answer(question: Question, scope: Scope) -> Any:
    """The answer "everything normal" gives a question: its `normal` expression's value,
    read as an answer (a choice's words, e.g. the roster's "长期慢性病（高血压）", count as
    that choice), or None when it gives nothing the question accepts."""
    if not question.normal or question.type in ("repeat", "calculate", "note", "all_normal"):
        return None
    raw = jsonable(evaluate(question.normal, scope))
    choices = choices_of(question)
    if question.type in ("yes_no", "select_one") and isinstance(raw, str):
        if not any(choice.value == raw for choice in choices):
            raw = choice_for_text(choices, raw) or _choice_named_before_a_note(choices, raw)
    elif question.type == "select_many" and isinstance(raw, str):
        raw = choices_for_text(choices, raw)
    today = scope.today or date.min
    if raw is None or not stored_value_fits(question, raw, today):
        return None
    if question.constraint and not is_true(evaluate(question.constraint, scope.with_value(raw))):
        return None
    return raw


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
    previous: Walk | None = None,
) -> None:
    given: list[Mapping[str, Any]] = []
    if group.id in answers:
        given = _given_items(answers.get(group.id))
        items = [dict(item) for item in given]
    else:
        items = prefilled_items(group, result.scope, context, declared)
    result.items[group.id] = items
    result.slots.append(Slot(group.id, group, answered=group.id in done_groups, value=len(items)))
    walked = _walked_items(previous, group.id) if given else None
    effective: list[dict[str, Any]] = []
    recorded: list[dict[str, Any]] = []
    labels: list[str] = []
    starts = [len(result.slots)]
    for index, item in enumerate(items):
        if walked is not None and index < len(walked[0]) and given[index] is walked[0][index]:
            # The very item walked before, in the same place and scope: its walk is the same.
            _, starts_before, values_before, records_before, labels_before, slots_before = walked
            effective.append(values_before[index])
            recorded.append(records_before[index])
            labels.append(labels_before[index])
            result.slots.extend(slots_before[starts_before[index] : starts_before[index + 1]])
            starts.append(len(result.slots))
            continue
        values, record, asked = _walk_item(group, index, item, result.scope)
        label = item_label(group, values, result.scope, index)
        effective.append(values)
        recorded.append(record)
        labels.append(label)
        result.slots.extend(
            Slot(key, child, group, index, answered, value, label, normal_from)
            for key, child, answered, value, normal_from in asked
        )
        starts.append(len(result.slots))
    result.values[group.id] = effective
    result.record[group.id] = recorded
    result.effective_items[group.id] = effective
    result.item_labels[group.id] = labels
    result.item_starts[group.id] = tuple(starts)


# A group's walk in an earlier walk: its items, where each item's slots begin (and the last
# ends), the items' values, records and labels, and that walk's slots.
_WalkedItems = tuple[
    list[dict[str, Any]],
    tuple[int, ...],
    list[dict[str, Any]],
    list[dict[str, Any]],
    list[str],
    list[Slot],
]


def _walked_items(previous: Walk | None, group_id: str) -> _WalkedItems | None:
    if previous is None or group_id not in previous.item_starts:
        return None
    return (
        previous.items[group_id],
        previous.item_starts[group_id],
        previous.effective_items[group_id],
        previous.record[group_id],
        previous.item_labels[group_id],
        previous.slots,
    )


# One prompt of a repeat item, before the item's label is known: its key, question, whether
# it is answered, its value and the all_normal question that gave it.
_Asked = tuple[str, Question, bool, Any, str | None]


def _walk_item(
    group: Question, index: int, item: Mapping[str, Any], scope: Scope
) -> tuple[dict[str, Any], dict[str, Any], list[_Asked]]:
    prefilled = prefilled_fields(item)
    values = {key: value for key, value in item.items() if key != PREFILLED}
    for child in group.children:
        values[child.id] = None
    record = dict(values)
    for child in group.children:
        record.pop(child.id, None)
    asked: list[_Asked] = []
    item_scope = scope.for_item(values)
    shortcut = _Shortcut()
    for child in group.children:
        if not relevant(child, item_scope):
            continue
        if child.type == "calculate":
            values[child.id] = record[child.id] = calculate(child, item_scope)
            continue
        answered = child.id in item
        value = item.get(child.id)
        key = f"{group.id}[{index}].{child.id}"
        normal_from = None
        if not answered and shortcut.key is not None and child.id not in prefilled:
            value = normal_answer(child, item_scope)
            answered, normal_from = value is not None, shortcut.key if value is not None else None
        values[child.id] = value
        if child.id in prefilled:
            record[child.id] = value
            continue
        if answered and child.type != "note":
            record[child.id] = value
        asked.append((key, child, answered, value, normal_from))
        shortcut.passed(child, key, value, None)
    return values, record, asked


def prefilled_fields(item: Mapping[str, Any]) -> set[str]:
    listed = item.get(PREFILLED)
    if not isinstance(listed, list):
        return set()
    return {name for name in listed if isinstance(name, str) and item.get(name) is not None}


def stored_items(raw: Any) -> list[dict[str, Any]]:
    return [dict(item) for item in _given_items(raw)]


def _given_items(raw: Any) -> list[Mapping[str, Any]]:
    if not isinstance(raw, list):
        return []
    return [item for item in raw if isinstance(item, Mapping)]


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
