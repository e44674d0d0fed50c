"""Turn the engine's events into Telegram messages: text (HTML) and inline keyboards."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from html import escape
from typing import Any

from bot.callbacks import CheckAction, encode, prompt_token
from bot.i18n import Translator, format_day, format_number, label
from bot.keyboards import Button, Keyboard
from conversations import Form, Invalid, Prompt, Summary, SummaryItem, display_value

TEXT_LIMIT = 4000  # under Telegram's 4096, leaving room for a header
EDIT_PAGE = 40


@dataclass(frozen=True)
class Screen:
    """One message to show: HTML text and its keyboard."""

    text: str
    markup: Keyboard | None = None


def _button(text: str, session_id: int, token: str, action: str, arg: int | None = None) -> Button:
    return text, encode(CheckAction(session_id, token, action, arg))


def answer_text(form: Form, key: str, value: Any, lang: str, t: Translator) -> str:
    """An answer as the user reads it: choice labels, numbers and dates in their locale."""
    if value is None:
        return t(lang, "(skipped)")
    if isinstance(value, bool):
        return display_value(form, key, value, lang)
    if isinstance(value, int | float):
        return format_number(value, lang)
    if isinstance(value, dict) and "file_id" in value:
        return t(lang, "📷 photo")
    if isinstance(value, dict) and "latitude" in value:
        return t(
            lang,
            "📍 {lat}, {lon}",
            lat=format_number(round(float(value["latitude"]), 5), lang),
            lon=format_number(round(float(value["longitude"]), 5), lang),
        )
    if isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-":
        try:
            return format_day(date.fromisoformat(value), lang)
        except ValueError:
            pass
    return display_value(form, key, value, lang)


def _kind_hint(prompt: Prompt, lang: str, t: Translator) -> str:
    match prompt.kind:
        case "integer":
            return t(lang, "Type a whole number.")
        case "decimal":
            return t(lang, "Type a number.")
        case "text":
            return t(lang, "Type your answer.")
        case "date":
            return t(lang, "Type a date, for example 2015-03-08.")
        case "photo":
            return t(lang, "Send a photo.")
        case "location":
            return t(lang, "Send a location (📎 → Location).")
        case "select_many" if prompt.can_skip:
            return t(lang, "Choose all that apply, then press Done; if none apply, just Done.")
        case "select_many":
            return t(lang, "Choose all that apply, then press Done.")
        case "repeat":
            return t(lang, "Check the list; add or remove, then press Continue.")
        case "all_normal":
            return t(lang, "If all of this is right, press All normal; if not, Answer each.")
    return ""


def item_name(label_text: str, lang: str, t: Translator) -> str:
    """An item's name; an item added in the chat has no name yet (the engine calls it #n)."""
    if label_text.startswith("#") and label_text[1:].isdigit():
        return t(lang, "new entry {number}", number=label_text[1:])
    return label_text


def prompt_header(prompt: Prompt, lang: str, t: Translator) -> str:
    section = label(prompt.section, lang)
    if prompt.section_count:
        place = t(
            lang,
            "Part {number} of {count} · {section}",
            number=prompt.section_number,
            count=prompt.section_count,
            section=section,
        )
    else:
        place = section
    head = f"<b>{escape(place)}</b>"
    if prompt.item_label:
        head += f"\n👤 {escape(item_name(prompt.item_label, lang, t))}"
    return f"{head}\n{escape(label(prompt.labels, lang))}"


def prompt_screen(
    form: Form, prompt: Prompt, session_id: int, lang: str, t: Translator, notice: str = ""
) -> Screen:
    """The message asking one question, with its buttons."""
    token = prompt_token(prompt.key, "asking")
    lines = [f"⚠️ {escape(notice)}\n"] if notice else []
    lines.append(prompt_header(prompt, lang, t))
    earlier = None
    if prompt.current is not None and prompt.kind not in ("repeat", "select_many"):
        earlier = answer_text(form, prompt.key, prompt.current, lang, t)
    if prompt.editing:  # first, so that the screen reads as a change, not a new question
        lines.append(escape(_changing(earlier, lang, t)))
    if prompt.hint:
        lines.append(f"<i>{escape(label(prompt.hint, lang))}</i>")
    if prompt.kind == "repeat":
        if prompt.items:
            lines.extend(
                f"{item.index + 1}. {escape(item_name(item.label, lang, t))}"
                for item in prompt.items
            )
        else:
            lines.append(t(lang, "(none)"))
    if prompt.kind == "all_normal":
        lines.extend(_preview_line(form, item, lang, t) for item in prompt.preview)
    hint = _kind_hint(prompt, lang, t)
    if hint:
        lines.append(f"<i>{escape(hint)}</i>")
    if earlier is not None and not prompt.editing:
        lines.append(escape(t(lang, "Earlier answer: {answer}", answer=earlier)))
    rows: list[list[Button]] = []
    for index, choice in enumerate(prompt.choices):
        text = label(choice.labels, lang)
        if prompt.kind == "select_many":
            text = ("✅ " if choice.value in prompt.selected else "⬜ ") + text
        rows.append([_button(text, session_id, token, "p", index)])
    if prompt.kind in ("yes_no", "all_normal") and len(rows) == 2:
        rows = [rows[0] + rows[1]]
    if prompt.kind == "select_many":
        rows.append([_button(t(lang, "Done ✔"), session_id, token, "d")])
    if prompt.kind == "repeat":
        for item in prompt.items:
            remove = t(lang, "✖ Remove {name}", name=item_name(item.label, lang, t))
            rows.append([_button(remove, session_id, token, "r", item.index)])
        rows.append(
            [
                _button(t(lang, "➕ Add"), session_id, token, "a"),
                _button(t(lang, "Continue ▶"), session_id, token, "d"),
            ]
        )
    nav = []
    if prompt.can_back:
        nav.append(_button(t(lang, "⬅ Back"), session_id, token, "b"))
    if prompt.can_skip and prompt.kind != "select_many":  # Done with nothing skips it
        nav.append(_button(t(lang, "Skip ⏭"), session_id, token, "s"))
    nav.append(_button(t(lang, "⏸ Pause"), session_id, token, "x"))
    rows.append(nav)
    return Screen("\n".join(lines), Keyboard.of(rows))


