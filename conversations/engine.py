"""The questionnaire engine (问卷引擎), modelled on RapidPro's goflow: `start` and `step` take
a form, a check state and an input, and return the new state with the events for the
caller to act on (a Prompt to send, an Invalid to explain, a Summary, a Finished record).

Pure and deterministic: no clock (Context.today), no I/O, never raises on any input.
An input that does not fit gives Invalid and leaves the state as it was.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Mapping
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from conversations import messages as m
from conversations.answers import (
    NORMAL,
    choices_for_text,
    choices_of,
    display_value,
    label_in,
    parse_answer,
    stored_value_fits,
)
from conversations.expressions import Scope, evaluate, is_true
from conversations.model import (
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
    Labels,
    Pick,
    ProblemRule,
    Prompt,
    Question,
    RaisedProblem,
    Record,
    RemoveItem,
    Show,
    Skip,
    Submit,
    Summary,
    SummaryItem,
    Text,
)
from conversations.walk import MAX_ITEMS, PREFILLED, Slot, Walk, walk, walk_after

SUMMARY_KEY = "#summary"  # the cursor while the summary is shown; in history, "back to it"
HISTORY_LIMIT = 500

Outcome = tuple[CheckState, list[Event]]


def start(form: Form, context: Context) -> Outcome:
    """Begin a check: the state at the first relevant question and its Prompt."""
    state = CheckState(answers={}, cursor="")
    context = _plain_day(context)
    current = walk(form, state, context)
    first = current.first_unanswered()
    if first is None:
        return _to_summary(form, state, current)
    return _go(form, state, current, first.key, push=False)


def step(form: Form, state: CheckState, inp: Input, context: Context) -> Outcome:
    """Apply one input to a check."""
    return Position(form, state, context).step(inp)


class Position:
    """Where a check stands, walked once: what it shows (`shown`, the Prompt or Summary a
    caller needs to read a pressed button or to mend the transcript) and the outcome of one
    input (`step`) share the one walk of the form."""

    def __init__(self, form: Form, state: CheckState, context: Context) -> None:
        self.form = form
        self._context_given = context
        self.finished = state.phase == "finished"
        self.state = state if self.finished else _sanitised(state)
        self.context = _plain_day(context)
        self._current: Walk | None = None
        # A walk of another state of the check, to take over from when walking this one.
        self._earlier: Walk | None = None
        self._shown: tuple[Prompt | Summary | None] | None = None
        self._outcome: Outcome | None = None

    @property
    def current(self) -> Walk:
        if self._current is None:
            earlier, self._earlier = self._earlier, None
            if earlier is None:
                self._current = walk(self.form, self.state, self.context)
            else:
                self._current = walk_after(earlier, self.form, self.state, self.context)
        return self._current

    @property
    def shown(self) -> Prompt | Summary | None:
        """The prompt or summary the check stands at (what `Show` would answer)."""
        if self._shown is None:
            events = [] if self.finished else self._step(Show())[1]
            found = next((e for e in events if isinstance(e, Prompt | Summary)), None)
            self._shown = (found,)
        return self._shown[0]

    def following(self, state: CheckState) -> Position:
        """The position of `state`, the outcome of this position's last `step`: the walk
        the step made of it, and the prompt or summary it showed, are taken over, not made
        again (or, when the step changed the state after its walk, what that walk can give
        is taken over)."""
        if state is self.state:
            return self
        following = Position(self.form, state, self.context)
        if following.finished or following.state is not state or self._current is None:
            return following
        for made in (self._current, *self._current.made):
            if made.answers is state.answers and made.done_groups == state.done_groups:
                following._current = made
                break
        else:
            # The step changed the answers after its walk (entering a repeat group stores
            # its items): the walk it made is taken over from.
            following._earlier = (self._current.made or [self._current])[-1]
            return following
        if self._outcome is not None and self._outcome[0] is state:
            events = self._outcome[1]
            shown = next((e for e in reversed(events) if isinstance(e, Prompt | Summary)), None)
            if shown is not None:
                following._shown = (shown,)
        return following

    def step(self, inp: Input) -> Outcome:
        """Apply one input at this position."""
        outcome = self._step(inp)
        self._outcome = outcome
        return outcome

    def _step(self, inp: Input) -> Outcome:
        form, state, context = self.form, self.state, self.context
        if self.finished:
            return state, [Invalid(m.ALREADY_SUBMITTED)]
        current = self.current
        if state.phase == "summary":
            return _step_summary(form, state, current, inp, context)
        slot = current.slot(state.cursor)
        if slot is None:
            return _recover(form, state, current)
        return _step_asking(form, state, current, slot, inp, context)


class KeptPositions:
    """The positions checks stand at after their last step, by check, so that the next input
    of a check does not walk its form again: a position is handed out only for the very state
    it was kept with, as saved (compared as JSON, so that 1 and 1.0 differ) and read back
    as the position's state, the same form and an equal context. The oldest are dropped
    beyond `limit`."""

    def __init__(self, limit: int = 256) -> None:
        self.limit = limit
        self._kept: dict[Hashable, tuple[str, Position]] = {}

    def keep(
        self,
        check: Hashable,
        position: Position,
        saved: Mapping[str, Any],
        document: str | None = None,
    ) -> None:
        """Keep `position` for `check`, whose state was saved as `saved` (its JSON document,
        perhaps with the caller's own entries beside the state's); `document`: its
        `state_document`, when the caller made it already."""
        self._kept.pop(check, None)
        if document is None:
            document = state_document(saved)
        if document is None:
            return  # not JSON: never handed out
        self._kept[check] = (document, position)
        while len(self._kept) > self.limit:
            del self._kept[next(iter(self._kept))]

    def forget(self, check: Hashable) -> None:
        self._kept.pop(check, None)

    def position(
        self, check: Hashable, form: Form, saved: Mapping[str, Any], context: Context
    ) -> Position | None:
        """The position kept for `check` if it stands at this saved state, else None."""
        kept = self._kept.get(check)
        if kept is None:
            return None
        document, position = kept
        if position.form is not form or position._context_given != context:
            return None
        if state_document(saved) != document:
            return None
        # The state as read back from what was saved; one that does not read back as the
        # position's own (e.g. a tuple saved as a list) is not the position's.
        try:
            restored = CheckState.from_json(saved)
        except (TypeError, ValueError):
            return None
        return position if restored == position.state else None


def state_document(saved: Mapping[str, Any]) -> str | None:
    """`saved` as canonical JSON text: keys sorted, so that the order a database gives the
    keys back in does not matter; None when it is not JSON."""
    try:
        return json.dumps(saved, sort_keys=True, allow_nan=False, check_circular=False)
    except (TypeError, ValueError, RecursionError):
        return None


def _sanitised(state: CheckState) -> CheckState:
    """The state with its key lists holding only strings (a state restored from a damaged
    JSON document must not make the engine fail)."""
    lists = (state.history, state.pending, state.done_groups)
    if all(isinstance(entry, str) for entries in lists for entry in entries):
        return state
    return replace(
        state,
        history=tuple(key for key in state.history if isinstance(key, str)),
        pending=tuple(value for value in state.pending if isinstance(value, str)),
        done_groups=tuple(group for group in state.done_groups if isinstance(group, str)),
    )


def _plain_day(context: Context) -> Context:
    if isinstance(context.today, datetime):
        return replace(context, today=context.today.date())
    return context


# ---------------------------------------------------------------- asking


def _step_asking(
    form: Form, state: CheckState, current: Walk, slot: Slot, inp: Input, context: Context
) -> Outcome:
    if isinstance(inp, Show):
        return state, [_prompt(form, state, current, slot)]
    if isinstance(inp, Back):
        return _back(form, state, current)
    if isinstance(inp, Edit):
        return state, [Invalid(m.EDIT_FROM_SUMMARY)]
    if isinstance(inp, Submit):
        return state, [Invalid(m.ANSWER_REMAINING)]
    kind = slot.question.type
    if kind == "repeat":
        return _step_group(form, state, current, slot, inp, context)
    if isinstance(inp, Skip):
        if slot.question.required and kind != "note":
            return state, [Invalid(m.CANNOT_SKIP)]
        return _record_answer(form, state, current, slot, None, context)
    if kind == "note":
        if isinstance(inp, Done | Text | Pick):
            return _record_answer(form, state, current, slot, None, context)
        return state, [Invalid(m.NOTE_CONTINUE)]
    if kind == "select_many":
        return _step_select_many(form, state, current, slot, inp, context)
    result = parse_answer(slot.question, inp, context.today)
    if isinstance(result, Invalid):
        return state, [result]
    return _record_answer(form, state, current, slot, result.value, context)


def _step_select_many(
    form: Form, state: CheckState, current: Walk, slot: Slot, inp: Input, context: Context
) -> Outcome:
    choices = choices_of(slot.question)
    if isinstance(inp, Pick):
        if not any(choice.value == inp.value for choice in choices):
            return state, [Invalid(m.CHOOSE_BUTTON)]
        chosen = set(state.pending) ^ {inp.value}
        pending = tuple(choice.value for choice in choices if choice.value in chosen)
        toggled = replace(state, pending=pending)
        return toggled, [_prompt(form, toggled, current, slot)]
    if isinstance(inp, Done):
        selection = [choice.value for choice in choices if choice.value in state.pending]
    elif isinstance(inp, Text):
        typed = choices_for_text(choices, inp.text) if isinstance(inp.text, str) else None
        if typed is None:
            return state, [Invalid(m.TOGGLE_THEN_DONE)]
        selection = typed
    else:
        return state, [Invalid(m.TOGGLE_THEN_DONE)]
    if slot.question.required and not selection:
        return state, [Invalid(m.CHOOSE_AT_LEAST_ONE)]
    return _record_answer(form, state, current, slot, selection, context)


def _step_group(
    form: Form, state: CheckState, current: Walk, slot: Slot, inp: Input, context: Context
) -> Outcome:
    group = slot.question
    items = list(current.items.get(group.id, []))
    if isinstance(inp, AddItem):
        if len(items) >= MAX_ITEMS:
            return state, [Invalid(m.TOO_MANY_ITEMS, params={"max": MAX_ITEMS})]
        return _with_items(form, state, current, group, [*items, {}], context)
    if isinstance(inp, RemoveItem):
        index = inp.index
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(items):
            number = index + 1 if isinstance(index, int) else index
            return state, [Invalid(m.NO_SUCH_ITEM, params={"number": number})]
        remaining = items[:index] + items[index + 1 :]
        return _with_items(form, state, current, group, remaining, context)
    if isinstance(inp, Done):
        if len(items) < group.min_items:
            return state, [Invalid(m.TOO_FEW_ITEMS, params={"min": group.min_items})]
        answers = {**state.answers, group.id: items}
        done_groups = tuple(sorted({*state.done_groups, group.id}))
        confirmed = replace(state, answers=answers, done_groups=done_groups)
        return _advance(form, confirmed, _walk_from(current, form, confirmed, context), slot.key)
    if isinstance(inp, Skip):
        return state, [Invalid(m.CANNOT_SKIP)]
    return state, [Invalid(m.ITEM_BUTTONS)]


def _with_items(
    form: Form,
    state: CheckState,
    current: Walk,
    group: Question,
    items: list[dict[str, Any]],
    context: Context,
) -> Outcome:
    changed = replace(state, answers={**state.answers, group.id: items})
    after = _walk_from(current, form, changed, context)
    slot = after.slot(group.id)
    if slot is None:
        return _recover(form, changed, after)
    return changed, [_prompt(form, changed, after, slot)]


def _record_answer(
    form: Form, state: CheckState, current: Walk, slot: Slot, value: Any, context: Context
) -> Outcome:
    if value is not None and not _constraint_holds(slot, value, current):
        return state, [Invalid(labels=slot.question.constraint_message)]
    if slot.question.type == "all_normal" and value == NORMAL:
        # Walked already, for the prompt's preview of what "everything normal" gives.
        answers, after = _normal_walk(form, state, current, slot, context)
        return _advance(form, replace(state, answers=answers, pending=()), after, slot.key)
    answered = replace(state, answers=_with_answer(state, current, slot, value), pending=())
    return _advance(form, answered, _walk_from(current, form, answered, context), slot.key)


def _walk_from(current: Walk, form: Form, state: CheckState, context: Context) -> Walk:
    """The walk of `state`, which a step made from `current`'s state, taking over from
    `current` what the step cannot have changed; kept with `current`, so that the position
    of `state` takes it over (Position.following)."""
    made = walk_after(current, form, state, context)
    current.made.append(made)
    return made


def _normal_walk(
    form: Form, state: CheckState, current: Walk, slot: Slot, context: Context
) -> tuple[Mapping[str, Any], Walk]:
    """The answers of `state` (walked as `current`) with "everything normal" answered at the
    all_normal `slot`, and their walk: made once, for the prompt's preview and that answer."""
    kept = current.normal_walks.get(slot.key)
    if kept is not None and kept[0] is state.answers and kept[2].context is context:
        return kept[1], kept[2]
    answers = _with_answer(state, current, slot, NORMAL)
    made = _walk_from(current, form, replace(state, answers=answers), context)
    current.normal_walks[slot.key] = (state.answers, answers, made)
    return answers, made


