"""The package's import graph: no cycles (imports inside functions count too) and no module
importing another's private names (STYLE.md: dependency direction spec <- canonical <-
frameworks <- counting/cells/readers <- __init__ <- render <- cli)."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "lstmcalc"


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path):
    """(target module, imported names) of every relative or lstmcalc import in ``path``."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for block in ast.walk(tree):  # `if TYPE_CHECKING:` imports never run
        if isinstance(block, ast.If) and getattr(block.test, "id", None) == "TYPE_CHECKING":
            block.body = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.split(".")[0] == "lstmcalc":
                target = node.module
            else:
                continue
            names = [a.name for a in node.names]
            if node.module is None:  # from . import frameworks: the submodules themselves
                for n in names:
                    yield f"{target}.{n}", []
            else:
                yield target, names
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "lstmcalc":
                    yield a.name, []


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {m: set() for m in modules}
    for m, path in modules.items():
        for target, _ in _imports(path):
            while target not in modules and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in modules and target != m:
                graph[m].add(target)
    return graph


def _parents(module: str) -> set[str]:
    """A submodule's import runs its packages' __init__ first: not an edge of its own."""
    parts = module.split(".")
    return {".".join(parts[:k]) for k in range(1, len(parts))}


def test_no_import_cycles():
    graph = _graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node, stack):
        state[node] = 1
        for nxt in sorted(graph[node] - _parents(node)):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_no_module_imports_another_modules_private_names():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        for target, names in _imports(path):
            offenders += [f"{_module_name(path)}: {target}.{n}" for n in names if n.startswith("_") and n != "__version__"]
    assert offenders == []


def test_the_graph_is_read():
    """The checks above see real edges (a parser that found none would pass them)."""
    graph = _graph()
    assert "lstmcalc.canonical" in graph["lstmcalc.frameworks"]
    assert "lstmcalc.prepared" in graph["lstmcalc._numba"]
    assert "lstmcalc.frameworks.keras" not in graph["lstmcalc.counting"]