def _changing(earlier: str | None, lang: str, t: Translator) -> str:
    """Says that the question was picked on the summary to change its answer."""
    if earlier is None:
        return t(lang, "✏️ Changing an answer; then back to the summary.")
    return t(
        lang, "✏️ Changing an answer (it was: {answer}); then back to the summary.", answer=earlier
    )


def _preview_line(form: Form, item: SummaryItem, lang: str, t: Translator) -> str:
    answer = answer_text(form, item.key, item.value, lang, t)
    return "• " + labelled(label(item.labels, lang), answer, lang, t)


def labelled(name: str, answer: str, lang: str, t: Translator) -> str:
    """ "Name: answer" with the language's colon (full-width in Chinese), answer in bold; a
    question's own question mark gives way to the colon."""
    name = name.rstrip("？?").rstrip()
    return t(lang, "{label}: {answer}", label=escape(name), answer=f"<b>{escape(answer)}</b>")


def confirm_removal_markup(
    prompt: Prompt, index: int, session_id: int, lang: str, t: Translator
) -> Keyboard:
    """Ask once more before an item leaves a repeat group's list."""
    token = prompt_token(prompt.key, "asking")
    item = next((i for i in prompt.items if i.index == index), None)
    name = item_name(item.label, lang, t) if item else str(index + 1)
    return Keyboard.of(
        [
            [_button(t(lang, "Yes, remove {name}", name=name), session_id, token, "R", index)],
            [_button(t(lang, "↩ Keep"), session_id, token, "k")],
        ]
    )


def listed(names: Sequence[str], lang: str, t: Translator) -> str:
    """Names joined as a list reads in the language: "张三、李四", "Zhang, Li"."""
    joined = ""
    for name in names:
        joined = t(lang, "{first}, {second}", first=joined, second=name) if joined else name
    return joined


def answered_text(form: Form, prompt: Prompt, value: Any, lang: str, t: Translator) -> str:
    """A prompt once answered: its question and the answer, without buttons."""
    if prompt.kind == "repeat":
        names = listed([item_name(item.label, lang, t) for item in prompt.items], lang, t)
        names = names or t(lang, "(none)")
        return f"{prompt_header(prompt, lang, t)}\n→ <b>{escape(names)}</b>"
    answer = answer_text(form, prompt.key, value, lang, t)
    return f"{prompt_header(prompt, lang, t)}\n→ <b>{escape(answer)}</b>"


def summary_lines(form: Form, summary: Summary, lang: str, t: Translator) -> list[str]:
    lines: list[str] = []
    section = None
    for number, item in enumerate(summary.items, start=1):
        item_section = label(item.section, lang)
        if item_section != section:
            section = item_section
            lines.append(f"\n<b>{escape(section)}</b>")
        lines.append(_summary_line(form, number, item, lang, t))
    return lines


def _summary_line(form: Form, number: int, item: SummaryItem, lang: str, t: Translator) -> str:
    who = ""
    if item.item_label:
        who = t(lang, "[{name}] ", name=escape(item_name(item.item_label, lang, t)))
    answer = answer_text(form, item.key, item.value, lang, t)
    return f"{number}. {who}" + labelled(label(item.labels, lang), answer, lang, t)


def chunks(lines: Sequence[str], limit: int = TEXT_LIMIT) -> list[str]:
    """Split lines into messages under Telegram's length limit."""
    parts: list[str] = []
    current = ""
    for line in lines:
        if current and len(current) + len(line) + 1 > limit:
            parts.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
    if current:
        parts.append(current)
    return parts


