"""The registry-driven CLI matrix: every command x every registered convention x each cell it
has x the configurations it has (plain, bidirectional, stacked, bias-free; refused with exit 2
and one stderr line where it has none), text and JSON, grids and --plot, asserting that the
commands agree with each other:

count = breakdown's total = cost's parameters = the sum of run's weight shapes;
breakdown's returned list = run's returned list = the arrays run --save writes (names, shapes,
order); every "N more/fewer parameters" sentence states the difference of two counts.
In-process (CliRunner), small sizes: the whole matrix runs in seconds.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from helpers import invoke
from lstmcalc import frameworks

SHAPES = {"plain": [], "bidirectional": ["--bidirectional"], "stacked": ["--layers", "2"], "no_bias": ["--no-bias"]}
NEEDS = {"bidirectional": "bidirectional", "stacked": "layers", "no_bias": "no_bias"}  # WHY_NOT key of each
CASES = [(fw, cell, shape) for fw in frameworks.names() for cell in frameworks.get(fw).CELLS for shape in SHAPES]
SENTENCE = re.compile(r"(\d[\d,]*) (more|fewer) parameters( per layer and direction)?")


def layer_args(fw, cell, shape):
    return ["-u", "3", "-x", "2", "-f", fw, "--cell", cell, "-b", "2", "-t", "3", *SHAPES[shape]]


def counts_of_twins(cell, shape) -> set[int]:
    """The count of this layer's twin in every convention that has it."""
    out = set()
    for name in frameworks.names():
        extra = dict(bidirectional=shape == "bidirectional", layers=2 if shape == "stacked" else 1, bias=shape != "no_bias")
        try:
            spec = frameworks.make_spec(3, 2, cell=cell, framework=name, **extra)
        except Exception:
            continue
        out.add(sum(math.prod(t.shape) for t in frameworks.all_tensors(spec)))
    return out


@pytest.mark.parametrize("fw,cell,shape", CASES, ids=[f"{f}-{c}-{s}" for f, c, s in CASES])
def test_commands_agree(fw, cell, shape, tmp_path):
    args = layer_args(fw, cell, shape)
    conv = frameworks.get(fw)
    if shape != "plain" and NEEDS[shape] in conv.WHY_NOT:
        for command in ("count", "breakdown", "cost", "explain", "run"):
            r = invoke(command, *args)
            assert r.exit_code == 2 and r.stdout == "", (command, r.stdout)
            assert r.stderr.count("\n") == 1 and r.stderr.startswith("lstmcalc: error: "), r.stderr
        return
    count = int(invoke("count", *args).stdout)
    b = json.loads(invoke("breakdown", *args, "--json").stdout)
    cost = json.loads(invoke("cost", *args, "--json").stdout)
    saved = tmp_path / "out.npz"
    r = invoke("run", *args, "--json", "--backend", "numpy", "--save", saved)
    assert r.exit_code == 0, r.stderr
    run = json.loads(r.stdout)
    weights = [t for t in run["tensors"] if t["role"] == "weight"]
    assert count == b["total"] == cost["memory_bytes"]["parameters"] // cost["itemsize"] \
        == sum(math.prod(t["shape"]) for t in weights) == sum(math.prod(t["shape"]) for t in b["tensors"])
    listed = [(o["name"], o["shape"]) for o in b["outputs"]]
    returned = [(o["name"], o["shape"]) for o in run["returned"]]
    with np.load(saved) as z:
        written = [(k, list(z[k].shape)) for k in z.files]
    assert listed == returned == written  # names, shapes and order: breakdown = run = run --save
    text = invoke("run", *args, "--backend", "numpy", env={"COLUMNS": "200"}).stdout
    rows = [line.split() for line in text.splitlines() if line.split()[:1] in (["output"], ["state"])]
    assert [(r[1], [int(n) for n in re.findall(r"\d+", " ".join(r[2:]))]) for r in rows] == listed  # the text table
    twins = counts_of_twins(cell, shape)
    for command in ("breakdown", "explain", "cost"):
        r = invoke(command, *args, env={"COLUMNS": "200"})
        assert r.exit_code == 0 and r.stderr == "", (command, r.stderr)
        units = (2 if shape == "bidirectional" else 1) * (2 if shape == "stacked" else 1)  # layers x directions
        for n, _, scoped in SENTENCE.findall(" ".join(r.stdout.split())):
            n = int(n.replace(",", "")) * (units if scoped else 1)
            assert n in {abs(count - t) for t in twins} - {0}, (command, n, count, twins)


