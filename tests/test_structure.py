"""The package's shape, read from its source: the import graph (imports inside functions
included, since a circle hidden in a function is still a circle) must have no circle, the UI
must talk to the facade only, and the serving path must never reach torch or the offline tools."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "avatar"

# Imports the UI may make besides the facade and itself: the web framework it is built on.
UI_THIRD_PARTY = {"gradio", "starlette"}


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package (a package is its __init__)."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(name: str) -> tuple[set[str], set[str]]:
    """(package modules, top-level third-party names) that module `name` imports anywhere in it.
    `from pkg import x` counts as importing pkg.x when that is a module, else pkg itself."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    inside, outside = set(), set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join(parent + ([node.module] if node.module else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        else:
            continue
        for target in targets:
            if target.split(".")[0] == "avatar":
                inside.add(target if target in MODULES else target.rpartition(".")[0])
            else:
                outside.add(target.split(".")[0])
    inside.discard(name)
    return inside, outside


GRAPH = {name: _imports(name) for name in MODULES}


def _reachable(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(GRAPH[name][0])
    return seen


def _circles() -> list[list[str]]:
    """Every import circle: the strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, circles = {}, {}, [], set(), []

    def visit(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        on_stack.add(name)
        for other in GRAPH[name][0]:
            if other not in index:
                visit(other)
                low[name] = min(low[name], low[other])
            elif other in on_stack:
                low[name] = min(low[name], index[other])
        if low[name] == index[name]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == name:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for name in sorted(GRAPH):
        if name not in index:
            visit(name)
    return circles


def test_the_reader_sees_every_module():
    assert {"avatar.service", "avatar.ui.app", "avatar.cli", "avatar.offline.recipe"} <= set(MODULES)
    assert "avatar.service" in GRAPH["avatar.ui.app"][0]
    assert "gradio" in GRAPH["avatar.ui.app"][1]


def test_no_import_circle():
    assert _circles() == []


def test_a_circle_is_found(monkeypatch):
    """The check can fail: a made-up import back from the facade to a module it imports is a circle."""
    monkeypatch.setitem(GRAPH, "avatar.errors", (GRAPH["avatar.errors"][0] | {"avatar.service"}, set()))
    assert any({"avatar.errors", "avatar.service"} <= set(circle) for circle in _circles())


@pytest.mark.parametrize("name", sorted(name for name in MODULES if name.startswith("avatar.ui")))
def test_the_ui_talks_to_the_facade_only(name):
    inside, outside = GRAPH[name]
    assert {module for module in inside if not module.startswith("avatar.ui")} <= {"avatar.service"}
    stdlib = set(__import__("sys").stdlib_module_names) | {"__future__"}
    assert outside - stdlib <= UI_THIRD_PARTY


def test_gradio_lives_in_the_ui_only():
    users = {name for name, (_, outside) in GRAPH.items() if "gradio" in outside}
    assert users and all(name.startswith("avatar.ui") for name in users)


def test_serving_never_reaches_torch_or_the_offline_tools():
    serving = _reachable("avatar.ui") | _reachable("avatar.service")
    assert not {name for name in serving if name.startswith(("avatar.training", "avatar.offline", "avatar.cli"))}
    assert not {name for name in serving if "torch" in GRAPH[name][1]}


def _layout_names(indent: int, after: str | None = None) -> set[str]:
    """The names the README's layout block lists at `indent` spaces (under the line `after`)."""
    readme = (PACKAGE.parent / "README.md").read_text()
    block = readme.split("## Layout", 1)[1].split("```")[1].splitlines()
    if after is not None:
        start = next(i for i, line in enumerate(block) if line.strip().startswith(after))
        block = block[start + 1:]
        block = block[:next((i for i, line in enumerate(block) if len(line) - len(line.lstrip()) < indent
                             and line.strip()), len(block))]
    names = set()
    for line in block:
        word = line.strip().split(" ")[0] if line.strip() else ""
        if len(line) - len(line.lstrip()) == indent and (word.endswith(".py") or word.endswith("/")):
            names.add(word.rstrip("/"))
    return names


def _tree_names(folder: Path) -> set[str]:
    return {p.stem if p.suffix == ".py" else p.name for p in folder.iterdir()
            if (p.suffix == ".py" and p.stem not in ("__init__", "__main__")) or (p.is_dir() and any(p.glob("*.py")))}


def test_the_readme_layout_names_every_module_of_the_package_and_nothing_else():
    assert {name.removesuffix(".py") for name in _layout_names(2)} == _tree_names(PACKAGE)
    offline = {name.removesuffix(".py") for name in _layout_names(4, "offline/")}
    assert offline == _tree_names(PACKAGE / "offline")
