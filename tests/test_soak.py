"""A short soak (bench/soak.py): cadres check households through two `hucha run --webhook`
instances on one PostgreSQL database behind a load balancer, with updates delivered twice and
429s from the Bot API: every check is submitted once, every answer kept, every update handled,
every cadre reminded exactly once."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.soak import soak

pytestmark = pytest.mark.postgres

CADRES = 10


def tails(folder: Path) -> str:
    return "\n".join(p.read_text()[-2000:] for p in sorted(folder.glob("*.log")))


async def test_two_instances_lose_nothing_and_do_nothing_twice(
    postgres_url: str, tmp_path: Path
) -> None:
    outcome = await soak(postgres_url, CADRES, tmp_path, kill=False)
    assert outcome.problems == [], tails(tmp_path)
    assert outcome.records == CADRES
    assert outcome.reminders == CADRES
    assert outcome.second_posts > 0 and outcome.too_many > 0
    assert outcome.refusals == []
