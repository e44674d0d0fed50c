"""Serving the web dashboard from the bot's own process: built from the application's services
(the same database, clock, catalogs and Bot API client), on `HOST:PORT`, or added to a
server the process already runs (webhook, health)."""

from __future__ import annotations

import logging

from aiohttp import web
from telegram.ext import Application

from bot.services import KEY, Services
from storage.photos import Fetch, PhotoStore
from web.app import Dashboard, add_dashboard
from web.photos import PhotoCache, bot_fetch

log = logging.getLogger(__name__)


def dashboard_for(application: Application) -> Dashboard:  # type: ignore[type-arg]
    svc: Services = application.bot_data[KEY]
    return Dashboard(
        svc.runtime,
        svc.t,
        PhotoCache(_fetch(application), PhotoStore(svc.settings.photo_dir)),
        svc.settings.default_language,
        secure_cookie=(svc.settings.web_url or "").startswith("https://"),
    )


def _fetch(application: Application) -> Fetch:  # type: ignore[type-arg]
    """Photos through this bot, or through whichever bot of the deployment received them."""
    svc: Services = application.bot_data[KEY]
    if svc.fleet is None:
        return bot_fetch(application.bot)
    from bot.fleet import fetch_through_any

    return fetch_through_any([app.bot for app in svc.fleet.applications])


def parse_listen(listen: str) -> tuple[str, int]:
    """HOST:PORT (or :PORT for every interface) as (host, port)."""
    host, _, port = listen.rpartition(":")
    if not port.isdigit():
        raise ValueError(f"--web-listen wants HOST:PORT, not {listen!r}")
    return host or "0.0.0.0", int(port)


async def start_dashboard(
    application: Application,  # type: ignore[type-arg]
    listen: str,
) -> web.AppRunner:
    """Serve the dashboard on `listen` until the returned runner is cleaned up."""
    app = web.Application()
    add_dashboard(app, dashboard_for(application))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    host, port = parse_listen(listen)
    await web.TCPSite(runner, host, port).start()
    log.info("dashboard listening on %s:%s", host, port)
    return runner
