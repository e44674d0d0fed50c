"""The dashboard in a real browser (Debian's headless Chromium driven by Playwright): sign in
from a /web link got through the emulator, every page at phone width (390 px) and desktop
width (1366 px), a problem verified with a click and seen in the chat, another area's URLs
and a used link refused. Screenshots of every page go to HUCHA_SCREENSHOTS, or else to the
test's temporary folder (printed), for a person to look at."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from bot.emulator import ChatMessage, EmulatedUser
from services import ledger
from services.policy import Deed
from storage import start_session, submit_check
from storage.monitoring import open_case
from storage.problems import add_problem
from tests.ledger_harness import hand_problem
from tests.storage_fixtures import deadline_today, finished_record, unsafe_house
from tests.web_harness import WebWorld, web_link, web_world

__all__ = ["web_world"]

CHROMIUM = os.environ.get("HUCHA_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WIDTHS = {"phone": (390, 844), "desktop": (1366, 900)}

try:
    from playwright.async_api import Page, async_playwright
except ImportError:  # pragma: no cover - the test extras bring it
    async_playwright = None  # type: ignore[assignment]

pytestmark = [
    pytest.mark.skipif(async_playwright is None, reason="the playwright package is not installed"),
    pytest.mark.skipif(
        not (Path(CHROMIUM).exists() or shutil.which("chromium")),
        reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)",
    ),
]


async def _seed(w: WebWorld) -> dict[str, int]:
    """A checked household with a photo, a problem to verify, a monitoring case, and a
    problem of the other village."""
    h, v = w.h, w.v
    now = h.clock()
    ids = {"verify": await hand_problem(h, v, "zhang", "屋顶漏雨", date(2026, 12, 20))}
    ids["open"] = await hand_problem(h, v, "wang", "厨房墙体开裂", date(2026, 11, 20))
    async with h.sessionmaker.begin() as s:
        session = await start_session(
            s, v.ids["cadre"], h.households["li"], "household_check", v.cadre.chat_id, {}, now
        )
        record = finished_record(unsafe_house())
        record = replace(record, answers={**record.answers, "visit_date": "2026-11-23"})
        checked, _ = await submit_check(s, session.id, record, v.ids["cadre"], now, deadline_today)
        await open_case(s, h.households["li"], now.date(), {}, now, check_record_id=checked.id)
        other = await add_problem(
            s,
            v.ids["office"],
            h.households["other"],
            category="饮水安全",
            text="和平村的问题",
            goal="饮水安全有保障",
            measures="",
            responsible_unit="县水利局",
            deadline=date(2026, 12, 20),
            deadline_tier=None,
            now=now,
        )
    ids["other"] = other.id
    ids["li"] = h.households["li"]
    ids["other_household"] = h.households["other"]
    # The cadre's progress photo and rectification note, as the chat would record them.
    stored = w.h.emulator._world.files.add(_photo(), "photos", None, "image/jpeg")
    runtime = w.h.app.bot_data["hucha"].runtime
    cadre_id = v.ids["cadre"]
    await ledger.act_on_problem(
        runtime,
        cadre_id,
        ids["verify"],
        Deed.PROGRESS,
        note="已联系施工队",
        photo_file_id=stored.file_id,
    )
    await ledger.act_on_problem(runtime, cadre_id, ids["verify"], Deed.RECTIFY, note="屋顶已修好")
    return ids


async def until(user: EmulatedUser, wanted: Callable[[ChatMessage], bool]) -> ChatMessage:
    """The next matching message, waiting longer than the chat tests: a browser shares the
    machine."""
    while True:
        message = await user.next_message(timeout=30)
        if wanted(message):
            return message


def _photo() -> bytes:
    """A small real image (a 40×30 PNG in Hucha blue), so the browser can draw it."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    width, height = 40, 30
    rows = b"".join(b"\x00" + b"\x1f\x3b\x57" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _folder(tmp_path: Path) -> Path:
    chosen = os.environ.get("HUCHA_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    print(f"screenshots: {folder}")
    return folder


async def _shoot(page: Page, folder: Path, width: str, name: str) -> None:
    await page.screenshot(path=str(folder / f"{width}-{name}.png"), full_page=True)


async def test_the_dashboard_in_a_browser(web_world: WebWorld, tmp_path: Path) -> None:
    w = web_world
    ids = await _seed(w)
    folder = _folder(tmp_path)
    assert async_playwright is not None
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            for width, (x, y) in WIDTHS.items():
                context = await browser.new_context(viewport={"width": x, "height": y})
                page = await context.new_page()
                link = await web_link(w.v.office)
                await page.goto(link)
                await _shoot(page, folder, width, "0-login")
                await page.click("button[type=submit]")
                await page.wait_for_selector("h1")
                assert "示范县" in await page.inner_text("h1")
                await _shoot(page, folder, width, "1-overview")
                await page.goto(
                    w.base + "/problems?status=open&status=in_progress&status=rectified"
                )
                assert "屋顶漏雨" in await page.content()
                await _shoot(page, folder, width, "2-ledger")
                await page.goto(f"{w.base}/problems/{ids['open']}")
                await _shoot(page, folder, width, "3-problem")
                await page.goto(f"{w.base}/households/{ids['li']}")
                assert "李志强" in await page.content()
                await _shoot(page, folder, width, "4-household")
                await page.goto(w.base + "/households")
                await _shoot(page, folder, width, "5-households")
                await page.goto(w.base + "/cases")
                await _shoot(page, folder, width, "6-cases")
                await page.goto(w.base + "/exports")
                await _shoot(page, folder, width, "7-exports")
                await page.goto(w.base + "/reports/monthly?area=320705&month=2026-11")
                await _shoot(page, folder, width, "8-monthly")
                await context.close()

            # A leader verifies with a click; the photo comes through the server.
            context = await browser.new_context(viewport={"width": 1366, "height": 900})
            page = await context.new_page()
            link = await web_link(w.v.leader)
            await page.goto(link)
            await page.click("button[type=submit]")
            await page.goto(f"{w.base}/problems/{ids['verify']}")
            await page.wait_for_function(
                "() => [...document.images].some(i => i.complete && i.naturalWidth > 0)"
            )
            await _shoot(page, folder, "desktop", "9-before-verify")
            await page.click("form:has(input[name=action][value=verify]) button")
            await page.wait_for_selector(".notice")
            await _shoot(page, folder, "desktop", "9-verified")
            await context.close()
            cadre = w.v.cadre
            await cadre.send_command("problems")
            await until(cadre, lambda m: "Problems (open): 2" in m.content)
            await cadre.press_button("All")
            listing = await cadre.next_edit(timeout=30)
            assert any(
                text.startswith("张建国") and text.endswith("●") for text, _ in listing.buttons
            )

            # A cadre of 幸福村 tries 和平村 by URL, then a used link.
            context = await browser.new_context(viewport={"width": 390, "height": 844})
            page = await context.new_page()
            await page.goto(await web_link(cadre))
            await page.click("button[type=submit]")
            await page.goto(f"{w.base}/problems/{ids['other']}")
            text = await page.inner_text("main")
            assert "not in your area" in text
            assert "和平村的问题" not in text
            await page.goto(f"{w.base}/households/{ids['other_household']}")
            assert "赵大海" not in await page.inner_text("main")
            await _shoot(page, folder, "phone", "a-other-area")
            await context.close()
            context = await browser.new_context()
            page = await context.new_page()
            await page.goto(link)
            await page.click("button[type=submit]")
            assert "已被使用" in await page.inner_text("main")
            await _shoot(page, folder, "phone", "b-used-link")
            await context.close()
        finally:
            await browser.close()
