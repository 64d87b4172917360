"""The package's shape: layers along the data path, each importing only those below it, and
no import cycle anywhere. Every import counts: one inside a function, and one made only for
the type checker (under ``if TYPE_CHECKING``), since hiding a cycle in either is a cycle."""

from __future__ import annotations

import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "bulkup"

# Lower ranks are closer to the kernel. A module imports its own subpackage and lower ranks.
RANKS = {
    "cachedir": 0,
    "errors": 0,
    "gctune": 0,
    "redact": 0,
    "version": 0,
    "classcache": 1,  # how the command line and the zygote make their dataclasses (keeps them in cachedir)
    "kernel": 1,
    "plan": 1,
    "transport": 2,
    "display": 3,  # renders the run's events, some of which the workers send
    "pools": 3,
    "control": 4,
    "options": 5,
    "report": 5,
    "migrate": 6,
    "doctor": 6,
    "ops": 7,  # put, sync, migrate: built from the same steps
    "api": 8,  # thin over ops
    "cli": 9,
    "__init__": 10,
    "__main__": 10,
}


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: pathlib.Path) -> set[str]:
    """The bulkup modules ``path`` imports, anywhere in it."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("bulkup"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            if base.startswith("bulkup"):
                for alias in node.names:
                    candidate = f"{base}.{alias.name}"
                    found.add(candidate if _exists(candidate) else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {name for name in found if _exists(name)}


def _exists(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) - {module_name(p)} for p in PACKAGE.rglob("*.py")}


def test_no_module_imports_itself_back_through_others():
    edges = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def strongconnect(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in edges.get(node, ()):
            if target not in index:
                strongconnect(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in edges:
        if node not in index:
            strongconnect(node)
    assert cycles == []


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_each_layer_imports_only_the_layers_below_it():
    wrong = []
    for module, targets in graph().items():
        for target in targets:
            own, other = layer(module), layer(target)
            if own != other and RANKS[other] >= RANKS[own]:
                wrong.append(f"{module} -> {target}")
    assert wrong == []


def test_every_module_belongs_to_a_layer():
    assert {layer(m) for m in graph()} <= set(RANKS)
