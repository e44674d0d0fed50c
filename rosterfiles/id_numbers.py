"""Resident ID numbers (居民身份证号码, GB 11643-1999): checked (length, digits, birth date,
check digit), and masked (脱敏) for whoever may not see them whole."""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_DIGITS = "10X98765432"
# An ID number Excel turned into a number: 3.20705E+17, or 320705200001011234.0.
_EXCEL_NUMBER = re.compile(r"\d+(\.\d+)?E\+\d+")
_DECIMAL = re.compile(r"\d+\.\d+")


def id_number_check_digit(first17: str) -> str:
    """The check digit (校验码) of a resident ID number, GB 11643-1999: ISO 7064 MOD 11-2."""
    if len(first17) != len(ID_WEIGHTS):
        raise ValueError(first17)
    total = sum(map(operator.mul, map(int, first17), ID_WEIGHTS))
    return CHECK_DIGITS[total % 11]


@dataclass(frozen=True)
class IdNumber:
    """A checked 18-character resident ID number with what it tells: birth date and sex."""

    text: str
    birth_date: date
    sex: str


def check_id_number(raw: str, today: date) -> IdNumber | tuple[str, dict[str, Any]]:
    """The ID number, or why it is wrong (a msgid and its params)."""
    text = raw.strip().replace(" ", "").upper()
    if ("." in text or "E" in text) and (_EXCEL_NUMBER.fullmatch(text) or _DECIMAL.fullmatch(text)):
        return (
            "The ID number was saved as a number and lost its last digits; "
            "format the column as text.",
            {},
        )
    if len(text) != 18:
        return "The ID number must have 18 characters, not {count}.", {"count": len(text)}
    if not (
        text[:17].isdigit() and text[:17].isascii() and (text[17].isdigit() or text[17] == "X")
    ):
        return "The ID number may only hold digits and a final X.", {}
    try:
        born = date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        born = None
    if born is None or born > today or born.year < 1890:
        return "The ID number holds no valid birth date.", {}
    if id_number_check_digit(text[:17]) != text[17]:
        return "The ID number's check digit is wrong.", {}
    return IdNumber(text=text, birth_date=born, sex="男" if int(text[16]) % 2 else "女")


def mask_id_number(text: str | None) -> str:
    """An ID number with only its first 6 and last 4 characters shown (脱敏)."""
    if not text:
        return ""
    if len(text) <= 10:
        return "*" * len(text)
    return text[:6] + "*" * (len(text) - 10) + text[-4:]
