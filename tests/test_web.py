"""The web dashboard over HTTP, served by the bot's own process: signing in from a /web link
(once, for ten minutes), the pages of one's own area only whatever the URL says, forms that
need the session's CSRF token, a verification on the web that the bot then shows, photos
through the server, exports and their audit entries."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import date, timedelta

import aiohttp
from openpyxl import load_workbook
from sqlalchemy import select

from storage import start_session, submit_check
from storage.models import AuditEntry, Household, MonitoringCase, MonitoringStep, Problem
from storage.problems import add_problem
from tests.checkdriver import SUBMIT, answer_until, open_check
from tests.harness import VILLAGE
from tests.ledger_harness import hand_problem
from tests.storage_fixtures import deadline_today, finished_record
from tests.test_ledger_chat import until
from tests.web_harness import WebWorld, web_link, web_world

__all__ = ["web_world"]

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def browser() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def sign_in(client: aiohttp.ClientSession, link: str) -> str:
    """Open the link, press the button; the overview's HTML."""
    async with client.get(link) as shown:
        assert shown.status == 200
        assert "Sign in" in await shown.text() or "登录" in await shown.text()
    async with client.post(link) as signed:
        assert signed.status == 200, await signed.text()
        return await signed.text()


async def csrf_of(client: aiohttp.ClientSession, url: str) -> str:
    async with client.get(url) as page:
        found = CSRF.search(await page.text())
    assert found is not None
    return found.group(1)


async def test_a_web_link_signs_in_once_and_a_used_forged_or_old_link_says_so(
    web_world: WebWorld,
) -> None:
    w = web_world
    link = await web_link(w.v.leader)
    assert link.startswith(w.base + "/login/")
    async with browser() as client:
        async with client.get(w.base + "/") as before:
            assert before.status == 401
        page = await sign_in(client, link)
        assert "示范镇" in page
        async with client.get(w.base + "/") as again:
            assert again.status == 200
            assert "script-src" not in again.headers["Content-Security-Policy"]
            assert "default-src 'none'" in again.headers["Content-Security-Policy"]
        async with browser() as other:
            async with other.post(link) as used:
                assert used.status == 403
                assert "已被使用" in await used.text()
            async with other.post(w.base + "/login/forged-token") as forged:
                assert forged.status == 403 and "无效" in await forged.text()
        cookie = next(c for c in client.cookie_jar if c.key == "hucha_session")
        assert cookie["httponly"] and cookie["samesite"] == "Strict"
        # Signing out ends the session on the server, not only in this browser.
        token = await csrf_of(client, w.base + "/")
        async with client.post(w.base + "/logout", data={"csrf": token}) as out:
            assert out.status == 200
        async with client.get(w.base + "/", cookies={"hucha_session": cookie.value}) as gone:
            assert gone.status == 401
    old = await web_link(w.v.office)
    w.h.clock.advance(timedelta(minutes=11))
    async with browser() as client, client.post(old) as expired:
        assert expired.status == 403 and "已过期" in await expired.text()


async def test_a_session_ends_after_eight_idle_hours(web_world: WebWorld) -> None:
    w = web_world
    async with browser() as client:
        await sign_in(client, await web_link(w.v.office))
        w.h.clock.advance(timedelta(hours=7, minutes=50))
        async with client.get(w.base + "/problems") as still:
            assert still.status == 200
        w.h.clock.advance(timedelta(hours=8, minutes=1))
        async with client.get(w.base + "/problems") as idle:
            assert idle.status == 401