def _constraint_holds(slot: Slot, value: Any, current: Walk) -> bool:
    constraint = slot.question.constraint
    if not constraint:
        return True
    return is_true(evaluate(constraint, current.scope_for(slot).with_value(value)))


def _with_answer(state: CheckState, current: Walk, slot: Slot, value: Any) -> dict[str, Any]:
    answers = dict(state.answers)
    if slot.group is None or slot.index is None:
        answers[slot.key] = value
        return answers
    items = list(current.items.get(slot.group.id, []))
    if 0 <= slot.index < len(items):
        items[slot.index] = {**items[slot.index], slot.question.id: value}
    answers[slot.group.id] = items
    return answers


def _advance(form: Form, state: CheckState, current: Walk, from_key: str) -> Outcome:
    """After an answer: the next prompt in order, or while editing from the summary the
    first question still unanswered (e.g. newly relevant), else the summary."""
    if state.return_to_summary:
        following = current.first_unanswered()
    else:
        following = current.after(from_key)
    if following is None:
        return _to_summary(form, state, current)
    return _go(form, state, current, following.key, push=True)


def _go(form: Form, state: CheckState, current: Walk, key: str, *, push: bool) -> Outcome:
    """Move the cursor to `key`; entering a repeat group stores its pre-filled items."""
    slot = current.slot(key)
    if slot is None:
        return _recover(form, state, current)
    history = state.history
    if push and state.cursor:
        history = (*history, state.cursor)[-HISTORY_LIMIT:]
    answers = state.answers
    if slot.question.type == "repeat" and key not in answers:
        answers = {**answers, key: current.items.get(key, [])}
    pending: tuple[str, ...] = ()
    if slot.question.type == "select_many":
        chosen = slot.value if slot.answered else slot.question.default
        if isinstance(chosen, list):
            pending = tuple(str(value) for value in chosen)
    moved = replace(
        state, answers=answers, cursor=key, phase="asking", history=history, pending=pending
    )
    return moved, [_prompt(form, moved, current, slot)]


