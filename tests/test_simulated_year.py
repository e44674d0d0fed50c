"""A simulated year: 60 households in 3 villages checked every month for 12 months, with
situations that change, on the real bot (PTB Application against the Bot API emulator) and a
real SQLite file.

The chat drives every check whose situation changes (a child drops out and goes back to
school, a house rebuilt from grade C to A, an income that falls below the line and recovers,
two amendments: a wrong answer corrected and a situation changed), the monitoring case from
its opening at submit to 纳入 and the risk removal (风险消除), and a sample of the routine
checks (one household a quarter). The other routine checks are written without the chat,
through what the check desk (`services.checkdesk`, which the chat handler calls) runs for
them: the questionnaire engine on the desk's engine context, then
`storage.checks.start_session` and `storage.submissions.submit_check` with the area's deadline
policy and the campaign's cut-off; 销号 goes through `services.ledger.act_on_problem`. This
keeps the year within about a minute of CI time.

At the end: one ledger entry per real problem (not per visit); each period's monthly report
(`storage.reports.monthly_report`, what the export writes, as of the period's end) equals a
count made here from the problem history rows and the check records alone; one monitoring
case per at-risk episode; and no internal code in any message the bot sent nor in any cell
of the exports (opened with openpyxl)."""

from __future__ import annotations

import re
import tomllib
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from sqlalchemy import select

from bot.app import build_application
from bot.emulator import BotApiEmulator, ChatMessage, EmulatedUser
from bot.settings import Settings
from services.campaigns import open_for_area
from services.exports import ExportOrder, write_export
from services.ledger import act_on_problem
from services.policy import Deed
from services.runtime import Runtime
from storage import (
    CheckRecord,
    Household,
    Member,
    add_area,
    make_engine,
    make_sessionmaker,
    start_session,
    submit_check,
    upgrade,
)
from storage.campaigns import cutoff_on
from storage.deadlines import CheckDeadlines
from storage.models import Identity, MonitoringCase, Problem, ProblemEvent
from storage.problems import add_problem
from storage.progress import load_schedules
from storage.reports import MONTHLY_TEMPLATE, monthly_report, report_period
from tests.checkdriver import (
    DROPPED_OUT,
    NO_INCOME,
    SUBMIT,
    UNSAFE_HOUSE,
    answer,
    answer_until,
    edit_of,
    engine_record,
    open_check,
    question_at,
)
from tests.harness import Clock, Harness, forms_with_income_line

SHANGHAI = ZoneInfo("Asia/Shanghai")
COUNTY, TOWNSHIP = "320705", "320705001"
VILLAGES = {"320705001001": "东村", "320705001002": "南村", "320705001003": "西村"}
A, B, C = VILLAGES
PER_VILLAGE = 20
MONTHS = 12
LINE = 10000  # the test county's income line for 2026 (yuan a person a year)
SURNAMES = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许"
GIVEN = ("建国", "秀英", "志强")

# What changes, and whose: (village, roster number).
DROPOUT = (A, "002")  # a child drops out (month 1), still out (2), back at school (3)
AMENDED = (A, "003")  # a wrong answer (month 1), corrected by /amend the same day
HOUSE = (B, "001")  # a grade C house (months 0–4), rebuilt to grade A (5)
INCOME = (C, "001")  # income falls (3), 纳入, low (4–6), recovers (7), 风险消除, falls again (10)
CHANGED = (C, "002")  # not satisfied (5), amended the next week: the situation changed
NO_HELP_PLAN = [(code, "010") for code in VILLAGES]  # a problem every month, never rectified
SAMPLE = {0: (A, "005"), 3: (B, "005"), 6: (C, "005"), 9: (A, "006")}  # routine, in the chat

# The county's campaign (专项排查): its start, end and rectification cut-off.
CAMPAIGN = (date(2026, 3, 1), date(2026, 8, 31), date(2026, 10, 31))

# Codes that must never reach a person: statuses, history actions, tiers, step and outcome
# codes, the questionnaire's rule and question ids.
INTERNAL = {
    "raised_in_error",
    "carried_over",
    "in_progress",
    "seen_again",
    "rectified_at_check",
    "withdrawn_at_check",
    "cadre_visit",
    "data_check",
    "village_review",
    "public_notice",
    "township_review",
    "county_decision",
    "not_included",
    "not_removed",
}
SNAKE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")
CODE = re.compile(r"[a-z]+(?:_[a-z]+)*")