async def test_another_areas_problem_household_photo_and_export_are_refused_by_url(
    web_world: WebWorld,
) -> None:
    w = web_world
    async with w.h.sessionmaker.begin() as s:
        theirs = (
            await add_problem(
                s,
                w.v.ids["office"],
                w.h.households["other"],
                category="饮水安全",
                text="和平村的问题",
                goal="饮水安全有保障",
                measures="",
                responsible_unit="县水利局",
                deadline=date(2026, 12, 20),
                deadline_tier=None,
                now=w.h.clock(),
            )
        ).id
    ours = await hand_problem(w.h, w.v, "zhang", "屋顶漏雨", date(2026, 12, 20))
    async with browser() as client:
        await sign_in(client, await web_link(w.v.cadre))
        async with client.get(f"{w.base}/problems/{ours}") as mine:
            assert mine.status == 200 and "屋顶漏雨" in await mine.text()
        async with client.get(f"{w.base}/problems") as listing:
            assert "Problems 1–1 of 1" in await listing.text()  # problems, not households
        async with client.get(f"{w.base}/problems/{theirs}") as refused:
            assert refused.status == 404 and "和平村的问题" not in await refused.text()
        other_household = w.h.households["other"]
        async with client.get(f"{w.base}/households/{other_household}") as refused:
            assert refused.status == 404 and "赵大海" not in await refused.text()
        async with client.get(f"{w.base}/problems?village=320705001002&status=open") as listing:
            assert "和平村的问题" not in await listing.text()
        async with client.get(f"{w.base}/photos/event/1/0") as photo:
            assert photo.status == 404
        token = await csrf_of(client, w.base + "/")
        form = {"csrf": token, "kind": "problems", "area": "320705", "format": "csv"}
        async with client.post(w.base + "/exports", data=form) as export:
            assert export.status == 404
            assert "Only offices and team leaders can export." in await export.text()
    async with browser() as client:
        await sign_in(client, await web_link(w.v.leader))
        token = await csrf_of(client, w.base + "/")
        form = {"csrf": token, "kind": "problems", "area": "320705", "format": "csv"}
        async with client.post(w.base + "/exports", data=form) as export:
            assert export.status == 404 and "your own area" in await export.text()
        form = {**form, "area": "320705001", "unmasked": "1"}
        async with client.post(w.base + "/exports", data=form) as export:
            assert export.status == 404 and "Only an office" in await export.text()


async def test_a_leader_verifies_on_the_web_and_the_chat_shows_it(web_world: WebWorld) -> None:
    w = web_world
    pid = await hand_problem(w.h, w.v, "zhang", "屋顶漏雨", date(2026, 12, 20))
    cadre = w.v.cadre
    await cadre.send_command("problems")
    await until(cadre, lambda m: "Problems (open): 1" in m.content)
    await cadre.press_button(lambda label: label.startswith("张建国"))
    await until(cadre, lambda m: f"Problem #{pid}" in m.content)
    await cadre.press_button("Add progress")
    await until(cadre, lambda m: "Send the progress" in m.content)
    await cadre.send_photo(b"\xff\xd8web-photo", caption="已联系施工队")
    await until(cadre, lambda m: "Saved." in m.content)
    await cadre.press_button("Report rectified")
    await until(cadre, lambda m: "Send a note" in m.content)
    await cadre.send_text("屋顶已修好")
    await until(cadre, lambda m: "Saved." in m.content)

    async with browser() as client:
        await sign_in(client, await web_link(w.v.leader))
        async with client.get(f"{w.base}/problems?status=rectified") as listing:
            assert "屋顶漏雨" in await listing.text()
        async with client.get(f"{w.base}/problems/{pid}") as card:
            html = await card.text()
        assert "Verify (close)" in html and "Return with a reason" in html
        photo = re.search(r'src="(/photos/event/\d+/0)"', html)
        assert photo is not None
        async with client.get(w.base + photo.group(1)) as image:
            assert image.status == 200 and await image.read() == b"\xff\xd8web-photo"
        assert "token" not in html.lower() or w.h.settings.token not in html
        form = {"action": "verify", "expected": "rectified"}
        async with client.post(f"{w.base}/problems/{pid}", data=form) as forged:
            assert forged.status == 403
        token = CSRF.search(html)
        assert token is not None
        form["csrf"] = token.group(1)
        async with client.post(f"{w.base}/problems/{pid}", data=form) as done:
            assert done.status == 200 and "Saved." in await done.text()
        async with client.post(f"{w.base}/problems/{pid}", data=form) as stale:
            assert stale.status == 400 and "changed meanwhile" in await stale.text()
    async with w.h.sessionmaker() as s:
        problem = await s.get(Problem, pid)
        actions = list(await s.scalars(select(AuditEntry.action)))
    assert problem is not None and problem.status == "verified"
    assert "problem.verify" in actions and "web.login" in actions
    # The cadre's ledger in the chat: no longer open; among all, verified (●).
    await cadre.send_command("problems")
    await until(cadre, lambda m: "Problems (open): 0" in m.content)
    await cadre.press_button("All")
    listing = await cadre.next_edit()
    assert any(text.startswith("张建国") and text.endswith("●") for text, _ in listing.buttons)


