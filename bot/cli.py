"""The `hucha` command: run the bot, the offline demo, the area tree, invitations, roster import,
exports, reminders, migrations and the health check. Every failure is one or two sentences in
the user's language and exit code 2; `--debug` shows the traceback instead."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, NoReturn

from bot.cli_errors import CliError, explain, language_from_argv
from bot.i18n import Translator
from bot.logs import configure_logging
from bot.redaction import install_redaction
from bot.settings import Settings, settings_from_env
from storage.bots import BotRecord
from storage.db import normalized_database_url

ROLES = ("cadre", "leader", "office")
LANGUAGES = ("zh_CN", "en")


class Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing its English usage error and exiting."""

    def error(self, message: str) -> NoReturn:
        raise CliError.from_argparse(message, self.prog)


def common_options() -> Parser:
    """Options every command takes, before or after its name. SUPPRESS keeps a subcommand
    from overwriting what was given before it with its default."""
    common = Parser(add_help=False)
    common.add_argument(
        "--database-url",
        default=argparse.SUPPRESS,
        help="SQLAlchemy URL (default: DATABASE_URL or hucha.db)",
    )
    common.add_argument(
        "--lang",
        choices=LANGUAGES,
        default=argparse.SUPPRESS,
        help="language of messages and reports (default: HUCHA_LANGUAGE or zh_CN)",
    )
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the traceback of a failure",
    )
    return common


def parser() -> argparse.ArgumentParser:
    common = common_options()
    root = Parser(prog="hucha", description="Hucha (户查) household checks.", parents=[common])
    commands = root.add_subparsers(dest="command", required=True, parser_class=Parser)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = commands.add_parser(name, help=help, parents=[common])
        return sub

    run = command("run", "run the bot against Telegram (long polling, or --webhook)")
    run.add_argument("--token", help="bot token (default: HUCHA_TELEGRAM_TOKEN)")
    run.add_argument(
        "--api-url",
        help="Bot API base URL, e.g. https://api.telegram.org/bot or http://host:port/bot",
    )
    run.add_argument(
        "--proxy", help="proxy URL, http:// or https:// (default: HUCHA_PROXY or HTTPS_PROXY)"
    )
    run.add_argument(
        "--web-listen", help="serve the web dashboard on HOST:PORT (default: HUCHA_WEB_LISTEN)"
    )
    run.add_argument(
        "--web-url", help="the dashboard's public base URL for /web links (default: HUCHA_WEB_URL)"
    )
    run.add_argument(
        "--webhook",
        action="store_true",
        help="take updates by webhook (secret from HUCHA_WEBHOOK_SECRET) instead of polling",
    )
    run.add_argument("--listen", help="HOST:PORT of the webhook and of /healthz, /readyz, /metrics")
    run.add_argument("--webhook-url", help="the public HTTPS URL Telegram posts to")

    demo = command("demo", "offline demo in the terminal, no token needed")
    demo.add_argument("--script", help="answers separated by ';' instead of typing them")
    demo.add_argument(
        "--as",
        dest="role",
        choices=("cadre", "leader", "office"),
        default="cadre",
        help="chat as the village's cadre (default), the township's leader or the county's office",
    )

    areas = command("areas", "the area tree: counties, townships, villages")
    area_actions = areas.add_subparsers(dest="action", required=True, parser_class=Parser)
    areas_import = area_actions.add_parser(
        "import", help="add areas from a CSV or XLSX of division codes", parents=[common]
    )
    areas_import.add_argument("file", type=Path)
    areas_import.add_argument("--province", help="province of the top areas, e.g. 江苏")
    areas_import.add_argument("--timezone", help="time zone of the top areas (Asia/Shanghai)")
    areas_import.add_argument(
        "--settings", help="settings of the top areas as JSON, e.g. '{\"reporting_day\": 25}'"
    )
    areas_list = area_actions.add_parser(
        "list", help="the tree with household and user counts", parents=[common]
    )
    areas_list.add_argument("code", nargs="?", help="show only this area and below")

    invite = command("invite", "issue a one-time invitation code")
    invite.add_argument("--role", choices=ROLES, required=True)
    invite.add_argument("--area", required=True, help="area code, e.g. 320705001001")
    invite.add_argument("--days", type=int, default=None, help="days until the code expires")
    invite.add_argument("--bot-username", help="bot username for the t.me deep link")

    bots = command("bots", "several bots in one deployment, each serving an area")
    bot_actions = bots.add_subparsers(dest="action", required=True, parser_class=Parser)
    bots_add = bot_actions.add_parser(
        "add", help="add a bot serving an area (its token read from a variable)", parents=[common]
    )
    bots_add.add_argument("--area", required=True, help="code of the county (or above) it serves")
    bots_add.add_argument(
        "--token-env", required=True, help="name of the environment variable holding its token"
    )
    bots_add.add_argument("--api-url", help="Bot API base URL")
    bots_add.add_argument("--proxy", help="proxy URL, http:// or https://")
    bot_actions.add_parser("list", help="the bots and the areas they serve", parents=[common])
    bots_remove = bot_actions.add_parser(
        "remove", help="stop a bot serving its area", parents=[common]
    )
    bots_remove.add_argument("--area", required=True, help="code of the area the bot serves")

    roster = command("import-roster", "import households from a CSV or XLSX roster")
    roster.add_argument("file", type=Path)
    roster.add_argument("--area", help="refuse villages outside this area code")

    from bot.office_cli import add_export_arguments

    add_export_arguments(
        command("export", "export check records, the problem ledger or the monthly report")
    )

    from bot.office_cli import add_campaign_arguments

    add_campaign_arguments(
        command("campaign", "campaigns (专项排查): open one for an area, or list them"), common
    )

    remind = command("remind", "what the reminder sweep sends at a time")
    remind.add_argument("--at", required=True, help='local time, e.g. "2026-12-01 08:30"')
    remind.add_argument("--zone", default="Asia/Shanghai", help="time zone of --at")
    remind.add_argument(
        "--dry-run", action="store_true", help="print what would be sent, to whom and why"
    )

    doctor = command("doctor", "check configuration, database, areas, income lines, token, proxy")
    doctor.add_argument("--token", help="bot token (default: HUCHA_TELEGRAM_TOKEN)")
    doctor.add_argument("--api-url", help="Bot API base URL")
    doctor.add_argument("--proxy", help="proxy URL, http:// or https://")

    db = command("db", "database schema")
    db.add_argument("action", choices=["upgrade"])
    return root