def summary_screens(
    form: Form, summary: Summary, household: str, session_id: int, lang: str, t: Translator
) -> list[Screen]:
    """The summary before submitting, short enough for a phone: the problems the answers
    raise and the counts first, then submit / every answer / back / pause."""
    token = prompt_token("", "summary")
    title = t(lang, "Summary of the check: {household}", household=household)
    lines = [f"<b>{escape(title)}</b>"]
    if summary.problems:
        heading = t.n(
            lang,
            "{count} problem will be recorded:",
            "{count} problems will be recorded:",
            len(summary.problems),
        )
        lines.append(f"<b>{escape(heading)}</b>")
        lines.extend(
            f"{number}. {escape(label(problem.text, lang))}"
            for number, problem in enumerate(summary.problems, start=1)
        )
    else:
        lines.append(escape(t(lang, "✅ No problems found.")))
    answered = t.n(lang, "{count} answer", "{count} answers", len(summary.items))
    if summary.confirmed_at_once:
        answered = t.n(
            lang,
            "{count} answer, {normal} of them confirmed with All normal",
            "{count} answers, {normal} of them confirmed with All normal",
            len(summary.items),
            normal=summary.confirmed_at_once,
        )
    lines.append(escape(answered))
    if summary.computed:
        heading = t(lang, "Calculated")
        lines.append(f"\n<b>{escape(heading)}</b>")
        lines.extend(
            "• "
            + labelled(
                label(item.labels, lang), answer_text(form, item.key, item.value, lang, t), lang, t
            )
            for item in summary.computed
        )
    lines.append("\n" + escape(t(lang, "If this is right, press Submit.")))
    texts = chunks(lines)
    markup = Keyboard.of(
        [
            [_button(t(lang, "✅ Submit"), session_id, token, "y")],
            [_button(t(lang, "📋 All answers"), session_id, token, "m", 0)],
            [
                _button(t(lang, "⬅ Back"), session_id, token, "b"),
                _button(t(lang, "⏸ Pause"), session_id, token, "x"),
            ],
        ]
    )
    return [Screen(text) for text in texts[:-1]] + [Screen(texts[-1], markup)]


def all_answers_screens(
    form: Form, summary: Summary, session_id: int, lang: str, t: Translator
) -> list[Screen]:
    """Every answer, numbered, then the numbers to press to change one."""
    lines = summary_lines(form, summary, lang, t)
    lines.append("\n" + escape(t(lang, "To change an answer, press its number.")))
    texts = chunks(lines)
    markup = edit_menu_markup(len(summary.items), 0, session_id, lang, t)
    return [Screen(text) for text in texts[:-1]] + [Screen(texts[-1], markup)]


def edit_menu_markup(count: int, page: int, session_id: int, lang: str, t: Translator) -> Keyboard:
    """Numbered buttons, one per summary line, to pick the answer to change."""
    token = prompt_token("", "summary")
    start = page * EDIT_PAGE
    numbers = list(range(start, min(count, start + EDIT_PAGE)))
    rows = [
        [_button(str(n + 1), session_id, token, "e", n) for n in numbers[i : i + 8]]
        for i in range(0, len(numbers), 8)
    ]
    paging = []
    if page > 0:
        paging.append(_button("◀", session_id, token, "n", page - 1))
    if start + EDIT_PAGE < count:
        paging.append(_button("▶", session_id, token, "n", page + 1))
    if paging:
        rows.append(paging)
    rows.append([_button(t(lang, "↩ Back to the summary"), session_id, token, "v")])
    return Keyboard.of(rows)


def invalid_text(invalid: Invalid, lang: str, t: Translator) -> str:
    if invalid.labels:
        return label(invalid.labels, lang)
    if invalid.message_id:
        params = {k: v for k, v in invalid.params.items()}
        return t(lang, invalid.message_id, **params)
    return t(lang, "That answer was not accepted.")


def category_name(forms: Mapping[str, Form], category: str, lang: str) -> str:
    """A problem category (stored by its Chinese key) in the reader's language; a category
    typed by hand stays as written."""
    for form in forms.values():
        if category in form.categories:
            return label(form.categories[category], lang)
    return category


def unit_name(forms: Mapping[str, Form], unit: str, lang: str) -> str:
    """A responsible unit (责任单位) in the reader's language, as `category_name`."""
    for form in forms.values():
        if unit in form.units:
            return label(form.units[unit], lang)
    return unit


def measures_text(
    forms: Mapping[str, Form], rule_id: str | None, subject: str | None, stored: str, lang: str
) -> str:
    """A problem's measures (整改措施) in the reader's language from its rule; the stored
    ledger text for a problem added by hand."""
    for form in forms.values():
        rule = next((r for r in form.rules if r.id == rule_id), None)
        if rule is not None and rule.measures:
            return label(rule.measures, lang).replace("{subject}", subject or "")
    return stored