async def test_an_office_moves_a_deadline_and_downloads_exports(web_world: WebWorld) -> None:
    w = web_world
    pid = await hand_problem(w.h, w.v, "zhang", "屋顶漏雨", date(2026, 12, 20))
    async with browser() as client:
        await sign_in(client, await web_link(w.v.office))
        token = await csrf_of(client, f"{w.base}/problems/{pid}")
        form = {"csrf": token, "action": "deadline", "expected": "open", "deadline": ""}
        async with client.post(f"{w.base}/problems/{pid}", data=form) as missing:
            assert missing.status == 400 and "new deadline" in await missing.text()
        form.update(deadline="2027-01-15", note="冬季施工慢")
        async with client.post(f"{w.base}/problems/{pid}", data=form) as moved:
            assert moved.status == 200 and "Saved." in await moved.text()
        for page in ("/", "/problems?sort=deadline&unit=县住房和城乡建设局", "/cases", "/exports"):
            async with client.get(w.base + page) as shown:
                assert shown.status == 200, page
        async with client.get(f"{w.base}/households/{w.h.households['zhang']}") as household:
            assert "张小明" in await household.text()
        form = {
            "csrf": token,
            "kind": "problems",
            "area": "320705",
            "format": "xlsx",
            "from": "2026-11-01",
            "to": "2026-11-30",
            "unmasked": "1",
        }
        async with client.post(w.base + "/exports", data=form) as export:
            assert export.status == 200
            assert "attachment" in export.headers["Content-Disposition"]
            assert (await export.read())[:2] == b"PK"
        async with client.get(w.base + "/reports/monthly?area=320705&month=2026-11") as report:
            assert report.status == 200
            shown = await report.text()
        # The period named 2026-11 ends the day before its reporting day, 4 November.
        assert "Reporting period: Oct 4, 2026 to Nov 3, 2026; figures as of Nov 3, 2026." in shown
        assert "(November 2026)</h1>" in shown and "Checks by village" in shown
        monthly = {"csrf": token, "kind": "monthly", "area": "320705", "month": "2026-12"}
        async with client.post(w.base + "/exports", data=monthly) as export:
            assert export.status == 200
            book = load_workbook(io.BytesIO(await export.read()))
        assert book.sheetnames == ["Monthly report", "Checks by village"]
        assert "November 4, 2026 to December 3, 2026" in str(book["Monthly report"]["A3"].value)
    async with w.h.sessionmaker() as s:
        problem = await s.get(Problem, pid)
        actions = list(await s.scalars(select(AuditEntry.action)))
    assert problem is not None and problem.deadline == date(2027, 1, 15)
    assert "problem.deadline" in actions and "export.unmasked" in actions


async def test_an_office_downloads_a_village_notice_and_the_checks_with_their_photos(
    web_world: WebWorld,
) -> None:
    w = web_world
    cadre = w.h.emulator.user(3009, "李芳", language_code="zh-hans")
    await w.h.register(cadre)
    await open_check(w.h, cadre, "张建国")
    summary = await answer_until(w.h, cadre, {"housing_grade": "C", "housing_alternative": "none"})
    assert summary is not None
    await cadre.press(summary.message_id, summary.callback_data(SUBMIT))
    await cadre.next_message()
    async with browser() as client:
        await sign_in(client, await web_link(w.v.office))
        async with client.get(w.base + "/exports") as page:
            html = await page.text()
        assert 'name="notice"' in html and 'name="photos"' in html
        token = CSRF.search(html).group(1)  # type: ignore[union-attr]
        day = {"from": "2026-11-01", "to": "2026-11-30", "format": "xlsx", "csrf": token}
        notice = {**day, "kind": "notice", "area": VILLAGE, "notice": "check"}
        async with client.post(w.base + "/exports", data=notice) as answer:
            assert answer.status == 200, await answer.text()
            sheet = load_workbook(io.BytesIO(await answer.read())).active
        cells = [str(c) for row in sheet.iter_rows(values_only=True) for c in row if c]
        assert any("张建国" in c for c in cells) and any("public notice" in c for c in cells)
        assert not any("3201" in c for c in cells)  # no ID number in a notice
        township = {**notice, "area": "320705001"}
        async with client.post(w.base + "/exports", data=township) as refused:
            assert "pick a village" in await refused.text()
        checks = {**day, "kind": "checks", "area": VILLAGE, "photos": "1"}
        async with client.post(w.base + "/exports", data=checks) as answer:
            assert answer.status == 200
            assert '.zip"' in answer.headers["Content-Disposition"]
            body = await answer.read()
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        photos = [name for name in archive.namelist() if name.startswith("photos/")]
        assert len(photos) == 1 and archive.read(photos[0]).startswith(b"\x89PNG")
    stored = list((w.h.settings.photo_dir).rglob("*.jpg"))
    assert len(stored) == 1  # the store the dashboard's photos and every export share


