"""`hucha run --webhook`: Telegram's updates by webhook with the secret-token header checked,
and the operator's /healthz, /readyz and /metrics on the same port."""

from __future__ import annotations

import asyncio
import gc
import socket
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest
from sqlalchemy import func, select, text

from bot.app import build_application
from bot.emulator import BotApiEmulator
from bot.serve import YOUNG_GENERATION, Listen, serve, settled_heap
from bot.settings import Settings
from storage import make_engine, make_sessionmaker
from storage.models import ReceivedUpdate
from tests.harness import Clock, Harness

SECRET = "a-long-random-secret_42"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@asynccontextmanager
async def webhook_bot(
    emulator: BotApiEmulator, database_url: str, reminders: float = 0, dashboard: bool = False
) -> AsyncIterator[str]:
    """The bot served as `hucha run --webhook` serves it; yields its base URL. With
    `dashboard`, HUCHA_WEB_URL names that same server, as it does behind one reverse proxy."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings(
        token=emulator.token,
        database_url=database_url,
        api_url=emulator.base_url,
        file_url=emulator.base_file_url,
        rate_limit=False,
        reminder_interval=reminders,
        web_url=base if dashboard else None,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve(settings, Listen("127.0.0.1", port), f"{base}/tg", SECRET, stop=stop)
    )
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(200):
                try:
                    async with http.get(f"{base}/healthz") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        yield base
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=60)


async def test_webhook_serves_updates_and_refuses_a_wrong_secret(
    emulator: BotApiEmulator, database_url: str, clock: Clock
) -> None:
    engine = make_engine(database_url)
    seeder = Harness(emulator, Settings(), make_sessionmaker(engine), clock, build_application)
    await seeder.seed()
    code = await seeder.invitation("cadre", "320705001001")
    threshold = gc.get_threshold()
    async with webhook_bot(emulator, database_url) as base:
        # Served with the heap settled: what was built to serve is frozen.
        assert gc.get_threshold()[0] == YOUNG_GENERATION
        assert gc.get_freeze_count() > 10_000
        user = emulator.user(3301, "测试干部", language_code="zh-hans")
        await user.send_command("start", code)
        assert "✅" in (await user.next_message(timeout=30)).content
        chat = {"id": 3301, "type": "private"}
        forged = {
            "update_id": 999_999,
            "message": {"message_id": 1, "date": 0, "chat": chat, "text": "/help"},
        }
        async with aiohttp.ClientSession() as http:
            for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
                async with http.post(f"{base}/tg", json=forged, headers=headers) as response:
                    assert response.status == 401
            async with http.get(f"{base}/readyz") as response:
                assert response.status == 200, await response.text()
            async with http.get(f"{base}/metrics") as response:
                metrics = await response.text()
        assert "hucha_updates_handled_total 1.0" in metrics
        assert "hucha_handler_seconds_bucket" in metrics
        assert "hucha_updates_in_hand" in metrics
        assert "hucha_reminders_sent_total" in metrics
    assert gc.get_threshold() == threshold
    assert gc.get_freeze_count() == 0
    async with seeder.sessionmaker() as s:
        forged_stored = await s.scalar(
            select(func.count()).where(ReceivedUpdate.update_id == 999_999)
        )
    await engine.dispose()
    assert forged_stored == 0


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_a_settled_heap_leaves_what_was_built_and_collects_what_is_thrown_away() -> None:
    built = Cycle()
    with settled_heap():
        assert not any(o is built for o in gc.get_objects())  # never walked again
        thrown = Cycle()
        ref = weakref.ref(thrown)
        del thrown
        gc.collect()
        assert ref() is None  # garbage made while serving is collected
    assert any(o is built for o in gc.get_objects())  # walked again once serving ends


async def test_the_dashboard_shares_the_webhook_port(
    emulator: BotApiEmulator, database_url: str, clock: Clock
) -> None:
    engine = make_engine(database_url)
    seeder = Harness(emulator, Settings(), make_sessionmaker(engine), clock, build_application)
    await seeder.seed()
    code = await seeder.invitation("leader", "320705001")
    await engine.dispose()
    async with webhook_bot(emulator, database_url, dashboard=True) as base:
        assert dict(emulator.commands())["web"] == "在电脑浏览器中打开工作台"
        leader = emulator.user(3302, "测试组长", language_code="zh-hans")
        await leader.send_command("start", code)
        assert "✅" in (await leader.next_message(timeout=30)).content
        assert "web" in dict(emulator.commands(scope="chat:3302"))
        await leader.send_command("web")
        link = ""
        while not link.startswith(f"{base}/login/"):
            words = (await leader.next_message(timeout=30)).content.split()
            link = next((w for w in words if w.startswith("http")), "")
        async with aiohttp.ClientSession() as http:
            async with http.get(link) as page:
                assert page.status == 200 and "<form" in await page.text()
            async with http.get(f"{base}/healthz") as health:
                assert health.status == 200


async def test_readyz_names_what_is_not_ready(emulator: BotApiEmulator, database_url: str) -> None:
    async with webhook_bot(emulator, database_url) as base:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/readyz") as response:
                assert response.status == 200
        # The schema falls behind the code (a deployment that forgot `hucha db upgrade`).
        engine = make_engine(database_url)
        async with engine.begin() as connection:
            await connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
        await engine.dispose()
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/readyz") as response:
                body = await response.json()
        assert response.status == 503
        assert "hucha db upgrade" in body["problems"][0]


async def test_an_update_delivered_twice_is_handled_once(
    emulator: BotApiEmulator, database_url: str, clock: Clock
) -> None:
    engine = make_engine(database_url)
    seeder = Harness(emulator, Settings(), make_sessionmaker(engine), clock, build_application)
    await seeder.seed()
    code = await seeder.invitation("cadre", "320705001001")
    await engine.dispose()
    async with webhook_bot(emulator, database_url):
        user = emulator.user(3303, "测试干部", language_code="zh-hans")
        await user.send_command("start", code)
        assert "✅" in (await user.next_message(timeout=30)).content
        posts = emulator.webhook_posts
        emulator.deliver_twice()
        await user.send_command("help")
        assert "/check" in (await user.next_message(timeout=30)).content
        await emulator.wait_until_idle(timeout=30)
        assert emulator.webhook_posts == posts + 2
        with pytest.raises(TimeoutError):
            await user.next_message(timeout=1)


async def test_an_update_is_stored_as_telegram_posted_it(
    emulator: BotApiEmulator, database_url: str
) -> None:
    """What is stored is the JSON that came, not python-telegram-bot's rewriting of it."""
    emulator.user(3304, "测试干部", language_code="zh-hans")
    person = {"id": 3304, "is_bot": False, "first_name": "测试干部", "language_code": "zh-hans"}
    posted = {
        "update_id": 999_998,
        "message": {
            "message_id": 1,
            "from": person,
            "chat": {"id": 3304, "type": "private", "first_name": "测试干部"},
            "date": 1_764_300_000,
            "text": "/help",
            "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
        },
    }
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    async with webhook_bot(emulator, database_url) as base:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{base}/tg", json=posted, headers=headers) as response:
                assert response.status == 200
        engine = make_engine(database_url)
        async with make_sessionmaker(engine)() as s:
            stored = await s.scalar(
                select(ReceivedUpdate.payload).where(ReceivedUpdate.update_id == 999_998)
            )
        await engine.dispose()
    assert stored == posted
