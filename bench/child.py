"""Run one variant of a benchmark in a fresh process, so that its peak memory is its own,
and read back the figures it prints as JSON on its last line."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any


def measure_in_child(script: str, variant: str, arguments: list[str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, script, "--child", variant, *arguments],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"{variant} failed:\n{done.stderr}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures
