"""The instance's HTTP side on aiohttp: Telegram's webhook (its secret-token header checked)
and the operator's endpoints, `/healthz` (the process is up), `/readyz` (database reachable,
migrations current, reminder scheduler running) and `/metrics` (Prometheus)."""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from aiohttp import web
from telegram import Update
from telegram.ext import Application

from bot.intake import Intake
from bot.services import KEY, Services

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram's updates are small; a larger body is not one of them.
MAX_UPDATE_BYTES = 1024 * 1024


def health_routes(app: web.Application, application: Application) -> None:  # type: ignore[type-arg]
    svc: Services = application.bot_data[KEY]

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        problems = await readiness_problems(application)
        body = {"status": "ready" if not problems else "not ready", "problems": problems}
        return web.json_response(body, status=200 if not problems else 503)

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=svc.metrics.text(), content_type="text/plain", charset="utf-8")

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)


async def readiness_problems(application: Application) -> list[str]:  # type: ignore[type-arg]
    """What keeps this instance from serving, in plain words (empty when ready)."""
    from storage.db import head_revision, schema_revision

    svc: Services = application.bot_data[KEY]
    problems: list[str] = []
    try:
        async with svc.sessionmaker() as s:
            revision = await schema_revision(s)
        if revision != head_revision():
            problems.append(
                f"the database schema is at {revision or 'nothing'}, not {head_revision()}: "
                "run hucha db upgrade"
            )
    except Exception as error:
        problems.append(f"the database cannot be reached ({type(error).__name__})")
    if svc.settings.reminder_interval > 0:
        queue = application.job_queue
        if queue is None or not queue.scheduler.running:
            problems.append("the reminder scheduler is not running")
    if not application.running:
        problems.append("the bot is not running")
    if svc.fleet is not None:
        stopped = [record.username for record, app in svc.fleet.members.values() if not app.running]
        problems.extend(f"the bot @{username} is not running" for username in stopped)
    return problems


def webhook_route(app: web.Application, intake: Intake, path: str, secret: str) -> None:
    """POST `path`: Telegram's updates. A wrong or missing secret gets 401 and is never
    looked at; an update is answered 200 once stored, 503 when it cannot be (Telegram sends
    it again)."""
    expected = secret.encode()

    async def on_update(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            return web.Response(status=401, text="wrong secret token")
        if (request.content_length or 0) > MAX_UPDATE_BYTES:
            return web.Response(status=413)
        try:
            data: Any = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return web.Response(status=400, text="not JSON")
        update = Update.de_json(data, intake.application.bot) if isinstance(data, dict) else None
        if update is None:
            return web.Response(status=400, text="not an update")
        try:
            new = await intake.receive([update], [data])
        except Exception:
            log.warning("cannot store update %s; Telegram will send it again", update.update_id)
            return web.Response(status=503, text="try again")
        intake.dispatch(new)
        return web.Response(status=200)

    app.router.add_post(path, on_update)