def at(month: int, day: int = 12, hour: int = 10) -> datetime:
    """A moment of the simulated year, 2026, in UTC: `month` 0 is January."""
    year, index = divmod(month, 12)
    local = datetime(2026 + year, index + 1, day, hour, tzinfo=SHANGHAI)
    return local.astimezone(UTC)


@dataclass
class Year:
    h: Harness
    cadres: dict[str, EmulatedUser]
    case_cadre: EmulatedUser
    leader: EmulatedUser
    office: EmulatedUser
    ids: dict[str, int]
    households: dict[tuple[str, str], int]
    heads: dict[tuple[str, str], str]
    tmp: Path

    @property
    def svc(self) -> Any:
        return self.h.app.bot_data["hucha"]

    def rt(self) -> Runtime:
        return Runtime(self.h.sessionmaker, self.h.clock, self.svc.forms)


@pytest.fixture
async def year(tmp_path: Path) -> AsyncIterator[Year]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'hucha.db'}"
    await upgrade(url)
    emulator = BotApiEmulator()
    await emulator.start()
    settings = Settings(
        token=emulator.token,
        database_url=url,
        api_url=emulator.base_url,
        file_url=emulator.base_file_url,
        rate_limit=False,
        reminder_interval=0,
        photo_dir=tmp_path / "photos",
        forms_dir=forms_with_income_line(tmp_path / "forms", "江苏", 2026, LINE),
    )
    engine_ = make_engine(url)
    clock = Clock(at(0, day=5))
    h = Harness(emulator, settings, make_sessionmaker(engine_), clock, build_application)
    await h.start()
    try:
        households, heads = await _seed(h)
        people = {
            A: emulator.user(4001, "东村干部", language_code="zh-hans"),
            B: emulator.user(4002, "南村干部", language_code="zh-hans"),
            C: emulator.user(4003, "西村干部", language_code="zh-hans"),
        }
        ids: dict[str, int] = {}
        for code, user in people.items():
            await h.register(user, "cadre", code)
            ids[code] = await _user_id(h, user.user_id)
        case_cadre = emulator.user(4004, "Wang Fang", language_code="en")
        leader = emulator.user(4005, "Chen", language_code="en")
        office = emulator.user(4006, "County office", language_code="en")
        await h.register(case_cadre, "cadre", C)
        await h.register(leader, "leader", TOWNSHIP)
        await h.register(office, "office", COUNTY)
        ids["leader"] = await _user_id(h, leader.user_id)
        ids["office"] = await _user_id(h, office.user_id)
        yield Year(h, people, case_cadre, leader, office, ids, households, heads, tmp_path)
    finally:
        await h.stop()
        await engine_.dispose()
        await emulator.stop()


async def _seed(h: Harness) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], str]]:
    today = h.clock().date()
    households: dict[tuple[str, str], int] = {}
    heads: dict[tuple[str, str], str] = {}
    async with h.sessionmaker.begin() as s:
        await add_area(s, COUNTY, "示范县", "county", province="江苏")
        await add_area(s, TOWNSHIP, "示范镇", "township", parent_code=COUNTY)
        for v, (code, name) in enumerate(VILLAGES.items()):
            await add_area(s, code, name, "village", parent_code=TOWNSHIP)
            for n in range(1, PER_VILLAGE + 1):
                number = f"{n:03d}"
                head = SURNAMES[n - 1] + GIVEN[v]
                household = Household(
                    village_code=code,
                    number=number,
                    head_name=head,
                    household_type="脱贫户",
                    created_at=h.clock(),
                    updated_at=h.clock(),
                )
                s.add(household)
                await s.flush()
                members = [(head, "户主", 45)]
                if (code, number) == DROPOUT:
                    members.append((head[0] + "小明", "之子", 13))
                for name, relation, age in members:
                    born = today.replace(year=today.year - age) - timedelta(days=40)
                    s.add(
                        Member(
                            household_id=household.id,
                            name=name,
                            relation=relation,
                            birth_date=born,
                        )
                    )
                households[(code, number)] = household.id
                heads[(code, number)] = head
    return households, heads