def settings_from(args: argparse.Namespace) -> Settings:
    settings = settings_from_env()
    changes: dict[str, object] = {}
    if getattr(args, "database_url", None):
        changes["database_url"] = normalized_database_url(args.database_url)
    if getattr(args, "lang", None):
        changes["default_language"] = args.lang
    for name in ("token", "api_url", "proxy", "web_listen", "web_url"):
        value = getattr(args, name, None)
        if value:
            changes[name] = value
    return settings.with_changes(**changes) if changes else settings


def run_bot(settings: Settings, args: argparse.Namespace) -> int:
    from bot.serve import Listen, serve
    from storage import upgrade

    bots = asyncio.run(bot_tokens(settings)) if _database_exists(settings.database_url) else []
    if not settings.token and not bots:
        raise CliError("No token: set HUCHA_TELEGRAM_TOKEN or pass --token.")
    listen = None
    if args.listen:
        try:
            listen = Listen.parse(args.listen)
        except ValueError:
            raise CliError(
                "--listen takes HOST:PORT, such as {example}.", example="0.0.0.0:8080"
            ) from None
    webhook_url, secret = None, None
    if args.webhook:
        webhook_url = args.webhook_url or settings.webhook_url
        secret = settings.webhook_secret
        if not webhook_url or not _public_url(webhook_url):
            raise CliError(
                "--webhook needs --webhook-url https://…, the address Telegram posts to."
            )
        if listen is None:
            raise CliError("--webhook needs --listen HOST:PORT, where the webhook is served.")
        if not secret:
            raise CliError("--webhook needs a secret: set HUCHA_WEBHOOK_SECRET.")
    asyncio.run(upgrade(settings.database_url))
    # Ask the Bot API who we are first: a wrong token or an unreachable server is then one
    # sentence, not a traceback from the serving loop.
    for record, token in bots:
        asyncio.run(check_bot_of(settings, record.token_env, token))
    if not bots:
        asyncio.run(check_bot_api(settings))
    asyncio.run(serve(settings, listen, webhook_url, secret, bots=bots))
    return 0


