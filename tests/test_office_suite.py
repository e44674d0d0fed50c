"""The exports opened in a real office suite: LibreOffice (Debian's libreoffice-calc-nogui)
converts each file to PDF as an office printing it would; the monthly report of a township
fits on two pages, and no cell shows #### (too narrow) or an error value. Skipped, with the
reason, where LibreOffice is not installed."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conversations import Form, load_forms
from storage.exports import export_checks, export_ledger
from storage.notices import NoticeKind, export_notice
from storage.periods import period_named
from storage.reports import export_monthly, load_monthly_template
from storage.schedule import AreaSchedule
from tests.test_exports import MARCH, NOW, seed_checks

pytest_plugins = ("tests.storage_fixtures",)

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
PDFTOTEXT = shutil.which("pdftotext")
ERROR_VALUES = ("###", "#VALUE!", "#REF!", "#NAME?", "#DIV/0!", "#N/A", "#NUM!", "Err:")
_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")

pytestmark = pytest.mark.skipif(
    SOFFICE is None,
    reason="LibreOffice is not installed (apt-get install libreoffice-calc-nogui fonts-noto-cjk)",
)


def to_pdf(files: list[Path], folder: Path) -> dict[str, Path]:
    """Convert the files to PDF in one LibreOffice run, with a profile of its own (so that
    another LibreOffice running on the machine does not take the conversion over)."""
    assert SOFFICE is not None
    profile = (folder / "profile").as_uri()
    subprocess.run(
        [
            SOFFICE,
            f"-env:UserInstallation={profile}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(folder),
            *map(str, files),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return {file.stem: folder / f"{file.stem}.pdf" for file in files}


def page_count(pdf: Path) -> int:
    return len(_PAGE.findall(pdf.read_bytes()))


def printed(text: str, page: str) -> bool:
    """Whether every character of `text` is on the page in order, near each other: the
    lines of a wrapped cell come out between the texts of the cells beside it."""
    for found in re.finditer(re.escape(text[:8]), page):
        at = start = found.start()
        for char in text:
            at = page.find(char, at)
            if at < 0:
                break
            at += 1
        if at >= 0 and at - start <= 4 * len(text) + 200:
            return True
    return False


def pdf_text(pdf: Path) -> str:
    assert PDFTOTEXT is not None
    done = subprocess.run(
        [PDFTOTEXT, "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    )
    return done.stdout


async def test_exports_print_readably_in_libreoffice(
    sqlite_maker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    form: Form = load_forms()["household_check"]
    await seed_checks(sqlite_maker)
    out = tmp_path / "exports"
    out.mkdir()
    async with sqlite_maker.begin() as s:
        april = period_named(AreaSchedule(), 2025, 4)
        await export_monthly(s, "320705001", april, out / "monthly.xlsx", "xlsx", NOW)
        await export_ledger(s, MARCH, out / "ledger.xlsx", "xlsx", NOW)
        await export_checks(s, form, MARCH, out / "checks.xlsx", "xlsx", NOW)
        village = replace(MARCH, area_code="320705001001")
        await export_notice(s, NoticeKind.CHECK, village, out / "notice.xlsx", "xlsx", NOW)
    files = sorted(out.glob("*.xlsx"))
    pdfs = await asyncio.to_thread(to_pdf, files, tmp_path)
    pages = {name: page_count(pdf) for name, pdf in pdfs.items()}
    print("pages:", pages)
    # The table on at most two pages, the villages' checks on a sheet (a page) of their own.
    assert 2 <= pages["monthly"] <= 3
    assert pages["ledger"] == 1
    assert pages["checks"] >= 1
    assert pages["notice"] == 1
    if PDFTOTEXT is None:
        pytest.skip("pdftotext (poppler-utils) is missing: page counts checked, cell texts not")
    for name, pdf in pdfs.items():
        text = pdf_text(pdf)
        shown = [value for value in ERROR_VALUES if value in text]
        assert not shown, f"{name} shows {shown}"
    monthly = pdf_text(pdfs["monthly"])
    # Every 排查内容 printed whole: rows are as high as their text, nothing is cut off.
    flat = re.sub(r"\s+", "", monthly)
    cut = [row.number for row in load_monthly_template().rows if not printed(row.content, flat)]
    assert not cut, f"排查内容 of rows {cut} is not printed whole"
    sheets = monthly.split("\f")
    villages_page = next(n for n, page in enumerate(sheets) if "各村核查情况（" in page)
    assert 1 <= villages_page <= 2 and villages_page == pages["monthly"] - 1
    assert f"第 1 页，共 {pages['monthly']} 页" in monthly
    assert "审核人" in monthly and "（盖章）" in monthly