async def _user_id(h: Harness, telegram_id: int) -> int:
    async with h.sessionmaker() as s:
        found = await s.scalar(select(Identity.user_id).where(Identity.address == str(telegram_id)))
    assert found is not None
    return found


# ---------------------------------------------------------------- checks


async def write_check(y: Year, key: tuple[str, str], plan: Mapping[str, Any]) -> None:
    """A routine check through the functions the bot's check handler calls."""
    household_id = y.households[key]
    cadre = y.ids[key[0]]
    async with y.h.sessionmaker.begin() as s:
        household = await s.get(Household, household_id)
        assert household is not None
        context, _ = await y.svc.desk.engine_context(s, household)
        form = y.svc.forms["household_check"]
        record = engine_record(form, context, plan)
        session = await start_session(s, cadre, household_id, form.id, 1, {}, y.h.clock())
        schedule = (await load_schedules(s)).of(household.village_code)
        cutoff = await cutoff_on(s, household.village_code, context.today)
        deadlines = CheckDeadlines(schedule, context.today, cutoff)
        await submit_check(s, session.id, record, cadre, y.h.clock(), deadlines)


async def until(user: EmulatedUser, wanted: Any) -> ChatMessage:
    while True:
        message = await user.next_message()
        if wanted(message):
            return message


def labels(message: ChatMessage) -> list[str]:
    return [text for text, _ in message.buttons]


async def chat_check(
    y: Year, key: tuple[str, str], plan: Mapping[str, Any], earlier: str = "✅ 已整改"
) -> ChatMessage:
    """A check through the chat; a problem it no longer raises is settled with `earlier`."""
    cadre = y.cadres[key[0]]
    await open_check(y.h, cadre, y.heads[key])
    summary = await answer_until(y.h, cadre, plan)
    assert summary is not None
    await cadre.press(summary.message_id, summary.callback_data(SUBMIT))
    while True:
        message = await cadre.next_message()
        if "这次没有再出现" in message.content:
            await cadre.press(message.message_id, message.callback_data(earlier))
        elif "已提交" in message.content:
            return message


async def amend(
    y: Year, key: tuple[str, str], reason: str, question_id: str, value: str, kind: str
) -> ChatMessage:
    """/amend the household's latest check: change one answer, say what the amendment is."""
    cadre = y.cadres[key[0]]
    async with y.h.sessionmaker() as s:
        record_id = await s.scalar(
            select(CheckRecord.id)
            .where(CheckRecord.household_id == y.households[key])
            .order_by(CheckRecord.id.desc())
            .limit(1)
        )
    await cadre.send_command("amend", f"{record_id} {reason}")
    summary = await until(cadre, lambda m: SUBMIT in labels(m))
    await cadre.press(summary.message_id, summary.callback_data("📋 全部回答"))
    texts: list[str] = []
    while True:  # every answer numbered, in as many messages as it takes
        message = await cadre.next_message()
        texts.append(message.content)
        if "要修改哪一项" in message.content:
            listing = message
            break
    question = question_at(question_id)
    wording = question.labels["zh_CN"].rstrip("？")
    numbers = [
        int(found.group(1))
        for text in texts
        for line in text.splitlines()
        if wording in line and (found := re.match(r"\s*(\d+)\. ", line))
    ]
    number = numbers[-1]
    while str(number) not in labels(listing):
        if "▶" in labels(listing):
            await cadre.press(listing.message_id, listing.callback_data("▶"))
        listing = await edit_of(cadre, listing.message_id)
    await cadre.press(listing.message_id, listing.callback_data(str(number)))
    await until(cadre, lambda m: bool(m.buttons))
    summary = await answer(cadre, question, value)
    if SUBMIT not in labels(summary):
        summary = await until(cadre, lambda m: SUBMIT in labels(m))
    await cadre.press(summary.message_id, summary.callback_data(SUBMIT))
    asked = await until(cadre, lambda m: "这次更正属于哪种情况" in m.content)
    await cadre.press(asked.message_id, asked.callback_data(kind))
    return await until(cadre, lambda m: "已提交" in m.content)


async def verify_rectified(y: Year) -> None:
    """The leader's 销号 of every problem reported rectified."""
    async with y.h.sessionmaker() as s:
        waiting = list(await s.scalars(select(Problem.id).where(Problem.status == "rectified")))
    for problem_id in waiting:
        await act_on_problem(y.rt(), y.ids["leader"], problem_id, Deed.VERIFY)


