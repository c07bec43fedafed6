"""The package layers hold and the first-party import graph has no cycle; ARCHITECTURE.md names every module.

Layers (ARCHITECTURE.md): core (tdmpc_parity/core/) <- the backends (jax_impl/, torch_ref/) <- the application
(tdmpc_parity/app/, tdmpc_parity/__init__.py, tdmpc_parity/__main__.py); analysis (tdmpc_parity/analysis/) reads
files and imports core only. Allowed first-party imports: core -> core; a backend -> core and itself; analysis ->
core and analysis; app -> anything. Every `import` / `from ... import` node counts, also those inside functions
(lazy imports), relative ones resolved; `from X import name` is an import of the module X.name when that is a
module, else of X. Third-party imports are not checked here (tests/test_machine.py checks that core and analysis
import no framework).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("tdmpc_parity", "jax_impl", "torch_ref")
ALLOWED = {
    "core": {"core"},
    "jax_impl": {"core", "jax_impl"},
    "torch_ref": {"core", "torch_ref"},
    "analysis": {"core", "analysis"},
    "app": {"core", "jax_impl", "torch_ref", "analysis", "app"},
}


def layer_of(module: str) -> str | None:
    """The layer of a first-party module name; None for a tdmpc_parity module outside the layers."""
    parts = module.split(".")
    if parts[0] in ("jax_impl", "torch_ref"):
        return parts[0]
    if parts[0] != "tdmpc_parity":
        return None
    if len(parts) == 1 or parts[1] in ("app", "__main__"):
        return "app"
    return parts[1] if parts[1] in ("core", "analysis") else None


def module_files(root: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    """Dotted module name -> file of every .py file under root/<package> (a package's __init__.py is the package)."""
    out = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def imports_of(module: str, path: Path, known: set[str], packages: tuple[str, ...] = PACKAGES
               ) -> list[tuple[int, str]]:
    """(line, imported module) of every first-party import in the file, at any depth of the syntax tree."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            source = ".".join(base + ([node.module] if node.module else []))
            subs = [f"{source}.{alias.name}" for alias in node.names if f"{source}.{alias.name}" in known]
            plain = len(subs) < len(node.names)  # some names are attributes of `source` itself
            targets = subs + ([source] if plain or not subs else [])
        else:
            continue
        found += [(node.lineno, t) for t in targets if t.split(".")[0] in packages]
    return found


def layer_violations(root: Path, packages: tuple[str, ...] = PACKAGES) -> list[str]:
    """`path:line: module imports target (layer A may not import layer B)` for every import across the layers."""
    files = module_files(root, packages)
    out = []
    for module, path in files.items():
        layer = layer_of(module)
        where = path.relative_to(root)
        if layer is None:
            out.append(f"{where}:1: {module} is in no layer (core, analysis, app, jax_impl, torch_ref)")
            continue
        for line, target in imports_of(module, path, set(files), packages):
            to = layer_of(target)
            if to not in ALLOWED[layer]:
                out.append(f"{where}:{line}: {module} imports {target} (layer {layer} may not import layer {to})")
    return out


def import_graph(root: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, set[str]]:
    """module -> the first-party modules it imports anywhere in its file (itself excluded)."""
    files = module_files(root, packages)
    known = set(files)
    return {m: {t for _, t in imports_of(m, p, known, packages) if t in known and t != m} for m, p in files.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle [a, b, ..., a] per strongly connected component of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_cycle_through(graph, c) for c in sorted(components, key=min)]


def _cycle_through(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest cycle from the component's first module back to it, inside the component (breadth first)."""
    start = min(component)
    parent: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & component):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    return [*reversed(path), start]
                if w not in parent:
                    parent[w] = v
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"no cycle through {start} in {sorted(component)}")


# ----------------------------------------------------------------------------------------------------------
# The repository
# ----------------------------------------------------------------------------------------------------------


def test_every_import_stays_inside_its_layers() -> None:
    bad = layer_violations(ROOT)
    assert not bad, "imports across the layers of ARCHITECTURE.md:\n" + "\n".join(bad)


def test_the_first_party_import_graph_has_no_cycle() -> None:
    cycles = find_cycles(import_graph(ROOT))
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_architecture_md_names_every_module() -> None:
    """Every module file of the three packages (an empty __init__.py aside) has its line in ARCHITECTURE.md."""
    text = (ROOT / "ARCHITECTURE.md").read_text()
    named = set(re.findall(r"`([\w/]+\.py)`", text))
    files = [p for p in module_files(ROOT).values() if p.name != "__init__.py" or p.read_text().strip()]
    missing = [str(p.relative_to(ROOT)) for p in files if str(p.relative_to(ROOT)) not in named]
    assert not missing, f"modules without a line in ARCHITECTURE.md's package section: {missing}"


