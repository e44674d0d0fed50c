"""The `hucha` command as an operator uses it: migrate, invite, import a roster, the demo."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
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
    assert code == 2
    assert capsys.readouterr().err.strip() == "未知的区划代码 1。"


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


def test_demo_run_again_answers_every_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The emulator numbers updates from 1 on every run; the second run on the same database
    must not take its first messages for repeats of the first run's and drop them."""
    url = database(tmp_path)
    assert main(["--database-url", url, "demo", "--script", "/help"]) == 0
    capsys.readouterr()
    assert main(["--database-url", url, "demo", "--as", "leader", "--script", "/progress"]) == 0
    out = capsys.readouterr().out
    assert "您已注册为朝阳镇的工作队长" in out and "幸福村" in out


def test_demo_sends_a_message_of_several_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A leader adds a problem by hand, one item a line, typed on one line with \\n; the
    deadline is a date written as Chinese screens write it."""
    url = database(tmp_path)
    due = date.today() + timedelta(days=40)
    typed = f"{due.year}年{due.month}月{due.day}日"
    script = f"/addproblem 张桂兰;住房安全\\n房屋墙体开裂\\n住房安全有保障\\n-\\n住建局\\n{typed}"
    assert main(["--database-url", url, "demo", "--as", "leader", "--script", script]) == 0
    out = capsys.readouterr().out
    assert "✅ 已保存。" in out and "具体问题：房屋墙体开裂" in out
    assert f"整改期限：{typed}" in out
    # The office's ledger export of that one problem counts it in the singular in English.
    first, last = (date.today() + timedelta(days=n) for n in (-2, 1))
    export = ["export", "--kind", "problems", "--area", "320705001", "--lang", "en"]
    span = ["--from", first.isoformat(), "--to", last.isoformat()]
    out_file = str(tmp_path / "ledger.xlsx")
    assert main(["--database-url", url, *export, *span, "--out", out_file]) == 0
    assert "Exported 1 row to" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("role", "welcome", "command", "reply"),
    [
        ("leader", "您已注册为朝阳镇的工作队长", "/progress", "幸福村"),
        ("office", "您已注册为云港区的办公室", "/export", "要导出什么？"),
    ],
)
def test_demo_as_a_leader_or_an_office(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    role: str,
    welcome: str,
    command: str,
    reply: str,
) -> None:
    """`hucha demo --as leader|office` chats as the township's leader or the county's office,
    with that role's menu, and does not open a check."""
    url = database(tmp_path)
    assert main(["--database-url", url, "demo", "--as", role, "--script", command]) == 0
    out = capsys.readouterr().out
    assert welcome in out and reply in out
    assert "/households — 辖区农户" in out and "/export" in out
    assert "入户核查：" not in out


