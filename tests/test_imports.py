"""Import hygiene of the ``rag`` package: the core never loads a face (Gradio) or torch, and its modules'
top-level imports form no cycle. Imports inside functions (lazy, run on first use) are not edges here."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from .conftest import ROOT

NEVER_AT_IMPORT = ("gradio", "torch", "sentence_transformers")  # a face; the torch backend loads on first use


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Dotted name → file of every module of ``root``'s ``rag`` package (``rag`` itself: its ``__init__.py``)."""
    out = {}
    for path in sorted((root / "rag").rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _type_checking(node: ast.stmt) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def top_level_imports(name: str, path: Path, known: set[str], lazy: bool = False) -> set[str]:
    """The package's modules that ``name`` imports when it is imported: statements at module level,
    also inside a top-level ``if``/``try`` (not ``if TYPE_CHECKING:``), never inside a function or class;
    with ``lazy``, also the imports inside functions and classes (run on first use).

    ``from . import x`` and ``from .x import y`` both count as importing ``rag.x``.
    """
    is_package = path.name == "__init__.py"
    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    parts = alias.name.split(".")
                    found.update(".".join(parts[:i]) for i in range(len(parts), 0, -1)
                                 if ".".join(parts[:i]) in known)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if is_package else name.split(".")[:-1]
                    base = base[:len(base) - (node.level - 1)]
                    target = ".".join(base + (node.module.split(".") if node.module else []))
                else:
                    target = node.module or ""
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    found.add(sub if sub in known else target)
            elif isinstance(node, ast.If) and not _type_checking(node):
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                for part in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                    visit(part)
            elif lazy and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.With,
                                            ast.For, ast.While)):
                visit(node.body)
                visit(getattr(node, "orelse", []))

    visit(ast.parse(path.read_text(encoding="utf-8")).body)
    return {m for m in found if m in known and m != name}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of ``graph`` as the list of its nodes (first repeated at the end), or None.

    >>> find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}})
    ['a', 'b', 'c', 'a']
    >>> find_cycle({"a": {"b"}, "b": set()}) is None
    True
    """
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := walk(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := walk(start)):
            return cycle
    return None


def test_importing_every_rag_module_loads_no_face_and_no_torch():
    names = sorted(modules())
    script = (
        "import importlib, json, sys\n"
        f"heavy = {NEVER_AT_IMPORT!r}\n"
        "for name in json.loads(sys.argv[1]):\n"
        "    importlib.import_module(name)\n"
        "    loaded = [m for m in heavy if m in sys.modules]\n"
        "    if loaded:\n"
        "        sys.exit(f'importing {name} loaded {loaded}')\n"
        "print(len(json.loads(sys.argv[1])))\n")
    proc = subprocess.run([sys.executable, "-c", script, json.dumps(names)], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert int(proc.stdout) == len(names) > 30


def test_the_rag_modules_import_one_another_without_a_cycle():
    mods = modules()
    graph = {name: top_level_imports(name, path, set(mods)) for name, path in mods.items()}
    assert graph["rag.store"] >= {"rag.integrity", "rag.records", "rag.types"}, "the walker lost its way"
    assert "rag.uploads" not in graph["rag.staging"], "an `if TYPE_CHECKING:` import is not an import"
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])


def test_no_import_inside_a_function_closes_a_cycle_either():
    """A lazy import that would be a cycle at the top is a cycle put off, not removed."""
    mods = modules()
    graph = {name: top_level_imports(name, path, set(mods), lazy=True) for name, path in mods.items()}
    assert "rag.train" in graph["rag.cli"], "the walker missed a lazy import"
    cycle = find_cycle({n: {m for m in g if m != "rag"} for n, g in graph.items()})
    assert cycle is None, " -> ".join(cycle or [])


def test_the_cycle_finder_sees_a_cycle_through_relative_imports(tmp_path):
    """A planted ``a`` ↔ ``b`` cycle, written the way rag's modules import each other."""
    pkg = tmp_path / "rag"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from .a import x\n")
    (pkg / "a.py").write_text("from __future__ import annotations\nfrom . import b\nx = 1\n")
    (pkg / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .c import y\n"
                              "try:\n    from .a import x\nexcept ImportError:\n    x = 0\n"
                              "def later():\n    from . import c\n")
    (pkg / "c.py").write_text("from rag.b import x\n")
    mods = modules(tmp_path)
    graph = {name: top_level_imports(name, path, set(mods)) for name, path in mods.items()}
    assert graph == {"rag": {"rag.a"}, "rag.a": {"rag.b"}, "rag.b": {"rag.a"}, "rag.c": {"rag.b"}}
    assert find_cycle(graph) == ["rag.a", "rag.b", "rag.a"]