def _back(form: Form, state: CheckState, current: Walk) -> Outcome:
    history = list(state.history)
    while history:
        key = history.pop()
        if key == SUMMARY_KEY:
            back = replace(state, history=tuple(history), return_to_summary=False)
            return _show_summary(form, back, current)
        if key != state.cursor and current.slot(key) is not None:
            return _go(form, replace(state, history=tuple(history)), current, key, push=False)
    return state, [Invalid(m.FIRST_QUESTION)]


def _recover(form: Form, state: CheckState, current: Walk) -> Outcome:
    """The cursor points nowhere (the form changed, an item was removed): resume at the
    first unanswered question, or the summary."""
    first = current.first_unanswered()
    if first is None:
        return _show_summary(form, state, current)
    return _go(form, state, current, first.key, push=False)


# ---------------------------------------------------------------- summary


def _to_summary(form: Form, state: CheckState, current: Walk) -> Outcome:
    history = state.history
    if state.return_to_summary:
        history = _before_last_summary(history)
    elif state.cursor and state.cursor != SUMMARY_KEY:
        history = (*history, state.cursor)[-HISTORY_LIMIT:]
    return _show_summary(form, replace(state, history=history, return_to_summary=False), current)


def _before_last_summary(history: tuple[str, ...]) -> tuple[str, ...]:
    for position in range(len(history) - 1, -1, -1):
        if history[position] == SUMMARY_KEY:
            return history[:position]
    return history


