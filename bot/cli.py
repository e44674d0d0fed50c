"""The `hucha` command: run the bot, the offline demo, invitations, roster import, migrations."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from bot.redaction import install_redaction
from bot.settings import Settings, settings_from_env
from storage.db import normalized_database_url

ROLES = ("cadre", "leader", "office")
LANGUAGES = ("zh_CN", "en")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="hucha", description="Hucha (户查) household checks.")
    root.add_argument("--database-url", help="SQLAlchemy URL (default: DATABASE_URL or hucha.db)")
    commands = root.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the bot against Telegram (long polling)")
    run.add_argument("--token", help="bot token (default: HUCHA_TELEGRAM_TOKEN)")
    run.add_argument(
        "--api-url",
        help="Bot API base URL, e.g. https://api.telegram.org/bot or http://host:port/bot",
    )
    run.add_argument("--proxy", help="HTTPS proxy URL (default: HUCHA_PROXY or HTTPS_PROXY)")

    demo = commands.add_parser("demo", help="offline demo in the terminal, no token needed")
    demo.add_argument("--script", help="answers separated by ';' instead of typing them")

    invite = commands.add_parser("invite", help="issue a one-time invitation code")
    invite.add_argument("--role", choices=ROLES, required=True)
    invite.add_argument("--area", required=True, help="area code, e.g. 320705001001")
    invite.add_argument("--days", type=int, default=None, help="days until the code expires")
    invite.add_argument("--bot-username", help="bot username for the t.me deep link")

    roster = commands.add_parser(
        "import-roster", help="import households from a CSV or XLSX roster"
    )
    roster.add_argument("file", type=Path)
    roster.add_argument("--lang", choices=LANGUAGES, default="zh_CN", help="language of the report")
    roster.add_argument("--area", help="refuse villages outside this area code")

    from bot.office_cli import add_export_parser

    add_export_parser(commands)

    remind = commands.add_parser("remind", help="what the reminder sweep sends at a time")
    remind.add_argument("--at", required=True, help='local time, e.g. "2026-12-01 08:30"')
    remind.add_argument("--zone", default="Asia/Shanghai", help="time zone of --at")
    remind.add_argument(
        "--dry-run", action="store_true", help="print what would be sent, to whom and why"
    )

    db = commands.add_parser("db", help="database schema")
    db.add_argument("action", choices=["upgrade"])
    return root


def settings_from(args: argparse.Namespace) -> Settings:
    settings = settings_from_env()
    changes: dict[str, object] = {}
    if args.database_url:
        changes["database_url"] = normalized_database_url(args.database_url)
    for name in ("token", "api_url", "proxy"):
        value = getattr(args, name, None)
        if value:
            changes[name] = value
    return settings.with_changes(**changes) if changes else settings


def run_bot(settings: Settings) -> int:
    from bot.app import build_application
    from storage import upgrade

    if not settings.token:
        print("No token: set HUCHA_TELEGRAM_TOKEN or pass --token.", file=sys.stderr)
        return 2
    from telegram.error import InvalidToken

    asyncio.run(upgrade(settings.database_url))
    application = build_application(settings)
    try:
        application.run_polling(drop_pending_updates=False)
    except InvalidToken:
        logging.getLogger(__name__).error(
            "The Bot API refused the token: check HUCHA_TELEGRAM_TOKEN (or --token) and "
            "--api-url (it ends in /bot)."
        )
        return 1
    return 0


async def invite(
    settings: Settings, role: str, area: str, days: int | None, bot: str | None
) -> int:
    from storage import StorageError, create_invitation, make_engine, make_sessionmaker, upgrade

    await upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    ttl = timedelta(days=days if days is not None else settings.invitation_ttl_days)
    try:
        async with make_sessionmaker(engine).begin() as s:
            from bot.services import utc_now

            invitation = await create_invitation(s, role, area, utc_now(), ttl=ttl)
    except StorageError as error:
        print(f"Cannot create the invitation: {error}", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    username = bot or settings.bot_username or "<your_bot>"
    print(invitation.code)
    print(f"https://t.me/{username}?start={invitation.code}")
    print(f"expires {invitation.expires_at:%Y-%m-%d %H:%M} UTC")
    return 0


async def import_roster(
    settings: Settings, file: Path, lang: str = "zh_CN", area: str | None = None
) -> int:
    from bot.office_cli import import_roster_command

    return await import_roster_command(settings, file, lang, area)


async def remind(settings: Settings, at: str, zone: str, dry_run: bool) -> int:
    """Print what a reminder sweep at `at` would send; the running bot does the sending."""
    from datetime import datetime
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from bot.i18n import Translator
    from bot.reminders import dry_run as reminder_dry_run
    from storage import make_engine, make_sessionmaker, upgrade

    if not dry_run:
        print("Only --dry-run is offered: the running bot sends reminders.", file=sys.stderr)
        return 2
    try:
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=ZoneInfo(zone))
    except (ValueError, ZoneInfoNotFoundError) as error:
        print(f"Cannot read the time {at!r}: {error}", file=sys.stderr)
        return 2
    await upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        lines = await reminder_dry_run(
            make_sessionmaker(engine), Translator(), moment, settings.default_language
        )
    finally:
        await engine.dispose()
    print(f"reminders due by {moment:%Y-%m-%d %H:%M %Z}:")
    for line in lines:
        print(line)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # httpx logs every request URL at INFO, and a Bot API URL carries the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = settings_from(args)
    install_redaction([settings.token] if settings.token else [])
    if args.command == "run":
        return run_bot(settings)
    if args.command == "demo":
        from bot.demo import run_demo

        return asyncio.run(run_demo(args.database_url, args.script))
    if args.command == "invite":
        return asyncio.run(invite(settings, args.role, args.area, args.days, args.bot_username))
    if args.command == "export":
        from bot.office_cli import export_command

        return asyncio.run(export_command(settings, args))
    if args.command == "import-roster":
        return asyncio.run(import_roster(settings, args.file, args.lang, args.area))
    if args.command == "remind":
        return asyncio.run(remind(settings, args.at, args.zone, args.dry_run))
    if args.command == "db":
        from storage import upgrade

        asyncio.run(upgrade(settings.database_url))
        print("database is up to date")
        return 0
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
