"""The Bot API emulator behaves like api.telegram.org for python-telegram-bot, strictness included.

Every test talks to the emulator over HTTP with PTB's real `Bot` (or `Application`), and acts
as the person through the emulator's user side.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllPrivateChats,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Conflict, EndPointNotFound, Forbidden, InvalidToken
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from bot.emulator import BotApiEmulator, EmulatedUser, spec
from bot.emulator.formatting import parse_html
from bot.emulator.spec import BUILT_IN_REQUIRED, load_method_specs

GUARD = 5  # seconds; a guard against hanging, never a wait


@pytest.fixture
async def emu() -> AsyncIterator[BotApiEmulator]:
    emulator = BotApiEmulator()
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
async def bot(emu: BotApiEmulator) -> AsyncIterator[Bot]:
    async with Bot(emu.token, base_url=emu.base_url, base_file_url=emu.base_file_url) as ptb:
        yield ptb


@pytest.fixture
async def wang(emu: BotApiEmulator) -> EmulatedUser:
    """A person who has already started the bot, so it may write to her."""
    user = emu.user(user_id=1001, first_name="王芳", language_code="zh-hans")
    await user.send_command("start")
    return user


async def raw_call(emu: BotApiEmulator, method: str, **params: object) -> tuple[int, dict]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{emu.base_url}{emu.token}/{method}", json=params) as response,
    ):
        return response.status, await response.json()


async def fetch_updates(bot: Bot) -> list[Update]:
    return list(await bot.get_updates(timeout=GUARD))


def keyboard(*buttons: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(t, callback_data=d)] for t, d in buttons])


# The server: routes, tokens, the spec


async def test_get_me_describes_the_test_bot(bot: Bot) -> None:
    me = await bot.get_me()
    assert me.is_bot
    assert me.id == 123456
    assert me.username == "hucha_test_bot"


async def test_method_names_are_case_insensitive(emu: BotApiEmulator) -> None:
    status, body = await raw_call(emu, "GETME")
    assert status == 200
    assert body["ok"] is True
    assert body["result"]["is_bot"] is True


async def test_unknown_method_is_not_found(emu: BotApiEmulator, bot: Bot) -> None:
    status, body = await raw_call(emu, "sendTelepathy")
    assert status == 404
    assert body == {"ok": False, "error_code": 404, "description": "Not Found"}
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("sendTelepathy")


async def test_wrong_token_is_unauthorized(emu: BotApiEmulator) -> None:
    with pytest.raises(InvalidToken):
        async with Bot("654321:WRONG", base_url=emu.base_url) as stranger:
            await stranger.get_me()


async def test_real_method_the_emulator_lacks_is_refused_loudly(
    bot: Bot, wang: EmulatedUser, api_json: Path
) -> None:
    with pytest.raises(BadRequest, match=r"(?i)not implemented in the emulator"):
        await bot.send_poll(wang.chat_id, "Which?", ["a", "b"])


async def test_missing_required_parameter_is_a_bad_request(emu: BotApiEmulator) -> None:
    status, body = await raw_call(emu, "sendMessage", chat_id=1001)
    assert status == 400
    assert body["description"] == "Bad Request: message text is empty"
    status, body = await raw_call(emu, "setWebhook")
    assert (status, body["description"]) == (400, 'Bad Request: parameter "url" is required')


def test_built_in_table_agrees_with_api_json(api_json: Path) -> None:
    specs = load_method_specs(api_json)
    for name, required in BUILT_IN_REQUIRED.items():
        assert specs[name.lower()].required == required, name


async def test_without_api_json_the_built_in_table_serves(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(spec, "default_api_json", lambda: tmp_path / "absent.json")
    async with BotApiEmulator() as emulator:
        assert (await raw_call(emulator, "getMe"))[0] == 200
        assert (await raw_call(emulator, "sendPoll"))[0] == 404
        status, body = await raw_call(emulator, "sendMessage", text="hi")
        assert (status, body["description"]) == (400, "Bad Request: chat_id is empty")


# Limits and strictness


async def test_text_of_4097_characters_is_too_long(bot: Bot, wang: EmulatedUser) -> None:
    await bot.send_message(wang.chat_id, "字" * 4096)
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(wang.chat_id, "字" * 4097)


async def test_length_counts_text_without_tags(bot: Bot, wang: EmulatedUser) -> None:
    sent = await bot.send_message(
        wang.chat_id, "<b>" + "x" * 4093 + "</b>&lt;&gt;&amp;", parse_mode=ParseMode.HTML
    )
    assert sent.text is not None and sent.text.endswith("x<>&")


async def test_empty_text_is_refused(bot: Bot, wang: EmulatedUser) -> None:
    with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
        await bot.send_message(wang.chat_id, "<b>  </b>", parse_mode=ParseMode.HTML)


async def test_callback_data_of_65_bytes_is_refused(bot: Bot, wang: EmulatedUser) -> None:
    await bot.send_message(wang.chat_id, "ok", reply_markup=keyboard(("a", "d" * 64)))
    with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
        await bot.send_message(wang.chat_id, "no", reply_markup=keyboard(("a", "d" * 65)))
    with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
        await bot.send_message(wang.chat_id, "no", reply_markup=keyboard(("a", "好" * 22)))


@pytest.mark.parametrize(
    "source",
    [
        "<b>unclosed",
        "<b>crossed</i>",
        "<b><i>crossed</b></i>",
        "<blink>unknown</blink>",
        "<span>plain span</span>",
        "a < b",
        "AT&T",
        "line<br/>break",
    ],
)
async def test_malformed_html_is_refused(bot: Bot, wang: EmulatedUser, source: str) -> None:
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(wang.chat_id, source, parse_mode=ParseMode.HTML)


async def test_supported_html_becomes_entities(bot: Bot, wang: EmulatedUser) -> None:
    sent = await bot.send_message(
        wang.chat_id,
        '<b>户查</b> <a href="https://example.org">链接</a> <tg-spoiler>秘</tg-spoiler> 1 &lt; 2',
        parse_mode=ParseMode.HTML,
    )
    assert sent.text == "户查 链接 秘 1 < 2"
    assert [(e.type, e.offset, e.length) for e in sent.entities] == [
        ("bold", 0, 2),
        ("text_link", 3, 2),
        ("spoiler", 6, 1),
    ]
    assert sent.text_html.startswith("<b>户查</b>")


@given(st.text(max_size=50).filter(lambda s: s == s.strip()))
def test_escaped_text_parses_back_to_itself(text: str) -> None:
    assert parse_html(html.escape(text)).text == text


async def test_caption_over_1024_characters_is_refused(bot: Bot, wang: EmulatedUser) -> None:
    with pytest.raises(BadRequest, match=r"(?i)caption is too long"):
        await bot.send_photo(wang.chat_id, b"\xff\xd8jpeg", caption="c" * 1025)


async def test_unknown_chat_is_not_found(bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(999999, "hello?")


async def test_blocked_user_is_forbidden(bot: Bot, wang: EmulatedUser) -> None:
    await fetch_updates(bot)
    wang.block()
    with pytest.raises(Forbidden, match=r"(?i)bot was blocked by the user"):
        await bot.send_message(wang.chat_id, "提醒")
    updates = await bot.get_updates(offset=-1, timeout=GUARD)
    assert updates[-1].my_chat_member is not None
    assert updates[-1].my_chat_member.new_chat_member.status == "kicked"
    wang.unblock()
    await bot.send_message(wang.chat_id, "欢迎回来")


async def test_bot_cannot_start_a_conversation(emu: BotApiEmulator, bot: Bot) -> None:
    stranger = emu.user(user_id=2002, first_name="李明")
    with pytest.raises(Forbidden, match=r"(?i)can't initiate conversation"):
        await bot.send_message(stranger.chat_id, "你好")


async def test_edit_with_identical_content_is_not_modified(bot: Bot, wang: EmulatedUser) -> None:
    markup = keyboard(("是", "q:1:1:yes"))
    sent = await bot.send_message(wang.chat_id, "有人住吗？", reply_markup=markup)
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text(
            "有人住吗？", wang.chat_id, sent.message_id, reply_markup=markup
        )
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_reply_markup(wang.chat_id, sent.message_id, reply_markup=markup)


async def test_edit_of_missing_message_is_refused(bot: Bot, wang: EmulatedUser) -> None:
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("x", wang.chat_id, 4242)


async def test_unknown_callback_query_is_too_old(bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query("123456789")


async def test_webhook_conflicts_with_get_updates(bot: Bot) -> None:
    await bot.set_webhook("https://hucha.example.org/telegram", secret_token="s3cret")
    assert (await bot.get_webhook_info()).url == "https://hucha.example.org/telegram"
    with pytest.raises(Conflict, match=r"(?i)webhook is active"):
        await bot.get_updates()
    await bot.delete_webhook()
    assert await bot.get_updates(timeout=0) == ()


async def test_webhook_needs_https_on_telegram_ports(bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)https url must be provided"):
        await bot.set_webhook("http://hucha.example.org/telegram")
    with pytest.raises(BadRequest, match=r"(?i)ports 80, 88, 443 or 8443"):
        await bot.set_webhook("https://hucha.example.org:9000/telegram")


# Updates


async def test_long_poll_returns_when_a_user_writes(bot: Bot, emu: BotApiEmulator) -> None:
    user = emu.user(user_id=3003, first_name="张伟")
    poll = asyncio.create_task(bot.get_updates(timeout=GUARD))
    await user.send_text("在吗")
    async with asyncio.timeout(GUARD / 2):
        updates = await poll
    assert [u.message.text for u in updates if u.message] == ["在吗"]
    await user.send_text("第二条")
    later = await bot.get_updates(offset=updates[-1].update_id + 1, timeout=GUARD)
    assert [u.message.text for u in later if u.message] == ["第二条"]
    assert later[0].update_id > updates[-1].update_id


async def test_allowed_updates_filter_what_the_bot_gets(bot: Bot, wang: EmulatedUser) -> None:
    wang.block()
    wang.unblock()
    await wang.send_text("还在")
    updates = await bot.get_updates(allowed_updates=["message"], timeout=GUARD)
    assert [u.message.text for u in updates if u.message] == ["/start", "还在"]
    assert all(u.my_chat_member is None for u in updates)


async def test_newer_get_updates_ends_the_waiting_one(emu: BotApiEmulator, bot: Bot) -> None:
    waiting = asyncio.create_task(bot.get_updates(timeout=GUARD))
    async with Bot(emu.token, base_url=emu.base_url) as rival:
        async with asyncio.timeout(GUARD):
            while not waiting.done():  # each pass is a full round trip to the server
                assert await rival.get_updates(timeout=0) == ()
    with pytest.raises(Conflict, match=r"(?i)terminated by other getupdates"):
        await waiting


# Happy paths as a person sees them


async def test_send_and_edit_with_inline_keyboard(bot: Bot, wang: EmulatedUser) -> None:
    sent = await bot.send_message(
        wang.chat_id,
        "户主在家吗？",
        reply_markup=keyboard(("在", "q:7:1:yes"), ("不在", "q:7:1:no")),
    )
    seen = await wang.next_message(timeout=GUARD)
    assert seen.text == "户主在家吗？"
    assert seen.reply_markup == ((("在", "q:7:1:yes"),), (("不在", "q:7:1:no"),))
    await bot.edit_message_text("户主在家吗？ 已答：在", wang.chat_id, sent.message_id)
    edit = await wang.next_edit(timeout=GUARD)
    assert edit.message_id == sent.message_id
    assert (edit.text, edit.reply_markup, edit.edited) == ("户主在家吗？ 已答：在", (), True)
    assert [m.sender for m in wang.chat] == ["user", "bot"]
    assert wang.bot_messages[-1].edited


async def test_pressed_button_gets_the_bots_answer(bot: Bot, wang: EmulatedUser) -> None:
    await fetch_updates(bot)
    await bot.send_message(wang.chat_id, "确认？", reply_markup=keyboard(("确认", "q:12:3:yes")))
    press = asyncio.create_task(wang.press_button("确认", timeout=GUARD))
    updates = await bot.get_updates(offset=-1, timeout=GUARD)
    query = updates[-1].callback_query
    assert query is not None
    assert query.data == "q:12:3:yes"
    assert isinstance(query.message, Message) and query.message.text == "确认？"
    await query.answer("已保存", show_alert=True)
    answer = await press
    assert (answer.text, answer.show_alert) == ("已保存", True)
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await query.answer("again")


async def test_crafted_callback_data_reaches_the_bot(bot: Bot, wang: EmulatedUser) -> None:
    sent = await bot.send_message(wang.chat_id, "x", reply_markup=keyboard(("a", "q:1:1:a")))
    press = asyncio.create_task(wang.press(sent.message_id, "q:999:1:' OR 1=1", timeout=GUARD))
    updates = await bot.get_updates(offset=-1, timeout=GUARD)
    query = updates[-1].callback_query
    assert query is not None and query.data == "q:999:1:' OR 1=1"
    with pytest.raises(BadRequest, match=r"(?i)message_too_long"):
        await query.answer("长" * 201)
    await query.answer()
    assert (await press).text is None


async def test_reply_keyboard_is_shown_and_removed(bot: Bot, wang: EmulatedUser) -> None:
    await bot.send_message(wang.chat_id, "选择", reply_markup=ReplyKeyboardMarkup([["是", "否"]]))
    assert wang.keyboard == [["是", "否"]]
    assert (await wang.next_message(timeout=GUARD)).keyboard == (("是", "否"),)
    await bot.send_message(wang.chat_id, "好", reply_markup=ReplyKeyboardRemove())
    assert wang.keyboard == []


async def test_photo_from_user_can_be_downloaded(bot: Bot, wang: EmulatedUser) -> None:
    jpeg = b"\xff\xd8\xff\xe0 a household photo"
    await wang.send_photo(jpeg, caption="门牌")
    updates = await bot.get_updates(offset=-1, timeout=GUARD)
    message = updates[-1].message
    assert message is not None and message.caption == "门牌"
    file = await message.photo[-1].get_file()
    assert file.file_path is not None and file.file_path.startswith(bot.base_file_url)
    assert bytes(await file.download_as_bytearray()) == jpeg


async def test_sent_document_is_readable(bot: Bot, emu: BotApiEmulator, wang: EmulatedUser) -> None:
    content = "户号,姓名\n1,王芳\n".encode()
    sent = await bot.send_document(
        wang.chat_id, InputFile(content, filename="roster.csv"), caption="名册"
    )
    assert emu.documents == [(wang.chat_id, "roster.csv", content, "名册")]
    seen = await wang.next_message(timeout=GUARD)
    assert seen.document is not None and seen.document["file_name"] == "roster.csv"
    assert wang.download(seen.document["file_id"]) == content
    assert sent.document is not None
    file = await bot.get_file(sent.document.file_id)
    assert bytes(await file.download_as_bytearray()) == content


async def test_photo_from_bot_reaches_the_user(bot: Bot, wang: EmulatedUser) -> None:
    png = b"\x89PNG\r\n\x1a\n a chart"
    await bot.send_photo(wang.chat_id, png, caption="<b>进度</b>", parse_mode=ParseMode.HTML)
    seen = await wang.next_message(timeout=GUARD)
    assert seen.caption == "进度"
    assert seen.photo is not None
    assert wang.download(seen.photo[-1]["file_id"]) == png


async def test_chat_action_and_get_chat(bot: Bot, wang: EmulatedUser) -> None:
    await bot.send_chat_action(wang.chat_id, "upload_document")
    assert wang.chat_actions == ["upload_document"]
    chat = await bot.get_chat(wang.chat_id)
    assert (chat.type, chat.first_name) == ("private", "王芳")


async def test_commands_are_kept_per_language_and_scope(bot: Bot, emu: BotApiEmulator) -> None:
    zh = [BotCommand("start", "开始"), BotCommand("check", "入户核查")]
    en = [BotCommand("start", "Start")]
    await bot.set_my_commands(zh, language_code="zh")
    await bot.set_my_commands(en, scope=BotCommandScopeAllPrivateChats(), language_code="en")
    assert emu.commands("zh") == [("start", "开始"), ("check", "入户核查")]
    assert emu.commands("en", scope="all_private_chats") == [("start", "Start")]
    assert emu.commands("en") == []
    assert await bot.get_my_commands(language_code="zh") == tuple(zh)
    with pytest.raises(BadRequest, match=r"(?i)invalid language code"):
        await bot.set_my_commands(zh, language_code="zh-hans")
    await bot.delete_my_commands(language_code="zh")
    assert emu.commands("zh") == []


async def test_next_message_timeout_says_what_happened(wang: EmulatedUser) -> None:
    with pytest.raises(TimeoutError, match=r"(?s)no message from the bot.*/start"):
        await wang.next_message(timeout=0.01)


async def test_echo_application_replies_over_long_polling(emu: BotApiEmulator) -> None:
    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(update.effective_message.text or "")

    app = (
        Application.builder()
        .token(emu.token)
        .base_url(emu.base_url)
        .base_file_url(emu.base_file_url)
        .build()
    )
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    await app.initialize()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=1)
    await app.start()
    try:
        users = [emu.user(user_id=5000 + n, first_name=f"用户{n}") for n in range(5)]
        await asyncio.gather(*(u.send_text(f"你好 {u.user_id}") for u in users))
        replies = await asyncio.gather(*(u.next_message(timeout=GUARD) for u in users))
        assert [r.text for r in replies] == [f"你好 {u.user_id}" for u in users]
        await emu.wait_until_idle(timeout=GUARD)
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
    assert emu.pending_update_count == 0


async def test_webhook_receives_updates_with_the_secret(emu: BotApiEmulator, bot: Bot) -> None:
    received: asyncio.Queue[tuple[str | None, dict]] = asyncio.Queue()

    async def hook(request: web.Request) -> web.Response:
        await received.put(
            (request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json())
        )
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        port = runner.addresses[0][1]
        await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="s3cret")
        await emu.user(user_id=6006, first_name="赵敏").send_text("网络钩子")
        async with asyncio.timeout(GUARD):
            secret, update = await received.get()
        assert secret == "s3cret"
        assert update["message"]["text"] == "网络钩子"
        await emu.wait_until_idle(timeout=GUARD)
        assert emu.pending_update_count == 0
    finally:
        await bot.delete_webhook()
        await runner.cleanup()
