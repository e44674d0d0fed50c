"""The bot's requests on aiohttp (bot/transport.py) reach the Bot API emulator as PTB's own
httpx request would send them, and fail with the errors the retry policy reads: a timeout
after the request left may mean it arrived, one before it left does not."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import aiohttp
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from telegram import Bot, Update
from telegram.error import NetworkError, RetryAfter, TimedOut
from telegram.request import BaseRequest

from bot import transport
from bot.emulator import BotApiEmulator, EmulatedUser
from bot.retry import OutcomeUnknown, RetryPolicy, may_have_arrived, retry_after_seconds
from bot.sending import HuchaBot
from bot.transport import (
    AiohttpRequest,
    bot_api_request,
    environment_proxy,
    form_body,
    multipart_body,
)

CHAT = 5101


@pytest.fixture
async def wang(emulator: BotApiEmulator) -> EmulatedUser:
    """A person who has started the bot, so it may write to her."""
    user = emulator.user(CHAT, "王芳", language_code="zh-hans")
    await user.send_command("start")
    return user


@contextlib.asynccontextmanager
async def bot_on(
    emulator: BotApiEmulator, request: BaseRequest | None = None, base_url: str | None = None
) -> AsyncIterator[Bot]:
    async with Bot(
        emulator.token,
        base_url=base_url or emulator.base_url,
        base_file_url=emulator.base_file_url,
        request=request or AiohttpRequest(),
    ) as bot:
        yield bot


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_message_sent_through_aiohttp_reaches_the_person(
    emulator: BotApiEmulator, wang: EmulatedUser
) -> None:
    async with bot_on(emulator) as bot:
        assert bot.username == "hucha_test_bot"
        sent = await bot.send_message(CHAT, "<b>入户</b> 核查 &amp; more", parse_mode="HTML")
    shown = await wang.next_message(timeout=5)
    assert shown.message_id == sent.message_id
    assert shown.text == "入户 核查 & more"


async def test_small_and_large_documents_are_uploaded_whole(
    emulator: BotApiEmulator, wang: EmulatedUser
) -> None:
    """A small upload goes out at once, a large one chunk by chunk; both arrive intact, with
    their names (Chinese included) and captions."""
    small = b"PK\x03\x04 small export"
    large = bytes(range(256)) * 4000  # about 1 MB: many chunks
    async with bot_on(emulator) as bot:
        await bot.send_document(CHAT, small, filename="幸福村 2026-12.xlsx", caption="导出")
        await bot.send_document(CHAT, large, filename="户籍 large.bin")
    first, second = emulator.documents
    assert (first.filename, first.content, first.caption) == ("幸福村 2026-12.xlsx", small, "导出")
    assert (second.filename, second.content) == ("户籍 large.bin", large)


def test_a_multipart_body_is_laid_out_as_httpx_lays_it_out() -> None:
    fields = {"chat_id": "5101", "caption": '住房 "照片"\r\n', "parse_mode": "HTML"}
    files = {"photo": ("房屋\\照片.jpg", b"\xff\xd8\xff\xe0 jpeg", "image/jpeg")}
    body, content_type = multipart_body(fields, files)
    boundary = content_type.removeprefix("multipart/form-data; boundary=")
    stream = httpx._multipart.MultipartStream(fields, files, boundary=boundary.encode())
    assert content_type == stream.content_type
    assert body == b"".join(stream)


def test_a_form_body_is_encoded_as_httpx_encodes_it() -> None:
    fields = {
        "chat_id": "5101",
        "text": "<b>住房</b> 安全？\n~a_b.c-d &amp; 50% +1 👍",
        "reply_markup": '{"inline_keyboard": [[{"callback_data": "1q:7:p:0", "text": "\\u662f"}]]}',
    }
    assert form_body(fields) == httpx.Request("POST", "http://api", data=fields).content


@given(st.dictionaries(st.text(), st.text()))
def test_any_form_body_is_encoded_as_httpx_encodes_it(fields: dict[str, str]) -> None:
    assert form_body(fields) == httpx.Request("POST", "http://api", data=fields).content


async def test_polled_updates_come_with_their_json_as_telegram_sent_it(
    emulator: BotApiEmulator, wang: EmulatedUser
) -> None:
    """The intake stores an update's JSON as it came, not as python-telegram-bot would write
    it again from the Update (with fields of its own added)."""
    await wang.send_text("户主在家")
    url = f"{emulator.base_url}{emulator.token}/getUpdates"
    async with aiohttp.ClientSession() as http, http.post(url, data={"timeout": "0"}) as response:
        sent = (await response.json())["result"]
    async with HuchaBot(
        emulator.token, base_url=emulator.base_url, request=AiohttpRequest()
    ) as bot:
        updates, as_sent = await bot.get_updates_as_sent(None, 0, Update.ALL_TYPES)
        read_by_ptb = await bot.get_updates(timeout=0, allowed_updates=Update.ALL_TYPES)
    assert len(sent) == 2 and as_sent == sent
    assert [u.to_dict() for u in updates] == [u.to_dict() for u in read_by_ptb]


async def test_a_timeout_after_the_request_left_may_have_arrived(
    emulator: BotApiEmulator, wang: EmulatedUser
) -> None:
    """Telegram sends the message but its answer comes late: TimedOut, and the policy that
    must not send twice says the outcome is unknown instead of sending again."""
    emulator.hold("sendMessage", times=2)
    async with bot_on(emulator, AiohttpRequest(read_timeout=0.3)) as bot:
        with pytest.raises(TimedOut) as caught:
            await bot.send_message(CHAT, "下一题")
        assert may_have_arrived(caught.value)
        policy = RetryPolicy(attempts=3, backoff=0.01)
        with pytest.raises(OutcomeUnknown):
            await policy.run(lambda: bot.send_message(CHAT, "再下一题"), resend_unknown=False)
    assert [m.text for m in wang.bot_messages] == ["下一题", "再下一题"]


async def test_a_request_that_waited_for_a_connection_in_vain_never_left(
    emulator: BotApiEmulator, wang: EmulatedUser
) -> None:
    """With the one connection busy, the next request times out waiting for it: TimedOut
    that did not reach Telegram, so it may be sent again."""
    release = emulator.hold("sendMessage")
    request = AiohttpRequest(connection_pool_size=1, pool_timeout=0.2, connect_timeout=0.1)
    async with bot_on(emulator, request) as bot:
        busy = asyncio.create_task(bot.send_message(CHAT, "占线"))
        assert (await wang.next_message(timeout=5)).text == "占线"  # its answer is held
        with pytest.raises(TimedOut) as caught:
            await bot.send_message(CHAT, "等不到连接")
        assert not may_have_arrived(caught.value)
        release.set()
        await busy
    assert [m.text for m in wang.bot_messages] == ["占线"]


async def test_a_refused_connection_is_a_network_error() -> None:
    """Nobody listens: NetworkError, not a timeout, so any policy may send it again."""
    request = AiohttpRequest()
    bot = Bot("123456:TEST", base_url=f"http://127.0.0.1:{closed_port()}/bot", request=request)
    async with request:
        with pytest.raises(NetworkError) as caught:
            await bot.send_message(CHAT, "无人接听")
    assert not isinstance(caught.value, TimedOut)


async def test_a_body_the_server_does_not_read_times_out_writing() -> None:
    """A server that takes the connection but never reads: writing a large upload stops at
    the media write timeout, as TimedOut that may have arrived (as httpx's WriteTimeout)."""
    idle: list[asyncio.StreamWriter] = []

    async def never_read(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        idle.append(writer)

    server = await asyncio.start_server(never_read, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    request = AiohttpRequest(media_write_timeout=0.3, read_timeout=30)
    bot = Bot("123456:TEST", base_url=f"http://127.0.0.1:{port}/bot", request=request)
    try:
        async with request, asyncio.timeout(10):
            with pytest.raises(TimedOut) as caught:
                await bot.send_document(CHAT, bytes(32 * 1024 * 1024), filename="big.bin")
    finally:
        for writer in idle:
            writer.close()
        server.close()
        await server.wait_closed()
    assert may_have_arrived(caught.value)


async def test_too_many_requests_surfaces_as_retry_after(
    emulator: BotApiEmulator, wang: EmulatedUser
) -> None:
    emulator.fail("sendMessage", 429, retry_after=7)
    async with bot_on(emulator) as bot:
        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(CHAT, "太快了")
        assert retry_after_seconds(caught.value) == 7
        await bot.send_message(CHAT, "好了")
    assert [m.text for m in wang.bot_messages] == ["好了"]


async def test_requests_go_through_the_proxy_named(
    emulator: BotApiEmulator, wang: EmulatedUser
) -> None:
    """An HTTP proxy is used as named: the API's host does not resolve, and only the proxy
    (here the emulator itself, which answers a proxied request as its own) can reach it."""
    proxy = emulator.base_url.removesuffix("/bot")
    request = bot_api_request("http://api.telegram.invalid/bot", proxy)
    assert isinstance(request, AiohttpRequest)
    async with bot_on(emulator, request, base_url="http://api.telegram.invalid/bot") as bot:
        await bot.send_message(CHAT, "经代理")
    assert [m.text for m in wang.bot_messages] == ["经代理"]


def test_a_socks_proxy_is_left_to_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[dict[str, object]] = []

    class Recorded:
        def __init__(self, **kwargs: object) -> None:
            made.append(kwargs)

    monkeypatch.setattr(transport, "HTTPXRequest", Recorded)
    request = bot_api_request("https://api.telegram.org/bot", "socks5://127.0.0.1:1080", 8)
    assert isinstance(request, Recorded)
    assert made == [{"connection_pool_size": 8, "proxy": "socks5://127.0.0.1:1080"}]


def test_the_environment_names_a_proxy_as_httpx_reads_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    assert environment_proxy("https://api.telegram.org/bot") is None
    monkeypatch.setenv("ALL_PROXY", "http://proxy.invalid:3128")
    assert environment_proxy("https://api.telegram.org/bot") == "http://proxy.invalid:3128"
    monkeypatch.setenv("https_proxy", "http://proxy.example:8080")
    assert environment_proxy("https://api.telegram.org/bot") == "http://proxy.example:8080"
    monkeypatch.setenv("NO_PROXY", "api.telegram.org")
    assert environment_proxy("https://api.telegram.org/bot") is None