def _show_summary(form: Form, state: CheckState, current: Walk) -> Outcome:
    shown = replace(state, phase="summary", cursor=SUMMARY_KEY, pending=())
    return shown, [_summary(form, current)]


def _step_summary(
    form: Form, state: CheckState, current: Walk, inp: Input, context: Context
) -> Outcome:
    if isinstance(inp, Show):
        return state, [_summary(form, current)]
    if isinstance(inp, Back):
        return _back_from_summary(form, state, current)
    if isinstance(inp, Edit):
        slot = current.slot(inp.key) if isinstance(inp.key, str) else None
        if slot is None or not slot.answered or slot.question.type == "note":
            return state, [Invalid(m.CANNOT_EDIT)]
        return _go(form, replace(state, return_to_summary=True), current, slot.key, push=True)
    if isinstance(inp, Submit):
        return _submit(form, state, current, context)
    return state, [Invalid(m.SUMMARY_ACTIONS)]


def _back_from_summary(form: Form, state: CheckState, current: Walk) -> Outcome:
    history = list(state.history)
    while history:
        key = history.pop()
        if current.slot(key) is not None:
            return _go(form, replace(state, history=tuple(history)), current, key, push=False)
    if current.slots:
        return _go(form, replace(state, history=()), current, current.slots[-1].key, push=False)
    return state, [Invalid(m.FIRST_QUESTION)]


