"""No module outside ``lstmcalc/frameworks/`` decides by a convention's name (issue 21, item 1:
every sentence, number, style and flag that depends on a convention comes from its module).

The test parses every ``lstmcalc/*.py`` (the readers, which read one framework's file format,
and ``diagnose/``, which reads one framework's error text, may name it) and fails on any
comparison (``==``, ``!=``, ``in``, ``not in``) with a string literal that is a registered
``--framework`` value, alone or inside a tuple, list or set literal: ``spec.framework == "torch"``,
``target in ("keras", "keras2")``. Asking the convention (``fw.OPTIONS``, a hook, ``fw.PEER``)
is the way; an exception goes in :data:`ALLOWED` with its reason."""

from __future__ import annotations

import ast
from pathlib import Path

from lstmcalc.frameworks import FRAMEWORKS

PACKAGE = Path(__file__).resolve().parent.parent / "lstmcalc"
COMPARISONS = (ast.Eq, ast.NotEq, ast.In, ast.NotIn)

# (file, source line text stripped) -> why it must stay; empty: no exception today
ALLOWED: dict[tuple[str, str], str] = {}


def _names_in(node) -> list[str]:
    """The registered convention names ``node`` spells as a literal (a string, or a tuple,
    list or set of them)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value] if node.value in FRAMEWORKS else []
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [n for e in node.elts for n in _names_in(e)]
    return []


def name_comparisons(source: str) -> list[tuple[int, list[str]]]:
    """(line, names) of every comparison in ``source`` against a convention name literal."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare) and any(isinstance(op, COMPARISONS) for op in node.ops):
            names = [n for side in (node.left, *node.comparators) for n in _names_in(side)]
            if names:
                found.append((node.lineno, names))
    return sorted(found)


def test_no_module_outside_frameworks_compares_a_convention_name():
    found = []
    for path in sorted(PACKAGE.glob("*.py")):  # top level only: frameworks/, readers/, diagnose/ left out
        lines = path.read_text(encoding="utf-8").splitlines()
        for line, names in name_comparisons("\n".join(lines)):
            if (path.name, lines[line - 1].strip()) in ALLOWED:
                continue
            found.append(f"lstmcalc/{path.name}:{line}: compares with {', '.join(map(repr, names))}: "
                         f"{lines[line - 1].strip()}")
    assert not found, "decided by a convention's name (ask the convention instead):\n" + "\n".join(found)


def test_the_check_sees_every_form():
    """The checker itself: each way of comparing with a name is caught, other strings are not."""
    source = "\n".join([
        'if spec.framework == "torch": pass',
        'if "keras" != s.framework: pass',
        'if target in ("keras", "keras2"): pass',
        'if fw not in ["mlx"]: pass',
        'if fw in {"onnx", "other"}: pass',
        'if spec.cell == "lstm": pass',  # not a convention
        'x = "torch" if p else "keras"',  # not a comparison
        'if fw is "torch": pass',  # identity, not equality (and a SyntaxWarning of its own)
    ])
    assert name_comparisons(source) == [(1, ["torch"]), (2, ["keras"]), (3, ["keras", "keras2"]), (4, ["mlx"]),
                                        (5, ["onnx"])]


def test_allowed_entries_still_exist():
    """An exception that no longer matches a line is stale and must go."""
    for (name, text), why in ALLOWED.items():
        assert why
        assert text in (PACKAGE / name).read_text(encoding="utf-8"), f"{name}: {text!r} is gone; remove it from ALLOWED"


def test_the_moved_words_are_the_conventions():
    """What the name comparisons decided now comes from each convention: convert's refusal of an
    ONNX reverse node, inspect's Keras-version title, cost's torch.nn twin, the default convention."""
    from lstmcalc import frameworks
    from lstmcalc.converting import why_no_reverse
    from lstmcalc.costing import torch_twin

    assert why_no_reverse("keras2").startswith("an ONNX direction=reverse node has no Keras 2 CuDNN weights file: "
                                               "its twin is a layer with go_backwards=True")
    assert why_no_reverse("mlx") == ("an ONNX direction=reverse node has no MLX twin: its weights cannot say to run "
                                     "the sequence backwards, so whatever reads them runs the layer forward")
    assert frameworks.get("keras").file_title("2.2.4") == "Keras 2.2.4"
    assert frameworks.get("keras").file_title("3.5.0") is None
    assert [frameworks.get(n).file_title("2.2.4") for n in frameworks.FRAMEWORKS if n != "keras"] == [None] * 10
    assert [n for n in frameworks.FRAMEWORKS if frameworks.get(n).TORCH_MODULE] == ["torch"]
    spec = frameworks.make_spec(3, 2, framework="torch_cell")
    twin, _ = torch_twin(spec)
    assert twin.framework == "torch" and torch_twin(twin) == (twin, None)
    assert frameworks.DEFAULT == frameworks.FRAMEWORKS[0] == frameworks.make_spec(1, 1).framework


# (file, source line text stripped) -> why a convention's name may be written there at all
NAMED: dict[tuple[str, str], str] = {
    ("spec.py", 'framework: str = "keras"  # a registered convention: lstmcalc.frameworks.MODULES'):
        "LayerSpec's default sits below the registry (spec.py imports nothing of frameworks/); "
        "test_the_moved_words_are_the_conventions checks it equals frameworks.DEFAULT",
}


def test_no_module_outside_frameworks_writes_a_convention_name():
    """Stricter than comparisons: a name kept in a constant and compared later (writers'
    MSGPACK_TARGETS = ("flax", "flax_nnx", "flax_nnx_opt") was one) is caught too. Docstrings
    and messages say a framework's title, never its --framework value as a literal string."""
    found = []
    for path in sorted(PACKAGE.glob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in FRAMEWORKS:
                if (path.name, lines[node.lineno - 1].strip()) not in NAMED:
                    found.append(f"lstmcalc/{path.name}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    assert not found, "a convention's name written outside frameworks/ (ask the registry):\n" + "\n".join(found)
    for (name, text), why in NAMED.items():
        assert why and text in (PACKAGE / name).read_text(encoding="utf-8"), f"{name}: {text!r} is gone"


def test_the_files_convert_writes_come_from_the_conventions():
    from lstmcalc import frameworks
    from lstmcalc.writers import model_target, msgpack_targets

    assert msgpack_targets() == ("flax", "flax_nnx", "flax_nnx_opt")
    assert model_target() == "onnx"
    assert all(".npz" in frameworks.get(n).WRITES for n in frameworks.FRAMEWORKS)