STATEFUL = [(fw, extra) for fw in frameworks.names() if "return_state" in frameworks.get(fw).OPTIONS
            for extra in ([], ["--bidirectional"], ["--return-sequences"], ["--bidirectional", "--merge-mode", "sum"])]


@pytest.mark.parametrize("fw,extra", STATEFUL, ids=[f"{f}-{'-'.join(e) or 'plain'}" for f, e in STATEFUL])
def test_return_state_names_agree(fw, extra, tmp_path):
    """With --return-state (Keras: a Bidirectional layer returns output, h_fw, c_fw, h_bw, c_bw):
    breakdown's list = run --json's = the arrays run --save writes."""
    args = ["-u", "3", "-x", "2", "-f", fw, "-b", "2", "-t", "3", "--return-state", *extra]
    listed = [(o["name"], o["shape"]) for o in json.loads(invoke("breakdown", *args, "--json").stdout)["outputs"]]
    r = invoke("run", *args, "--json", "--backend", "numpy", "--save", tmp_path / "o.npz")
    assert r.exit_code == 0, r.stderr
    returned = [(o["name"], o["shape"]) for o in json.loads(r.stdout)["returned"]]
    with np.load(tmp_path / "o.npz") as z:
        written = [(k, list(z[k].shape)) for k in z.files]
    assert listed == returned == written
    assert len(listed) == (5 if "--bidirectional" in extra else 3)  # output and LSTM (h, c) per direction


@pytest.mark.parametrize("fw", frameworks.names())
def test_grids_text_json_and_plot(fw, tmp_path):
    cell = frameworks.get(fw).CELLS[0]
    grid = ["-u", "1,2", "-x", "1,2", "-f", fw, "--cell", cell]
    rows = json.loads(invoke("count", *grid, "--json").stdout)
    assert [(r["units"], r["input_size"]) for r in rows] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    for r in rows:
        assert r["parameters"] == int(invoke("count", "-u", r["units"], "-x", r["input_size"], "-f", fw, "--cell", cell).stdout)
    text = invoke("count", *grid)
    assert text.exit_code == 0 and all(f"{r['parameters']:,}" in text.stdout for r in rows)


@pytest.mark.parametrize("fw", frameworks.names())
def test_plot_for_every_convention(fw, tmp_path):
    """--plot draws every convention's grid (issue 21: a KeyError for 7 of 9 conventions)."""
    pytest.importorskip("matplotlib", reason="--plot needs matplotlib: pip install '.[plot]'")
    grid = ["-u", "1,2", "-x", "1,2", "-f", fw, "--cell", frameworks.get(fw).CELLS[0]]
    plot = tmp_path / "p.png"
    r = invoke("count", *grid, "--plot", plot)
    assert r.exit_code == 0, r.stderr
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


CONVERTS = [(a, b) for a in ("keras", "torch") for b in frameworks.names() if b != a]


@pytest.mark.parametrize("src,dst", CONVERTS, ids=[f"{a}-{b}" for a, b in CONVERTS])
def test_convert_then_run(src, dst, tmp_path):
    """convert where the pair converts (else exit 1 or 2, one line), then run the file: the same output."""
    from helpers import random_weights

    cell = "lstm"
    if cell not in frameworks.get(dst).CELLS:
        return
    spec = frameworks.make_spec(3, 2, cell=cell, framework=src)
    w = random_weights(spec, 3, dtype=np.float32)
    np.savez(tmp_path / "in.npz", **w)
    r = invoke("convert", tmp_path / "in.npz", "--to", dst, "-o", tmp_path / "out.npz")
    if r.exit_code != 0:
        assert r.exit_code in (1, 2) and r.stdout == "" and r.stderr.count("\n") == 1, r.stderr
        return
    common = ["-b", "2", "-t", "3", "--backend", "numpy", "--json"]
    a = json.loads(invoke("run", "-f", src, "--weights", tmp_path / "in.npz", *common).stdout)
    r = invoke("run", "-f", dst, "--weights", tmp_path / "out.npz", *common)
    assert r.exit_code == 0, r.stderr
    b = json.loads(r.stdout)
    np.testing.assert_allclose(b["h_sample"], a["h_sample"], rtol=1e-5, atol=1e-6)
