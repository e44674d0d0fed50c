"""How the bot's requests reach the Bot API: python-telegram-bot's request interface on an
aiohttp client, which costs less CPU a call than PTB's default (httpx). It sends what
HTTPXRequest sends (a form, or multipart with files) and fails as it fails, so the retry policy
(bot/retry.py) can tell a request that never left from one that may have arrived."""

from __future__ import annotations

import asyncio
import functools
import os
import re
import ssl
import urllib.request
from collections.abc import Mapping
from typing import IO
from urllib.parse import urlsplit

import aiohttp
import httpx
from aiohttp.abc import AbstractStreamWriter
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, HTTPXRequest, RequestData

FORM = "application/x-www-form-urlencoded"
# A body is written in chunks of this size, each within the write timeout, as httpx writes
# its multipart stream; a smaller body goes to the socket's buffer at once and never waits.
CHUNK = 64 * 1024
# The proxy kinds aiohttp speaks; another (socks5://…) goes through HTTPXRequest.
AIOHTTP_PROXIES = ("http", "https")

# Each byte of a form field's UTF-8 as urlencode (and so httpx) writes it: letters, digits and
# "_.-~" as they are, a space as "+", any other byte as %XX.
_UNRESERVED = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~"
_FORM_BYTES = [
    chr(b) if b in _UNRESERVED else "+" if b == 0x20 else f"%{b:02X}" for b in range(256)
]

_QUOTED = {'"': "%22", "\\": "\\\\"} | {chr(c): f"%{c:02X}" for c in range(0x20) if c != 0x1B}
_TO_QUOTE = re.compile("|".join(re.escape(c) for c in _QUOTED))


def _form_param(name: str, value: str) -> bytes:
    """`name="value"` in a part's header, escaped as browsers (and httpx) escape it."""
    return f'{name}="{_TO_QUOTE.sub(lambda m: _QUOTED[m.group(0)], value)}"'.encode()


def _form_quoted(text: str) -> str:
    """`urllib.parse.quote_plus(text, safe="")`, in one pass of `str.translate` over the UTF-8
    bytes (read as Latin-1, one character a byte) instead of a Python call a byte."""
    return text.encode().decode("latin-1").translate(_FORM_BYTES)


def form_body(fields: Mapping[str, str]) -> bytes:
    """The fields as application/x-www-form-urlencoded, byte for byte what `urlencode` (and so
    httpx) makes of them, in about half the CPU: a sendMessage's text and buttons are quoted
    for every answer of a check."""
    return "&".join(
        [f"{_form_quoted(name)}={_form_quoted(value)}" for name, value in fields.items()]
    ).encode()


