"""The engine's own messages: English gettext msgids, marked with `N_` so that Babel
extracts them (`pybabel extract -k N_`); the bot translates them and fills `{name}`
placeholders from `Invalid.params`. Also the few per-language words of answer displays.
"""

from __future__ import annotations

from conversations.model import Labels


def N_(message: str) -> str:
    """Mark a msgid for extraction without translating it now."""
    return message


CHOOSE_BUTTON = N_("Please choose one of the buttons.")
YES_OR_NO = N_("Please answer yes or no.")
CHOOSE_AT_LEAST_ONE = N_("Please choose at least one option, then press Done.")
TOGGLE_THEN_DONE = N_("Press the options to select them, then press Done.")
WHOLE_NUMBER = N_("Please type a whole number, for example 3.")
NUMBER = N_("Please type a number, for example 3.5.")
DECIMAL_POINT = N_("Please use a point for decimals, for example 3.5.")
NUMBER_BETWEEN = N_("This number must be between {min} and {max}.")
NUMBER_AT_LEAST = N_("This number must be at least {min}.")
NUMBER_AT_MOST = N_("This number must be at most {max}.")
NUMBER_TOO_LARGE = N_("This number is too large.")
TEXT_EMPTY = N_("Please type an answer.")
TEXT_TOO_LONG = N_("Please keep the answer under {limit} characters.")
DATE = N_("Please type a date, for example 2015-03-08.")
DATE_IN_FUTURE = N_("The date cannot be later than today.")
PHOTO_OR_SKIP = N_("Please send a photo, or press Skip.")
PHOTO = N_("Please send a photo.")
LOCATION_OR_SKIP = N_("Please share a location, or press Skip.")
LOCATION = N_("Please share a location.")
LOCATION_INVALID = N_("This location is not valid.")
NOTE_CONTINUE = N_("Press Done to continue.")
ITEM_BUTTONS = N_("Please add or remove items with the buttons, then press Done.")
NO_SUCH_ITEM = N_("There is no item {number}.")
TOO_MANY_ITEMS = N_("No more than {max} items can be added.")
TOO_FEW_ITEMS = N_("Please add at least {min} items.")
FIRST_QUESTION = N_("This is the first question.")
CANNOT_SKIP = N_("This question cannot be skipped.")
EDIT_FROM_SUMMARY = N_("Answers can be changed from the summary at the end.")
CANNOT_EDIT = N_("This answer cannot be changed.")
SUMMARY_ACTIONS = N_("Please choose an answer to change, or submit the check.")
ANSWER_REMAINING = N_("Please answer the remaining questions first.")
MUST_ANSWER = N_("This question must be answered before the check is submitted.")
ALREADY_SUBMITTED = N_("This check has already been submitted.")

SKIPPED: Labels = {"zh_CN": "（跳过）", "en": "(skipped)"}
PHOTO_RECEIVED: Labels = {"zh_CN": "照片", "en": "Photo"}
NO_ITEMS: Labels = {"zh_CN": "无", "en": "None"}
LIST_SEPARATOR: Labels = {"zh_CN": "、", "en": ", "}
ALL_NORMAL: Labels = {"zh_CN": "全部正常", "en": "All normal"}
EACH_ITEM: Labels = {"zh_CN": "逐项填写", "en": "Answer each"}
YES: Labels = {"zh_CN": "是", "en": "Yes"}
NO: Labels = {"zh_CN": "否", "en": "No"}
