"""The rooms keep their doors: each package imports only what ARCHITECTURE.md allows.

Read from the source with the ast module, so a forbidden import fails here even where no test
happens to run the module that holds it.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# package -> top-level modules it must never import
FORBIDDEN: dict[str, frozenset[str]] = {
    "conversations": frozenset(
        {
            "bot",
            "storage",
            "services",
            "web",
            "rosterfiles",
            "telegram",
            "sqlalchemy",
            "aiohttp",
            "openpyxl",
        }
    ),
    "rosterfiles": frozenset(
        {"bot", "storage", "services", "web", "telegram", "sqlalchemy", "aiohttp"}
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


# Roster files are read with the standard library and these alone: no database, no channel.
ROSTERFILES_MAY_IMPORT = frozenset({"rosterfiles", "conversations", "openpyxl", "python_calamine"})


def test_roster_files_are_read_with_the_standard_library_and_the_spreadsheet_readers() -> None:
    strays = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sorted((ROOT / "rosterfiles").rglob("*.py"))
        for line, module in sorted(imported_modules(path))
        if module not in ROSTERFILES_MAY_IMPORT and module not in sys.stdlib_module_names
    ]
    assert strays == []


def test_the_check_finds_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import os\nfrom telegram.ext import Application\n", encoding="utf-8")
    assert (2, "telegram") in imported_modules(module)


CYCLE_FREE = ("rosterfiles", "storage", "services")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_imports(path: Path, known: set[str]) -> set[str]:
    """The modules of `known` one file imports, at its top or inside a function alike: for
    `from a.b import c`, a.b.c when that is a module, else a.b."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        found.update(name for name in names if name in known)
    return found


def import_cycles(packages: tuple[str, ...] = CYCLE_FREE) -> list[list[str]]:
    """Every cycle of imports among the modules of `packages` (a package's __init__ is the
    package's own name), each as the list of modules around it; [] when there is none."""
    paths = {
        module_name(path): path
        for package in packages
        if (ROOT / package).is_dir()
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts
    }
    known = set(paths)
    graph = {name: module_imports(path, known) - {name} for name, path in paths.items()}
    cycles: list[list[str]] = []
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        if name in trail:
            cycles.append([*trail[trail.index(name) :], name])
            return
        if name in done:
            return
        for imported in sorted(graph[name]):
            visit(imported, [*trail, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
    return cycles


def test_no_module_of_storage_or_services_imports_itself_round_about() -> None:
    assert import_cycles() == []


def test_the_check_finds_an_import_cycle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    room = tmp_path / "room"
    room.mkdir()
    (room / "__init__.py").write_text("", encoding="utf-8")
    (room / "a.py").write_text("import os\nfrom room.b import f\n", encoding="utf-8")
    (room / "b.py").write_text("def f():\n    from room.a import g\n", encoding="utf-8")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert import_cycles(("room",)) == [["room.a", "room.b", "room.a"]]
