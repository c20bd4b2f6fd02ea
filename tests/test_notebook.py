"""A real notebook on a real kernel: examples/explain.ipynb is stored with its outputs (a
reader on GitHub sees them), and they are what a fresh execution prints now.

``pytest tests/test_notebook.py --regen-golden`` executes it again and stores the outputs.
"""

import copy
import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "explain.ipynb"

# Wall-clock figures change from run to run; everything else must match to the character.
VOLATILE = [(re.compile(r"[0-9][0-9,.]* ms\b"), "<ms>"), (re.compile(r"[0-9][0-9,.e+-]* GFLOP/s"), "<GFLOP/s>")]


def execute(nb, path: Path):
    """Run every cell of a copy of ``nb`` with its outputs cleared; return the executed copy."""
    fresh = copy.deepcopy(nb)
    for cell in fresh.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            cell.metadata.pop("execution", None)
    client = nbclient.NotebookClient(fresh, timeout=120, kernel_name="python3", record_timing=False,
                                     resources={"metadata": {"path": str(path)}})
    client.execute()
    return fresh


def outputs(nb) -> list:
    """Each code cell's outputs as (type, mime or stream name, text), volatile figures masked."""
    def mask(text: str) -> str:
        for pattern, token in VOLATILE:
            text = pattern.sub(token, text)
        return text.replace("\r\n", "\n")

    out = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        shown = []
        for o in cell.outputs:
            if o.output_type == "stream":
                if shown and shown[-1][:2] == ("stream", o.name):  # the kernel may flush one print in two chunks
                    shown[-1] = ("stream", o.name, shown[-1][2] + o.text.replace("\r\n", "\n"))
                else:
                    shown.append(("stream", o.name, o.text.replace("\r\n", "\n")))
            elif o.output_type in ("execute_result", "display_data"):
                shown += [(o.output_type, mime, mask(str(v))) for mime, v in sorted(o.data.items())]
            else:
                shown.append((o.output_type, o.get("ename", ""), mask(o.get("evalue", ""))))
        out.append([(kind, name, mask(text)) if kind == "stream" else (kind, name, text)
                    for kind, name, text in shown])
    return out


@pytest.fixture(scope="module")
def executed(tmp_path_factory, request):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    fresh = execute(nb, tmp_path_factory.mktemp("nb"))
    if request.config.getoption("--regen-golden"):
        nbformat.write(fresh, NOTEBOOK)
        nb = fresh
    return nb, fresh


def test_stored_outputs_are_those_of_a_fresh_execution(executed):
    stored, fresh = executed
    code = [c for c in stored.cells if c.cell_type == "code"]
    assert all(c.outputs for c in code), "run: pytest tests/test_notebook.py --regen-golden"
    assert outputs(stored) == outputs(fresh)


def test_notebook_answers(executed):
    _, fresh = executed
    code = [c for c in fresh.cells if c.cell_type == "code"]
    assert "{sys.executable} -m lstmcalc" in code[0].source  # works without the environment on PATH
    shell_out = "".join(o.get("text", "") for o in code[0].outputs if o.output_type == "stream")
    assert shell_out.replace("\r\n", "\n") == "32\n"  # exactly the number, nothing else
    assert not any(o.output_type == "error" for c in code for o in c.outputs)

    html = [o["data"]["text/html"] for o in code[1].outputs if "text/html" in o.get("data", {})]
    assert len(html) == 1
    assert "<table>" in html[0] and '<td style="text-align:right">32</td>' in html[0]
    assert "Why these numbers" in html[0]

    printed = "".join(o.get("text", "") for o in code[2].outputs if o.output_type == "stream").splitlines()
    assert printed[0] == "Keras 3 LSTM, units H = 2, input X = 1: 32 parameters"
    assert printed[-1] == "<Breakdown keras lstm, units 2, input 1: 32 parameters>"
    assert max(len(line) for line in printed) <= 80

    result = [o["data"]["text/plain"] for o in code[3].outputs if o.output_type == "execute_result"]
    assert result == ["40"]
    cost_html = [o["data"]["text/html"] for o in code[4].outputs if "text/html" in o.get("data", {})]
    # LSTM H = 2, X = 1: 4 × (1·2 + 2·2) = 24 MACs per step and sample; × B·T = 32 · 10
    assert len(cost_html) == 1 and "7,680 MACs" in cost_html[0]


def test_readme_and_notebook_say_python_dash_m():
    readme = (NOTEBOOK.parent.parent / "README.md").read_text(encoding="utf-8")
    assert "!{sys.executable} -m lstmcalc" in readme and "python -m lstmcalc" in readme
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert any("python -m lstmcalc" in c.source for c in nb.cells if c.cell_type == "markdown")