async def test_the_county_decides_a_case_on_the_web_through_the_same_rules(
    web_world: WebWorld,
) -> None:
    w = web_world
    async with w.h.sessionmaker.begin() as s:
        session = await start_session(
            s, w.v.ids["cadre"], w.h.households["wang"], "f", 1, {}, w.h.clock()
        )
        await submit_check(
            s,
            session.id,
            finished_record(at_risk=True),
            w.v.ids["cadre"],
            w.h.clock(),
            deadline_today,
        )
        case = await s.scalar(select(MonitoringCase))
        assert case is not None
        case_id = case.id
    async with browser() as client:
        await sign_in(client, await web_link(w.v.cadre))
        async with client.get(f"{w.base}/cases") as page:
            html = await page.text()
        assert "✅ Consent signed" in html and "Opened by the check of" in html
        token = CSRF.search(html)
        assert token is not None
        form = {"csrf": token.group(1), "position": "1", "action": "pass"}
        async with client.post(f"{w.base}/cases/{case_id}", data=form) as done:
            assert done.status == 200 and "Saved." in await done.text()
        # The cross-check is not a cadre's: the same refusal as in the chat.
        form = {**form, "position": "2"}
        async with client.post(f"{w.base}/cases/{case_id}", data=form) as refused:
            assert refused.status == 400 and "Your role cannot do this." in await refused.text()
    async with w.h.sessionmaker.begin() as s:
        steps = list(
            await s.scalars(
                select(MonitoringStep)
                .where(MonitoringStep.case_id == case_id)
                .order_by(MonitoringStep.position)
            )
        )
        for step in steps[2:6]:  # cross-check to township review, as recorded in the chat
            step.done_at = w.h.clock()
    async with browser() as client:
        await sign_in(client, await web_link(w.v.office))
        async with client.get(f"{w.base}/cases") as page:
            html = await page.text()
        assert "Sudden severe hardship" in html and "Unstable work" in html
        token = CSRF.search(html)
        assert token is not None
        form = {"csrf": token.group(1), "position": "6", "action": "include", "category": "sudden"}
        async with client.post(f"{w.base}/cases/{case_id}", data=form) as refused:
            assert (
                refused.status == 400 and "Choose at least one risk type." in await refused.text()
            )
        data = [*form.items(), ("risk", "illness"), ("risk", "accident")]
        async with client.post(f"{w.base}/cases/{case_id}", data=data) as done:
            assert done.status == 200 and "Saved." in await done.text()
        async with client.get(f"{w.base}/households/{w.h.households['wang']}") as page:
            html = await page.text()
        assert "Included in monitoring" in html
        assert "Category: Sudden severe hardship" in html
        assert "Risk types: Illness, Accident" in html
    async with w.h.sessionmaker() as s:
        decided = await s.get(MonitoringCase, case_id)
        household = await s.get(Household, w.h.households["wang"])
    assert decided is not None and decided.outcome == "included"
    assert decided.risk_types == ["illness", "accident"]
    assert household is not None and household.household_type == "监测户"


async def test_the_dashboard_holds_a_campaign_cutoff_unless_the_office_ticks_past_it(
    web_world: WebWorld,
) -> None:
    from services import Runtime
    from services.campaigns import open_for_area
    from storage.models import ProblemEvent

    w = web_world
    rt = Runtime(w.h.sessionmaker, w.h.clock)
    await open_for_area(
        rt, None, "320705", "冬季大排查", date(2026, 11, 1), date(2026, 11, 30), date(2027, 1, 15)
    )
    pid = await hand_problem(w.h, w.v, "zhang", "屋顶漏雨", date(2026, 12, 20))
    async with browser() as client:
        await sign_in(client, await web_link(w.v.office))
        token = await csrf_of(client, f"{w.base}/problems/{pid}")
        form = {"csrf": token, "action": "deadline", "expected": "open"}
        form.update(deadline="2027-03-01", note="雨季施工")
        async with client.post(f"{w.base}/problems/{pid}", data=form) as refused:
            page = await refused.text()
            assert refused.status == 400
            assert "its deadline cannot pass the cut-off Jan 15, 2027." in page
        form.update(past_cutoff="1")
        async with client.post(f"{w.base}/problems/{pid}", data=form) as moved:
            page = await moved.text()
            assert moved.status == 200 and "Saved." in page
            assert "deadline set past the campaign&#39;s cut-off" in page
    async with w.h.sessionmaker() as s:
        problem = await s.get(Problem, pid)
        actions = list(await s.scalars(select(ProblemEvent.action)))
    assert problem is not None and problem.deadline == date(2027, 3, 1)
    assert actions[-1] == "deadline_past_cutoff"