# ---------------------------------------------------------------- monitoring in the chat


async def open_card(user: EmulatedUser, head: str) -> ChatMessage:
    await user.send_command("cases")
    await until(user, lambda m: bool(m.buttons))
    await user.press_button(lambda label: label.startswith(head))
    return await until(user, lambda m: "Monitoring case #" in m.content)


async def include(y: Year, head: str) -> None:
    """纳入: consent, the county's cross-check, village review, notice, township review, the
    county's decision with category and risk types."""
    cadre, leader, office = y.case_cadre, y.leader, y.office
    await open_card(cadre, head)
    await cadre.press_button("✅ Consent signed")
    await cadre.next_edit()
    await open_card(leader, head)
    await leader.press_button("✅ County data cross-check: agreed")
    await leader.next_edit()
    await open_card(cadre, head)
    await cadre.press_button("✅ Village review: agreed")
    await cadre.next_edit()
    await cadre.press_button(lambda label: label.startswith("📋 Posted today, until"))
    await cadre.next_edit()
    y.h.clock.advance(timedelta(days=6))
    await open_card(leader, head)
    await leader.press_button("✅ Township review: agreed")
    await leader.next_edit()
    await open_card(office, head)
    await office.press_button("On the edge of poverty")
    await office.next_edit()
    await office.press_button("☐ Unstable work")
    await office.next_edit()
    await office.press_button("Include ✔")
    card = await office.next_edit()
    assert "🏁 Included in monitoring" in card.content


async def remove_risk(y: Year, number: str, head: str) -> None:
    """风险消除: opened by the cadre with the income, its review, notice and decisions."""
    cadre, leader, office = y.case_cadre, y.leader, y.office
    await cadre.send_command("cases")
    await until(cadre, lambda m: "➕ Risk removal" in labels(m))
    await cadre.press_button("➕ Risk removal")
    await until(cadre, lambda m: "pick a monitored household" in m.content)
    await cadre.press_button(f"{number} {head}")
    await until(cadre, lambda m: "risks gone" in m.content)
    await cadre.press_button("Yes, the risks are gone")
    await until(cadre, lambda m: "income per person" in m.content)
    await cadre.send_text("31200")
    await until(cadre, lambda m: "Monitoring case #" in m.content)
    await cadre.press_button("✅ Village review: agreed")
    await cadre.next_edit()
    await cadre.press_button(lambda label: label.startswith("📋 Posted today"))
    await cadre.next_edit()
    y.h.clock.advance(timedelta(days=6))
    await open_card(leader, head)
    await leader.press_button("✅ Township review: agreed")
    await leader.next_edit()
    await open_card(office, head)
    await office.press_button("✅ Risk removed")
    card = await office.next_edit()
    assert "Risk removed: the household left monitoring" in card.content


# ---------------------------------------------------------------- the year


def plan_of(key: tuple[str, str], month: int) -> dict[str, Any]:
    """The answers a household gives in a month (what its situation is)."""
    plan: dict[str, Any] = {}
    if key in NO_HELP_PLAN:
        plan["help_plan"] = "no"
    if key == DROPOUT and month in (1, 2):
        plan.update(DROPPED_OUT)
    if key == HOUSE and month < 5:
        plan.update(UNSAFE_HOUSE)
    if key == INCOME and (3 <= month <= 6 or month >= 10):
        plan.update(NO_INCOME)
    return plan