def _summary(form: Form, current: Walk) -> Summary:
    items: list[SummaryItem] = []
    for slot in current.slots:
        if not slot.answered or slot.question.type == "note":
            continue
        items.append(
            SummaryItem(
                key=slot.key,
                question_id=slot.question.id,
                labels=slot.question.labels,
                section=_section_labels(form, slot),
                value=slot.value,
                display=_display(form, current, slot),
                item_label=slot.item_label,
            )
        )
    return Summary(
        items=tuple(items),
        computed=_computed(form, current),
        problems=tuple(raise_problems(form, current)),
        confirmed_at_once=sum(
            1 for slot in current.slots if slot.answered and slot.normal_from is not None
        ),
    )


def _computed(form: Form, current: Walk) -> tuple[SummaryItem, ...]:
    """The calculated values worth showing before submitting, e.g. income per person."""
    return tuple(
        SummaryItem(
            key=question.id,
            question_id=question.id,
            labels=question.labels,
            section=next((s.labels for s in form.sections if s.id == question.section), {}),
            value=current.record[question.id],
            display={
                lang: display_value(form, question, current.record[question.id], lang)
                for lang in form.languages
            },
        )
        for question in form.questions
        if question.type == "calculate"
        and question.labels
        and current.record.get(question.id) is not None
    )


