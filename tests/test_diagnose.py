"""lstmcalc.diagnose and the why/diff views without the frameworks: the weight_hh rule, and
the views rendered to exact text (Console(width=100), as Rich's own tests do)."""

import io
from pathlib import Path

import pytest
from rich.console import Console

from lstmcalc.comparing import diff_files
from lstmcalc.diagnose import diagnose

# What torch 2.13 raised for GRU(10, 8, num_layers=2).load_state_dict(GRU(10, 16).state_dict());
# tests/crosscheck/test_why.py reads live messages like it from torch itself.
GRU_TEXT = (
    'Error(s) in loading state_dict for GRU:\n\tMissing key(s) in state_dict: "weight_ih_l1", "weight_hh_l1", '
    '"bias_ih_l1", "bias_hh_l1". \n\tsize mismatch for weight_ih_l0: copying a param with shape '
    "torch.Size([48, 10]) from checkpoint, the shape in current model is torch.Size([24, 10]).\n\tsize mismatch "
    "for weight_hh_l0: copying a param with shape torch.Size([48, 16]) from checkpoint, the shape in current model "
    "is torch.Size([24, 8]).\n\tsize mismatch for bias_ih_l0: copying a param with shape torch.Size([48]) from "
    "checkpoint, the shape in current model is torch.Size([24]).\n\tsize mismatch for bias_hh_l0: copying a param "
    "with shape torch.Size([48]) from checkpoint, the shape in current model is torch.Size([24])."
)


def render(obj, width=100, **kw) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(obj, **kw)
    return "".join(line.rstrip() + "\n" for line in console.file.getvalue().splitlines())


def fragment(ckpt, model, key="weight_hh_l0"):
    return (f"size mismatch for {key}: copying a param with shape torch.Size([{ckpt}]) from checkpoint, "
            f"the shape in current model is torch.Size([{model}]).")


@pytest.mark.parametrize("ckpt,cell,units,proj", [
    ("48, 16", "gru", 16, 0),  # 3H x H
    ("64, 16", "lstm", 16, 0),  # 4H x H
    ("16, 16", "rnn", 16, 0),  # H x H
    ("64, 4", "lstm", 16, 4),  # 4H x P, P < H: a projection
])
def test_weight_hh_shape_proves_cell_units_and_projection(ckpt, cell, units, proj):
    (ck,) = diagnose(fragment(ckpt, "8, 8")).checkpoint
    assert (ck.cell, ck.units, ck.proj_size) == (cell, units, proj)


def test_a_shape_no_cell_has_is_not_read():
    (ck,) = diagnose(fragment("10, 4", "8, 8")).checkpoint  # 10 = 2.5 x 4: no cell's
    assert (ck.cell, ck.units, ck.proj_size) == (None, None, None)


def test_why_view_exact():
    """At 80 columns: every difference and unknown labelled with its layer, long lines wrapped
    under their bullet, the breakdown command split with shell continuations, and the
    constructor without batch_first (the message does not show it)."""
    out = render(diagnose(GRU_TEXT), width=80)
    assert out == """\
Read: PyTorch load_state_dict for GRU

layer (top level)

                 checkpoint   your model
 ───────────────────────────────────────
 cell            GRU          GRU
 units H         16           8
 input X         10           10
 layers          1            2
 bidirectional   no           no
 proj_size P     0            0
 bias            yes          yes

What differs:
  • (top level): the checkpoint has hidden_size 16, your model 8
  • (top level): the checkpoint has num_layers 1, your model 2: weight_ih_l1,
    weight_hh_l1, bias_ih_l1, … missing
checkpoint, layer (top level):
  lstmcalc breakdown --units 16 --input 10 --framework torch --cell gru
  torch.nn.GRU(input_size=10, hidden_size=16)
your model, layer (top level):
  lstmcalc breakdown --units 8 --input 10 --framework torch --cell gru \\
      --layers 2
  torch.nn.GRU(input_size=10, hidden_size=8, num_layers=2)
"""
    assert max(map(len, out.splitlines())) <= 80


def test_shell_lines_paste_as_one_command():
    from lstmcalc.render import _shell_lines

    cmd = "lstmcalc breakdown --units 128 --input 100 --framework torch --layers 2 --bidirectional --proj-size 64"
    lines = _shell_lines(cmd)
    assert lines == ["lstmcalc breakdown --units 128 --input 100 --framework torch --layers 2 \\",
                     "    --bidirectional --proj-size 64"]
    assert " ".join(x.rstrip(" \\").strip() for x in lines) == cmd
    assert _shell_lines("lstmcalc breakdown --units 8 --input 3") == ["lstmcalc breakdown --units 8 --input 3"]


def test_why_json_fields():
    d = diagnose(GRU_TEXT).to_dict()
    assert [(x["field"], x["checkpoint"], x["model"]) for x in d["differences"]] == [("units", 16, 8), ("layers", 1, 2)]
    ck = d["checkpoint"][0]
    assert (ck["cell"], ck["units"], ck["input"], ck["layers"], ck["unknown"]) == ("gru", 16, 10, 1, [])


def test_diff_view_exact(monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parents[1])  # the paths as the README shows them
    c = diff_files("examples/lstm_keras.npz", "examples/lstm_torch_icfo.npz")
    assert render(c) == """\
A  examples/lstm_keras.npz [lstm_keras]: Keras 3 LSTM, H 4, X 3
B  examples/lstm_torch_icfo.npz [lstm]: PyTorch LSTM, H 4, X 3

not equivalent
  (equivalent means every weight and bias within 4 ulps of float32; the largest difference is
  2.69e+07 ulps)
  explained by: gate blocks in the wrong order: B's i, f, g, o blocks hold A's i, g, f, o (f←g, g←f)
                (undoing it: max output difference 0)
max |output A − output B| on one random float64 input (2×5×3, seed 0): 0.88
"""
    assert [m.kind for m in c.explained_by] == ["gate_permutation"]
    assert (c.ulps, c.dtype) == (4, "float32")
    import numpy as np

    a, b = np.load("examples/lstm_keras.npz"), np.load("examples/lstm_torch_icfo.npz")
    k = a["kernel"].T.astype(np.float64)  # (4H, X), Keras i, f, c, o; B holds i, c, f, o
    wih = b["weight_ih_l0"].astype(np.float64)
    ulps = np.abs(k - wih) / np.spacing(np.maximum(np.abs(k), np.abs(wih)).astype(np.float32))
    worst = max(t.max_ulps for t in c.tensors if t.part == "input weights")
    assert worst == pytest.approx(ulps.max(), rel=1e-12)
