"""The house's layout (issue: layout before wave 2): no import circle between the project's
files, and the README's layout table names exactly the top-level folders that hold code."""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"fourm_registry": ROOT / "fourm_registry", "fourm_modalities": ROOT / "modalities",
            "fourm_cli": ROOT / "cli", "fourm_synth": ROOT / "synth", "fourm_quickstart": ROOT / "quickstart"}


def _modules() -> dict[str, Path]:
    out = {}
    roots = dict(PACKAGES)
    for dist in (ROOT / "plugins").glob("*/"):
        for pkg in dist.iterdir():
            if (pkg / "__init__.py").is_file() and pkg.name != "tests":
                roots[pkg.name] = pkg
    for name, folder in roots.items():
        for file in folder.rglob("*.py"):
            rel = file.relative_to(folder).with_suffix("")
            parts = [name, *rel.parts]
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = file
    return out


def _imports(module: str, file: Path, known: dict[str, Path]) -> set[str]:
    """Project modules ``module`` imports anywhere in its body (function-level imports too)."""
    package = module if file.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(file.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            candidates = [f"{base}.{a.name}" for a in node.names] + [base]
        elif isinstance(node, ast.Import):
            candidates = [a.name for a in node.names]
        else:
            continue
        for cand in candidates:
            if cand in known and cand != module:
                found.add(cand)
                break
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def _faces_dropped(graph: dict[str, set[str]], known: dict[str, Path]) -> dict[str, set[str]]:
    """A package's ``__init__`` that only hands names on is no room: drop edges into it."""
    faces = {m for m, f in known.items() if f.name == "__init__.py"
             and not any(isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
                         for n in ast.parse(f.read_text()).body)}
    return {m: {d for d in deps if d not in faces} for m, deps in graph.items() if m not in faces}


def test_no_import_circle():
    known = _modules()
    graph = _faces_dropped({m: _imports(m, f, known) for m, f in known.items()}, known)
    assert _cycles(graph) == []


def test_readme_layout_table_matches_the_tree():
    text = (ROOT / "README.md").read_text()
    table = text.split("## Layout", 1)[1].split("\n\n", 2)[1]
    named = set()
    for row in table.splitlines()[2:]:
        named |= set(re.findall(r"`([a-z_]+)/`", row.split("|")[1]))
    code_dirs = {p.name for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith(".")
                 and (any(p.glob("*.py")) or any(p.glob("*/pyproject.toml")))}
    assert code_dirs <= named, f"folders missing from the README's layout table: {sorted(code_dirs - named)}"
    assert all((ROOT / d).is_dir() for d in named), f"named but absent: {sorted(d for d in named if not (ROOT / d).is_dir())}"
