"""`hucha doctor`: what an instance needs, checked one by one and said in plain words —
configuration, the database and its migrations, the area tree, the income lines of its
provinces, the bot token (getMe) and the proxy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.settings import Settings

Translate = Callable[..., str]


@dataclass
class Findings:
    """Each check's outcome as a translated line; `failed` when any is wrong."""

    lines: list[str] = field(default_factory=list)
    failed: bool = False

    def ok(self, text: str) -> None:
        self.lines.append(f"✓ {text}")

    def wrong(self, text: str) -> None:
        self.lines.append(f"✗ {text}")
        self.failed = True

    def note(self, text: str) -> None:
        self.lines.append(f"! {text}")


async def examine(settings: Settings, lang: str, t: Translate) -> Findings:
    """Run every check; never raises for what it finds."""
    found = Findings()
    forms = _configuration(settings, lang, t, found)
    database_ok = await _database(settings, lang, t, found)
    if database_ok and forms is not None:
        await _areas_and_income_lines(settings, forms, lang, t, found)
    several = database_ok and await _bots(settings, lang, t, found)
    if settings.token or not several:
        _token_set(settings, lang, t, found)
        await _bot_api(settings, lang, t, found)
    return found


def _token_set(settings: Settings, lang: str, t: Translate, found: Findings) -> None:
    if settings.token:
        found.ok(t(lang, "A bot token is set."))
    else:
        found.wrong(t(lang, "No bot token: set HUCHA_TELEGRAM_TOKEN."))


async def _bots(settings: Settings, lang: str, t: Translate, found: Findings) -> bool:
    """The bots of `hucha bots add`: each one's variable is set and its token is that bot's.
    Returns whether any is recorded."""
    import os

    from bot.cli import check_bot_api
    from bot.cli_errors import explain
    from storage import list_bots, make_engine, make_sessionmaker

    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as s:
            records = await list_bots(s)
    except Exception:  # a schema from before several bots: the schema line says what to do
        return False
    finally:
        await engine.dispose()
    for record in records:
        token = os.environ.get(record.token_env, "").strip()
        if not token:
            found.wrong(
                t(
                    lang,
                    "The token of @{username} ({area}) is missing: set the variable {name}.",
                    username=record.username,
                    area=record.area_name,
                    name=record.token_env,
                )
            )
            continue
        try:
            username = await check_bot_api(settings.with_changes(token=token))
        except Exception as error:
            found.wrong(
                t(
                    lang,
                    "The token in {name} does not work: {reason}",
                    name=record.token_env,
                    reason=explain(error, lang, t, settings)[0],
                )
            )
            continue
        if username != record.username:
            found.wrong(
                t(
                    lang,
                    "The token in {name} is the token of @{actual}, not of @{username}.",
                    name=record.token_env,
                    actual=username,
                    username=record.username,
                )
            )
        else:
            found.ok(
                t(lang, "@{username} serves {area}.", username=username, area=record.area_name)
            )
    return bool(records)


def _configuration(settings: Settings, lang: str, t: Translate, found: Findings) -> Any:
    from conversations import load_forms, load_thresholds

    if settings.webhook_url and not settings.webhook_secret:
        found.wrong(t(lang, "HUCHA_WEBHOOK_URL is set but HUCHA_WEBHOOK_SECRET is not."))
    try:
        forms = load_forms(settings.forms_dir)
        thresholds = load_thresholds(settings.forms_dir / "thresholds.toml")
    except Exception as error:
        found.wrong(
            t(
                lang,
                "The questionnaires in {folder} cannot be read: {reason}",
                folder=str(settings.forms_dir),
                reason=str(error).splitlines()[0][:200] if str(error) else type(error).__name__,
            )
        )
        return None
    found.ok(t(lang, "Questionnaires read: {names}.", names=", ".join(sorted(forms))))
    return thresholds


async def _database(settings: Settings, lang: str, t: Translate, found: Findings) -> bool:
    from sqlalchemy import text

    from bot.cli_errors import explain
    from storage import make_engine, make_sessionmaker
    from storage.db import head_revision, schema_revision

    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as s:
            await s.execute(text("SELECT 1"))
            revision = await schema_revision(s)
    except Exception as error:
        found.wrong(explain(error, lang, t, settings)[0])
        return False
    finally:
        await engine.dispose()
    found.ok(t(lang, "The database answers."))
    head = head_revision()
    if revision == head:
        found.ok(t(lang, "The database schema is up to date."))
        return True
    found.wrong(t(lang, "The database schema is not up to date: run hucha db upgrade."))
    return revision is not None


async def _areas_and_income_lines(
    settings: Settings, thresholds: Any, lang: str, t: Translate, found: Findings
) -> None:
    from sqlalchemy import func, select

    from conversations.thresholds import missing_income_lines
    from storage import Area, User, make_engine, make_sessionmaker, provinces_within

    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as s:
            levels = dict(
                (level, count)
                for level, count in await s.execute(
                    select(Area.level, func.count()).group_by(Area.level)
                )
            )
            offices = await s.scalar(
                select(func.count()).where(User.role == "office", User.active.is_(True))
            )
            provinces = await provinces_within(s)
    finally:
        await engine.dispose()
    if not levels.get("village"):
        found.wrong(t(lang, "No villages yet: add the area tree with hucha areas import FILE."))
    else:
        found.ok(
            t(
                lang,
                "Area tree: {counties} counties, {townships} townships, {villages} villages.",
                counties=levels.get("county", 0),
                townships=levels.get("township", 0),
                villages=levels.get("village", 0),
            )
        )
    if provinces == [None] and levels:
        found.wrong(
            t(lang, "No area has a province: give it with hucha areas import FILE --province.")
        )
    if not offices:
        found.note(t(lang, "No office user yet: hucha invite --role office --area COUNTY."))
    year = datetime.now(UTC).year
    missing = missing_income_lines(thresholds, provinces, year)
    for line in missing:
        found.wrong(
            t(
                lang,
                "No income line for {province} in {year}: add it to thresholds.toml.",
                province=line.province,
                year=line.year,
            )
        )
    if not missing:
        found.ok(t(lang, "Every province has an income line for {year}.", year=year))


async def _bot_api(settings: Settings, lang: str, t: Translate, found: Findings) -> None:
    from bot.cli import check_bot_api
    from bot.cli_errors import explain

    if not settings.token:
        return
    try:
        username = await check_bot_api(settings)
    except Exception as error:
        for line in explain(error, lang, t, settings)[:1]:
            found.wrong(line)
        if settings.proxy:
            found.note(
                t(lang, "Requests go through the proxy {proxy}.", proxy=shown(settings.proxy))
            )
        return
    found.ok(t(lang, "The Bot API knows the token: @{username}.", username=username))
    if settings.proxy:
        found.ok(t(lang, "The proxy {proxy} works.", proxy=shown(settings.proxy)))


def shown(url: str) -> str:
    """A URL as it may be printed: without a user name or password."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.hostname is None:
        return "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"
