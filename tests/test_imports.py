"""The import graph of `slimnas`: no cycles, and the wings import only downstream.

Every `import` / `from ... import` anywhere in a file counts, those inside functions too
(a lazy import still ties the two modules together). A package `__init__` is its own
module, and importing `slimnas.a.b` does not count as importing `slimnas.a`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
# the CafeNet rule's own options: only the rule (width/sharing/) may read them
RULE_OPTIONS = {"offset", "select", "select_batches", "candidates"}


def module_files(root: Path, package: str = "slimnas") -> dict[str, Path]:
    """{dotted module name: file} of every .py under `root/package`."""
    out = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imported_modules(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of `modules` that the file of module `name` imports, anywhere in it."""
    here = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                # `import a.b.c` names the longest of a.b.c, a.b, a that is a module
                hit = next((".".join(parts[:n]) for n in range(len(parts), 0, -1)
                            if ".".join(parts[:n]) in modules), None)
                if hit:
                    found.add(hit)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                pkg = here.split(".")
                pkg = pkg[:len(pkg) - (node.level - 1)]
                base = ".".join(pkg + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in modules:  # `from a import b` where a.b is a module
                    found.add(sub)
                elif base in modules:
                    found.add(base)
    return found


def import_graph(root: Path, package: str = "slimnas") -> dict[str, set[str]]:
    """{module: the modules of the package it imports}."""
    modules = module_files(root, package)
    return {name: imported_modules(name, path, modules) for name, path in modules.items()}


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module, and self-imports, each
    sorted (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

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
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph.get(v, ()):
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def describe(graph: dict[str, set[str]], cycles: list[list[str]]) -> str:
    """One line per import edge inside each cycle."""
    lines = []
    for comp in cycles:
        lines.append("cycle: " + ", ".join(comp))
        lines += [f"    {a} -> {b}" for a in comp for b in sorted(graph[a]) if b in comp]
    return "\n".join(lines)


def crossings(graph: dict[str, set[str]], source: str, target: str) -> list[str]:
    """The edges from modules in (or equal to) `source` to modules in `target`."""
    def inside(m: str, pkg: str) -> bool:
        return m == pkg or m.startswith(pkg + ".")
    return [f"{a} -> {b}" for a in sorted(graph) if inside(a, source)
            for b in sorted(graph[a]) if inside(b, target)]


def rule_option_reads(root: Path, package: str = "slimnas",
                      allowed: str = "slimnas.width.sharing") -> list[str]:
    """`<...>rule.<option>` attribute reads of the CafeNet rule's options outside `allowed`."""
    out = []
    for name, path in module_files(root, package).items():
        if name == allowed or name.startswith(allowed + "."):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if not isinstance(node, ast.Attribute) or node.attr not in RULE_OPTIONS:
                continue
            owner = node.value
            owner_name = (owner.id if isinstance(owner, ast.Name) else
                          owner.attr if isinstance(owner, ast.Attribute) else "")
            if owner_name.endswith("rule"):
                out.append(f"{path.relative_to(root)}:{node.lineno}: "
                           f"{ast.unparse(node)}")
    return out


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def test_the_helpers_on_a_synthetic_tree(tmp_path):
    _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a/__init__.py": "import pkg.b\n",  # a -> b -> a.x: no cycle with `a` itself
        "pkg/a/x.py": "from . import y\nimport numpy\n",
        "pkg/a/y.py": "def f():\n    from pkg.a.x import thing\n",  # lazy, still an edge
        "pkg/b.py": "from pkg.a import x\nfrom .a.y import f\n",
        "pkg/c.py": "from pkg import c\n",  # a self-import
        "pkg/d/__init__.py": "",
        "pkg/d/e.py": "from .. import b\nfrom ..a import nothing_there\nimport pkg.a.x.z\n",
    })
    graph = import_graph(tmp_path, "pkg")
    assert graph["pkg.a"] == {"pkg.b"}
    assert graph["pkg.a.x"] == {"pkg.a.y"}
    assert graph["pkg.a.y"] == {"pkg.a.x"}
    assert graph["pkg.b"] == {"pkg.a.x", "pkg.a.y"}
    assert graph["pkg.d.e"] == {"pkg.b", "pkg.a", "pkg.a.x"}
    cycles = import_cycles(graph)
    assert cycles == [["pkg.a.x", "pkg.a.y"], ["pkg.c"]]
    text = describe(graph, cycles)
    assert "pkg.a.x -> pkg.a.y" in text and "pkg.c -> pkg.c" in text
    assert crossings(graph, "pkg.d", "pkg.a") == ["pkg.d.e -> pkg.a", "pkg.d.e -> pkg.a.x"]
    assert import_cycles({"p": {"q"}, "q": set()}) == []


def test_rule_option_reads_on_a_synthetic_tree(tmp_path):
    _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/w/sharing/cafe.py": "def f(rule):\n    return rule.offset\n",  # the rule's own
        "pkg/w/eval.py": "def f(ctx, rule, x):\n    a = ctx.rule.select\n    b = rule.candidates"
                         "\n    c = x.offset\n    d = ctx.rule.name\n    return a, b, c, d\n",
    })
    found = rule_option_reads(tmp_path, "pkg", allowed="pkg.w.sharing")
    assert [f.split(": ", 1)[1] for f in found] == ["ctx.rule.select", "rule.candidates"]


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(SRC)


def test_the_graph_sees_lazy_imports(graph):
    assert "slimnas.width.spaces" in graph["slimnas.cli"]  # imported inside a function
    assert len(graph) > 50


def test_no_import_cycles(graph):
    cycles = import_cycles(graph)
    assert not cycles, "import cycles:\n" + describe(graph, cycles)


def test_bnas_never_imports_width(graph):
    bad = crossings(graph, "slimnas.bnas", "slimnas.width")
    assert not bad, "slimnas.bnas imports slimnas.width:\n" + "\n".join(bad)


def test_search_never_imports_bench(graph):
    bad = crossings(graph, "slimnas.search", "slimnas.bench")
    assert not bad, "slimnas.search imports slimnas.bench:\n" + "\n".join(bad)


def test_only_the_rules_read_their_own_options():
    bad = rule_option_reads(SRC)
    assert not bad, "a rule's options read outside width/sharing/:\n" + "\n".join(bad)
