"""The one direction of imports (docs/ARCHITECTURE.md, "Layers"): each layer imports only itself
and the layers below it, and no modules import each other in a circle.

    entry points: jobs/ and the HTTP API (lipdub/api/: it starts pipelines)
      -> pipelines/ -> operators/ -> models/ -> the library (lipdub/: media, face, audio, render,
         qa, report, storage, config, ...)

Read from the source with `ast`, so imports inside functions count as much as those at the top
(a lazy import is still a dependency; it only hides a cycle from Python, not from a reader).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("lipdub", "models", "operators", "pipelines", "jobs")

# Lowest first. The first matching prefix names a module's layer.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("library", ("lipdub",)),
    ("models", ("models",)),
    ("operators", ("operators",)),
    ("pipelines", ("pipelines",)),
    ("entry points", ("jobs", "lipdub.api")),
)


def layer_of(module: str) -> int:
    best, best_len = -1, -1
    for rank, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = rank, len(prefix)
    return best


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    return {module_name(path): path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))}


def imported_modules(path: Path, module: str, known: set[str]) -> set[str]:
    """The project modules `module` imports (``from a import b`` counts as ``a.b`` when that is
    a module, else ``a``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for name in names:
            # The deepest project module the name lies in (``import a.b.c`` depends on a.b.c).
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    known = set(modules)
    return {module: imported_modules(path, module, known) for module, path in modules.items()}


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    problems = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            if layer_of(target) > layer_of(module):
                problems.append(f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})")
    return problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_module_has_a_layer() -> None:
    assert [module for module in project_modules() if layer_of(module) < 0] == []


def test_no_module_imports_a_layer_above_its_own() -> None:
    assert upward_imports(import_graph()) == []


def test_no_modules_import_each_other_in_a_circle() -> None:
    assert cycles(import_graph()) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ({"lipdub.a": {"models.b"}, "models.b": set()}, ["lipdub.a (library) imports models.b (models)"]),
        ({"lipdub.api.x": {"pipelines.p"}, "pipelines.p": {"lipdub.a"}, "lipdub.a": set()}, []),
        ({"lipdub.a": {"lipdub.api.x"}, "lipdub.api.x": set()}, ["lipdub.a (library) imports lipdub.api.x (entry points)"]),
    ],
)
def test_the_checker_sees_an_upward_import(source, expected) -> None:
    assert upward_imports(source) == expected


def test_the_checker_sees_a_circle() -> None:
    assert cycles({"models.a": {"models.b"}, "models.b": {"models.c"}, "models.c": {"models.a"}, "models.d": {"models.a"}}) == [
        ["models.a", "models.b", "models.c"]
    ]
