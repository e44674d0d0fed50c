"""The use cases (用例): one function per thing a person does, for every channel alike.

Each takes a `Runtime` (the database and the clock), the acting user's id and plain inputs,
owns its one transaction, and returns frozen dataclasses. Nothing here knows Telegram or HTTP:
the bot and the web dashboard are thin adapters over these functions, and `policy.may`
answers "may this user do this to that" for both.
"""

from services.runtime import Runtime

__all__ = ["Runtime"]