async def live_the_year(y: Year) -> None:
    start, end, cutoff = CAMPAIGN
    await open_for_area(y.rt(), y.ids["office"], COUNTY, "问题大排查", start, end, cutoff)
    for month in range(MONTHS):
        y.h.clock.now = at(month)
        chat: dict[tuple[str, str], Mapping[str, Any]] = {}
        if month == 1:
            chat[DROPOUT] = plan_of(DROPOUT, 1)
            chat[AMENDED] = {"water_enough": "no"}
        if month == 3:
            chat[DROPOUT] = plan_of(DROPOUT, 3)  # back at school
            chat[INCOME] = plan_of(INCOME, 3)  # the income fell
        if month == 5:
            chat[HOUSE] = plan_of(HOUSE, 5)  # rebuilt: grade A
            chat[CHANGED] = {"satisfaction": "not_satisfied"}
        if month == 7:
            chat[INCOME] = plan_of(INCOME, 7)  # recovered
        if month in SAMPLE:
            chat[SAMPLE[month]] = plan_of(SAMPLE[month], month)
        for key, plan in chat.items():
            message = await chat_check(y, key, plan)
            if key == INCOME and month == 3:
                assert "/cases" in message.content  # the case is there at submit
        for key in y.households:
            if key not in chat:
                await write_check(y, key, plan_of(key, month))
        y.h.clock.advance(timedelta(hours=2))
        if month == 1:
            await amend(y, AMENDED, "饮水答错了", "water_enough", "yes", "✏️ 原来答错了")
        if month == 2:
            async with y.h.sessionmaker.begin() as s:
                await add_problem(
                    s,
                    y.ids["leader"],
                    y.households[(B, "003")],
                    category="住房安全",
                    text="院墙开裂",
                    goal="住房安全有保障",
                    measures="加固院墙",
                    responsible_unit="县住房和城乡建设局",
                    deadline=at(4).date(),
                    deadline_tier=None,
                    now=y.h.clock(),
                )
        if month == 3:
            await include(y, y.heads[INCOME])
        if month == 5:
            y.h.clock.advance(timedelta(days=4))
            await amend(
                y, CHANGED, "已回访，现在满意", "satisfaction", "satisfied", "🔄 情况有了变化"
            )
        if month == 7:
            await remove_risk(y, INCOME[1], y.heads[INCOME])
        y.h.clock.advance(timedelta(days=3))
        await verify_rectified(y)


# ---------------------------------------------------------------- counting from history


@dataclass(frozen=True)
class Fact:
    id: int
    household: int
    village: str
    rule: str | None
    category: str
    deadline: date
    tier: str | None
    created_at: datetime


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _rows() -> list[dict[str, Any]]:
    with MONTHLY_TEMPLATE.open("rb") as handle:
        rows: list[dict[str, Any]] = tomllib.load(handle)["rows"]
    return rows


def _row_of(rows: list[dict[str, Any]], rule: str | None, category: str) -> int | None:
    for row in rows:
        if rule and rule in row.get("rules", ()):
            return int(row["number"])
    for row in rows:
        if category in row.get("categories", ()):
            return int(row["number"])
    return None


