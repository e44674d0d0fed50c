"""The local photo store (照片库) exports read: each photo a check recorded, fetched from the
Bot API once and kept as a file named after its Telegram file id; and the names photos get in
an export, by village, household and question."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conversations.model import Form, Question

log = logging.getLogger(__name__)

PHOTO = "photo"
CONCURRENT_DOWNLOADS = 4
# Where a photo comes from: its bytes by Telegram file id; raises when it cannot be had.
Fetch = Callable[[str], Awaitable[bytes]]
SUFFIX = ".jpg"  # the Bot API sends photos as JPEG
_UNSAFE = re.compile(r'[\\/:*?"<>|%#\s\x00-\x1f]+')


class PhotoStore:
    """Photos on disk under `root`, one file per Telegram file id."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, file_id: str) -> Path:
        digest = hashlib.sha256(file_id.encode("utf-8")).hexdigest()
        return self.root / digest[:2] / f"{digest[2:34]}{SUFFIX}"

    def has(self, file_id: str) -> bool:
        return self.path_of(file_id).is_file()

    def put(self, file_id: str, content: bytes) -> Path:
        """Keep a photo; written to a temporary file first, so a half-written photo is never
        taken for a whole one."""
        path = self.path_of(file_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".part")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(content)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return path


@dataclass(frozen=True)
class FetchReport:
    """How many photos were fetched now, were already kept, or could not be fetched."""

    fetched: int
    kept: int
    failed: int


async def fill_store(store: PhotoStore, fetch: Fetch, file_ids: Iterable[str]) -> FetchReport:
    """Fetch the photos the store lacks, a few at a time. A photo that cannot be had (gone
    from Telegram, the Bot API unreachable) is counted as failed and left out; an export
    still names it."""
    wanted = list(dict.fromkeys(file_ids))
    missing = [file_id for file_id in wanted if not await asyncio.to_thread(store.has, file_id)]
    gate = asyncio.Semaphore(CONCURRENT_DOWNLOADS)

    async def fetched(file_id: str) -> bool:
        async with gate:
            try:
                content = await fetch(file_id)
            except Exception as error:  # whatever the transport raised: this photo is missing
                log.warning("photo not fetched: %s", type(error).__name__)
                return False
            await asyncio.to_thread(store.put, file_id, content)
            return True

    done = await asyncio.gather(*(fetched(file_id) for file_id in missing))
    count = sum(done)
    return FetchReport(count, len(wanted) - len(missing), len(missing) - count)


def file_name_part(text: str, limit: int = 40) -> str:
    """A piece of a file name: no path separators, characters Windows refuses, spaces or
    characters a link would have to escape."""
    cleaned = _UNSAFE.sub("_", text).strip(" .") or "_"
    return cleaned[:limit]


def photo_questions(form: Form) -> tuple[list[Question], dict[str, list[Question]]]:
    """The photo questions of a form: top-level, and by repeat group."""
    top = [q for q in form.questions if q.type == PHOTO]
    groups = {
        q.id: [child for child in q.children if child.type == PHOTO]
        for q in form.questions
        if q.type == "repeat"
    }
    return top, {group: children for group, children in groups.items() if children}


def photo_ids(form: Form, answers: Mapping[str, Any]) -> Iterator[str]:
    """The file ids of the photos in one check's answers."""
    top, groups = photo_questions(form)
    for question in top:
        value = answers.get(question.id)
        if isinstance(value, str) and value:
            yield value
    for group, children in groups.items():
        for item in answers.get(group) or []:
            if not isinstance(item, Mapping):
                continue
            for child in children:
                value = item.get(child.id)
                if isinstance(value, str) and value:
                    yield value


@dataclass
class PhotoFiles:
    """The photos an export links to: each file id with its name inside the archive."""

    store: PhotoStore
    folder: str = "photos"
    entries: list[tuple[str, str]] = field(default_factory=list)

    def name(self, file_id: str, parts: Sequence[str]) -> str:
        """The archive name of a photo: photos/<village>/<household>/<check and question>.jpg;
        recorded to be added to the archive."""
        *folders, last = [file_name_part(part) for part in parts]
        name = "/".join([self.folder, *folders, f"{last}{SUFFIX}"])
        self.entries.append((file_id, name))
        return name
