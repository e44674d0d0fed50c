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


def offending(texts: Iterator[tuple[str, str]]) -> list[str]:
    return [f"{where}: {text!r}" for where, text in texts if HALF_WIDTH.search(text)]


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