def _display(form: Form, current: Walk, slot: Slot) -> Labels:
    if slot.question.type != "repeat":
        return {
            lang: display_value(form, slot.question, slot.value, lang) for lang in form.languages
        }
    labels = current.item_labels.get(slot.key, [])
    return {
        lang: label_in(m.LIST_SEPARATOR, lang, form.languages).join(labels)
        or label_in(m.NO_ITEMS, lang, form.languages)
        for lang in form.languages
    }


# ---------------------------------------------------------------- submit


def _submit(form: Form, state: CheckState, current: Walk, context: Context) -> Outcome:
    for slot in current.slots:
        refusal = _slot_problem(slot, current, context)
        if refusal is not None:
            editing = replace(state, return_to_summary=True)
            moved, events = _go(form, editing, current, slot.key, push=True)
            return moved, [refusal, *events]
    raised = _raised(form, current)
    record = Record(
        form_id=form.id,
        form_version=form.version,
        answers=_clean_record(current.record),
        problems=tuple(problem for _, problem in raised),
        at_risk=any(rule.flags_risk for rule, _ in raised),
    )
    return replace(state, phase="finished", pending=()), [Finished(record)]


def _slot_problem(slot: Slot, current: Walk, context: Context) -> Invalid | None:
    """Why a slot does not pass at submit time (XLSForm-style re-validation), or None."""
    question = slot.question
    if not slot.answered:
        return Invalid(m.MUST_ANSWER)
    if question.type == "repeat":
        count = len(current.items.get(question.id, []))
        if count < question.min_items:
            return Invalid(m.TOO_FEW_ITEMS, params={"min": question.min_items})
        return None
    if question.type == "note":
        return None
    if slot.value is None:
        return Invalid(m.MUST_ANSWER) if question.required else None
    if not stored_value_fits(question, slot.value, context.today):
        return Invalid(m.MUST_ANSWER)
    if question.type == "select_many" and question.required and not slot.value:
        return Invalid(m.CHOOSE_AT_LEAST_ONE)
    if not _constraint_holds(slot, slot.value, current):
        return Invalid(labels=question.constraint_message)
    return None


def _clean_record(record: dict[str, Any]) -> dict[str, Any]:
    """The record without the engine's bookkeeping inside repeat items."""
    cleaned: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, list) and all(isinstance(item, dict) for item in value):
            value = [{k: v for k, v in item.items() if k != PREFILLED} for item in value]
        cleaned[key] = value
    return cleaned


def raise_problems(form: Form, current: Walk) -> list[RaisedProblem]:
    """The rectification problems (问题台账 entries) the rules raise on a walk's answers;
    `{subject}` in a rule's texts is replaced by the repeat item's label."""
    return [problem for _, problem in _raised(form, current)]


def _raised(form: Form, current: Walk) -> list[tuple[ProblemRule, RaisedProblem]]:
    raised: list[tuple[ProblemRule, RaisedProblem]] = []
    for rule in form.rules:
        for subject, scope in _subjects(rule, current):
            problem = RaisedProblem(
                rule_id=rule.id,
                category=rule.category,
                text=_filled(rule.text, subject, current.texts),
                goal=_filled(rule.goal, subject, current.texts),
                measures=_filled(rule.measures, subject, current.texts),
                responsible_unit=rule.responsible_unit,
                deadline_days=rule.deadline_days,
                deadline_tier=rule.deadline_tier,
                subject=subject,
                deadline_date=_deadline_date(rule, scope),
            )
            raised.append((rule, problem))
    return raised


