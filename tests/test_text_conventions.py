"""The Chinese texts follow CONTRIBUTING.md: full-width punctuation next to Chinese
characters, in the catalog and in the questionnaire's labels."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from babel.messages.pofile import read_po

from conversations import FORMS_DIRECTORY, Form, load_form

ROOT = Path(__file__).resolve().parent.parent
HAN = "\u3400-\u9fff"
# A half-width mark touching a Chinese character: "名称:" "(可多选)" "是,否" "完成."
HALF_WIDTH = re.compile(rf"(?<=[{HAN}])[,:;?!()]|[,:;?!()](?=[{HAN}])|(?<=[{HAN}])\.(?![0-9])")


def chinese_catalog() -> Iterator[tuple[str, str]]:
    with (ROOT / "locales" / "zh_CN" / "LC_MESSAGES" / "messages.po").open("rb") as fp:
        for message in read_po(fp):
            if not message.id:
                continue
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            for text in strings:
                yield str(message.id), text


def form_texts(form: Form) -> Iterator[tuple[str, str]]:
    def labelled(where: str, labels: object) -> Iterator[tuple[str, str]]:
        if isinstance(labels, dict) and labels.get("zh_CN"):
            yield where, labels["zh_CN"]

    questions = [*form.questions, *(child for q in form.questions for child in q.children)]
    for question in questions:
        for key in ("labels", "hint", "constraint_message"):
            yield from labelled(f"{question.id}.{key}", getattr(question, key))
        for choice in question.choices:
            yield from labelled(f"{question.id}.{choice.value}", choice.labels)
    for rule in form.rules:
        for key in ("text", "goal", "measures"):
            yield from labelled(f"{rule.id}.{key}", getattr(rule, key))
    for section in form.sections:
        yield from labelled(section.id, section.labels)


# Two spaces, or a space beside full-width punctuation: "完成 。" "（ 可选）".
STRAY_SPACE = re.compile(r"  | [，。：；？！、）”]|[（“，。：；？！、] ")


def offending(texts: Iterator[tuple[str, str]]) -> list[str]:
    return [
        f"{where}: {text!r}"
        for where, text in texts
        if HALF_WIDTH.search(text) or STRAY_SPACE.search(text)
    ]


def test_the_chinese_catalog_uses_full_width_punctuation() -> None:
    assert offending(chinese_catalog()) == []


def test_the_questionnaire_uses_full_width_punctuation() -> None:
    form = load_form(FORMS_DIRECTORY / "household_check.toml")
    assert offending(form_texts(form)) == []


def test_the_check_finds_half_width_marks() -> None:
    found = offending(
        iter([("a", "名称:张三"), ("b", "(可多选)"), ("c", "共 3.5 万元"), ("d", "是，否")])
    )
    assert [line.split(":")[0] for line in found] == ["a", "b"]


# ---------------------------------------------------------------- English screens


HAN_CHARACTER = re.compile(f"[{HAN}]")


def test_the_questionnaire_names_every_category_and_unit_in_english() -> None:
    form = load_form(FORMS_DIRECTORY / "household_check.toml")
    for rule in form.rules:
        assert not HAN_CHARACTER.search(form.categories[rule.category]["en"]), rule.id
        assert not HAN_CHARACTER.search(form.units[rule.responsible_unit]["en"]), rule.id
        assert not HAN_CHARACTER.search(rule.measures["en"].replace("{subject}", "")), rule.id


def test_a_problem_card_in_english_carries_no_chinese_but_names() -> None:
    from datetime import date
    from types import SimpleNamespace

    from bot.handlers.problems import card_text
    from bot.i18n import Translator
    from storage import Household, Problem
    from storage.problems import ProblemCard

    form = load_form(FORMS_DIRECTORY / "household_check.toml")
    rule = next(r for r in form.rules if r.id == "child_dropped_out")
    problem = Problem(
        id=7,
        rule_id=rule.id,
        category=rule.category,
        text="义务教育阶段适龄儿童张小明失学辍学。",
        text_i18n={"en": "张小明, a child of compulsory-school age, is out of school."},
        goal=rule.goal["zh_CN"],
        goal_i18n=dict(rule.goal),
        measures=rule.measures["zh_CN"],
        responsible_unit=rule.responsible_unit,
        deadline=date(2026, 12, 31),
        status="open",
        subject="张小明",
    )
    household = Household(number="001", head_name="张建国")
    card = ProblemCard(problem, household, "Happy village", None, [])
    svc = SimpleNamespace(t=Translator(), forms={form.id: form})
    text = card_text(svc, "en", card, date(2026, 11, 28), "Asia/Shanghai")  # type: ignore[arg-type]
    for name in ("张小明", "张建国"):
        text = text.replace(name, "")
    assert not HAN_CHARACTER.search(text), text
    assert "Compulsory education" in text and "County education bureau" in text


def test_nothing_is_cancelled_in_chinese() -> None:
    """ "暂停" pauses and keeps every answer, "放弃" discards; "取消" says neither."""
    assert [text for _, text in chinese_catalog() if "取消" in text] == []


def test_an_instruction_names_its_button_by_the_buttons_word() -> None:
    """ "选好后按“完成”" under a "完成 ✔" button: the word in quotes is on the button."""
    from bot.i18n import Translator
    from conversations import messages

    t = Translator()

    def catalog(msgid: str) -> dict[str, str]:
        return {lang: t(lang, msgid) for lang in ("zh_CN", "en")}

    done, more = catalog("Done ✔"), catalog("Continue ▶")
    pairs = [
        ("Choose all that apply, then press Done.", [done]),
        ("Choose all that apply, then press Done; if none apply, just Done.", [done]),
        ("Check the list; add or remove, then press Continue.", [more]),
        (
            "If all of this is right, press All normal; if not, Answer each.",
            [dict(messages.ALL_NORMAL), dict(messages.EACH_ITEM)],
        ),
        ("If this is right, press Submit.", [catalog("✅ Submit")]),
    ]
    for instruction, buttons in pairs:
        for lang in ("zh_CN", "en"):
            said = t(lang, instruction)
            words = [re.sub(r"^\W+|\W+$", "", button[lang]) for button in buttons]
            assert all(word in said for word in words), (lang, said, words)
            quoted = re.findall(r"“([^”]+)”", said)
            assert all(q in words for q in quoted), (said, words)
