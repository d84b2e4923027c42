"""The package layout keeps its one-way imports (README "Layout"; DESIGN "Layout").

Every module of ``xaicore`` is read (not imported) and each import it makes, at the top or
inside a function, is resolved to the part it names. A part may import its own modules and
those of parts strictly below it; nothing below imports from above.
"""
from __future__ import annotations

import ast
import pathlib

import pytest

import xaicore

ROOT = pathlib.Path(xaicore.__file__).parent

#: part -> rank; a module may import parts of a lower rank, or its own part.
RANKS = {
    "_errors": 0,
    "_validate": 1, "_progress": 1, "_version": 1, "_core": 1, "_compile_cache": 1,
    "kernels": 2, "exporting": 2,
    "engine": 3,
    "results": 4,
    "methods": 5,
    "metrics": 6,
    "jobs": 7, "bench": 7,
    "cli": 8,
    "__init__": 9, "__main__": 9,
}


def _part(module: str) -> str:
    """``xaicore.engine._batching`` -> ``engine``; ``xaicore`` -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _modules() -> list[tuple[str, pathlib.Path]]:
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        out.append((".".join(("xaicore", *rel.parts)), path))
    return out


def _imports(module: str, path: pathlib.Path) -> list[tuple[int, str]]:
    """Absolute names of the xaicore modules ``path`` imports, with their line numbers."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("xaicore")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("xaicore"):
                continue
            if target == "xaicore" or node.module is None:   # from .. import kernels
                found += [(node.lineno, f"{target}.{a.name}") for a in node.names]
            else:
                found.append((node.lineno, target))
    return found


def test_every_module_belongs_to_a_known_part():
    unknown = sorted({_part(m) for m, _ in _modules()} - set(RANKS))
    assert not unknown, f"parts missing from RANKS (and from the README's Layout): {unknown}"


def test_imports_run_downward_only():
    bad = []
    for module, path in _modules():
        own = _part(module)
        for line, target in _imports(module, path):
            other = _part(target)
            if other == own:
                continue
            if RANKS.get(other, 99) >= RANKS[own]:
                bad.append(f"{path.relative_to(ROOT)}:{line} ({own}) imports {target} ({other})")
    assert not bad, "imports that run upward or sideways:\n" + "\n".join(bad)


@pytest.mark.parametrize("module,target,ok", [
    ("xaicore.engine._batching", "xaicore.exporting._modelfn", True),
    ("xaicore.engine._gradients", "xaicore.results._attribution", False),
    ("xaicore.exporting._export", "xaicore.kernels", False),
])
def test_the_rule_itself(module, target, ok):
    """The check above would catch an upward or sideways import (it can fail)."""
    own, other = _part(module), _part(target)
    assert (other == own or RANKS[other] < RANKS[own]) is ok


def test_no_file_is_a_god_file():
    long = [f"{p.relative_to(ROOT)}: {n}" for _, p in _modules()
            if (n := len(p.read_text().splitlines())) > 400]
    assert not long, f"modules over 400 lines: {long}"