def _file_content(content: bytes | IO[bytes]) -> bytes:
    if isinstance(content, bytes):
        return content
    if content.seekable():
        content.seek(0)
    return content.read()


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The trust roots httpx would use (SSL_CERT_FILE or SSL_CERT_DIR, else certifi's), loaded
    once for every request object: loading them is a few milliseconds."""
    context: ssl.SSLContext = httpx.create_ssl_context()
    return context


def _given(value: ODVInput[float], default: float | None) -> float | None:
    """A timeout passed to `do_request`, or this request object's own when it was not."""
    return default if isinstance(value, DefaultValue) else value


def multipart_body(
    fields: Mapping[str, str], files: Mapping[str, tuple[str, bytes | IO[bytes], str]]
) -> tuple[bytes, str]:
    """The fields, then the files, as multipart/form-data laid out byte for byte as httpx lays
    it out; the body and its content type."""
    boundary = os.urandom(16).hex().encode()
    chunks: list[bytes] = []
    for name, value in fields.items():
        chunks += [b"--", boundary, b"\r\nContent-Disposition: form-data; "]
        chunks += [_form_param("name", name), b"\r\n\r\n", value.encode(), b"\r\n"]
    for name, (filename, content, mimetype) in files.items():
        chunks += [b"--", boundary, b"\r\nContent-Disposition: form-data; "]
        chunks.append(_form_param("name", name))
        if filename:
            chunks += [b"; ", _form_param("filename", filename)]
        chunks += [b"\r\nContent-Type: ", mimetype.encode(), b"\r\n\r\n"]
        chunks += [_file_content(content), b"\r\n"]
    chunks += [b"--", boundary, b"--\r\n"]
    return b"".join(chunks), f"multipart/form-data; boundary={boundary.decode()}"


class _WriteDeadline:
    """The write timeout of one request: armed before each chunk is written, off once the
    body is out. Expiring cancels the request as httpx's WriteTimeout does."""

    def __init__(self, timeout: asyncio.Timeout, seconds: float | None) -> None:
        self._timeout = timeout
        self._seconds = seconds
        self.open = True

    def arm(self) -> None:
        if self.open and self._seconds is not None:
            self._timeout.reschedule(asyncio.get_running_loop().time() + self._seconds)

    def disarm(self) -> None:
        if self.open:
            self._timeout.reschedule(None)


class _ChunkedBody(aiohttp.payload.Payload):
    """A large body written chunk by chunk under its write deadline."""

    def __init__(self, value: bytes, content_type: str, deadline: _WriteDeadline) -> None:
        super().__init__(value, content_type=content_type)
        self._size = len(value)
        self._deadline = deadline

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return bytes(self._value).decode(encoding, errors)

    async def write(self, writer: AbstractStreamWriter) -> None:
        await self.write_with_length(writer, None)

    async def write_with_length(
        self, writer: AbstractStreamWriter, content_length: int | None
    ) -> None:
        body = memoryview(self._value)[:content_length]
        for start in range(0, len(body), CHUNK):
            self._deadline.arm()
            await writer.write(body[start : start + CHUNK])
        self._deadline.disarm()


class AiohttpRequest(BaseRequest):
    """`telegram.request.BaseRequest` on aiohttp, with HTTPXRequest's parameters and defaults.

    Timeouts are PTB's: `connect_timeout` to open a connection, `pool_timeout` to wait for a
    free one (aiohttp bounds both together), `read_timeout` between two reads of the answer,
    `write_timeout` (`media_write_timeout` when files go up) for each chunk of the body. A
    timeout before the request left is a TimedOut caused by aiohttp's ConnectionTimeoutError;
    any other (the request may have arrived) by another TimeoutError. Everything else aiohttp
    raises becomes a NetworkError."""

    __slots__ = ("_closed", "_defaults", "_pool_size", "_proxy", "_session", "_timeouts")

    def __init__(
        self,
        connection_pool_size: int = 256,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        proxy: str | None = None,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._proxy = proxy
        # read, write, media write, connect, pool
        self._defaults = (
            read_timeout,
            write_timeout,
            media_write_timeout,
            connect_timeout,
            pool_timeout,
        )
        self._timeouts: dict[tuple[float | None, ...], aiohttp.ClientTimeout] = {}
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    @property
    def read_timeout(self) -> float | None:
        return self._defaults[0]

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = self._new_session()
        self._closed = False

    async def shutdown(self) -> None:
        session, self._session = self._session, None
        self._closed = True
        if session is not None and not session.closed:
            await session.close()

    def _new_session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=self._pool_size, limit_per_host=0, ssl=tls_context())
        return aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            headers={"User-Agent": self.USER_AGENT},
        )

    def _client_timeout(
        self, read: float | None, connect: float | None, pool: float | None
    ) -> aiohttp.ClientTimeout:
        """PTB's timeouts as aiohttp's, kept: most requests use the same few."""
        key = (read, connect, pool)
        limits = self._timeouts.get(key)
        if limits is None:
            waiting = None if connect is None or pool is None else connect + pool
            limits = aiohttp.ClientTimeout(connect=waiting, sock_connect=connect, sock_read=read)
            if len(self._timeouts) < 64:
                self._timeouts[key] = limits
        return limits

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None:
            if self._closed:
                raise RuntimeError("This AiohttpRequest is not initialized!")
            self._session = self._new_session()
        read, write, media_write, connect, pool = self._defaults
        body: bytes | None = None
        content_type = FORM
        files = request_data.multipart_data if request_data is not None else None
        if request_data is not None and files:
            body, content_type = multipart_body(request_data.json_parameters, files)
        elif request_data is not None and (fields := request_data.json_parameters):
            body = form_body(fields)
        limits = self._client_timeout(
            _given(read_timeout, read), _given(connect_timeout, connect), _given(pool_timeout, pool)
        )
        try:
            if body is None:
                return await self._send(url, method, None, None, limits)
            if len(body) <= CHUNK:
                return await self._send(url, method, body, {"Content-Type": content_type}, limits)
            seconds = _given(write_timeout, media_write if files else write)
            return await self._send_large(url, method, body, content_type, limits, seconds)
        except aiohttp.ConnectionTimeoutError as error:
            raise TimedOut(
                "Timed out waiting for a connection: the request was not sent"
            ) from error
        except TimeoutError as error:
            raise TimedOut from error
        except aiohttp.ClientError as error:
            raise NetworkError(f"aiohttp.{type(error).__name__}: {error}") from error

    async def _send(
        self,
        url: str,
        method: str,
        body: bytes | aiohttp.payload.Payload | None,
        headers: dict[str, str] | None,
        limits: aiohttp.ClientTimeout,
    ) -> tuple[int, bytes]:
        assert self._session is not None
        async with self._session.request(
            method, url, data=body, headers=headers, timeout=limits, proxy=self._proxy
        ) as response:
            return response.status, await response.read()

    async def _send_large(
        self,
        url: str,
        method: str,
        body: bytes,
        content_type: str,
        limits: aiohttp.ClientTimeout,
        write_timeout: float | None,
    ) -> tuple[int, bytes]:
        """A body larger than a chunk, its writing bounded as httpx bounds it: each chunk
        within `write_timeout`."""
        async with asyncio.timeout(None) as write_deadline:
            deadline = _WriteDeadline(write_deadline, write_timeout)
            try:
                return await self._send(
                    url, method, _ChunkedBody(body, content_type, deadline), None, limits
                )
            finally:
                deadline.open = False


def environment_proxy(url: str) -> str | None:
    """The proxy the environment names for `url` (https_proxy, all_proxy, no_proxy), as
    httpx reads them when it is given none."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if proxy and urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return proxy


def bot_api_request(api_url: str, proxy: str | None, pool_size: int = 256) -> BaseRequest:
    """The request object for the Bot API at `api_url`: on aiohttp, or on httpx when the
    proxy is of a kind aiohttp cannot use (SOCKS)."""
    proxy = proxy or environment_proxy(api_url)
    if proxy is not None and urlsplit(proxy).scheme.lower() not in AIOHTTP_PROXIES:
        return HTTPXRequest(connection_pool_size=pool_size, proxy=proxy)
    return AiohttpRequest(connection_pool_size=pool_size, proxy=proxy)
