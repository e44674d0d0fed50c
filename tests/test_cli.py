"""The `hucha` command as an operator uses it: migrate, invite, import a roster, the demo."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main

ROSTER = (
    "村,户编号,户主姓名,身份证号,与户主关系,姓名,出生日期\n"
    "320705001001,001,张建国,,户主,张建国,1980-03-02\n"
    "320705001001,001,张建国,,之子,张小明,2014-05-01\n"
    "999999999999,002,李四,,户主,李四,1970-01-01\n"
)


def database(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"


def test_db_upgrade_then_invite_prints_code_and_deep_link(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = database(tmp_path)
    assert main(["--database-url", url, "db", "upgrade"]) == 0
    # The demo seed gives the area to invite into.
    assert main(["--database-url", url, "demo", "--script", "quit"]) == 0
    capsys.readouterr()
    code = main(
        [
            "--database-url",
            url,
            "invite",
            "--role",
            "cadre",
            "--area",
            "320705001001",
            "--bot-username",
            "hucha_bot",
        ]
    )
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert len(out[0]) == 8
    assert out[1] == f"https://t.me/hucha_bot?start={out[0]}"


def test_invite_to_unknown_area_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--database-url", database(tmp_path), "invite", "--role", "cadre", "--area", "1"])
    assert code == 1
    assert "Cannot create the invitation" in capsys.readouterr().err


def test_import_roster_reports_bad_rows_and_keeps_good_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = database(tmp_path)
    main(["--database-url", url, "demo", "--script", "quit"])
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER, encoding="utf-8-sig")
    capsys.readouterr()
    assert main(["--database-url", url, "import-roster", str(roster)]) == 1
    out = capsys.readouterr().out
    assert "4" in out and "999999999999" in out


def test_demo_walks_into_a_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--database-url", database(tmp_path), "demo", "--script", "1;1;/households"]) == 0
    out = capsys.readouterr().out
    assert "欢迎，演示干部" in out
    assert "入户核查：001" in out
    assert "回答人" in out
    assert "辖区农户" in out


def test_run_without_token_explains(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("HUCHA_TELEGRAM_TOKEN", raising=False)
    assert main(["run"]) == 2
    assert "HUCHA_TELEGRAM_TOKEN" in capsys.readouterr().err
