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


def test_the_report_lines_list_each_village_under_their_heading() -> None:
    """A leader's report status and late report: a heading, then a village a line."""
    villages = [
        {"village": "幸福村", "checked": 2, "total": 3},
        {"village": "红星村", "checked": 0, "total": 2},
    ]
    payload = {"reporting_day": "2026-12-04", "villages": villages}
    t = Translator()
    today = date(2026, 12, 1)
    assert render_line(t, "zh_CN", "report_status", payload, today) == (
        "📋 月报截止 2026年12月4日。目前已核查户数：\n"
        "幸福村：2/3 ▓▓▓▓▓▓▓░░░\n红星村：0/2 ░░░░░░░░░░"
    )
    assert render_line(t, "en", "report_late", payload, today) == (
        "📋 The reporting day Dec 4, 2026 has passed; these villages did not check every"
        " household:\n幸福村: 2/3 ▓▓▓▓▓▓▓░░░\n红星村: 0/2 ░░░░░░░░░░"
    )
