"""Measure the dashboard's server time for the overview (总览) and the problem ledger (问题台账)
of a county, on SQLite and PostgreSQL.

    .venv/bin/python bench/web_pages.py [--households 100000] [--problems 200000] [--villages 500]
                                  [--database sqlite|URL] [--runs 7]

A freshly migrated database (a temporary SQLite file by default; a PostgreSQL URL names an
empty database) is filled as bench/reminder_sweep.py fills it: one county, 10 townships,
`--villages` villages, the households, the problems (60 % open or in progress), a check for a
third of the households (on PostgreSQL then vacuumed and analysed, as autovacuum does after a
bulk load). A county office signs in through a one-time link, and each page is
asked for `--runs` times over HTTP on localhost against the dashboard's own aiohttp server;
the median and the slowest are printed beside the baseline, measured in the same run: the
sign-in page (the same server and templates, no query). Target: under 300 ms per page.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from reminder_sweep import FIRST, county_parser, filled_county
from sqlalchemy import select, text

from bot.i18n import Translator
from services import Runtime, access
from storage.models import User
from web.app import Dashboard, dashboard_app
from web.photos import PhotoCache

PAGES = {
    "baseline: sign-in page": "/login/bench",
    "总览 overview": "/",
    "问题台账 ledger, open, newest first": "/problems",
    "问题台账 ledger, overdue, by deadline, one township": "/problems?overdue=1&sort=deadline",
    "问题台账 ledger, all statuses, page 40": "/problems?status=open&status=in_progress"
    "&status=rectified&status=verified&offset=1000",
    "问题台账 ledger, one unit and category": "/problems?unit=县直单位&category=住房安全",
}


async def _no_photos(file_id: str) -> bytes:
    raise LookupError(file_id)


async def timed(client: aiohttp.ClientSession, url: str, runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        async with client.get(url) as response:
            await response.read()
            assert response.status == 200, (url, response.status)
        times.append(time.perf_counter() - started)
    return statistics.median(times), max(times)


async def main() -> None:
    parser = county_parser(__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    county = await filled_county(args)
    engine, maker = county.engine, county.maker
    if engine.dialect.name == "postgresql":  # what autovacuum does after a bulk load
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text("VACUUM ANALYZE"))
    runtime = Runtime(maker, lambda: FIRST)
    async with maker() as s:
        office = await s.scalar(select(User.id).where(User.role == "office"))
    assert office is not None
    token = await access.issue_login(runtime, office)
    dashboard = Dashboard(runtime, Translator(), PhotoCache(_no_photos))
    runner = web.AppRunner(dashboard_app(dashboard), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}"
    try:
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as client:
            async with client.post(f"{base}/login/{token}") as signed:
                assert signed.status == 200
            await timed(client, base + "/", 1)  # warm the caches once
            figures = {
                name: await timed(client, base + path, args.runs) for name, path in PAGES.items()
            }
    finally:
        await runner.cleanup()
        await engine.dispose()
        county.folder.cleanup()
    report(figures)


def report(figures: dict[str, tuple[float, float]]) -> None:
    """Each page's median and slowest time beside the baseline's, measured in the same run."""
    baseline = next(median for name, (median, _) in figures.items() if name.startswith("baseline"))
    width = max(len(name) for name in figures)
    print(f"{'page':<{width}} {'p50 ms':>8} {'max ms':>8} {'p50 - baseline ms':>18}")
    for name, (median, slowest) in figures.items():
        print(
            f"{name:<{width}} {median * 1000:>8.0f} {slowest * 1000:>8.0f}"
            f" {(median - baseline) * 1000:>18.0f}"
        )
    worst = max(median for name, (median, _) in figures.items() if not name.startswith("baseline"))
    verdict = "within" if worst < 0.3 else "over"
    print(f"slowest page p50 {worst * 1000:.0f} ms: {verdict} the 300 ms target")


if __name__ == "__main__":
    asyncio.run(main())
