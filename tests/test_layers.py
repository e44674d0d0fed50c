"""The rooms keep their doors: each package imports only what ARCHITECTURE.md allows.

Read from the source with the ast module, so a forbidden import fails here even where no test
happens to run the module that holds it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# package -> top-level modules it must never import
FORBIDDEN: dict[str, frozenset[str]] = {
    "conversations": frozenset(
        {"bot", "storage", "services", "web", "telegram", "sqlalchemy", "aiohttp", "openpyxl"}
    ),
    "storage": frozenset({"bot", "services", "web", "telegram", "aiohttp"}),
    "services": frozenset({"bot", "web", "telegram", "aiohttp"}),
    # The dashboard knows HTTP, not Telegram; from bot/ it reads only the catalogs (bot.i18n).
    "web": frozenset({"telegram"}),
}


def imported_modules(path: Path) -> set[tuple[int, str]]:
    """(line, top-level module) for every absolute import in one file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[tuple[int, str]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update((node.lineno, alias.name.split(".")[0]) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add((node.lineno, node.module.split(".")[0]))
    return found


def forbidden_imports(package: str) -> list[str]:
    banned = FORBIDDEN[package]
    return [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for line, module in sorted(imported_modules(path))
        if module in banned
    ]


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_room_imports_only_what_it_may(package: str) -> None:
    if not (ROOT / package).is_dir():
        pytest.skip(f"there is no {package} package")
    assert forbidden_imports(package) == []


def test_the_check_finds_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import os\nfrom telegram.ext import Application\n", encoding="utf-8")
    assert (2, "telegram") in imported_modules(module)
