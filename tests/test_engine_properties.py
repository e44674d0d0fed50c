"""Properties of the questionnaire engine under random input sequences (hypothesis): it
never raises, a refused input changes nothing, the state always survives JSON, and every
finished record satisfies the form, checked here independently of the engine."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

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
    KeptPositions,
    Location,
    Photo,
    Pick,
    Position,
    Prompt,
    Question,
    Record,
    RemoveItem,
    Show,
    Skip,
    Submit,
    Summary,
    Text,
    load_form,
    start,
    step,
)
from conversations.expressions import Scope, compile_expression
from conversations.walk import Walk, walk, walk_after

FORM = load_form(FORMS_DIRECTORY / "household_check.toml")
TODAY = date(2024, 5, 1)
MEMBERS = (
    {
        "member_id": "m1",
        "name": "王建国",
        "relation": "户主",
        "birth_date": "1975-04-02",
        "sex": "男",
    },
    {
        "member_id": "m2",
        "name": "王小明",
        "relation": "之子",
        "birth_date": "2013-06-01",
        "sex": "男",
    },
    {
        "member_id": "m3",
        "name": "王小红",
        "relation": "之女",
        "birth_date": "2016-02-29",
        "sex": "女",
    },
)
ODD_MEMBERS: tuple[Any, ...] = (
    {"member_id": "m9", "name": "", "birth_date": None},
    {"member_id": "m8", "name": "无生日"},
    "not a member",
    {"member_id": "m7", "name": "日期对象", "birth_date": date(2012, 1, 1), "extra": object()},
)
CONTEXTS = [
    Context(TODAY, {}, {"members": MEMBERS}),
    Context(TODAY, {"water_scarce": 1, "school_age_max": 16}, {"members": MEMBERS[:1]}),
    Context(TODAY, {}, {}),
    Context(TODAY, {"monitoring_line": 8700}, {"members": (*MEMBERS, *ODD_MEMBERS)}),
]
WORDS = ["1", "2", "3", "是", "否", "没有", "yes", "n", "12", "１２", "3.5", "3,5", "1,234", "-7"]
WORDS += ["2015-03-08", "2015年3月8日", "20150308", "2030-01-01", "abc", " ", "", "因病、因残"]
KEYS = ["visit_type", "children", "members", "children[0].school_status", "members[0].health"]
KEYS += ["members[9].health", "water_lpd", "#summary", "income_per_person", ""]


def any_input() -> st.SearchStrategy[Any]:
    """Inputs of every type, most of them wrong for wherever the check stands."""
    numbers = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-1000, 1000)
    return st.one_of(
        st.builds(Text, st.sampled_from(WORDS) | st.text(max_size=12)),
        st.builds(
            Pick, st.sampled_from(["yes", "no", "A", "C", "illness", "x"]) | st.text(max_size=6)
        ),
        st.just(Done()),
        st.builds(Photo, st.sampled_from(["", "file"]) | st.text(max_size=4)),
        st.builds(Location, numbers, numbers),
        st.just(Back()),
        st.just(Skip()),
        st.builds(Edit, st.sampled_from(KEYS) | st.text(max_size=8)),
        st.just(AddItem()),
        st.builds(RemoveItem, st.integers(-2, 6)),
        st.just(Submit()),
        st.just(Show()),
    )


Draw = Callable[..., Any]


def fitting_input(draw: Draw, event: Event) -> Input:
    """An input that looks like a real answer to the prompt (or the summary) on screen."""
    if isinstance(event, Summary):
        keys = [item.key for item in event.items] or ["visit_type"]
        return draw(
            st.sampled_from([Submit(), Submit(), Submit(), Back()])
            | st.builds(Edit, st.sampled_from(keys))
        )
    if not isinstance(event, Prompt):
        return draw(any_input())
    kind = event.kind
    if kind in ("yes_no", "select_one"):
        values = [choice.value for choice in event.choices]
        numbers = [str(n) for n in range(1, len(values) + 1)]
        return draw(
            st.builds(Pick, st.sampled_from(values)) | st.builds(Text, st.sampled_from(numbers))
        )
    if kind == "select_many":
        values = [choice.value for choice in event.choices]
        return draw(st.builds(Pick, st.sampled_from(values)) | st.just(Done()))
    if kind == "integer":
        return Text(str(draw(st.integers(-5, 30_000))))
    if kind == "decimal":
        return Text(str(draw(st.floats(0, 500, allow_nan=False).map(lambda x: round(x, 2)))))
    if kind == "text":
        return Text(draw(st.text(min_size=1, max_size=10)))
    if kind == "date":
        return Text(draw(st.dates(date(1940, 1, 1), TODAY + timedelta(days=3))).isoformat())
    if kind == "photo":
        return draw(st.sampled_from([Photo("photo-id"), Skip()]))
    if kind == "location":
        return Location(draw(st.floats(-90, 90)), draw(st.floats(-180, 180)))
    if kind == "repeat":
        return draw(st.sampled_from([Done(), Done(), Done(), AddItem(), RemoveItem(0)]))
    return Done()


def answering_input(draw: Draw, event: Event) -> Input:
    """A fitting input that also answers "everything normal" questions, by button."""
    if isinstance(event, Prompt) and event.kind == "all_normal":
        return Pick(draw(st.sampled_from([choice.value for choice in event.choices])))
    return fitting_input(draw, event)


def check_json(state: CheckState) -> None:
    text = json.dumps(state.to_json(), allow_nan=False)
    assert CheckState.from_json(json.loads(text)) == state


def check_events(events: list[Event]) -> None:
    assert events
    for emitted in events:
        assert isinstance(emitted, Prompt | Invalid | Summary | Finished)
        if isinstance(emitted, Prompt):
            assert 1 <= emitted.position <= emitted.total


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data(), context=st.sampled_from(CONTEXTS), fitting=st.floats(0.55, 0.97))
def test_random_inputs_never_break_a_check(
    data: st.DataObject, context: Context, fitting: float
) -> None:
    state, events = start(FORM, context)
    check_json(state)
    check_events(events)
    shown: Event = events[-1]
    for _ in range(110):
        if data.draw(st.floats(0, 1)) < fitting:
            inp = fitting_input(data.draw, shown)
        else:
            inp = data.draw(any_input())
        before = state
        state, events = step(FORM, state, inp, context)
        check_json(state)
        check_events(events)
        if len(events) == 1 and isinstance(events[0], Invalid):
            assert state == before
        for emitted in events:
            if isinstance(emitted, Finished):
                check_record(FORM, emitted.record, context)
        if state.phase == "finished":
            event("finished")
            return
        shown = (
            next(e for e in reversed(events) if not isinstance(e, Invalid))
            if any(not isinstance(e, Invalid) for e in events)
            else shown
        )


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), context=st.sampled_from(CONTEXTS))
def test_answering_what_is_asked_always_reaches_a_valid_record(
    data: st.DataObject, context: Context
) -> None:
    state, events = start(FORM, context)
    for _ in range(400):
        shown = events[-1]
        state, events = step(FORM, state, fitting_input(data.draw, shown), context)
        check_json(state)
        if isinstance(events[0], Finished):
            check_record(FORM, events[0].record, context)
            return
        if isinstance(events[-1], Invalid):
            events = [shown]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), context=st.sampled_from(CONTEXTS), fitting=st.floats(0.55, 0.97))
def test_a_kept_position_steps_as_the_saved_state_would(
    data: st.DataObject, context: Context, fitting: float
) -> None:
    """The check desk keeps the position after each step and starts the next one from it;
    that must show and do exactly what a position made afresh from the saved state does."""
    kept = KeptPositions()
    state, events = start(FORM, context)
    saved = json.loads(json.dumps(state.to_json()))
    shown: Event = events[-1]
    for _ in range(110):
        loaded = CheckState.from_json(saved)
        fresh = Position(FORM, loaded, context)
        found = kept.position("check", FORM, saved, context)
        event("taken over" if found is not None else "made afresh")
        position = found or Position(FORM, loaded, context)
        assert position.state == fresh.state
        assert position.shown == fresh.shown
        if data.draw(st.floats(0, 1)) < fitting:
            inp = fitting_input(data.draw, shown)
        else:
            inp = data.draw(any_input())
        state, events = position.step(inp)
        assert (state, events) == fresh.step(inp)
        check_walks(position.current)
        check_walks(fresh.current)
        if state.phase == "finished":
            return
        kept.keep("check", position.following(state), state.to_json())
        saved = json.loads(json.dumps(state.to_json()))
        if any(not isinstance(e, Invalid) for e in events):
            shown = next(e for e in reversed(events) if not isinstance(e, Invalid))


def walk_view(made: Walk) -> str:
    """Everything a walk holds that a step reads, as text that tells 1, 1.0 and True apart
    and keeps the order of every list and mapping (the form's questions and the context are
    compared as they are)."""
    slots = [
        (
            slot.key,
            slot.question.id,
            slot.group.id if slot.group else None,
            slot.index,
            slot.answered,
            slot.value,
            slot.item_label,
            slot.normal_from,
        )
        for slot in made.slots
    ]
    return repr(
        (
            slots,
            made.values,
            made.record,
            made.items,
            made.effective_items,
            made.item_labels,
            made.scope.params,
            made.scope.household,
            made.texts,
            made.marks,
            made.item_starts,
            made.given_items,
        )
    )


def check_walks(current: Walk) -> None:
    """`current` and every walk a step made from it, taking over what they could, are the
    walks of their states made from scratch."""
    assert current.context is not None
    for made in (current, *current.made):
        assert isinstance(made.answers, Mapping)
        state = CheckState(made.answers, "", done_groups=made.done_groups)
        fresh = walk(FORM, state, current.context)
        assert walk_view(made) == walk_view(fresh)
        assert made == fresh and made.context is fresh.context


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data(), context=st.sampled_from(CONTEXTS), fitting=st.floats(0.6, 1.0))
def test_a_walk_taken_over_from_the_last_one_equals_a_fresh_walk(
    data: st.DataObject, context: Context, fitting: float
) -> None:
    """After each input the new state's walk takes over from the last state's walk what
    cannot have changed: across answers, "everything normal", repeat items added, removed
    and answered, back, skip and edits from the summary, it is the walk made from scratch."""
    state, events = start(FORM, context)
    position = Position(FORM, state, context)
    shown: Event = events[-1]
    for _ in range(150):
        if data.draw(st.floats(0, 1)) < fitting:
            inp = answering_input(data.draw, shown)
        else:
            inp = data.draw(
                st.sampled_from([Back(), Skip(), Show(), AddItem(), RemoveItem(1), Done()])
                | any_input()
            )
        state, events = position.step(inp)
        check_walks(position.current)
        if state.phase == "finished":
            event("finished")
            return
        position = position.following(state)
        if any(not isinstance(e, Invalid) for e in events):
            shown = next(e for e in reversed(events) if not isinstance(e, Invalid))


TOP_IDS = [question.id for question in FORM.questions]
CHILD_IDS = sorted({child.id for q in FORM.questions for child in q.children})
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=False)
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
ITEMS = st.lists(
    st.dictionaries(st.sampled_from([*CHILD_IDS, "_prefilled", "member_id"]), JSON_VALUES)
    | JSON_VALUES,
    max_size=3,
)
DAMAGED_STATES = st.fixed_dictionaries(
    {
        "answers": st.dictionaries(st.sampled_from(TOP_IDS), JSON_VALUES | ITEMS, max_size=12),
        "cursor": st.sampled_from([*KEYS, *TOP_IDS, "children[0].name", "members[1].health"]),
        "phase": st.sampled_from(["asking", "summary", "finished", "lost"]),
        "history": st.lists(st.sampled_from([*KEYS, *TOP_IDS]) | JSON_VALUES, max_size=4),
        "pending": st.lists(st.sampled_from(["illness", "other"]) | JSON_VALUES, max_size=3),
        "done_groups": st.lists(st.sampled_from(["children", "members"]) | JSON_VALUES, max_size=3),
        "return_to_summary": st.booleans(),
    }
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    saved=DAMAGED_STATES,
    inputs=st.lists(any_input(), min_size=1, max_size=6),
    context=st.sampled_from(CONTEXTS),
)
def test_a_damaged_saved_state_never_breaks_the_engine(
    saved: dict[str, Any], inputs: list[Input], context: Context
) -> None:
    state = CheckState.from_json(saved)
    for inp in inputs:
        state, events = step(FORM, state, inp, context)
        check_events(events)
        json.dumps(state.to_json())
        for emitted in events:
            if isinstance(emitted, Finished):
                check_record(FORM, emitted.record, context)


# ---------------------------------------------------------------- independent re-validation


def check_record(form: Form, record: Record, context: Context) -> None:
    """Every relevant question is answered, required ones not skipped, each value fits its
    question and its constraint; irrelevant questions are absent. Written apart from the
    engine, from the form definition and the expression language only."""
    json.dumps(record.answers, allow_nan=False)
    params = {**form.params, **context.params}
    answers = record.answers
    scope = Scope(answers, params=params, today=context.today)
    for question in form.questions:
        relevant = _holds(question.relevant, scope)
        if not relevant:
            assert question.id not in answers, question.id
            continue
        if question.type == "calculate":
            assert question.id in answers
            continue
        if question.type == "repeat":
            items = answers[question.id]
            assert isinstance(items, list) and len(items) >= question.min_items
            roster_fields = set(form.rosters.get(question.source or "", ()))
            for item in items:
                _check_item(question, item, scope, roster_fields)
            continue
        if question.type == "note":
            continue
        assert question.id in answers, question.id
        _check_value(question, answers[question.id], scope)
    rule_ids = {rule.id for rule in form.rules}
    assert all(problem.rule_id in rule_ids for problem in record.problems)
    flagged = {rule.id for rule in form.rules if rule.flags_risk}
    assert record.at_risk == any(problem.rule_id in flagged for problem in record.problems)


def _check_item(
    group: Question, item: Mapping[str, Any], scope: Scope, roster_fields: set[str]
) -> None:
    assert isinstance(item, dict)
    assert not any(key.startswith("_") for key in item)
    item_scope = scope.for_item(item)
    from_roster = "member_id" in item
    for child in group.children:
        if not _holds(child.relevant, item_scope):
            assert child.id not in item, (group.id, child.id)
            continue
        if child.type in ("calculate", "note"):
            continue
        assert child.id in item, (group.id, child.id, item)
        if from_roster and child.id in roster_fields and item[child.id] is not None:
            continue  # roster data, not an answer given in this check
        _check_value(child, item[child.id], item_scope)


def _holds(source: str | None, scope: Scope) -> bool:
    return source is None or bool(compile_expression(source).evaluate(scope))


def _check_value(question: Question, value: Any, scope: Scope) -> None:
    if value is None:
        assert not question.required, question.id
        return
    assert _fits(question, value, scope.today or TODAY), (question.id, value)
    if question.constraint:
        constraint = compile_expression(question.constraint)
        assert constraint.evaluate(
            Scope(scope.answers, scope.item, scope.params, scope.today, value)
        )


def _fits(question: Question, value: Any, today: date) -> bool:
    kind = question.type
    values = [choice.value for choice in question.choices]
    if kind == "yes_no":
        return value in (values or ["yes", "no"])
    if kind == "select_one":
        return value in values
    if kind == "select_many":
        ok = isinstance(value, list) and set(value) <= set(values) and len(set(value)) == len(value)
        return ok and (bool(value) or not question.required)
    if kind in ("integer", "decimal"):
        number_ok = isinstance(value, int) if kind == "integer" else isinstance(value, int | float)
        if not number_ok or isinstance(value, bool) or not math.isfinite(value):
            return False
        low, high = question.minimum, question.maximum
        return (low is None or value >= low) and (high is None or value <= high)
    if kind == "text":
        return isinstance(value, str) and value == value.strip() and 0 < len(value) <= 1000
    if kind == "date":
        return isinstance(value, str) and date(1900, 1, 1) <= date.fromisoformat(value) <= today
    if kind == "photo":
        return isinstance(value, str) and bool(value)
    if kind == "location":
        return -90 <= value["latitude"] <= 90 and -180 <= value["longitude"] <= 180
    return False


CHOICE_VALUES = sorted(
    {
        choice.value
        for question in FORM.questions
        for asked in (question, *question.children)
        for choice in asked.choices
    }
)
# What the repeat groups' questions read of the questions before them.
READ_BY_GROUPS = ["social_aid", "children", "members"]
ANSWER_VALUES = (
    st.sampled_from(CHOICE_VALUES)
    | st.lists(st.sampled_from(CHOICE_VALUES), max_size=3)
    | st.sampled_from([1, 1.0, True, 0, None])
    | JSON_VALUES
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), context=st.sampled_from(CONTEXTS))
def test_a_walk_taken_over_from_any_other_state_equals_a_fresh_walk(
    data: st.DataObject, context: Context
) -> None:
    """Whatever differs between two states of a check (an answer, 1 for 1.0 or True, an
    answer gone, a group's confirmation alone, one item of a group), the walk of one made
    from the walk of the other is the walk made from scratch."""
    state, events = start(FORM, context)
    for _ in range(data.draw(st.integers(0, 60))):
        state, answered = step(FORM, state, answering_input(data.draw, events[-1]), context)
        if state.phase == "finished":
            break
        if not isinstance(answered[-1], Invalid):
            events = answered
    before = walk(FORM, state, context)
    answers = dict(state.answers)
    done = set(state.done_groups)
    for _ in range(data.draw(st.integers(1, 3))):
        key = data.draw(st.sampled_from(TOP_IDS) | st.sampled_from(READ_BY_GROUPS))
        change = data.draw(st.sampled_from(["value", "gone", "confirmed", "item"]))
        if change == "value":
            answers[key] = data.draw(ANSWER_VALUES)
        elif change == "gone":
            answers.pop(key, None)
        elif change == "confirmed":
            done ^= {key}
        else:
            given = answers.get(key)
            items = list(given) if isinstance(given, list) else []
            if items:
                index = data.draw(st.integers(0, len(items) - 1))
                field = data.draw(st.sampled_from(CHILD_IDS))
                item = items[index]
                items[index] = (
                    {**item, field: data.draw(JSON_VALUES)} if isinstance(item, dict) else {}
                )
            answers[key] = items
    changed = CheckState(answers, state.cursor, done_groups=tuple(sorted(done)))
    taken_over = walk_after(before, FORM, changed, context)
    assert walk_view(taken_over) == walk_view(walk(FORM, changed, context))
