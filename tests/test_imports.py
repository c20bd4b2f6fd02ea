"""count and breakdown stay light: a fresh interpreter shows what each one imports."""

import json
import subprocess
import sys

PROBE = """
import json, sys
from lstmcalc.cli import main
try:
    main({argv!r})
except SystemExit:
    pass
heavy = sorted({{m.split('.')[0] for m in sys.modules}} & {{'numpy', 'numba', 'rich', 'torch', 'keras', 'onnx'}})
sys.stderr.write(json.dumps(heavy))
"""


def _heavy_modules(argv):
    out = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv)], capture_output=True, text=True, check=True)
    return json.loads(out.stderr.strip().splitlines()[-1])


def test_count_imports_neither_numpy_numba_nor_rich():
    assert _heavy_modules(["count", "--units", "2", "--input", "1"]) == []
    assert _heavy_modules(["count", "--units", "2", "--input", "1", "--json"]) == []


def test_onnx_count_imports_neither_numpy_nor_onnx():
    assert _heavy_modules(["count", "--units", "2", "--input", "1", "--framework", "onnx", "--peepholes"]) == []
    assert _heavy_modules(["breakdown", "--units", "2", "--input", "1", "--framework", "onnx", "--json"]) == []


def test_count_errors_import_nothing_heavy():
    assert _heavy_modules(["count", "--units", "0", "--input", "1"]) == []


def test_breakdown_imports_rich_but_not_numpy():
    assert _heavy_modules(["breakdown", "--units", "2", "--input", "1"]) == ["rich"]
    assert _heavy_modules(["breakdown", "--units", "2", "--input", "1", "--json"]) == []


def test_library_import_is_stdlib_only():
    probe = "import sys, lstmcalc; lstmcalc.breakdown(units=2, input_size=1).to_dict(); " \
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'numba', 'rich', 'typer'}))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_no_submodule_shadows_a_public_name():
    """`import lstmcalc.cost` would resolve to the function if a module had that name."""
    import importlib.util

    import lstmcalc

    for name in lstmcalc.__all__:
        assert importlib.util.find_spec(f"lstmcalc.{name}") is None, name
