"""Measure the checks export with its photos (a ZIP) from the local photo store.

    .venv/bin/python bench/photos.py [--photos 10000] [--size-kb 100]

A temporary SQLite file gets the demo areas and N submitted checks, each with a photo of the
house; the local store gets N photos of SIZE KB (random bytes: they do not compress, as JPEG
does not). Each variant runs in a fresh process:

- xlsx: `export_checks` without photos, the workbook alone (the baseline);
- zip: `export_checks(..., photos=store)`, exactly what `hucha export --photos` runs once the
  photos are in the store: the workbook with a link per photo, zipped with the photos;
- plain-zip: the zipfile module storing the same N files, nothing else: the floor of the
  archive itself.

Printed: seconds, peak RSS and output size of each, and zip's time beyond the workbook.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import export as export_bench  # noqa: E402
from bench.child import measure_in_child  # noqa: E402
from conversations import load_forms  # noqa: E402
from storage import make_engine, make_sessionmaker  # noqa: E402
from storage.exports import export_checks  # noqa: E402
from storage.photos import PhotoStore  # noqa: E402

VARIANTS = ("xlsx", "zip", "plain-zip")


def photo_id(index: int) -> str:
    return f"AgACAgUAAxkBAAI{index:08d}photo"


def with_photo(index: int) -> dict[str, Any]:
    return {**ANSWERS(index), "house_photo": photo_id(index)}


ANSWERS = export_bench.answers


def fill_store(store: PhotoStore, count: int, size: int) -> None:
    for index in range(count):
        store.put(photo_id(index), os.urandom(size))


async def run_export(url: str, out: Path, store: PhotoStore | None) -> int:
    form = load_forms()["household_check"]
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as s:
            result = await export_checks(
                s, form, export_bench.SCOPE, out, "xlsx", export_bench.NOW, photos=store
            )
    finally:
        await engine.dispose()
    return result.rows


def plain_zip(store: PhotoStore, count: int, out: Path) -> int:
    with zipfile.ZipFile(out, "w") as archive:
        for index in range(count):
            archive.write(store.path_of(photo_id(index)), f"photos/{index}.jpg")
    return count


def child(variant: str, url: str, folder: Path, count: int) -> None:
    store = PhotoStore(folder / "store")
    out = folder / ("checks.xlsx" if variant == "xlsx" else f"{variant}.zip")
    started = time.perf_counter()
    if variant == "plain-zip":
        rows = plain_zip(store, count, out)
    else:
        rows = asyncio.run(run_export(url, out, store if variant == "zip" else None))
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {"rows": rows, "seconds": seconds, "peak_mb": peak_mb, "bytes": out.stat().st_size}
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=10_000)
    parser.add_argument("--size-kb", type=int, default=100)
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.url, args.folder, args.photos)
        return
    with tempfile.TemporaryDirectory(prefix="hucha-bench-photos-") as name:
        folder = Path(name)
        url = f"sqlite+aiosqlite:///{folder / 'bench.db'}"
        started = time.perf_counter()
        export_bench.answers = with_photo  # every check took a photo of the house
        asyncio.run(export_bench.seed(url, args.photos))
        fill_store(PhotoStore(folder / "store"), args.photos, args.size_kb * 1024)
        print(f"seeded {args.photos} checks and photos in {time.perf_counter() - started:.1f} s")
        arguments = ["--url", url, "--folder", str(folder), "--photos", str(args.photos)]
        results = {v: measure_in_child(__file__, v, arguments) for v in VARIANTS}
    print(f"{'variant':<10} {'rows':>7} {'seconds':>8} {'peak MB':>8} {'MB out':>8}")
    for variant, r in results.items():
        print(
            f"{variant:<10} {r['rows']:>7} {r['seconds']:>8.1f} {r['peak_mb']:>8.0f} "
            f"{r['bytes'] / 1e6:>8.1f}"
        )
    extra = results["zip"]["seconds"] - results["xlsx"]["seconds"]
    print(
        f"photos: {args.photos} of {args.size_kb} KB add {extra:.1f} s to the workbook's "
        f"{results['xlsx']['seconds']:.1f} s (the bare archive: "
        f"{results['plain-zip']['seconds']:.1f} s)"
    )


if __name__ == "__main__":
    main()
