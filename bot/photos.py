"""Photos from the Bot API into the local store (storage.photos): each file fetched once; an
export with photos reads only the store."""

from __future__ import annotations

from collections.abc import Iterable

from telegram import Bot

from storage.photos import FetchReport, PhotoStore, fill_store
from web.photos import bot_fetch

__all__ = ["FetchReport", "fetch_photos"]


async def fetch_photos(bot: Bot, store: PhotoStore, file_ids: Iterable[str]) -> FetchReport:
    """Fetch the photos the store lacks through `bot`."""
    return await fill_store(store, bot_fetch(bot), file_ids)
