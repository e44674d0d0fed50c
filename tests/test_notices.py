"""The public notice list (公示名单) of a village: the households of a check round or of the
monitoring cases at their notice step, with head, group, size and the decision, the notice
period and a contact for objections, and nothing private."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from storage import Area, Household, Member, StorageError
from storage.models import MonitoringStep
from storage.monitoring import open_case
from storage.notices import NoticeKind, export_notice
from storage.schedule import DEFAULT_CASE_STEP_DAYS
from tests.test_exports import MARCH, NOW, Maker, seed_checks

pytest_plugins = ("tests.storage_fixtures",)

VILLAGE = replace(MARCH, area_code="320705001001")
CONTACT = "村委会王主任，电话 0518-85880000"
HEADER = ["序号", "户主姓名", "所在组", "家庭人口", "公示事项", "备注"]


def sheet_rows(path: Path) -> list[list[object]]:
    workbook = load_workbook(path)
    sheet = workbook["公示名单"]
    return [[cell.value for cell in row] for row in sheet.iter_rows()]


async def test_a_check_round_notice_shows_what_may_be_posted_and_nothing_private(
    sqlite_maker: Maker, tmp_path: Path
) -> None:
    checks = await seed_checks(sqlite_maker)
    async with sqlite_maker.begin() as s:
        village = await s.get(Area, "320705001001")
        assert village is not None
        village.settings = {**(village.settings or {}), "notice_contact": CONTACT}
        first = await s.get(Household, checks.first.household_id)
        second = await s.get(Household, checks.second.household_id)
        assert first and second
        first.group_name = "一组"
        members = list(
            await s.scalars(select(Member).where(Member.household_id == first.id, Member.active))
        )
        private = [
            value
            for household in (first, second)
            for value in (household.head_id_number, household.phone)
            if value
        ] + [m.id_number for m in members if m.id_number]
    assert private
    path = tmp_path / "notice.xlsx"
    async with sqlite_maker.begin() as s:
        result = await export_notice(s, NoticeKind.CHECK, VILLAGE, path, "xlsx", NOW)
    assert result.rows == 2 and result.kind == "notice"
    rows = sheet_rows(path)
    assert rows[0][0] == "幸福村入户核查结果公示"
    assert rows[1][0] == "公示期：2025年3月20日至2025年3月24日"
    assert "公示日期：2025年3月20日" in rows[1]
    assert "接受群众监督" in str(rows[2][0])
    header = rows.index(HEADER)
    entries = [row[:5] for row in rows[header + 1 : header + 3]]
    assert entries == [
        [1, first.head_name, "一组", len(members), "已核查，发现的问题正在整改"],
        [2, second.head_name, second.group_name, entries[1][3], "已核查，达到“两不愁三保障”标准"],
    ]
    text = "\n".join(str(cell) for row in rows for cell in row if cell is not None)
    assert CONTACT in text and "（盖章）" in text
    for value in private:
        assert value not in text
    # No income, no health, no problem wording.
    for word in ("5800", "慢性病", "危房", "辍学"):
        assert word not in text
    sheet = load_workbook(path)["公示名单"]
    assert sheet.page_setup.orientation == "portrait" and sheet.page_setup.paperSize == 9


async def test_monitoring_notices_list_the_cases_at_their_notice_step(
    sqlite_maker: Maker, tmp_path: Path
) -> None:
    checks = await seed_checks(sqlite_maker)
    here = checks.world.seed.household_ids
    async with sqlite_maker.begin() as s:
        ready = [
            await open_case(s, here[0], date(2025, 3, 15), DEFAULT_CASE_STEP_DAYS, NOW),
            await open_case(
                s, here[1], date(2025, 3, 15), DEFAULT_CASE_STEP_DAYS, NOW, kind="remove"
            ),
        ]
        for case in ready:  # the village review agreed: the notice is next
            steps = await s.scalars(
                select(MonitoringStep)
                .where(MonitoringStep.case_id == case.id)
                .order_by(MonitoringStep.position)
            )
            for step in steps:
                if step.step == "public_notice":
                    break
                step.done_at = NOW
        # A case still before its village review is not posted yet.
        await open_case(s, here[3], date(2025, 3, 15), DEFAULT_CASE_STEP_DAYS, NOW)
        # A case whose notice was posted in February is not posted again.
        old = await open_case(s, here[2], date(2025, 2, 1), DEFAULT_CASE_STEP_DAYS, NOW)
        notice_step = await s.scalar(
            select(MonitoringStep).where(
                MonitoringStep.case_id == old.id, MonitoringStep.step == "public_notice"
            )
        )
        assert notice_step is not None
        notice_step.done_at = datetime(2025, 2, 10, tzinfo=UTC)
        heads = {h: (await s.get(Household, h)) for h in here[:3]}
    for kind, head, decision in (
        (NoticeKind.INCLUSION, heads[here[0]], "拟纳入防返贫监测对象"),
        (NoticeKind.REMOVAL, heads[here[1]], "拟标注风险消除"),
    ):
        path = tmp_path / f"{kind}.xlsx"
        async with sqlite_maker.begin() as s:
            result = await export_notice(s, kind, VILLAGE, path, "xlsx", NOW, notice_days=7)
        assert result.rows == 1, kind
        rows = sheet_rows(path)
        header = rows.index(HEADER)
        assert head is not None and rows[header + 1][1] == head.head_name
        assert rows[header + 1][4] == decision
        assert rows[1][0] == "公示期：2025年3月20日至2025年3月26日"
        # Without a contact set, objections go to the village committee.
        assert any("向村民委员会反映" in str(row[0]) for row in rows)


async def test_a_notice_is_for_one_village_and_reads_in_english(
    sqlite_maker: Maker, tmp_path: Path
) -> None:
    await seed_checks(sqlite_maker)
    async with sqlite_maker.begin() as s:
        with pytest.raises(StorageError) as refused:
            await export_notice(s, NoticeKind.CHECK, MARCH, tmp_path / "n.xlsx", "xlsx", NOW)
    assert refused.value.message_id == "A public notice is for one village: pick a village."
    path = tmp_path / "en.csv"
    english = replace(VILLAGE, lang="en")
    async with sqlite_maker.begin() as s:
        await export_notice(s, NoticeKind.CHECK, english, path, "csv", NOW + timedelta(days=1))
    text = path.read_text(encoding="utf-8-sig")
    assert "幸福村: public notice of the household check results" in text
    assert "Notice period: March 21, 2025 to March 25, 2025" in text
    assert "Checked: the standard is met" in text
