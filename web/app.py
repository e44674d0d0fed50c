"""The dashboard's routes on an aiohttp application: sign-in from a one-time link, the
overview (总览), the problem ledger (问题台账) and a problem with its actions, a household (户),
monitoring cases (监测), exports (导出) and the printable monthly report, photos through the
server. Every page asks the use cases with the signed-in user's id, so the area is checked
on the server whatever the URL says; every form carries the session's CSRF token."""

from __future__ import annotations

import asyncio
import hmac
import logging
import shutil
import tempfile
import zipfile
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import aiohttp_jinja2
import jinja2
from aiohttp import web
from markupsafe import Markup

from bot.i18n import Translator, format_day, format_moment, format_number, label
from conversations.model import Question
from services import Runtime, access, exports, households, ledger, monitoring, overview
from services.exports import EXPORTS, Span
from services.policy import Deed, may
from storage.errors import StorageError
from storage.exports import ExportKind
from storage.models import ProblemStatus, User
from storage.monitoring import (
    CATEGORIES,
    OUTCOMES,
    RISK_TYPES,
    STEP_NAMES,
    earliest_notice_end,
)
from storage.notices import NoticeKind
from storage.problems import PastCutoff
from storage.texts import DEADLINE_TIER_NAMES
from web import charts
from web.labels import (
    ACTION_NAMES,
    HISTORY_NAMES,
    NOTICE_NAMES,
    ROLE_NAMES,
    SORT_NAMES,
    STATUS_NAMES,
)
from web.photos import PhotoCache

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
COOKIE = "hucha_session"
PAGE_SIZE = 25
CSP = (
    "default-src 'none'; img-src 'self'; style-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
DASHBOARD_KEY = web.AppKey("hucha_dashboard", object)
STATUSES = tuple(ProblemStatus)

Handler = Callable[[web.Request, "Page"], Awaitable[web.StreamResponse]]


@dataclass
class Dashboard:
    """What the pages need: the use cases' runtime, the catalogs, where photos come from."""

    runtime: Runtime
    t: Translator
    photos: PhotoCache
    default_language: str = "zh_CN"
    secure_cookie: bool = False

    def language(self, visitor: access.Visitor | None) -> str:
        if visitor is not None and visitor.language:
            return visitor.language
        return self.default_language


@dataclass(frozen=True)
class Page:
    """A request of a signed-in person: who, in which language, with which form token."""

    visitor: access.Visitor
    lang: str
    dashboard: Dashboard

    def _(self, msgid: str, **params: object) -> str:
        return self.dashboard.t(self.lang, msgid, **params)

    @property
    def user(self) -> User:
        """The visitor as the policy reads a user (role, area, active)."""
        return User(
            id=self.visitor.user_id,
            role=self.visitor.role,
            area_code=self.visitor.area_code,
            active=True,
        )


def _dashboard(request: web.Request) -> Dashboard:
    found = request.config_dict[DASHBOARD_KEY]
    assert isinstance(found, Dashboard)
    return found


def _secured(response: web.StreamResponse) -> web.StreamResponse:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _render(
    request: web.Request,
    template: str,
    lang: str,
    dash: Dashboard,
    context: Mapping[str, Any],
    status: int = 200,
) -> web.StreamResponse:
    def _(msgid: str, **params: object) -> str:
        return dash.t(lang, msgid, **params)

    base = {
        "_": _,
        "lang": lang,
        "day": lambda d: format_day(d, lang) if d else "",
        "moment": lambda m, zone="Asia/Shanghai": format_moment(m, lang, zone) if m else "",
        "number": lambda n: format_number(n, lang),
        "status_name": lambda s: _(str(STATUS_NAMES.get(s) or s)),
        "tier_name": lambda k: _(DEADLINE_TIER_NAMES[k]) if k in DEADLINE_TIER_NAMES else "",
        "action_name": lambda a: _(str(ACTION_NAMES.get(a) or a)),
        "history_name": lambda a: _(str(HISTORY_NAMES.get(a) or a)),
        "step_name": lambda s: _(str(STEP_NAMES.get(s) or "Monitoring step")),
        "role_name": lambda r: _(str(ROLE_NAMES.get(r) or r)),
    }
    response = aiohttp_jinja2.render_template(template, request, {**base, **context}, status=status)
    return _secured(response)


def _message(
    request: web.Request,
    dash: Dashboard,
    lang: str,
    text: str,
    status: int,
    page: Page | None = None,
) -> web.StreamResponse:
    return _render(request, "message.html", lang, dash, {"text": text, "page": page}, status=status)


def signed_in(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The page for a signed-in person; anyone else is told how to sign in. A refused
    request (another area's problem, household or export) gets a page saying so."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        dash = _dashboard(request)
        token = request.cookies.get(COOKIE)
        visitor = await access.visitor(dash.runtime, token) if token else None
        if visitor is None:
            lang = dash.default_language
            text = dash.t(lang, "You are not signed in. Send /web to the bot for a sign-in link.")
            return _message(request, dash, lang, text, 401)
        page = Page(visitor, dash.language(visitor), dash)
        if request.method == "POST":
            form = await request.post()
            sent = str(form.get("csrf", ""))
            if not hmac.compare_digest(sent, visitor.csrf):
                text = page._("This form has expired. Please go back and try again.")
                return _message(request, dash, page.lang, text, 403, page)
        try:
            return _secured(await handler(request, page))
        except StorageError as error:
            text = page._(error.message_id, **error.params)
            return _message(request, dash, page.lang, text, 404, page)

    return wrapped


def _int(value: str | None, default: int | None = None) -> int | None:
    try:
        return int(value) if value not in (None, "") else default
    except ValueError:
        return default


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


# ---------------------------------------------------------------- sign-in


async def login_form(request: web.Request) -> web.StreamResponse:
    """The link from the bot shows a button: link previews and scanners that open the URL
    do not spend it, only the person's press does."""
    dash = _dashboard(request)
    lang = dash.default_language
    return _render(request, "login.html", lang, dash, {"token": request.match_info["token"]})


async def login(request: web.Request) -> web.StreamResponse:
    dash = _dashboard(request)
    lang = dash.default_language
    try:
        opened = await access.redeem_login(dash.runtime, request.match_info["token"])
    except access.LoginRefused as refused:
        return _message(request, dash, lang, dash.t(lang, refused.message_id), 403)
    response = web.HTTPSeeOther("/")
    _secured(response)
    response.set_cookie(
        COOKIE,
        opened.session_token,
        httponly=True,
        samesite="Strict",
        secure=dash.secure_cookie,
        path="/",
    )
    raise response


async def logout(request: web.Request, page: Page) -> web.StreamResponse:
    token = request.cookies.get(COOKIE, "")
    await access.sign_out(page.dashboard.runtime, token)
    response = _message(request, page.dashboard, page.lang, page._("You are signed out."), 200)
    response.del_cookie(COOKIE, path="/")
    return response


# ---------------------------------------------------------------- overview


async def overview_page(request: web.Request, page: Page) -> web.StreamResponse:
    found = await overview.area_overview(page.dashboard.runtime, page.visitor.user_id)
    category_svg = charts.category_chart(
        found.categories,
        lambda status: page._(STATUS_NAMES.get(status, status)),
        page._("Problems by category and status"),
    )
    progress_svg = charts.progress_chart(
        found.history,
        lambda point: f"{point.name[5:].lstrip('0')}/{point.name[2:4]}",
        page._("Households checked per reporting period"),
    )
    return _render(
        request,
        "overview.html",
        page.lang,
        page.dashboard,
        {
            "page": page,
            "nav": "overview",
            "o": found,
            "category_svg": Markup(category_svg),
            "progress_svg": Markup(progress_svg),
        },
    )


# ---------------------------------------------------------------- ledger


def _ledger_query(params: Mapping[str, str], statuses: list[str]) -> ledger.LedgerQuery:
    scope = "overdue" if params.get("overdue") == "1" else "all"
    if not statuses and scope == "all" and params.get("closed") != "1":
        scope = "open"
    return ledger.LedgerQuery(
        scope=scope,  # type: ignore[arg-type]
        statuses=tuple(s for s in statuses if s in STATUSES),
        category=params.get("category") or None,
        village_code=params.get("village") or None,
        unit=params.get("unit") or None,
        raised_from=_day(params.get("from")),
        raised_to=_day(params.get("to")),
        sort=params.get("sort") or "newest",
        offset=max(_int(params.get("offset"), 0) or 0, 0),
        limit=PAGE_SIZE,
    )


async def problems_page(request: web.Request, page: Page) -> web.StreamResponse:
    params = {key: value for key, value in request.query.items() if key != "status"}
    statuses = request.query.getall("status", [])
    query = _ledger_query(params, statuses)
    found = await ledger.list_problems(page.dashboard.runtime, page.visitor.user_id, query)

    def link(offset: int) -> str:
        pairs = [(k, v) for k, v in request.query.items() if k != "offset"]
        return "/problems?" + urlencode([*pairs, ("offset", str(offset))])

    previous = link(max(found.offset - PAGE_SIZE, 0)) if found.offset > 0 else None
    following = link(found.offset + PAGE_SIZE) if found.offset + PAGE_SIZE < found.total else None
    return _render(
        request,
        "problems.html",
        page.lang,
        page.dashboard,
        {
            "page": page,
            "nav": "problems",
            "found": found,
            "params": params,
            "statuses": statuses,
            "all_statuses": STATUSES,
            "sorts": SORT_NAMES,
            "previous": previous,
            "following": following,
        },
    )


async def problem_page(request: web.Request, page: Page) -> web.StreamResponse:
    problem_id = _int(request.match_info["problem_id"]) or 0
    detail = await ledger.problem_detail(page.dashboard.runtime, page.visitor.user_id, problem_id)
    notice = page._("Saved.") if request.query.get("saved") == "1" else None
    return _problem(request, page, detail, notice=notice)


def _problem(
    request: web.Request,
    page: Page,
    detail: ledger.ProblemDetail,
    notice: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> web.StreamResponse:
    problem = detail.card.problem
    text = (problem.text_i18n or {}).get(page.lang) or problem.text
    goal = (problem.goal_i18n or {}).get(page.lang) or problem.goal
    events = []
    for index, line in enumerate(detail.card.history):
        events.append((index, line))
    return _render(
        request,
        "problem.html",
        page.lang,
        page.dashboard,
        {
            "page": page,
            "nav": "problems",
            "d": detail,
            "p": problem,
            "text": text,
            "goal": goal,
            "days_left": (problem.deadline - detail.today).days,
            "notice": notice,
            "error": error,
            "web_actions": [a for a in detail.actions if a.value in WEB_ACTIONS],
            "photo_events": detail.card.history,
        },
        status=status,
    )


# The actions offered on the page; progress and rectification notes come from the field.
WEB_ACTIONS = ("verify", "return", "deadline", "unit")


async def problem_act(request: web.Request, page: Page) -> web.StreamResponse:
    problem_id = _int(request.match_info["problem_id"]) or 0
    form = await request.post()
    action = str(form.get("action", ""))
    runtime = page.dashboard.runtime
    if action not in WEB_ACTIONS:
        raise StorageError("Unknown action.")
    deed = Deed(action)
    note = str(form.get("note", "")).strip() or None
    deadline = _day(str(form.get("deadline", "")))
    if deed is Deed.DEADLINE and deadline is None:
        detail = await ledger.problem_detail(runtime, page.visitor.user_id, problem_id)
        error = page._("Please give the new deadline.")
        return _problem(request, page, detail, error=error, status=400)
    try:
        await ledger.act_on_problem(
            runtime,
            page.visitor.user_id,
            problem_id,
            deed,
            expected_status=str(form.get("expected", "")) or None,
            note=note,
            deadline=deadline,
            unit=str(form.get("unit", "")) or None,
            past_cutoff=deed is Deed.DEADLINE and form.get("past_cutoff") == "1",
        )
    except PastCutoff as refused:
        detail = await ledger.problem_detail(runtime, page.visitor.user_id, problem_id)
        cutoff = format_day(refused.campaign.cutoff, page.lang)
        error = page._(refused.message_id, name=refused.campaign.name, day=cutoff)
        return _problem(request, page, detail, error=error, status=400)
    except StorageError as refused:
        detail = await ledger.problem_detail(runtime, page.visitor.user_id, problem_id)
        error = page._(refused.message_id, **refused.params)
        return _problem(request, page, detail, error=error, status=400)
    raise web.HTTPSeeOther(f"/problems/{problem_id}?saved=1")


# ---------------------------------------------------------------- households and cases


async def households_page(request: web.Request, page: Page) -> web.StreamResponse:
    query = request.query.get("q", "").strip()[:40]
    offset = max(_int(request.query.get("offset"), 0) or 0, 0)
    found = await households.find_households(
        page.dashboard.runtime, page.visitor.user_id, query, offset, PAGE_SIZE
    )
    following = (
        "/households?" + urlencode({"q": query, "offset": offset + PAGE_SIZE})
        if offset + PAGE_SIZE < found.total
        else None
    )
    previous = (
        "/households?" + urlencode({"q": query, "offset": max(offset - PAGE_SIZE, 0)})
        if offset > 0
        else None
    )
    return _render(
        request,
        "households.html",
        page.lang,
        page.dashboard,
        {
            "page": page,
            "nav": "households",
            "found": found,
            "q": query,
            "previous": previous,
            "following": following,
            "offset": offset,
        },
    )


def _answer_rows(
    dash: Dashboard, lang: str, form_id: str, answers: Mapping[str, Any]
) -> list[tuple[str, str, list[int]]]:
    """(question label, answer as read, indexes of its photos) for each answer kept."""
    form = dash.runtime.forms.get(form_id)
    questions: dict[str, Question] = {}
    pending = list(form.questions) if form is not None else []
    while pending:
        question = pending.pop()
        questions[question.id] = question
        pending.extend(question.children)
    rows: list[tuple[str, str, list[int]]] = []
    photo_index = 0

    def shown(key: str, value: Any) -> str:
        question = questions.get(key)
        if value is None:
            return dash.t(lang, "(skipped)")
        if isinstance(value, bool):
            return dash.t(lang, "yes") if value else dash.t(lang, "no")
        if isinstance(value, int | float):
            return format_number(value, lang)
        if isinstance(value, str) and question is not None:
            for choice in question.choices:
                if choice.value == value:
                    return label(choice.labels, lang)
        if isinstance(value, list | tuple):
            names = {c.value: label(c.labels, lang) for c in question.choices} if question else {}
            return "、".join(str(names.get(v, v)) for v in value)
        if isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-":
            day = _day(value)
            if day is not None:
                return format_day(day, lang)
        return str(value)

    def title_of(key: str) -> str:
        asked = questions.get(key)
        return label(asked.labels, lang) if asked is not None else key

    for key, value in answers.items():
        title = title_of(key)
        photos = list(households.photo_ids(value))
        if photos:
            indexes = list(range(photo_index, photo_index + len(photos)))
            photo_index += len(photos)
            rows.append((title, "", indexes))
        elif isinstance(value, list) and value and isinstance(value[0], Mapping):
            for number, item in enumerate(value, start=1):
                parts = [f"{title_of(k)}：{shown(k, v)}" for k, v in item.items()]
                rows.append((f"{title} {number}", "；".join(parts), []))
        elif isinstance(value, Mapping) and "latitude" in value:
            rows.append((title, f"{value.get('latitude')}, {value.get('longitude')}", []))
        else:
            rows.append((title, shown(key, value), []))
    return rows


async def household_page(request: web.Request, page: Page) -> web.StreamResponse:
    household_id = _int(request.match_info["household_id"]) or 0
    found = await households.household_history(
        page.dashboard.runtime, page.visitor.user_id, household_id
    )
    checks = [
        (check, _answer_rows(page.dashboard, page.lang, check.form_id, check.answers))
        for check in found.checks
    ]
    return _render(
        request,
        "household.html",
        page.lang,
        page.dashboard,
        {
            "page": page,
            "nav": "households",
            "h": found,
            "checks": checks,
            "outcomes": OUTCOMES,
            "categories": CATEGORIES,
            "risk_names": lambda codes: _joined(
                page, [RISK_TYPES[c] for c in codes if c in RISK_TYPES]
            ),
        },
    )


def _joined(page: Page, names: list[str]) -> str:
    """Names in the reader's language, joined as a list ("因病、因学", "Illness, Schooling")."""
    shown = [page._(name) for name in names]
    joined = shown[0] if shown else ""
    for name in shown[1:]:
        joined = page._("{first}, {second}", first=joined, second=name)
    return joined


async def cases_page(
    request: web.Request, page: Page, error: str | None = None, status: int = 200
) -> web.StreamResponse:
    found = await monitoring.open_cases(page.dashboard.runtime, page.visitor.user_id, limit=200)
    return _render(
        request,
        "cases.html",
        page.lang,
        page.dashboard,
        {
            "page": page,
            "nav": "cases",
            "found": found,
            "error": error,
            "saved": request.query.get("saved") == "1",
            "categories": CATEGORIES,
            "risk_types": RISK_TYPES,
            "earliest_end": earliest_notice_end(found.today),
        },
        status,
    )


async def case_act(request: web.Request, page: Page) -> web.StreamResponse:
    """A step of a case recorded from the dashboard, through the same use cases as the bot."""
    case_id = _int(request.match_info["case_id"]) or 0
    form = await request.post()
    action = str(form.get("action", ""))
    position = _int(str(form.get("position", ""))) or 0
    reason = str(form.get("reason", "")).strip()
    rt, user_id = page.dashboard.runtime, page.visitor.user_id
    try:
        if action == "pass":
            await monitoring.pass_step(rt, user_id, case_id, position)
        elif action == "exit":
            await monitoring.exit_case(rt, user_id, case_id, position, reason)
        elif action == "notice":
            end = _day(str(form.get("end", "")))
            if end is None:
                raise StorageError("Please give the last day of the notice.")
            await monitoring.post_notice(rt, user_id, case_id, position, end)
        elif action == "include":
            risks = [str(risk) for risk in form.getall("risk", [])]
            await monitoring.include_with(
                rt, user_id, case_id, position, str(form.get("category", "")), risks
            )
        else:
            raise StorageError("Unknown action.")
    except StorageError as refused:
        params = {
            key: format_day(value, page.lang) if isinstance(value, date) else value
            for key, value in refused.params.items()
        }
        return await cases_page(request, page, page._(refused.message_id, **params), 400)
    raise web.HTTPSeeOther("/cases?saved=1")


# ---------------------------------------------------------------- photos


async def photo(request: web.Request, page: Page) -> web.StreamResponse:
    source = request.match_info["source"]
    source_id = _int(request.match_info["source_id"]) or 0
    index = _int(request.match_info["index"]) or 0
    file_id = await households.photo_file_id(
        page.dashboard.runtime, page.visitor.user_id, source, source_id, index
    )
    try:
        body = await page.dashboard.photos.get(file_id)
    except Exception:  # the Bot API is down or the file is gone: say so, keep the page
        log.warning("photo could not be fetched (%s %s)", source, source_id)
        raise web.HTTPNotFound() from None
    kind = "image/png" if body.startswith(b"\x89PNG") else "image/jpeg"
    response = web.Response(body=body, content_type=kind)
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


# ---------------------------------------------------------------- exports


def _month_bounds(value: str | None, today: date) -> tuple[date, date]:
    try:
        year, month = (int(part) for part in (value or "").split("-"))
        first = date(year, month, 1)
    except ValueError:
        first = today.replace(day=1)
    following = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    return first, following - timedelta(days=1)


async def exports_page(request: web.Request, page: Page) -> web.StreamResponse:
    choices = await exports.export_choices(page.dashboard.runtime, page.visitor.user_id)
    today = page.dashboard.runtime.clock().astimezone(ZoneInfo(choices.area.zone)).date()
    current = await exports.reporting_periods(
        page.dashboard.runtime, page.visitor.user_id, choices.area.code, 1
    )
    return _render(
        request,
        "exports.html",
        page.lang,
        page.dashboard,
        {
            "page": page,
            "nav": "exports",
            "choices": choices,
            "kinds": list(EXPORTS.values()),
            "month": current[0].name,
            "first": today.replace(day=1).isoformat(),
            "today": today.isoformat(),
            "may_unmask": may(page.user, Deed.EXPORT_UNMASKED),
            "notices": NOTICE_NAMES,
            "photos": page.dashboard.photos.store is not None,
        },
    )


def _download(files: list[Path], name: str, folder: Path) -> tuple[bytes, str]:
    if len(files) == 1:
        return files[0].read_bytes(), files[0].name
    bundle = folder / f"{name}.zip"
    with zipfile.ZipFile(bundle, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in files:
            archive.write(file, file.name)
    return bundle.read_bytes(), bundle.name


async def export_download(request: web.Request, page: Page) -> web.StreamResponse:
    form = await request.post()
    runtime = page.dashboard.runtime
    kind = str(form.get("kind", ""))
    if kind not in EXPORTS:
        raise StorageError("Unknown export.")
    export = EXPORTS[ExportKind(kind)]
    area = str(form.get("area", "")) or page.visitor.area_code
    fmt = "csv" if form.get("format") == "csv" else "xlsx"
    today = runtime.clock().date()
    period = None
    if export.span is Span.REPORTING:
        start, end = _month_bounds(str(form.get("month", "")), today)
        period = f"{start:%Y-%m}"
    else:
        start = _day(str(form.get("from", ""))) or today.replace(day=1)
        end = _day(str(form.get("to", ""))) or today
    if end < start:
        raise StorageError("Give the dates as YYYY-MM-DD, the first before the last.")
    notice = str(form.get("notice", ""))
    photos = page.dashboard.photos.store if export.photos and form.get("photos") else None
    order = exports.ExportOrder(
        export.kind,
        area,
        start,
        end,
        fmt,  # type: ignore[arg-type]
        unmasked=form.get("unmasked") == "1",
        all_versions=form.get("all_versions") == "1",
        lang=page.lang,
        notice=NoticeKind(notice) if notice in NOTICE_NAMES else None,
        photo_dir=photos.root if photos is not None else None,
        period=period,
    )
    folder = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="hucha-web-export-"))
    try:
        name = f"{kind}-{area}-{start:%Y%m%d}-{end:%Y%m%d}"
        if photos is not None:
            await exports.fill_photos(
                runtime, page.visitor.user_id, order, page.dashboard.photos.fetch
            )
        suffix = "zip" if photos is not None else fmt
        written = await exports.write_export(
            runtime, page.visitor.user_id, order, folder / f"{name}.{suffix}"
        )
        body, filename = await asyncio.to_thread(_download, written.files, name, folder)
    finally:
        await asyncio.to_thread(shutil.rmtree, folder, True)
    response = web.Response(body=body, content_type="application/octet-stream")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


async def monthly_page(request: web.Request, page: Page) -> web.StreamResponse:
    runtime = page.dashboard.runtime
    area = request.query.get("area") or page.visitor.area_code
    month = request.query.get("month")
    named = f"{_month_bounds(month, runtime.clock().date())[0]:%Y-%m}" if month else None
    report = await exports.monthly_report_of(
        runtime, page.visitor.user_id, area, named, lang=page.lang
    )
    return _render(
        request,
        "monthly.html",
        page.lang,
        page.dashboard,
        {"page": page, "nav": "exports", "report": report},
    )


# ---------------------------------------------------------------- wiring


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(HERE / "templates")),
        autoescape=jinja2.select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


async def stylesheet(request: web.Request) -> web.StreamResponse:
    response = web.FileResponse(HERE / "static" / "style.css")
    response.headers["Cache-Control"] = "max-age=3600"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def add_dashboard(app: web.Application, dashboard: Dashboard) -> None:
    """Add the dashboard's routes to `app` (the process's own server, beside the webhook
    and health routes); nothing else of `app` is touched."""
    app[DASHBOARD_KEY] = dashboard
    aiohttp_jinja2.setup(
        app, loader=_environment().loader, autoescape=True, trim_blocks=True, lstrip_blocks=True
    )
    app.router.add_get("/", signed_in(overview_page))
    app.router.add_get("/login/{token}", login_form)
    app.router.add_post("/login/{token}", login)
    app.router.add_post("/logout", signed_in(logout))
    app.router.add_get("/problems", signed_in(problems_page))
    app.router.add_get("/problems/{problem_id:\\d+}", signed_in(problem_page))
    app.router.add_post("/problems/{problem_id:\\d+}", signed_in(problem_act))
    app.router.add_get("/households", signed_in(households_page))
    app.router.add_get("/households/{household_id:\\d+}", signed_in(household_page))
    app.router.add_get("/cases", signed_in(cases_page))
    app.router.add_post("/cases/{case_id:\\d+}", signed_in(case_act))
    app.router.add_get("/exports", signed_in(exports_page))
    app.router.add_post("/exports", signed_in(export_download))
    app.router.add_get("/reports/monthly", signed_in(monthly_page))
    app.router.add_get(
        "/photos/{source:check|event}/{source_id:\\d+}/{index:\\d+}", signed_in(photo)
    )
    app.router.add_get("/static/style.css", stylesheet)


def dashboard_app(dashboard: Dashboard) -> web.Application:
    """A web application serving only the dashboard."""
    app = web.Application()
    add_dashboard(app, dashboard)
    return app
