"""Several bots in one deployment: one Application per bot in one process, on one database.
Each county's bot registers and serves its own people, refuses another county's invitation
(which stays usable on its own bot), tells a person of another county which bot is theirs,
and sends every reminder through the bot of its recipient's area."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from bot.app import build_application
from bot.cli import main
from bot.emulator import BotApiEmulator, EmulatedUser
from bot.fleet import Fleet, build_fleet, fetch_through_any
from bot.handlers import routes
from bot.intake import Intake
from bot.reminders import run_sweep
from bot.serve import Listen, serve
from bot.settings import Settings
from bot.web import readiness_problems
from storage import (
    Household,
    Invitation,
    User,
    add_area,
    add_bot,
    make_engine,
    make_sessionmaker,
    upgrade,
    user_by_telegram_id,
)
from storage.models import Identity, ReceivedUpdate
from storage.problems import add_problem
from tests.harness import COUNTY, VILLAGE, Clock, Harness, eventually
from tests.test_webhook import SECRET, free_port

OTHER_COUNTY, OTHER_TOWNSHIP, FAR_VILLAGE = "320706", "320706001", "320706001001"
TOKEN_B, USERNAME_B = "222222:BETA", "hucha_b_bot"


def settings_for(emulator: BotApiEmulator, database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        token=None,
        database_url=database_url,
        api_url=emulator.base_url,
        file_url=emulator.base_file_url,
        rate_limit=False,
        reminder_interval=0,
        photo_dir=tmp_path / "photos",
    )


@asynccontextmanager
async def two_bots(
    emulator: BotApiEmulator, database_url: str, clock: Clock, tmp_path: Path
) -> AsyncIterator[tuple[Harness, Fleet, BotApiEmulator]]:
    """County A (示范县) served by the emulator's first bot, county B (远山县) by a second bot
    on the same server; one process, one SQLite file."""
    other = emulator.add_bot(TOKEN_B, bot_username=USERNAME_B)
    engine = make_engine(database_url)
    sessionmaker = make_sessionmaker(engine)
    settings = settings_for(emulator, database_url, tmp_path)
    h = Harness(emulator, settings, sessionmaker, clock, build_application)
    await h.seed()
    async with sessionmaker.begin() as s:
        await add_area(s, OTHER_COUNTY, "远山县", "county", province="江苏")
        await add_area(s, OTHER_TOWNSHIP, "远山镇", "township", parent_code=OTHER_COUNTY)
        await add_area(s, FAR_VILLAGE, "远山村", "village", parent_code=OTHER_TOWNSHIP)
        a = await add_bot(s, COUNTY, "HUCHA_TOKEN_A", "hucha_test_bot", clock())
        b = await add_bot(s, OTHER_COUNTY, "HUCHA_TOKEN_B", USERNAME_B, clock())
    fleet = build_fleet(settings, [(a, emulator.token), (b, TOKEN_B)], sessionmaker, clock)
    intakes: list[Intake] = []
    for application in fleet.applications:
        await application.initialize()
        await routes.register_commands(application)
        await application.start()
        intake = Intake(application, instance="test")
        await intake.start_polling(poll_seconds=1)
        intakes.append(intake)
    h.app = fleet.primary
    try:
        yield h, fleet, other
    finally:
        for intake in intakes:
            await intake.stop()
        for application in fleet.applications:
            await application.stop()
            await application.shutdown()
        await engine.dispose()


async def register(h: Harness, user: EmulatedUser, role: str, area: str) -> str:
    code = await h.invitation(role, area)
    await user.send_command("start", code)
    return (await user.next_message()).content


async def test_each_county_bot_registers_and_serves_its_own_people(
    emulator: BotApiEmulator, database_url: str, clock: Clock, tmp_path: Path
) -> None:
    async with two_bots(emulator, database_url, clock, tmp_path) as (h, fleet, other):
        near = emulator.user(3001, "王芳", language_code="zh-hans")
        far = other.user(3002, "李明", language_code="zh-hans")
        assert "幸福村" in await register(h, near, "cadre", VILLAGE)
        assert "远山村" in await register(h, far, "cadre", FAR_VILLAGE)
        await far.send_command("households")
        assert "本机器人只服务" not in (await far.next_message()).content
        await near.send_command("households")
        reply = await near.next_message()
        assert "张建国" in reply.content + str(near.keyboard)
        # Each bot has its own rate limiter (Telegram counts messages per bot).
        limited = settings_for(emulator, database_url, tmp_path).with_changes(rate_limit=True)
        records = [record for record, _ in fleet.members.values()]
        again = build_fleet(limited, [(r, f"{r.id}:X") for r in records], h.sessionmaker)
        limiters = [app.bot.rate_limiter for app in again.applications]
        assert None not in limiters and len({id(limiter) for limiter in limiters}) == 2


async def test_a_cadre_of_one_county_is_sent_kindly_to_their_own_bot(
    emulator: BotApiEmulator, database_url: str, clock: Clock, tmp_path: Path
) -> None:
    async with two_bots(emulator, database_url, clock, tmp_path) as (h, _, other):
        near = emulator.user(3011, "王芳", language_code="zh-hans")
        await register(h, near, "cadre", VILLAGE)
        # The same person writes to county B's bot.
        stray = other.user(3011, "王芳", language_code="zh-hans")
        await stray.send_command("check")
        reply = (await stray.next_message()).content
        assert "@hucha_test_bot" in reply and "远山县" in reply and "示范县" in reply
        assert "张建国" not in reply
        await stray.send_text("张")
        assert "@hucha_test_bot" in (await stray.next_message()).content
        # The dashboard is the same whichever bot is asked for the link.
        await stray.send_command("web")
        assert "@hucha_test_bot" not in (await stray.next_message()).content
        # Blocking another county's bot concerns that bot only: the person stays active.
        stray.block()
        await eventually(lambda: _membership_handled(h, TOKEN_B))
        async with h.sessionmaker() as s:
            user = await user_by_telegram_id(s, 3011)
        assert user is not None and user.area_code == VILLAGE and user.active


async def test_the_dashboard_fetches_a_photo_through_the_bot_that_received_it(
    emulator: BotApiEmulator, database_url: str, clock: Clock, tmp_path: Path
) -> None:
    async with two_bots(emulator, database_url, clock, tmp_path) as (h, fleet, other):
        far = other.user(3061, "李明", language_code="zh-hans")
        await register(h, far, "cadre", FAR_VILLAGE)
        sent = await far.send_photo(b"\xff\xd8 a far photo", caption=None)
        assert sent.photo is not None
        file_id = str(sent.photo[-1]["file_id"])
        fetch = fetch_through_any([app.bot for app in fleet.applications])
        assert await fetch(file_id) == b"\xff\xd8 a far photo"


async def test_hucha_run_names_a_bot_whose_token_variable_is_not_set(
    database_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with make_sessionmaker(make_engine(database_url)).begin() as s:
        await add_area(s, OTHER_COUNTY, "远山县", "county")
        await add_bot(s, OTHER_COUNTY, "HUCHA_TOKEN_B", USERNAME_B, datetime.now(UTC))
    monkeypatch.delenv("HUCHA_TOKEN_B", raising=False)
    monkeypatch.delenv("HUCHA_TELEGRAM_TOKEN", raising=False)
    code = await asyncio.to_thread(main, ["run", "--database-url", database_url, "--lang", "en"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == (
        f"The token of @{USERNAME_B} (远山县) is missing: set the variable HUCHA_TOKEN_B."
    )


async def test_an_invitation_of_county_a_is_refused_on_bot_b_and_stays_usable_on_a(
    emulator: BotApiEmulator, database_url: str, clock: Clock, tmp_path: Path
) -> None:
    async with two_bots(emulator, database_url, clock, tmp_path) as (h, _, other):
        code = await h.invitation("cadre", VILLAGE)
        wrong = other.user(3021, "赵强", language_code="zh-hans")
        await wrong.send_command("start", code)
        reply = (await wrong.next_message()).content
        assert "幸福村" in reply and "@hucha_test_bot" in reply
        async with h.sessionmaker() as s:
            assert await user_by_telegram_id(s, 3021) is None
            invitation = await s.get(Invitation, code)
            assert invitation is not None and invitation.used_at is None
        right = emulator.user(3021, "赵强", language_code="zh-hans")
        await right.send_command("start", code)
        assert "✅" in (await right.next_message()).content
        english = other.user(3022, "Li", language_code="en")
        await english.send_command("start", await h.invitation("cadre", VILLAGE))
        text = (await english.next_message()).content
        assert "@hucha_test_bot" in text and "stays valid" in text


async def test_reminders_arrive_from_each_cadres_own_bot_only(
    emulator: BotApiEmulator, database_url: str, clock: Clock, tmp_path: Path
) -> None:
    async with two_bots(emulator, database_url, clock, tmp_path) as (h, fleet, other):
        people = {
            "near_cadre": (emulator.user(3031, "王芳", language_code="zh-hans"), VILLAGE),
            "near_leader": (emulator.user(3032, "陈队长", language_code="zh-hans"), COUNTY),
            "far_cadre": (other.user(3033, "李明", language_code="zh-hans"), FAR_VILLAGE),
            "far_leader": (other.user(3034, "周队长", language_code="zh-hans"), OTHER_COUNTY),
        }
        for key, (user, area) in people.items():
            await register(h, user, "leader" if "leader" in key else "cadre", area)
        ids: dict[int, int] = {}
        async with h.sessionmaker() as s:
            for identity in await s.scalars(select(Identity)):
                ids[int(identity.address)] = identity.user_id
        async with h.sessionmaker.begin() as s:
            house = Household(
                village_code=FAR_VILLAGE,
                number="001",
                head_name="孙大山",
                created_at=clock(),
                updated_at=clock(),
            )
            s.add(house)
            await s.flush()
            deadline = clock().date() + timedelta(days=1)
            for leader, cadre, household, text in (
                (3032, 3031, h.households["zhang"], "P-NEAR 屋顶漏雨"),
                (3034, 3033, house.id, "P-FAR 墙体开裂"),
            ):
                await add_problem(
                    s,
                    ids[leader],
                    household,
                    category="住房安全",
                    text=text,
                    goal="住房安全有保障",
                    measures="",
                    responsible_unit="县住房和城乡建设局",
                    deadline=deadline,
                    deadline_tier=None,
                    now=clock(),
                    assignee_user_id=ids[cadre],
                )
        for user, _ in people.values():
            user._chat.inbox = asyncio.Queue()
        report = await run_sweep(fleet.primary, clock() + timedelta(hours=1))
        assert report.delivery.sent_messages >= 2
        near, far = people["near_cadre"][0], people["far_cadre"][0]
        assert "P-NEAR" in (await near.next_message()).content
        assert "P-FAR" in (await far.next_message()).content
        await emulator.wait_until_idle()
        assert not any("P-FAR" in m.content for m in near.bot_messages)
        assert not any("P-NEAR" in m.content for m in far.bot_messages)
        # Bot A never wrote to the far cadre, nor bot B to the near one.
        assert not emulator.user(3033).bot_messages
        assert not other.user(3031).bot_messages


@pytest.mark.parametrize("case", ["missing", "wrong"])
async def test_bots_add_says_what_is_wrong_in_one_sentence(
    case: str,
    emulator: BotApiEmulator,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with make_sessionmaker(make_engine(database_url)).begin() as s:
        await add_area(s, COUNTY, "示范县", "county")
    if case == "wrong":
        monkeypatch.setenv("HUCHA_TOKEN_X", "999:WRONG")
    else:
        monkeypatch.delenv("HUCHA_TOKEN_X", raising=False)
    argv = ["bots", "add", "--area", COUNTY, "--token-env", "HUCHA_TOKEN_X"]
    argv += ["--database-url", database_url, "--api-url", emulator.base_url, "--lang", "en"]
    code = await asyncio.to_thread(main, argv)
    err = capsys.readouterr().err.strip()
    assert code == 2 and "Traceback" not in err and len(err.splitlines()) == 1
    assert "HUCHA_TOKEN_X" in err
    assert ("not set" in err) if case == "missing" else ("refused" in err)


async def test_bots_add_list_remove_and_the_invitation_link_names_the_areas_bot(
    emulator: BotApiEmulator,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emulator.add_bot(TOKEN_B, bot_username=USERNAME_B)
    async with make_sessionmaker(make_engine(database_url)).begin() as s:
        await add_area(s, COUNTY, "示范县", "county")
        await add_area(s, OTHER_COUNTY, "远山县", "county")
        await add_area(s, OTHER_TOWNSHIP, "远山镇", "township", parent_code=OTHER_COUNTY)
    monkeypatch.setenv("HUCHA_TOKEN_B", TOKEN_B)
    common = ["--database-url", database_url, "--lang", "en"]
    api = ["--api-url", emulator.base_url]

    async def run(*argv: str) -> tuple[int, str]:
        code = await asyncio.to_thread(main, [*argv, *common])
        out = capsys.readouterr()
        return code, out.out + out.err

    code, out = await run(
        "bots", "add", "--area", OTHER_COUNTY, "--token-env", "HUCHA_TOKEN_B", *api
    )
    assert code == 0 and f"@{USERNAME_B}" in out and "远山县" in out
    code, out = await run(
        "bots", "add", "--area", OTHER_TOWNSHIP, "--token-env", "HUCHA_TOKEN_B", *api
    )
    assert code == 2 and "county" in out
    code, out = await run("bots", "list")
    assert code == 0 and USERNAME_B in out and "HUCHA_TOKEN_B" in out and TOKEN_B not in out
    code, out = await run("invite", "--role", "office", "--area", OTHER_TOWNSHIP)
    assert code == 0 and f"https://t.me/{USERNAME_B}?start=" in out
    monkeypatch.delenv("HUCHA_TELEGRAM_TOKEN", raising=False)
    code, out = await run("doctor", *api)
    assert f"✓ @{USERNAME_B} serves 远山县." in out and "No bot token" not in out
    monkeypatch.setenv("HUCHA_TOKEN_B", "999:WRONG")
    code, out = await run("doctor", *api)
    assert "✗ The token in HUCHA_TOKEN_B does not work" in out and "WRONG" not in out
    monkeypatch.setenv("HUCHA_TOKEN_B", TOKEN_B)
    code, out = await run("bots", "remove", "--area", OTHER_COUNTY)
    assert code == 0 and USERNAME_B in out
    code, out = await run("bots", "list")
    assert "HUCHA_TELEGRAM_TOKEN" in out


async def test_the_registration_path_on_postgresql(
    emulator: BotApiEmulator, postgres_url: str, clock: Clock, tmp_path: Path
) -> None:
    await upgrade(postgres_url)
    async with two_bots(emulator, postgres_url, clock, tmp_path) as (h, _, other):
        code = await h.invitation("cadre", VILLAGE)
        await other.user(3041, "赵强", language_code="zh-hans").send_command("start", code)
        assert "@hucha_test_bot" in (await other.user(3041).next_message()).content
        assert "远山村" in await register(h, other.user(3042, "李明"), "cadre", FAR_VILLAGE)
        assert "✅" in await register(h, emulator.user(3041), "cadre", VILLAGE)
        await eventually(lambda: _user_count(h), 2)


async def _membership_handled(h: Harness, token: str) -> bool:
    """Whether the bot of `token` has handled a my_chat_member update (a block) to the end."""
    async with h.sessionmaker() as s:
        done = await s.scalars(
            select(ReceivedUpdate).where(
                ReceivedUpdate.bot == token.split(":")[0], ReceivedUpdate.done_at.is_not(None)
            )
        )
        return any("my_chat_member" in row.payload for row in done)


async def _user_count(h: Harness) -> int:
    async with h.sessionmaker() as s:
        return len((await s.scalars(select(User))).all())


async def test_hucha_run_serves_each_bot_at_its_own_webhook_path_on_one_port(
    emulator: BotApiEmulator, database_url: str, clock: Clock, tmp_path: Path
) -> None:
    other = emulator.add_bot(TOKEN_B, bot_username=USERNAME_B)
    engine = make_engine(database_url)
    seeder = Harness(emulator, Settings(), make_sessionmaker(engine), clock, build_application)
    await seeder.seed()
    async with seeder.sessionmaker.begin() as s:
        await add_area(s, OTHER_COUNTY, "远山县", "county", province="江苏")
        await add_area(s, OTHER_TOWNSHIP, "远山镇", "township", parent_code=OTHER_COUNTY)
        await add_area(s, FAR_VILLAGE, "远山村", "village", parent_code=OTHER_TOWNSHIP)
        a = await add_bot(s, COUNTY, "HUCHA_TOKEN_A", "hucha_test_bot", clock())
        b = await add_bot(s, OTHER_COUNTY, "HUCHA_TOKEN_B", USERNAME_B, clock())
    near_code = await seeder.invitation("cadre", VILLAGE)
    far_code = await seeder.invitation("cadre", FAR_VILLAGE)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = settings_for(emulator, database_url, tmp_path)
    stop = asyncio.Event()
    bots = [(a, emulator.token), (b, TOKEN_B)]
    task = asyncio.create_task(
        serve(settings, Listen("127.0.0.1", port), f"{base}/tg", SECRET, stop=stop, bots=bots)
    )
    try:
        await eventually(lambda: _both_hooked(emulator, other), True, seconds=30)
        assert emulator.webhook_url == f"{base}/tg/{a.id}"
        assert other.webhook_url == f"{base}/tg/{b.id}"
        near = emulator.user(3051, "王芳", language_code="zh-hans")
        far = other.user(3052, "李明", language_code="zh-hans")
        await near.send_command("start", near_code)
        await far.send_command("start", far_code)
        assert "幸福村" in (await near.next_message(timeout=30)).content
        assert "远山村" in (await far.next_message(timeout=30)).content
        async with aiohttp.ClientSession() as http, http.get(f"{base}/metrics") as response:
            metrics = await response.text()
        assert "hucha_updates_handled_total 2.0" in metrics
        async with aiohttp.ClientSession() as http, http.get(f"{base}/readyz") as response:
            assert response.status == 200, await response.text()
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=60)
        await engine.dispose()


async def _both_hooked(*emulators: BotApiEmulator) -> bool:
    return all(emulator.webhook_url for emulator in emulators)


async def test_readyz_names_a_county_bot_that_is_not_running(
    emulator: BotApiEmulator, database_url: str, clock: Clock, tmp_path: Path
) -> None:
    emulator.add_bot(TOKEN_B, bot_username=USERNAME_B)
    engine = make_engine(database_url)
    sessionmaker = make_sessionmaker(engine)
    async with sessionmaker.begin() as s:
        await add_area(s, COUNTY, "示范县", "county")
        await add_area(s, OTHER_COUNTY, "远山县", "county")
        a = await add_bot(s, COUNTY, "HUCHA_TOKEN_A", "hucha_test_bot", clock())
        b = await add_bot(s, OTHER_COUNTY, "HUCHA_TOKEN_B", USERNAME_B, clock())
    settings = settings_for(emulator, database_url, tmp_path)
    fleet = build_fleet(settings, [(a, emulator.token), (b, TOKEN_B)], sessionmaker, clock)
    await fleet.primary.initialize()
    await fleet.primary.start()
    try:
        assert await readiness_problems(fleet.primary) == [f"the bot @{USERNAME_B} is not running"]
    finally:
        await fleet.primary.stop()
        await fleet.primary.shutdown()
        await engine.dispose()
