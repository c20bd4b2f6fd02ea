"""The package's import graph: no cycles (imports inside functions, annotation imports under
``TYPE_CHECKING`` and imports of the package face all count) and no module importing another's
private names (STYLE.md: dependency direction spec <- canonical <- frameworks <-
counting/cells/readers <- __init__ <- render <- cli).

The one allowed back-edge: a result type that renders itself (``__rich__``, ``_repr_html_``,
``__str__``, ``__repr__``) imports the view that draws it, inside that method only; those edges
are listed in :data:`RENDERS_ITSELF` with their reason, and the test checks that each occurs in
such a method and nowhere else."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "lstmcalc"


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


# (module, view it imports) -> why: the result types that render themselves
RENDERS_ITSELF = {
    ("lstmcalc.cells", "lstmcalc.render"): "ForwardResult and Layer: __rich__, _repr_html_, __str__, __repr__",
    ("lstmcalc.counting", "lstmcalc.render"): "Breakdown: __rich__, _repr_html_, __str__, __repr__",
    ("lstmcalc.costing", "lstmcalc.render"): "Cost: __rich__, _repr_html_, __str__, __repr__",
    ("lstmcalc.running", "lstmcalc.render"): "RunReport: __rich__, __str__, __repr__",
}
RENDER_METHODS = {"__rich__", "_repr_html_", "__str__", "__repr__"}


def _render_methods(tree) -> set[int]:
    """ids of the import nodes inside a method that renders its object."""
    out = set()
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) and fn.name in RENDER_METHODS:
            out |= {id(n) for n in ast.walk(fn) if isinstance(n, (ast.Import, ast.ImportFrom))}
    return out


def _imports(path: Path, with_place: bool = False):
    """(target module, imported names) of every relative or lstmcalc import in ``path``,
    wherever it sits (a function, ``if TYPE_CHECKING:``); with ``with_place``, also whether it
    sits in a rendering method."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    rendering = _render_methods(tree)
    for target, names, node in _raw_imports(tree, package):
        yield (target, names, id(node) in rendering) if with_place else (target, names)


def _raw_imports(tree, package: str):
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
                    yield f"{target}.{n}", [], node
            else:
                yield target, names, node
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "lstmcalc":
                    yield a.name, [], node


def _resolve(target: str, modules) -> str:
    while target not in modules and "." in target:
        target = target.rsplit(".", 1)[0]
    return target


def _graph(allowed: bool = False) -> dict[str, set[str]]:
    """module -> the modules it imports; ``allowed``: with the RENDERS_ITSELF edges too."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {m: set() for m in modules}
    for m, path in modules.items():
        for target, _, in_render_method in _imports(path, with_place=True):
            target = _resolve(target, modules)
            if (m, target) in RENDERS_ITSELF and in_render_method and not allowed:
                continue
            if target in modules and target != m:
                graph[m].add(target)
    return graph


def _parents(module: str) -> set[str]:
    """A submodule's import runs its packages' __init__ first: that is not an edge of its own
    (an explicit import of a parent package, ``from . import __version__``, still is one)."""
    parts = module.split(".")
    return {".".join(parts[:k]) for k in range(1, len(parts))}


def test_no_import_cycles():
    graph = _graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node, stack):
        state[node] = 1
        for nxt in sorted(graph[node]):
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


def test_the_render_back_edges_sit_only_in_rendering_methods():
    """Each allowed edge exists, and only inside __rich__ / _repr_html_ / __str__ / __repr__."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    seen = set()
    for m, path in modules.items():
        for target, _, in_render_method in _imports(path, with_place=True):
            edge = (m, _resolve(target, modules))
            if edge in RENDERS_ITSELF:
                assert in_render_method, f"{m} imports {edge[1]} outside a rendering method"
                seen.add(edge)
    assert seen == set(RENDERS_ITSELF)


def test_no_module_imports_the_package_face():
    """``lstmcalc/__init__.py`` imports the library; a module inside it importing the face back
    (``from . import __version__``) would close a loop: the version lives in ``_version``."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    offenders = [m for m, path in modules.items() if m != "lstmcalc"
                 for target, _ in _imports(path) if _resolve(target, modules) == "lstmcalc"]
    assert offenders == []


def test_the_graph_is_read():
    """The checks above see real edges (a parser that found none would pass them)."""
    graph = _graph()
    assert "lstmcalc.canonical" in graph["lstmcalc.frameworks"]
    assert "lstmcalc.prepared" in graph["lstmcalc._numba"]
    assert "lstmcalc.frameworks.keras" not in graph["lstmcalc.counting"]
