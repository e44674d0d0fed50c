"""Reminders read in the recipient's language: an English reminder names the problem's
category in English, from the questionnaire's labels, and carries no Chinese."""

from __future__ import annotations

import re
from datetime import date

from bot.i18n import Translator
from bot.reminders import LINES, render_line
from bot.settings import Settings
from conversations import load_forms
from storage.reminder_rules import RULES, ReminderKind

TODAY = date(2026, 11, 28)
CHINESE = re.compile(r"[\u4e00-\u9fff]")
DEADLINE = {
    "household": "Wang Jianguo",
    "category": "住房安全",
    "deadline": "2026-11-30",
    "text": "住房为C级危房。",
    "text_i18n": {"zh_CN": "住房为C级危房。", "en": "The house is graded C (partly unsafe)."},
}
OVERDUE = {
    "count": 1,
    "oldest": [{"household": "Wang Jianguo", "category": "饮水安全", "days": 3}],
}


def test_an_english_reminder_names_the_category_in_english() -> None:
    forms = load_forms(Settings().forms_dir)
    t = Translator()
    for kind, payload in (("deadline", DEADLINE), ("overdue", OVERDUE), ("escalation", DEADLINE)):
        text = render_line(t, "en", kind, payload, TODAY, forms)
        assert not CHINESE.search(text), text
    chinese = render_line(t, "zh_CN", "deadline", DEADLINE, TODAY, forms)
    assert "住房安全" in chinese


def test_a_category_typed_by_hand_stays_as_written() -> None:
    forms = load_forms(Settings().forms_dir)
    payload = {**DEADLINE, "category": "Road", "text_i18n": {"en": "The road is broken."}}
    assert "Road" in render_line(Translator(), "en", "deadline", payload, TODAY, forms)


def test_every_reminder_kind_is_one_rule_and_one_line() -> None:
    """A reminder kind is registered once: the rule that finds it (storage.reminder_rules),
    the line that shows it (bot.reminders); the sweep and the renderer iterate those."""
    found = [kind for rule in RULES for kind in rule.kinds]
    assert sorted(found) == sorted(ReminderKind)
    assert set(LINES) == set(ReminderKind)