def test_architecture_md_names_no_missing_module() -> None:
    """Every repository `path.py` ARCHITECTURE.md names exists (a moved or deleted module leaves no stale line)."""
    text = (ROOT / "ARCHITECTURE.md").read_text()
    first_party = (*PACKAGES, "bench", "parity", "tests")
    named = set(re.findall(r"`([\w/]+\.py)`", text))
    stale = sorted(p for p in named if p.split("/")[0] in first_party and not (ROOT / p).is_file())
    assert not stale, f"ARCHITECTURE.md names files that do not exist: {stale}"


# ----------------------------------------------------------------------------------------------------------
# The checker on a small tree
# ----------------------------------------------------------------------------------------------------------


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_the_checker_names_each_import_across_the_layers(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "tdmpc_parity/__init__.py": "",
        "tdmpc_parity/core/__init__.py": "",
        "tdmpc_parity/core/a.py": "import os\n\n\ndef f():\n    from tdmpc_parity.app import b\n    return b\n",
        "tdmpc_parity/core/c.py": "from . import a\nfrom .a import f\n",
        "tdmpc_parity/app/__init__.py": "",
        "tdmpc_parity/app/b.py": "import jax_impl.m\nimport torch_ref.n\nfrom tdmpc_parity.analysis import x\n",
        "tdmpc_parity/analysis/__init__.py": "",
        "tdmpc_parity/analysis/x.py": "from tdmpc_parity.core.a import f\nfrom ..core import c\n",
        "tdmpc_parity/analysis/y.py": "from ..app.b import thing\n",
        "tdmpc_parity/extra/z.py": "",
        "jax_impl/__init__.py": "",
        "jax_impl/m.py": "from jax_impl import p\nfrom tdmpc_parity.core import a\n\n\n"
                         "def g():\n    import torch_ref.n\n",
        "jax_impl/p.py": "",
        "torch_ref/__init__.py": "",
        "torch_ref/n.py": "from tdmpc_parity.analysis.x import f\n",
    })
    assert sorted(layer_violations(root)) == [
        "jax_impl/m.py:6: jax_impl.m imports torch_ref.n (layer jax_impl may not import layer torch_ref)",
        "tdmpc_parity/analysis/y.py:1: tdmpc_parity.analysis.y imports tdmpc_parity.app.b "
        "(layer analysis may not import layer app)",
        "tdmpc_parity/core/a.py:5: tdmpc_parity.core.a imports tdmpc_parity.app.b "
        "(layer core may not import layer app)",
        "tdmpc_parity/extra/z.py:1: tdmpc_parity.extra.z is in no layer (core, analysis, app, jax_impl, torch_ref)",
        "torch_ref/n.py:1: torch_ref.n imports tdmpc_parity.analysis.x (layer torch_ref may not import layer analysis)",
    ]
    graph = import_graph(root)
    assert graph["tdmpc_parity.core.c"] == {"tdmpc_parity.core.a"}  # relative imports resolved
    assert graph["tdmpc_parity.analysis.x"] == {"tdmpc_parity.core.a", "tdmpc_parity.core.c"}
    assert graph["jax_impl.m"] == {"jax_impl.p", "tdmpc_parity.core.a", "torch_ref.n"}


def test_the_checker_finds_each_cycle(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "tdmpc_parity/analysis/a.py": "from tdmpc_parity.analysis.b import f\n",
        "tdmpc_parity/analysis/b.py": "def f():\n    from . import c\n",
        "tdmpc_parity/analysis/c.py": "import tdmpc_parity.analysis.a\n",
        "tdmpc_parity/analysis/d.py": "from tdmpc_parity.analysis import a\n",
        "jax_impl/p.py": "from jax_impl import q\n",
        "jax_impl/q.py": "from jax_impl.p import thing\n",
        "torch_ref/r.py": "import torch_ref.r\n",  # a module importing itself is no cycle between modules
    })
    assert find_cycles(import_graph(root)) == [
        ["jax_impl.p", "jax_impl.q", "jax_impl.p"],
        ["tdmpc_parity.analysis.a", "tdmpc_parity.analysis.b", "tdmpc_parity.analysis.c", "tdmpc_parity.analysis.a"],
    ]
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
