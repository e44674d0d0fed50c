"""Photos for the dashboard: read from the local photo store (HUCHA_PHOTO_DIR) the exports
use, or fetched by the server from the Bot API (getFile, then the file itself) and kept there;
the last ones shown are also kept in memory. The token never reaches a page."""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from storage.photos import Fetch, PhotoStore

MAX_PHOTOS = 200


class PhotoCache:
    """The bytes of recently shown photos, by Telegram file id (least recently used out),
    in front of the photo store when there is one."""

    def __init__(
        self, fetch: Fetch, store: PhotoStore | None = None, size: int = MAX_PHOTOS
    ) -> None:
        self.fetch = fetch
        self.store = store
        self._size = size
        self._kept: OrderedDict[str, bytes] = OrderedDict()
        self._lock = asyncio.Lock()

    async def get(self, file_id: str) -> bytes:
        found = self._kept.get(file_id)
        if found is not None:
            self._kept.move_to_end(file_id)
            return found
        body = await self._load(file_id)
        async with self._lock:
            self._kept[file_id] = body
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)
        return body

    async def _load(self, file_id: str) -> bytes:
        if self.store is None:
            return await self.fetch(file_id)
        path = self.store.path_of(file_id)
        if await asyncio.to_thread(path.is_file):
            return await asyncio.to_thread(path.read_bytes)
        body = await self.fetch(file_id)
        await asyncio.to_thread(self.store.put, file_id, body)
        return body

    def __contains__(self, file_id: str) -> bool:
        return file_id in self._kept


def bot_fetch(bot: object) -> Fetch:
    """Fetch through a python-telegram-bot `Bot`: getFile, then download the file."""

    async def fetch(file_id: str) -> bytes:
        file = await bot.get_file(file_id)  # type: ignore[attr-defined]
        return bytes(await file.download_as_bytearray())

    return fetch