def _subjects(rule: ProblemRule, current: Walk) -> list[tuple[str | None, Scope]]:
    """(None, the household's scope) once for a household-level rule that holds; each
    matching item's label and scope for an `each` rule."""
    if rule.each is None:
        return [(None, current.scope)] if is_true(evaluate(rule.when, current.scope)) else []
    items = current.effective_items.get(rule.each, [])
    labels = current.item_labels.get(rule.each, [])
    subjects: list[tuple[str | None, Scope]] = []
    for index, item in enumerate(items):
        scope = current.scope.for_item(item)
        if is_true(evaluate(rule.when, scope)):
            subjects.append((labels[index] if index < len(labels) else f"#{index + 1}", scope))
    return subjects


def _deadline_date(rule: ProblemRule, scope: Scope) -> str | None:
    if not rule.deadline:
        return None
    value = evaluate(rule.deadline, scope)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            return None
    return None


def _filled(labels: Labels, subject: str | None, texts: Mapping[str, Labels]) -> dict[str, str]:
    """A rule's text with `{subject}` (the repeat item) and the form's named texts filled."""
    filled: dict[str, str] = {}
    for lang, text in labels.items():
        text = text.replace("{subject}", subject or "")
        for name, named in texts.items():
            wording = named.get(lang) or next(iter(named.values()), "")
            text = text.replace("{" + name + "}", wording)
        filled[lang] = text
    return filled


# ---------------------------------------------------------------- prompts


def _prompt(form: Form, state: CheckState, current: Walk, slot: Slot) -> Prompt:
    question = slot.question
    items: tuple[ItemView, ...] = ()
    if question.type == "repeat":
        labels = current.item_labels.get(question.id, [])
        items = tuple(ItemView(index, label) for index, label in enumerate(labels))
    current_value = None
    if question.type not in ("repeat", "note", "all_normal"):
        current_value = slot.value if slot.answered else question.default
    hint = question.hint
    if question.hint_relevant and not is_true(
        evaluate(question.hint_relevant, current.scope_for(slot))
    ):
        hint = {}
    number, count = _section_place(current, slot)
    return Prompt(
        key=slot.key,
        question_id=question.id,
        kind=question.type,
        labels=question.labels,
        section=_section_labels(form, slot),
        position=current.position(slot.key),
        total=len(current.slots),
        choices=choices_of(question) if question.type in _CHOICE_TYPES else (),
        selected=state.pending if question.type == "select_many" else (),
        can_back=bool(state.history),
        can_skip=not question.required and question.type not in ("repeat", "note"),
        hint=hint,
        item_label=slot.item_label,
        items=items,
        current=current_value,
        preview=_normal_preview(form, state, current, slot),
        section_number=number,
        section_count=count,
        editing=state.return_to_summary,
    )


_CHOICE_TYPES = ("yes_no", "select_one", "select_many", "all_normal")


def _section_of(slot: Slot) -> str:
    return slot.question.section or (slot.group.section if slot.group else "")


def _section_place(current: Walk, slot: Slot) -> tuple[int, int]:
    """The slot's section's place among the sections this check asks, and how many there
    are: progress that does not grow as answers reveal more questions."""
    asked: list[str] = []
    for each in current.slots:
        section = _section_of(each)
        if section not in asked:
            asked.append(section)
    section = _section_of(slot)
    return (asked.index(section) + 1 if section in asked else 0), len(asked)


def _normal_preview(
    form: Form, state: CheckState, current: Walk, slot: Slot
) -> tuple[SummaryItem, ...]:
    """For an `all_normal` question: the answers "everything normal" would give."""
    if slot.question.type != "all_normal" or current.context is None:
        return ()
    _, after = _normal_walk(form, state, current, slot, current.context)
    return tuple(
        SummaryItem(
            key=other.key,
            question_id=other.question.id,
            labels=other.question.labels,
            section=_section_labels(form, other),
            value=other.value,
            display=_display(form, after, other),
            item_label=other.item_label,
        )
        for other in after.slots
        if other.normal_from == slot.key
    )


def _section_labels(form: Form, slot: Slot) -> Labels:
    section_id = slot.question.section or (slot.group.section if slot.group else "")
    for section in form.sections:
        if section.id == section_id:
            return section.labels
    return {}
