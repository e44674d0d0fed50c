"""Count the inputs (taps, typed answers, photos) a cadre needs to check each household of
the demo village (幸福村) when nothing is wrong, from the first question to Submit.

    .venv/bin/python bench/taps.py [--form PATH] [--thresholds PATH]

Two ways are counted in the same run on the same questionnaire: "each item" answers every
question one by one (the baseline: pressing 逐项填写 wherever "全部正常" is offered), "all
normal" confirms every such screen at once. Opening the check (/check and picking the
household) adds two inputs to both. The engine is driven directly, as the bot does, so the
figures are exact and need no server. `--form` measures another version of the
questionnaire, e.g. an older one taken from git.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from conversations import (
    FORMS_DIRECTORY,
    CheckState,
    Context,
    Done,
    Form,
    Input,
    Location,
    Photo,
    Pick,
    Prompt,
    Skip,
    Submit,
    Text,
    load_form,
    load_thresholds,
    params_for,
    start,
    step,
)
from conversations.walk import normal_answer, walk
from storage.demo import demo_rosters

TODAY = date(2026, 11, 28)
OPENING = 2  # /check, then the household's button
# Answers of a household with nothing wrong, for the questions without a `normal`.
TYPED = {
    "floor_area": "85",
    "income_wages": "60000",
    "income_business": "3000",
    "income_property": "0",
    "income_transfer": "1200",
    "spending_eligible": "0",
    "water_lpd": "60",
    "water_short_days": "0",
}
CHOSEN = {
    "visit_type": "home_visit",
    "respondent": "head",
    "housing_grade": "A",
    "water_source": "centralised",
    "house_renovated": "no",
}
# Yes/no questions where "yes" is the bad answer.
BAD_YES = {"water_impurities", "water_ill_effects", "aid_needed", "emergency_unmet"}


def answers_for(
    form: Form, state: CheckState, prompt: Prompt, context: Context, mode: str
) -> list[Input]:
    """The inputs a cadre gives at this prompt (a multiple choice takes one per option)."""
    kind = prompt.kind
    if kind == "all_normal":
        return [Pick("normal" if mode == "all normal" else "each")]
    if kind == "repeat":
        return [Done()]
    if prompt.question_id in CHOSEN:
        return [Pick(CHOSEN[prompt.question_id])]
    if prompt.question_id in TYPED:
        return [Text(TYPED[prompt.question_id])]
    current = walk(form, state, context)
    slot = current.slot(prompt.key)
    normal = normal_answer(slot.question, current.scope_for(slot)) if slot else None
    if kind == "select_many":
        chosen = normal if isinstance(normal, list) else []
        if not chosen and slot is not None and slot.question.required:
            chosen = [prompt.choices[0].value]
        return [*(Pick(value) for value in chosen), Done()]
    if kind == "yes_no":
        value = normal or ("no" if prompt.question_id in BAD_YES else "yes")
        return [Pick(value)]
    if kind == "select_one":
        return [Pick(normal or prompt.choices[0].value)]
    if kind == "photo":
        return [Photo("photo")] if prompt.question_id == "house_photo" else [Skip()]
    if kind == "location":
        return [Location(34.59, 119.22)]
    if kind in ("integer", "decimal"):
        return [Text(str(normal if normal is not None else 0))]
    return [Skip()]


def count_inputs(form: Form, context: Context, mode: str) -> tuple[int, int]:
    """Inputs to reach Submit (Submit included), and the problems the record raises."""
    state, events = start(form, context)
    inputs = 0
    for _ in range(1000):
        if state.phase == "summary":
            state, events = step(form, state, Submit(), context)
            record = events[-1].record  # type: ignore[union-attr]
            return inputs + 1, len(record.problems)
        prompt = next(event for event in reversed(events) if isinstance(event, Prompt))
        for inp in answers_for(form, state, prompt, context, mode):
            state, events = step(form, state, inp, context)
            inputs += 1
    raise SystemExit(f"the check of {context.household} never ended")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--form", type=Path, default=FORMS_DIRECTORY / "household_check.toml")
    parser.add_argument("--thresholds", type=Path, default=FORMS_DIRECTORY / "thresholds.toml")
    args = parser.parse_args()
    form = load_form(args.form)
    params = params_for(load_thresholds(args.thresholds), "江苏", TODAY.year)
    print(f"{'household':<10} {'members':>7} {'each item':>10} {'all normal':>11} {'problems':>9}")
    totals = {"each item": 0, "all normal": 0}
    for household in demo_rosters(TODAY):
        context = Context(
            TODAY,
            params,
            {"members": household.members},
            {"number": household.number, "type": household.household_type},
        )
        counted: dict[str, tuple[int, int]] = {}
        for mode in totals:
            counted[mode] = count_inputs(form, context, mode)
            totals[mode] += counted[mode][0]
        each, normal = counted["each item"], counted["all normal"]
        print(
            f"{household.number:<10} {len(household.members):>7} {each[0]:>10} {normal[0]:>11}"
            f" {normal[1]:>9}"
        )
    count = len(demo_rosters(TODAY))
    print(
        f"{'mean':<10} {'':>7} {totals['each item'] / count:>10.1f}"
        f" {totals['all normal'] / count:>11.1f}"
    )
    print(f"(inputs from the first question to Submit; opening the check adds {OPENING})")


show: Callable[..., Any] = print

if __name__ == "__main__":
    main()