def _database_exists(url: str) -> bool:
    """False for a SQLite file not made yet (reading it would make it)."""
    from sqlalchemy import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return True
    return Path(parsed.database or "").is_file()


async def bot_tokens(settings: Settings) -> list[tuple[BotRecord, str]]:
    """The bots recorded with `hucha bots add`, each with its token from its variable; none
    while the database has none, or has no bots yet (a new SQLite file, an older schema)."""
    import os

    from storage import list_bots, make_engine, make_sessionmaker

    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as s:
            records = await list_bots(s)
    except Exception:  # no bots table yet: the upgrade that follows makes an empty one
        return []
    finally:
        await engine.dispose()
    found: list[tuple[BotRecord, str]] = []
    for record in records:
        token = os.environ.get(record.token_env, "").strip()
        if not token:
            raise CliError(
                "The token of @{username} ({area}) is missing: set the variable {name}.",
                username=record.username,
                area=record.area_name,
                name=record.token_env,
            )
        install_redaction([token])
        found.append((record, token))
    return found


async def check_bot_of(settings: Settings, variable: str, token: str) -> str:
    """The username of the bot whose token is in `variable` (getMe); a refused token is
    named by its variable."""
    from telegram.error import InvalidToken

    try:
        return await check_bot_api(settings.with_changes(token=token))
    except InvalidToken:
        raise CliError(
            "The Bot API refused the token in {name}: check it with @BotFather.", name=variable
        ) from None


async def bots_command(settings: Settings, args: argparse.Namespace) -> int:
    """hucha bots add|list|remove."""
    import os

    from bot.services import utc_now
    from storage import add_bot, list_bots, make_engine, make_sessionmaker, remove_bot, upgrade

    t, lang = Translator(), settings.default_language
    username = None
    if args.action == "add":
        token = os.environ.get(args.token_env, "").strip()
        if not token:
            raise CliError(
                "The variable {name} is not set: put the bot's token from @BotFather in it.",
                name=args.token_env,
            )
        install_redaction([token])
        username = await check_bot_of(settings, args.token_env, token)
    await upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine).begin() as s:
            if args.action == "add":
                assert username is not None
                record = await add_bot(s, args.area, args.token_env, username, utc_now())
                print(
                    t(
                        lang,
                        "@{username} now serves {area}; restart hucha run to serve it.",
                        username=record.username,
                        area=record.area_name,
                    )
                )
            elif args.action == "remove":
                record = await remove_bot(s, args.area)
                print(
                    t(
                        lang,
                        "@{username} no longer serves {area}; restart hucha run.",
                        username=record.username,
                        area=record.area_name,
                    )
                )
            else:
                records = await list_bots(s)
                for record in records:
                    print(
                        t(
                            lang,
                            "{id}. @{username}: {area} ({code}), token in {name}",
                            id=record.id,
                            username=record.username,
                            area=record.area_name,
                            code=record.area_code,
                            name=record.token_env,
                        )
                    )
                if not records:
                    print(t(lang, "No bots recorded: hucha run serves HUCHA_TELEGRAM_TOKEN."))
    finally:
        await engine.dispose()
    return 0


def _public_url(url: str) -> bool:
    """HTTPS as Telegram requires; plain HTTP only on this machine (a local Bot API server)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme == "https":
        return bool(parts.hostname)
    return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")


async def check_bot_api(settings: Settings) -> str:
    """The bot's username (getMe); raises InvalidToken or NetworkError."""
    from telegram import Bot

    from bot.transport import bot_api_request

    assert settings.token is not None
    request = bot_api_request(settings.api_url, settings.proxy)
    bot = Bot(settings.token, base_url=settings.api_url, request=request)
    async with bot:
        return bot.username


async def invite(
    settings: Settings, role: str, area: str, days: int | None, bot: str | None
) -> int:
    from services import Runtime, invitations
    from storage import make_engine, make_sessionmaker, upgrade

    await upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    ttl = timedelta(days=days if days is not None else settings.invitation_ttl_days)
    try:
        runtime = Runtime(make_sessionmaker(engine))
        issued = await invitations.issue(runtime, None, role, area, ttl)
    finally:
        await engine.dispose()
    t, lang = Translator(), settings.default_language
    username = issued.bot_username or bot or settings.bot_username or "<your_bot>"
    print(issued.code)
    print(f"https://t.me/{username}?start={issued.code}")
    print(t(lang, "expires {moment} UTC", moment=f"{issued.expires_at:%Y-%m-%d %H:%M}"))
    return 0


