"""Layers: the domain never imports its adapters, the adapters never their composers.

`lint-imports` (pyproject.toml) checks the frameworks and entry points through the
import graph; custody.web and custody.jobs live in web/ and jobs/, where that graph
does not look, so their edges are checked here from the source.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ADAPTERS = ("custody.web", "custody.jobs")
ENTRY_POINTS = ("custody.cli", "custody.server", "custody.demo")
COMPOSERS = {"cli.py", "server.py", "demo.py", "demo_device.py", "__main__.py"}


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def offending(paths: list[Path], forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    out = {}
    for path in paths:
        bad = sorted(m for m in imports(path)
                     if any(m == f or m.startswith(f + ".") for f in forbidden))
        if bad:
            out[str(path.relative_to(ROOT))] = bad
    return out


def test_the_domain_never_imports_its_adapters() -> None:
    domain = [p for p in (ROOT / "custody").rglob("*.py")
              if not (p.parent == ROOT / "custody" and p.name in COMPOSERS)]
    assert len(domain) > 50
    assert offending(domain, ADAPTERS + ENTRY_POINTS) == {}


def test_the_adapters_never_import_their_composers() -> None:
    adapters = [*(ROOT / "web").rglob("*.py"), *(ROOT / "jobs").rglob("*.py")]
    assert offending(adapters, ENTRY_POINTS) == {}


def test_the_check_sees_an_import() -> None:
    sample = ROOT / "custody" / "cli.py"  # a composer: it imports the adapters
    assert offending([sample], ADAPTERS)


def test_only_the_unit_of_work_commits_or_rolls_back() -> None:
    """Views, jobs, services and the CLI end their work through custody.db.finish (by way of
    ``transaction()`` or the request hook); a stray ``commit()`` would split a request."""
    sources = [p for folder in ("custody", "web", "jobs") for p in (ROOT / folder).rglob("*.py")
               if "migrations" not in p.parts and p != ROOT / "custody" / "db.py"]
    calls = []
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in ("commit", "rollback"):
                calls.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert calls == []


def test_no_runtime_asserts() -> None:
    """``python -O`` strips asserts: a check that guards a path must be an error that stays."""
    sources = [p for folder in ("custody", "web", "jobs") for p in (ROOT / folder).rglob("*.py")
               if "migrations" not in p.parts]
    found = [f"{path.relative_to(ROOT)}:{node.lineno}" for path in sources
             for node in ast.walk(ast.parse(path.read_text(), str(path)))
             if isinstance(node, ast.Assert)]
    assert found == []
