"""`hucha run`: the bot served until SIGTERM or SIGINT, by long polling (the default) or by
webhook behind the built-in aiohttp server. Updates come in through the intake
(bot/intake.py): stored, then acknowledged, then handled; on a stop signal the server stops
taking updates and those in hand finish before the process ends."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web
from telegram import Update
from telegram.ext import Application

from bot.app import build_application
from bot.intake import Intake
from bot.settings import Settings
from bot.web import health_routes, webhook_route
from storage.bots import BotRecord

SHUTDOWN_SECONDS = 10.0
# Allocations between two collections of the youngest generation (Python's default: 700).
YOUNG_GENERATION = 10_000


@dataclass(frozen=True)
class Listen:
    """Where the HTTP side listens (HOST:PORT)."""

    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Listen:
        host, _, port = text.rpartition(":")
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(text)
        return cls(host.strip("[]") or "0.0.0.0", int(port))


async def started(application: Application) -> None:  # type: ignore[type-arg]
    """Initialise and start the Application as run_polling would (post_init included)."""
    await application.initialize()
    if application.post_init is not None:
        await application.post_init(application)
    await application.start()


async def stopped(application: Application) -> None:  # type: ignore[type-arg]
    if application.running:
        await application.stop()
    await application.shutdown()
    if application.post_shutdown is not None:
        await application.post_shutdown(application)


def stop_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return stop


async def http_site(app: web.Application, listen: Listen) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_SECONDS)
    await runner.setup()
    await web.TCPSite(runner, listen.host, listen.port).start()
    return runner


def shares_port(settings: Settings, listen: Listen | None) -> bool:
    """Whether the dashboard is served on `listen`, beside the webhook and health routes: when
    it has a public address and no port of its own, or its own port is that one."""
    if listen is None or not settings.web_url:
        return False
    if not settings.web_listen:
        return True
    try:
        return Listen.parse(settings.web_listen) == listen
    except ValueError:
        return False


@contextlib.contextmanager
def settled_heap() -> Iterator[None]:
    """While the bot serves, the garbage collector leaves alone what was built to serve (the
    libraries, forms, catalogs and applications, about 170,000 objects), and collects the
    youngest generation less often. With Python's defaults it walked all of them again and
    again, a tenth of the CPU of an answer; most of what an answer allocates is freed by
    reference counting before any collection would find it. Undone when serving ends."""
    threshold = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_GENERATION, *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


async def serve(
    settings: Settings,
    listen: Listen | None = None,
    webhook_url: str | None = None,
    secret: str | None = None,
    stop: asyncio.Event | None = None,
    bots: Sequence[tuple[BotRecord, str]] = (),
) -> None:
    """Serve until `stop` (a stop signal by default): long polling, or with `webhook_url`
    Telegram's webhook on `listen`; `/healthz`, `/readyz` and `/metrics` on `listen` in
    both modes, and the dashboard too unless it has a port of its own. With `bots` (each
    bot's record and token), one Application per bot on one database; in webhook mode bot
    N's webhook is `webhook_url`/N."""
    stop = stop or stop_signals()
    with_dashboard = shares_port(settings, listen)
    if with_dashboard:
        # One server on `listen`: the application must not open a second one.
        settings = settings.with_changes(web_listen=None)
    applications = _applications(settings, bots)
    for application in applications:
        await started(application)
    intakes = [Intake(application) for application in applications]
    primary = applications[0]
    runner: web.AppRunner | None = None
    with settled_heap():
        try:
            if listen is not None:
                app = web.Application(client_max_size=1024 * 1024)
                health_routes(app, primary)
                if with_dashboard:
                    from bot.dashboard import dashboard_for
                    from web.app import add_dashboard

                    add_dashboard(app, dashboard_for(primary))
                if webhook_url is not None:
                    assert secret
                    for intake, url in zip(intakes, _webhook_urls(webhook_url, bots), strict=True):
                        webhook_route(app, intake, urlsplit(url).path or "/", secret)
                runner = await http_site(app, listen)
            for intake, url in zip(intakes, _webhook_urls(webhook_url, bots), strict=True):
                if webhook_url is not None:
                    await intake.start()
                    await intake.application.bot.set_webhook(
                        url, secret_token=secret, allowed_updates=Update.ALL_TYPES
                    )
                else:
                    await intake.start_polling()
            await stop.wait()
        finally:
            if runner is not None:
                # Stop taking updates first; then let those in hand finish.
                await runner.cleanup()
            await asyncio.gather(*(intake.stop() for intake in intakes))
            for application in applications:
                await stopped(application)


def _applications(settings: Settings, bots: Sequence[tuple[BotRecord, str]]) -> list[Application]:  # type: ignore[type-arg]
    """The single bot of the settings' token, or one per bot on one database."""
    if not bots:
        return [build_application(settings)]
    from bot.fleet import build_fleet
    from storage import make_engine, make_sessionmaker

    engine = make_engine(settings.database_url, settings.database_busy_timeout)
    return build_fleet(settings, bots, make_sessionmaker(engine)).applications


def _webhook_urls(webhook_url: str | None, bots: Sequence[tuple[BotRecord, str]]) -> list[str]:
    """The webhook URL of each bot: the given one for a single bot, /N after it for bot N."""
    base = webhook_url or ""
    if not bots:
        return [base]
    return [f"{base.rstrip('/')}/{record.id}" for record, _ in bots]