def test_demo_shows_a_card_brought_up_to_date(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A press whose only answer is an edit of its card (a monitoring step recorded) shows
    the card again; answered questions, edited beside a new one, are not repeated."""
    script = "/cases;1;2;1;1"  # a new case for 002, on application; consent signed
    assert main(["--database-url", database(tmp_path), "demo", "--script", script]) == 0
    out = capsys.readouterr().out
    assert "✎ 🛡" in out and "✅ 授权承诺" in out


def test_run_without_token_explains(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("HUCHA_TELEGRAM_TOKEN", raising=False)
    assert main(["run"]) == 2
    assert "HUCHA_TELEGRAM_TOKEN" in capsys.readouterr().err


def test_office_invitation_works_on_a_fresh_database_once_areas_exist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = database(tmp_path)
    areas = tmp_path / "areas.csv"
    areas.write_text("代码,名称\n320723,灌云县\n", encoding="utf-8")
    assert main(["areas", "import", str(areas), "--database-url", url]) == 0
    assert main(["invite", "--role", "office", "--area", "320723", "--database-url", url]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out[-3]) == 8 and out[-1].startswith("有效期至")


def failures(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    """Each kind of mistake: the command line and a piece of the sentence it must print."""
    url = database(tmp_path)
    base = ["--database-url", url]
    export = ["export", "--kind", "checks", "--area", "320705001", "--from", "2025-03-01"]
    monthly = ["export", "--kind", "monthly", "--area", "320705001"]
    return {
        "bad choice": ([*base, "invite", "--role", "boss", "--area", "1"], "--role 不能取 boss"),
        "missing option": ([*base, "invite", "--area", "1"], "缺少 --role"),
        "unknown option": ([*base, "db", "upgrade", "--colour"], "无法识别 --colour"),
        "bad number": ([*base, "invite", "--role", "cadre", "--area", "1", "--days", "x"], "x"),
        "missing file": ([*base, "import-roster", str(tmp_path / "none.csv")], "文件不存在"),
        "missing area file": ([*base, "areas", "import", str(tmp_path / "none.csv")], "文件不存在"),
        "unwritable output": (
            base + export + ["--out", str(tmp_path / "no" / "x.xlsx")],
            "无法写入",
        ),
        "format mismatch": (
            base + export + ["--out", str(tmp_path / "x.csv"), "--format", "xlsx"],
            "扩展名是 .csv",
        ),
        "unknown extension": (base + export + ["--out", str(tmp_path / "x.txt")], "无法从"),
        "unknown form": (
            base + export + ["--out", str(tmp_path / "x.xlsx"), "--form", "nope"],
            "未知的问卷 nope",
        ),
        "no database": (
            ["--database-url", f"sqlite:///{tmp_path / 'no' / 'such' / 'x.db'}", "db", "upgrade"],
            "无法连接数据库",
        ),
        "unreachable Bot API": (
            [*base, "run", "--token", "1:x", "--api-url", "http://127.0.0.1:9/bot"],
            "无法连接 Bot API（http://127.0.0.1:9/bot）",
        ),
        "bad time": ([*base, "remind", "--at", "tomorrow", "--dry-run"], "无法识别时间"),
        "bad settings": (
            [*base, "areas", "import", str(tmp_path / "a.csv"), "--settings", "[1]"],
            "JSON 对象",
        ),
        # A monthly report names its period; dates would leave it to a guess.
        "monthly by dates": (
            [*base, *monthly, "--from", "2025-10-01", "--out", str(tmp_path / "m.xlsx")],
            "月报只涵盖一个报告期：请给出 --period YYYY-MM",
        ),
        "monthly without a period": (
            [*base, *monthly, "--out", str(tmp_path / "m.xlsx")],
            "月报只涵盖一个报告期",
        ),
        "bad period": (
            [*base, *monthly, "--period", "2025-13", "--out", str(tmp_path / "m.xlsx")],
            "请按 YYYY-MM 的格式给出报告期",
        ),
        "period of another kind": (
            [*base, *export, "--period", "2025-10", "--out", str(tmp_path / "x.xlsx")],
            "--period 只用于月报",
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "bad choice",
        "missing option",
        "unknown option",
        "bad number",
        "missing file",
        "missing area file",
        "unwritable output",
        "format mismatch",
        "unknown extension",
        "unknown form",
        "no database",
        "unreachable Bot API",
        "bad time",
        "bad settings",
        "monthly by dates",
        "monthly without a period",
        "bad period",
        "period of another kind",
    ],
)
def test_every_mistake_is_one_or_two_sentences_and_exit_code_2(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HUCHA_LANGUAGE", raising=False)
    (tmp_path / "a.csv").write_text("代码,名称\n", encoding="utf-8")
    argv, expected = failures(tmp_path)[case]
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert 1 <= len(lines) <= 2, captured.err
    assert expected in captured.err
    assert "Traceback" not in captured.err + captured.out


def test_mistakes_are_in_english_on_request_and_debug_shows_the_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["import-roster", str(tmp_path / "none.csv"), "--database-url", database(tmp_path)]
    assert main([*argv, "--lang", "en"]) == 2
    assert capsys.readouterr().err.strip() == f"No such file: {tmp_path / 'none.csv'}"
    with pytest.raises(Exception, match="No such file"):
        main([*argv, "--debug"])


async def test_a_wrong_token_is_one_sentence_without_the_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.emulator import BotApiEmulator

    emulator = BotApiEmulator()
    await emulator.start()
    try:
        token = "123456:wrong-token-never-shown"
        argv = ["run", "--token", token, "--api-url", emulator.base_url]
        code = await asyncio.to_thread(main, ["--database-url", database(tmp_path), *argv])
    finally:
        await emulator.stop()
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.strip() == "Bot API 拒绝了令牌：请检查 HUCHA_TELEGRAM_TOKEN 或 --token。"
    assert token not in captured.err + captured.out


def test_export_format_follows_the_file_extension(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = database(tmp_path)
    main(["--database-url", url, "demo", "--script", "quit"])
    out = tmp_path / "checks.csv"
    argv = ["export", "--kind", "checks", "--area", "320705001", "--from", "2025-03-01"]
    assert main([*argv, "--out", str(out), "--database-url", url]) == 0
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")  # CSV with a BOM, not a ZIP


@pytest.mark.postgres
def test_a_postgresql_database_that_does_not_exist_is_one_sentence(
    postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from sqlalchemy import make_url

    missing = make_url(postgres_url).set(database="hucha_no_such_db").render_as_string(False)
    assert main(["db", "upgrade", "--database-url", missing]) == 2
    err = capsys.readouterr().err
    assert "无法连接数据库" in err and "hucha_no_such_db" in err and "Traceback" not in err