async def expected_report(y: Year, year_: int, month: int) -> dict[str, Any]:
    """The report of the period named `year_-month`, counted from the history rows alone:
    the period runs from the 4th of the month before to the 3rd (reporting day 4), its figures
    stand as at its end; a problem's status is the last change recorded before then."""
    first_day = date(year_ - 1, 12, 4) if month == 1 else date(year_, month - 1, 4)
    after_day = date(year_, month, 4)
    first = datetime.combine(first_day, time.min, SHANGHAI).astimezone(UTC)
    cut = datetime.combine(after_day, time.min, SHANGHAI).astimezone(UTC)
    end_day = after_day - timedelta(days=1)
    # "Found so far" counts from the start of the campaign the period's first day is in (from
    # its start to its cut-off), else from the 1st of January.
    in_campaign = CAMPAIGN[0] <= first_day <= CAMPAIGN[2]
    since = CAMPAIGN[0] if in_campaign else date(first_day.year, 1, 1)
    campaign = datetime.combine(since, time.min, SHANGHAI).astimezone(UTC)
    rows = _rows()
    async with y.h.sessionmaker() as s:
        facts = [
            Fact(
                p.id,
                p.household_id,
                h.village_code,
                p.rule_id,
                p.category,
                p.deadline,
                p.deadline_tier,
                _utc(p.created_at),
            )
            for p, h in await s.execute(
                select(Problem, Household).join(Household, Household.id == Problem.household_id)
            )
        ]
        events = (
            await s.execute(
                select(ProblemEvent.problem_id, ProblemEvent.at, ProblemEvent.to_status).order_by(
                    ProblemEvent.at, ProblemEvent.id
                )
            )
        ).all()
        checks = (
            await s.execute(
                select(CheckRecord, Household.village_code).join(
                    Household, Household.id == CheckRecord.household_id
                )
            )
        ).all()
    status: dict[int, str] = {}
    for problem_id, moment, to_status in events:
        if _utc(moment) < cut and to_status:
            status[problem_id] = to_status
    known = [f for f in facts if f.created_at < cut]
    figures: dict[int, Counter[str]] = defaultdict(Counter)
    villages: dict[str, Counter[str]] = defaultdict(Counter)
    for fact in known:
        now = status[fact.id]
        to_rectify = now in ("open", "in_progress")
        overdue = to_rectify and fact.deadline < end_day and fact.tier != "ongoing"
        villages[fact.village]["open"] += now in ("open", "in_progress", "rectified")
        villages[fact.village]["overdue"] += overdue
        if now == "withdrawn":
            continue
        if fact.created_at < campaign and now not in ("open", "in_progress", "rectified"):
            continue
        row = _row_of(rows, fact.rule, fact.category)
        if row is None:
            continue
        counts = figures[row]
        counts["found_in_period"] += fact.created_at >= first
        counts["found_so_far"] += fact.created_at >= campaign
        counts[{"open": "not_started"}.get(now, now)] += 1
        counts["overdue"] += overdue
    # The checks of the period, each in the version in force at the cut.
    versions: dict[int, tuple[int, CheckRecord, str]] = {}
    for record, village in checks:
        submitted = _utc(record.submitted_at)
        if not first <= submitted < cut:
            continue
        if record.amended_at is not None and _utc(record.amended_at) >= cut:
            continue
        chain = record.check_id or record.id
        if chain not in versions or versions[chain][0] < record.version:
            versions[chain] = (record.version, record, village)
    checked: dict[str, set[int]] = defaultdict(set)
    for _, record, village in versions.values():
        checked[village].add(record.household_id)
        for row in rows:
            asks = row.get("answers", {})
            if any(record.answers.get(k) in values for k, values in asks.items()):
                figures[int(row["number"])]["households_found"] += 1
    return {
        "checked": sum(len(found) for found in checked.values()),
        "figures": {number: dict(+counts) for number, counts in figures.items() if +counts},
        "villages": {
            code: (
                PER_VILLAGE,
                len(checked[code]),
                villages[code]["open"],
                villages[code]["overdue"],
            )
            for code in VILLAGES
        },
    }


def _reported(report: Any) -> dict[str, Any]:
    names = (
        "found_in_period",
        "found_so_far",
        "verified",
        "rectified",
        "in_progress",
        "not_started",
        "overdue",
        "households_found",
    )
    figures = {}
    for number, row in report.figures.items():
        counts = {name: getattr(row, name) for name in names if getattr(row, name)}
        if counts:
            figures[number] = counts
    return {
        "checked": report.checked_households,
        "figures": figures,
        "villages": {
            v.code: (v.households, v.checked, v.open_problems, v.overdue_problems)
            for v in report.villages
        },
    }


def _codes(row: tuple[Any, ...]) -> bool:
    """Whether a row is a data table's row of column codes (the questionnaire's ids, for
    those who process the file), which every check-records sheet has under its titles."""
    cells = [cell for cell in row if cell is not None]
    return bool(cells) and cells[:2] == ["check_id", "version"]


def _leaks(text: str, where: str) -> list[str]:
    found = [f"{where}: {code}" for code in SNAKE.findall(text)]
    found += [f"{where}: {code}" for code in INTERNAL if code in text]
    return found


# ---------------------------------------------------------------- the test