async def remind(settings: Settings, at: str, zone: str, dry_run: bool) -> int:
    """Print what a reminder sweep at `at` would send; the running bot does the sending."""
    from datetime import datetime
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from bot.reminders import dry_run as reminder_dry_run
    from conversations import load_forms
    from storage import make_engine, make_sessionmaker, upgrade

    if not dry_run:
        raise CliError("Only --dry-run is offered: the running bot sends reminders.")
    try:
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=ZoneInfo(zone))
    except (ValueError, ZoneInfoNotFoundError):
        raise CliError(
            "Cannot read the time {value}: write it as 2026-12-01 08:30.", value=at
        ) from None
    await upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        lines = await reminder_dry_run(
            make_sessionmaker(engine),
            Translator(),
            moment,
            settings.default_language,
            load_forms(settings.forms_dir),
        )
    finally:
        await engine.dispose()
    print(f"reminders due by {moment:%Y-%m-%d %H:%M %Z}:")
    for line in lines:
        print(line)
    return 0


async def doctor(settings: Settings) -> int:
    """Print each check's outcome; exit code 1 when something is wrong."""
    from bot.doctor import examine

    found = await examine(settings, settings.default_language, Translator())
    for line in found.lines:
        print(line)
    return 1 if found.failed else 0


async def db_upgrade(settings: Settings) -> int:
    from storage import upgrade

    await upgrade(settings.database_url)
    print(Translator()(settings.default_language, "The database is up to date."))
    return 0


def _settings_json(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise CliError(
            "--settings takes a JSON object, such as {example}.", example='{"reporting_day": 25}'
        )
    return value


def check_database_folder(url: str) -> None:
    """A SQLite file in a folder that does not exist: say so before the driver fails in its
    own thread."""
    from sqlalchemy import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return
    if parsed.database == ":memory:" or "mode=memory" in url:
        return
    folder = Path(parsed.database).parent
    if not folder.is_dir():
        raise CliError(
            "The database cannot be reached: the folder {folder} does not exist.",
            folder=str(folder),
        )


def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    from bot import office_cli

    lang = settings.default_language
    check_database_folder(settings.database_url)
    if args.command == "run":
        return run_bot(settings, args)
    if args.command == "demo":
        from bot.demo import run_demo

        return asyncio.run(run_demo(getattr(args, "database_url", None), args.script, args.role))
    if args.command == "areas" and args.action == "import":
        options = office_cli.TopAreaOptions(
            args.province, args.timezone, _settings_json(args.settings)
        )
        return asyncio.run(office_cli.import_areas_command(settings, args.file, lang, options))
    if args.command == "areas":
        return asyncio.run(office_cli.list_areas_command(settings, args.code, lang))
    if args.command == "bots":
        return asyncio.run(bots_command(settings, args))
    if args.command == "invite":
        return asyncio.run(invite(settings, args.role, args.area, args.days, args.bot_username))
    if args.command == "export":
        return asyncio.run(office_cli.export_command(settings, args, lang))
    if args.command == "import-roster":
        return asyncio.run(office_cli.import_roster_command(settings, args.file, lang, args.area))
    if args.command == "campaign":
        return asyncio.run(office_cli.campaign_command(settings, args, lang))
    if args.command == "remind":
        return asyncio.run(remind(settings, args.at, args.zone, args.dry_run))
    if args.command == "db":
        return asyncio.run(db_upgrade(settings))
    if args.command == "doctor":
        return asyncio.run(doctor(settings))
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    # The bot logs JSON lines for the operator's tools; other commands talk to a person.
    running = "run" in arguments
    configure_logging(json_lines=running and settings_from_env().log_format != "text")
    lang = language_from_argv(arguments, settings_from_env().default_language)
    debug = "--debug" in arguments
    settings: Settings | None = None
    try:
        args = parser().parse_args(arguments)
        settings = settings_from(args)
        install_redaction([settings.token] if settings.token else [])
        lang = settings.default_language
        return dispatch(args, settings)
    except Exception as error:
        if debug:
            raise
        for line in explain(error, lang, Translator(), settings):
            print(line, file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
