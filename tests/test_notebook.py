"""A real notebook on a real kernel: `!lstmcalc count` prints 32, breakdown displays as HTML."""

import os
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "explain.ipynb"


def test_shipped_notebook_has_no_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_notebook_runs(tmp_path, monkeypatch):
    bindir = Path(sys.executable).parent
    if not (bindir / "lstmcalc").exists():
        pytest.skip("the lstmcalc console script is not installed next to this Python")
    # the kernel and its `!` shell find this environment's python and lstmcalc first
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    code = [c for c in nb.cells if c.cell_type == "code"]

    shell_out = "".join(o.get("text", "") for o in code[0].outputs if o.output_type == "stream")
    assert shell_out.replace("\r\n", "\n") == "32\n"  # exactly the number, nothing else

    html = [o["data"]["text/html"] for o in code[1].outputs if "text/html" in o.get("data", {})]
    assert len(html) == 1
    assert "<table>" in html[0] and "<td>32</td>" in html[0]

    result = [o["data"]["text/plain"] for o in code[2].outputs if o.output_type == "execute_result"]
    assert result == ["40"]