async def test_a_year_of_monthly_checks(year: Year) -> None:
    y = year
    await live_the_year(y)
    y.h.clock.now = at(12, day=10)  # the last period has ended

    # One ledger entry per real problem, whatever the number of visits.
    async with y.h.sessionmaker() as s:
        problems = (await s.execute(select(Problem).order_by(Problem.id))).scalars().all()
        records = await s.scalar(select(CheckRecord.id).order_by(CheckRecord.id.desc()).limit(1))
        seen = Counter(
            p
            for p in await s.scalars(
                select(ProblemEvent.problem_id).where(ProblemEvent.action == "seen_again")
            )
        )
    by_key = {(p.household_id, p.rule_id): p for p in problems}
    hh = y.households
    expected = {
        (hh[DROPOUT], "child_dropped_out"): "verified",
        (hh[AMENDED], "water_quantity"): "withdrawn",
        (hh[HOUSE], "housing_unsafe"): "verified",
        (hh[CHANGED], "not_satisfied"): "verified",
        (hh[(B, "003")], None): "open",
        **{(hh[key], "help_plan_missing"): "open" for key in NO_HELP_PLAN},
    }
    income = [p for p in problems if p.household_id == hh[INCOME]]
    assert [(p.rule_id, p.status) for p in income] == [
        ("income_below_line", "verified"),
        ("income_below_line", "open"),  # it came back after its 销号: a new problem, linked
    ]
    assert income[1].reopened_from_id == income[0].id
    assert {key: p.status for key, p in by_key.items() if p.household_id != hh[INCOME]} == expected
    assert len(problems) == len(expected) + 2
    assert records is not None and records >= MONTHS * len(hh)
    for key in NO_HELP_PLAN:
        assert seen[by_key[(hh[key], "help_plan_missing")].id] == MONTHS - 1
    assert seen[by_key[(hh[HOUSE], "housing_unsafe")].id] == 4

    # One monitoring case per at-risk episode, and the risk removal between them.
    async with y.h.sessionmaker() as s:
        cases = (
            (await s.execute(select(MonitoringCase).order_by(MonitoringCase.id))).scalars().all()
        )
        household = await s.get(Household, hh[INCOME])
    assert [(c.household_id, c.kind, c.status, c.outcome) for c in cases] == [
        (hh[INCOME], "identify", "closed", "included"),
        (hh[INCOME], "remove", "closed", "removed"),
        (hh[INCOME], "identify", "open", None),
    ]
    # Back to what it was after its risk was removed; the second episode is not decided yet.
    assert household is not None and household.household_type == "脱贫户"

    # Every period's report, as the export computes it, equals the count from history.
    async with y.h.sessionmaker() as s:
        for month in range(MONTHS):
            # Checks on the 12th fall in the period closed by the next month's reporting day.
            name_year, name_month = 2026 + (month + 1) // 12, (month + 1) % 12 + 1
            period = await report_period(s, COUNTY, name_year, name_month)
            report = await monthly_report(s, COUNTY, period, y.h.clock())
            wanted = await expected_report(y, name_year, name_month)
            assert _reported(report) == wanted, (period.name, _reported(report), wanted)
            assert report.checked_households == len(hh)
            if period.name == "2026-04":
                # In the campaign (from 1 March): the dropout found on 12 February is still
                # open, so it counts, but it was not found since the campaign's start.
                assert report.campaign_start == CAMPAIGN[0]
                dropout = report.figures[22]
                assert (dropout.found_so_far, dropout.not_started) == (0, 1), dropout

    # No internal code in any message the bot sent, nor in any cell of the exports.
    leaks: list[str] = []
    for user in [*y.cadres.values(), y.case_cadre, y.leader, y.office]:
        for message in user.bot_messages:
            leaks += _leaks(message.content, f"message to {user.user_id}")
            leaks += _leaks(" ".join(labels(message)), f"buttons to {user.user_id}")
    orders = [
        ExportOrder("checks", COUNTY, at(0).date(), at(11).date()),
        ExportOrder("problems", COUNTY, at(0).date(), at(11).date()),
        ExportOrder("problems", COUNTY, at(0).date(), at(11).date(), lang="en"),
        ExportOrder("monthly", COUNTY, at(0).date(), at(11).date(), period="2026-06"),
        ExportOrder("monthly", COUNTY, at(0).date(), at(11).date(), period="2027-01", lang="en"),
    ]
    for n, order in enumerate(orders):
        written = await write_export(y.rt(), y.ids["office"], order, y.tmp / f"export{n}.xlsx")
        for path in written.files:
            book = openpyxl.load_workbook(path, read_only=True)
            for sheet in book.worksheets:
                for row in sheet.iter_rows(values_only=True):
                    if _codes(row):
                        continue  # a data table's row of column codes, under its titles
                    for cell in row:
                        if isinstance(cell, str):
                            leaks += _leaks(cell, f"{order.kind} {sheet.title}")
                            if CODE.fullmatch(cell):  # a bare code: a choice's value
                                leaks.append(f"{order.kind} {sheet.title}: {cell}")
            book.close()
    assert leaks == [], sorted(set(leaks))
