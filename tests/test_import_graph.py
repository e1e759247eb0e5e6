"""The layout holds: no import cycle, arrows only point down the stack, no library module past ~400 lines.

The graph is read from the source with :mod:`ast`, not by importing it: every ``import`` counts, including
imports inside functions (lazy) and under ``if TYPE_CHECKING:`` — two modules that name each other are one
idea cut in the wrong place even when Python happens to load them. ``docs/architecture.md`` draws the same
stack.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: Top-level packages from the bottom of the stack up; a package may import only packages on a lower floor
#: (and itself). ``video_rlt`` holds only deprecated aliases of the old paths.
FLOORS: tuple[frozenset[str], ...] = (
    frozenset({"video_rewards", "video_decoding"}),
    frozenset({"selection", "dataset_converters"}),
    frozenset({"verl_plugins"}),
    frozenset({"rlt_tools"}),
    frozenset({"video_rlt"}),
)
#: Deprecated aliases of moved modules: only other aliases may import them.
ALIASES = ("video_rlt", "selection.video")
#: Modules longer than this hold more than one idea (tests and benchmarks are exempt).
MAX_LINES = 420
#: Folders of scripts (not packages) that are held to the same length.
SCRIPT_DIRS = ("recipes", "scripts", "examples")


def find_modules(root: Path, packages: Iterable[str]) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is_package) for every ``.py`` file under the given packages."""
    modules: dict[str, tuple[Path, bool]] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            modules[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return modules


def module_graph(root: Path, packages: Iterable[str]) -> dict[str, set[str]]:
    """Module -> the modules of ``packages`` it imports anywhere in its source (edges to the most specific
    module: ``from a.b import c`` points at ``a.b.c`` when that is a module, else at ``a.b``)."""
    modules = find_modules(root, packages)

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, (path, is_package) in modules.items():
        package = name if is_package else name.rpartition(".")[0]
        targets: set[str | None] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                targets.update(known(alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    source = ".".join([*base, node.module] if node.module else base)
                else:
                    source = node.module or ""
                targets.update(known(f"{source}.{alias.name}") for alias in node.names)
        graph[name] = {t for t in targets if t is not None and t != name}
    return graph


def find_cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(start: str) -> None:
        # Iterative, so a deep graph cannot hit the recursion limit.
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def long_modules(paths: Iterable[Path], limit: int = MAX_LINES) -> dict[str, int]:
    counts = {
        str(p.relative_to(REPO) if p.is_relative_to(REPO) else p): len(p.read_text().splitlines())
        for p in paths
    }
    return {name: n for name, n in counts.items() if n > limit}


def repo_packages(root: Path = REPO) -> list[str]:
    return sorted(p.name for p in root.iterdir() if (p / "__init__.py").is_file() and p.name != "tests")


@functools.cache
def repo_graph() -> dict[str, set[str]]:
    return module_graph(REPO, repo_packages())


# --------------------------------------------------------------------------------------------- the repository
def test_every_package_has_a_floor() -> None:
    placed = set().union(*FLOORS)
    assert set(repo_packages()) == placed, (
        "a new top-level package needs a floor here and in docs/architecture.md"
    )


def test_no_import_cycles() -> None:
    cycles = find_cycles(repo_graph())
    assert cycles == [], "modules that import each other (move the shared piece down a floor): " + "; ".join(
        " <-> ".join(c) for c in cycles
    )


def test_arrows_point_down() -> None:
    floor = {package: level for level, packages in enumerate(FLOORS) for package in packages}
    upward = sorted(
        f"{module} -> {target}"
        for module, targets in repo_graph().items()
        for target in targets
        if floor[target.split(".")[0]] > floor[module.split(".")[0]]
    )
    assert upward == []


def package_arrows(graph: Mapping[str, set[str]]) -> dict[str, set[str]]:
    arrows: dict[str, set[str]] = {}
    for module, targets in graph.items():
        for target in targets:
            a, b = module.split(".")[0], target.split(".")[0]
            if a != b:
                arrows.setdefault(a, set()).add(b)
    return arrows


def test_architecture_doc_draws_the_real_arrows() -> None:
    """The ``A --> B, C`` lines of docs/architecture.md are exactly the package-level import graph."""
    drawn: dict[str, set[str]] = {}
    for line in (REPO / "docs" / "architecture.md").read_text().splitlines():
        m = re.fullmatch(r"(\w+)\s+-->\s+([\w, ]+?)\s*(\(.*\))?", line)
        if m:
            drawn[m.group(1)] = {name.strip() for name in m.group(2).split(",")}
    assert drawn == package_arrows(repo_graph())


def test_only_aliases_import_aliases() -> None:
    def is_alias(name: str) -> bool:
        return any(name == a or name.startswith(a + ".") for a in ALIASES)

    offenders = sorted(
        f"{module} -> {target}"
        for module, targets in repo_graph().items()
        for target in targets
        if is_alias(target) and not is_alias(module)
    )
    assert offenders == [], "import the new path, not a deprecated alias"


def test_no_library_module_is_too_long() -> None:
    files = [p for pkg in repo_packages() for p in (REPO / pkg).rglob("*.py")]
    files += [p for folder in SCRIPT_DIRS for p in (REPO / folder).rglob("*.py")]
    assert len(files) > 50
    assert long_modules(files) == {}, f"split these by idea (limit {MAX_LINES} lines)"


# ------------------------------------------------------------------------------------ the checker can fail
def _write(root: Path, files: Mapping[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_checker_sees_lazy_and_type_checking_cycles(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/loader.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .cache import Cache\n",
            "pkg/cache.py": "def get():\n    from pkg.loader import Clip\n",
            "pkg/sub/__init__.py": "from .. import lone\n",
            "pkg/lone.py": "import os\nimport pkg.sub\n",
            "pkg/leaf.py": "from pkg import loader\n",
        },
    )
    graph = module_graph(tmp_path, ["pkg"])
    assert graph["pkg.loader"] == {"pkg.cache"}
    assert graph["pkg.cache"] == {"pkg.loader"}
    assert graph["pkg.leaf"] == {"pkg.loader"}
    assert find_cycles(graph) == [["pkg.cache", "pkg.loader"], ["pkg.lone", "pkg.sub"]]


def test_checker_passes_a_clean_stack(tmp_path: Path) -> None:
    _write(tmp_path, {"a/__init__.py": "", "a/x.py": "import a.y\n", "a/y.py": "def f():\n    import os\n"})
    assert find_cycles(module_graph(tmp_path, ["a"])) == []


def test_checker_flags_a_long_module(tmp_path: Path) -> None:
    _write(tmp_path, {"big.py": "x = 1\n" * (MAX_LINES + 1), "ok.py": "x = 1\n" * MAX_LINES})
    assert long_modules([tmp_path / "big.py", tmp_path / "ok.py"]) == {
        str(tmp_path / "big.py"): MAX_LINES + 1
    }
