"""Measure the questionnaire engine's cost per answer of a household check (入户核查), without
the bot, the database or Telegram.

    .venv/bin/python bench/engine.py [--members 4] [--rounds 20] [--profile]

The default household check form is answered from its first question to Submit with
tests/checkdriver.py's GOOD plan, for a household like bench/check_flow.py's (head, a
school-age son, spouse, mother), every input stepped as services/checkdesk.py steps it: the
state read from its JSON, a `Position` taken, the prompt shown before the input read, the
input applied, the new state turned back into JSON. Printed: microseconds per answer (best of
`--rounds` whole checks), and the baseline measured in the same run, one walk of the form
(the pass over every question that relevance and expressions need); the ratio says how many
walks' worth of work an answer costs. `--profile` prints cProfile's top functions instead.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import json
import pstats
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from conversations import (
    FORMS_DIRECTORY,
    CheckState,
    Context,
    Finished,
    Form,
    Input,
    KeptPositions,
    Position,
    Prompt,
    Question,
    Submit,
    Summary,
    load_thresholds,
    params_for,
    start,
)
from conversations.walk import walk

# The answer plan lives with the tests; loaded by name as bench/check_flow.py does.
_driver = importlib.import_module("tests.checkdriver")
FORM: Form = _driver.FORM
GOOD: Mapping[str, Any] = _driver.GOOD
CONTINUE: str = _driver.CONTINUE
SKIP: str = _driver.SKIP
question_at: Callable[[str], Question] = _driver.question_at
# What a cadre gives at a prompt under a plan (a toggle per option).
inputs_for: Callable[[Question, Mapping[str, Any]], list[Input]] = _driver.inputs_for

TODAY = date(2026, 11, 28)
PEOPLE = [("户主", 45, "男"), ("之子", 10, "男"), ("配偶", 43, "女"), ("之母", 72, "女")]


def household_context(members: int) -> Context:
    """The engine's view of one bench household of `members` people, as the check desk
    builds it."""

    def born(years: int) -> str:
        return (TODAY - timedelta(days=round(years * 365.25) + 40)).isoformat()

    roster = tuple(
        {
            "member_id": index + 1,
            "name": f"{relation}0001",
            "relation": relation,
            "sex": sex,
            "birth_date": born(age),
            "health": None,
            "schooling": None,
            "health_on_roster": None,
            "schooling_on_roster": None,
        }
        for index, (relation, age, sex) in enumerate((PEOPLE * 3)[:members])
    )
    thresholds = load_thresholds(FORMS_DIRECTORY / "thresholds.toml")
    return Context(
        today=TODAY,
        params=params_for(thresholds, "江苏", TODAY.year),
        roster={"members": roster},
        household={"number": "0001", "head_name": "户主0001", "type": None},
    )


def one_check(
    form: Form, context: Context, kept: KeptPositions | None = None
) -> tuple[int, list[CheckState]]:
    """A whole check stepped as the check desk steps it: the answers given, and every state
    the check passed through. With `kept`, the position after each step is kept and found
    again for the next, as the check desk does; without, every step walks from scratch."""
    state, _ = start(form, context)
    saved = json.loads(json.dumps(state.to_json()))
    states = [state]
    queue: list[Input] = []
    answers = 0
    while True:
        state = CheckState.from_json(saved)
        found = kept.position(1, form, saved, context) if kept is not None else None
        position = found or Position(form, state, context)
        shown = position.shown
        if not queue:
            if isinstance(shown, Summary):
                queue = [Submit()]
            elif isinstance(shown, Prompt):
                queue = inputs_for(question_at(shown.key), GOOD)
            else:
                raise SystemExit(f"nothing shown at {state.cursor}")
        state, events = position.step(queue.pop(0))
        answers += 1
        if any(isinstance(event, Finished) for event in events):
            return answers, states
        if not any(isinstance(event, Prompt | Summary) for event in events):
            raise SystemExit(f"refused at {saved['cursor']}: {events}")
        if kept is not None:
            kept.keep(1, position.following(state), state.to_json())
        saved = json.loads(json.dumps(state.to_json()))  # as the database gives it back
        states.append(state)


def best_seconds(run: Callable[[], object], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        began = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - began)
    return best


def walks(form: Form, context: Context, states: Sequence[CheckState]) -> None:
    for state in states:
        walk(form, state, context)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--members", type=int, default=4, help="household members (default 4)")
    parser.add_argument("--rounds", type=int, default=20, help="whole checks timed (default 20)")
    parser.add_argument("--profile", action="store_true", help="print cProfile's top functions")
    args = parser.parse_args()
    context = household_context(args.members)
    answers, states = one_check(FORM, context)
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(args.rounds):
            one_check(FORM, context, KeptPositions())
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
        return
    fresh = best_seconds(lambda: one_check(FORM, context), args.rounds) / answers
    kept = best_seconds(lambda: one_check(FORM, context, KeptPositions()), args.rounds) / answers
    per_walk = best_seconds(lambda: walks(FORM, context, states), args.rounds) / len(states)
    print(f"household of {args.members} members: {answers} answers, {len(states)} states")
    print(f"{'':<34} {'µs':>7} {'walks':>7}")
    print(f"{'one walk of the form (baseline)':<34} {per_walk * 1e6:>7.0f} {1:>7.2f}")
    print(f"{'answer, fresh position':<34} {fresh * 1e6:>7.0f} {fresh / per_walk:>7.2f}")
    print(f"{'answer, position kept (check desk)':<34} {kept * 1e6:>7.0f} {kept / per_walk:>7.2f}")


if __name__ == "__main__":
    main()
