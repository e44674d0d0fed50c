"""Photos for the dashboard: fetched by the server from the Bot API (getFile, then the file
itself) and kept in a small in-memory cache, so the token never reaches a page."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable

Fetch = Callable[[str], Awaitable[bytes]]
MAX_PHOTOS = 200


class PhotoCache:
    """The bytes of recently shown photos, by Telegram file id (least recently used out)."""

    def __init__(self, fetch: Fetch, size: int = MAX_PHOTOS) -> None:
        self._fetch = fetch
        self._size = size
        self._kept: OrderedDict[str, bytes] = OrderedDict()
        self._lock = asyncio.Lock()

    async def get(self, file_id: str) -> bytes:
        found = self._kept.get(file_id)
        if found is not None:
            self._kept.move_to_end(file_id)
            return found
        body = await self._fetch(file_id)
        async with self._lock:
            self._kept[file_id] = body
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)
        return body

    def __contains__(self, file_id: str) -> bool:
        return file_id in self._kept


def bot_fetch(bot: object) -> Fetch:
    """Fetch through a python-telegram-bot `Bot`: getFile, then download the file."""

    async def fetch(file_id: str) -> bytes:
        file = await bot.get_file(file_id)  # type: ignore[attr-defined]
        return bytes(await file.download_as_bytearray())

    return fetch
