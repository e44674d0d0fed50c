"""The composition root: one `build_application(settings)` for polling, webhook, demo and tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram.ext import Application, ApplicationBuilder

from bot import reminders
from bot.context import CONTEXT_TYPES
from bot.handlers import routes
from bot.i18n import Translator
from bot.retry import rate_limiter
from bot.sending import HuchaBot
from bot.services import KEY, Services, utc_now
from bot.settings import Settings
from bot.transport import bot_api_request
from conversations import load_forms, load_thresholds
from storage import make_engine, make_sessionmaker
from storage.bots import BotRecord

THRESHOLDS_FILE = "thresholds.toml"


def build_services(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession] | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> Services:
    """Load what every handler needs once: forms, thresholds, catalogs, the database."""
    if sessionmaker is None:
        engine = make_engine(settings.database_url, settings.database_busy_timeout)
        sessionmaker = make_sessionmaker(engine)
    forms = load_forms(settings.forms_dir)
    thresholds = load_thresholds(settings.forms_dir / THRESHOLDS_FILE)
    return Services(settings, sessionmaker, forms, thresholds, Translator(), clock)


WEB_RUNNER = "hucha_web_runner"


async def _start(application: Application) -> None:  # type: ignore[type-arg]
    """At start-up: the command menu, and the web dashboard when it has an address."""
    await routes.register_commands(application)
    settings: Settings = application.bot_data[KEY].settings
    if settings.web_listen:
        from bot.dashboard import start_dashboard

        application.bot_data[WEB_RUNNER] = await start_dashboard(application, settings.web_listen)


async def _stop(application: Application) -> None:  # type: ignore[type-arg]
    runner = application.bot_data.pop(WEB_RUNNER, None)
    if runner is not None:
        await runner.cleanup()


def build_bot(settings: Settings) -> HuchaBot:
    """The bot with the connection pools, proxy and rate limiter python-telegram-bot's builder
    would give it, its requests sent through bot/transport.py."""
    if not settings.token:
        raise ValueError("a bot token is needed (HUCHA_TELEGRAM_TOKEN or --token)")
    limiter = rate_limiter() if settings.rate_limit else None
    return HuchaBot(
        settings.token,
        base_url=settings.api_url,
        base_file_url=settings.base_file_url,
        request=bot_api_request(settings.api_url, settings.proxy, pool_size=256),
        get_updates_request=bot_api_request(settings.api_url, settings.proxy, pool_size=1),
        rate_limiter=limiter,  # type: ignore[arg-type]
        retry_policy=settings.retry,
    )


def build_application(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession] | None = None,
    clock: Callable[[], datetime] = utc_now,
    serving: BotRecord | None = None,
) -> Application:  # type: ignore[type-arg]
    """The bot, wired: handlers, services in bot_data, the command menu set at start-up.
    `serving`: the area this bot serves, when the deployment runs several (bot/fleet.py)."""
    builder = (
        ApplicationBuilder()
        .bot(build_bot(settings))
        .concurrent_updates(settings.concurrent_updates)
        # One context per update, shared by its handlers: the user is read once.
        .context_types(CONTEXT_TYPES)
        .post_init(_start)
        .post_shutdown(_stop)
        # Updates come in through bot/intake.py: stored before they are acknowledged.
        .updater(None)
    )
    application = builder.build()
    application.bot_data[KEY] = build_services(settings, sessionmaker, clock)
    application.bot_data[KEY].serving = serving
    routes.register(application)
    reminders.schedule_sweep(application, settings.reminder_interval)
    return application
