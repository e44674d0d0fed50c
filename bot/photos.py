"""Photos from the Bot API into the local store (storage.photos): each file fetched once; an
export with photos reads only the store."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from telegram import Bot
from telegram.error import TelegramError

from storage.photos import PhotoStore

log = logging.getLogger(__name__)
CONCURRENT_DOWNLOADS = 4


@dataclass(frozen=True)
class FetchReport:
    """How many photos were fetched now, were already kept, or could not be fetched."""

    fetched: int
    kept: int
    failed: int


async def fetch_photos(bot: Bot, store: PhotoStore, file_ids: Iterable[str]) -> FetchReport:
    """Fetch the photos the store lacks, a few at a time. A photo Telegram no longer has is
    counted as failed and left out; the export still links its name."""
    wanted = list(dict.fromkeys(file_ids))
    missing = [file_id for file_id in wanted if not await asyncio.to_thread(store.has, file_id)]
    gate = asyncio.Semaphore(CONCURRENT_DOWNLOADS)

    async def fetch(file_id: str) -> bool:
        async with gate:
            try:
                remote = await bot.get_file(file_id)
                content = bytes(await remote.download_as_bytearray())
            except TelegramError as error:
                log.warning("photo not fetched: %s", type(error).__name__)
                return False
            await asyncio.to_thread(store.put, file_id, content)
            return True

    done = await asyncio.gather(*(fetch(file_id) for file_id in missing))
    fetched = sum(done)
    return FetchReport(fetched, len(wanted) - len(missing), len(missing) - fetched)
