"""PyTorch cells (torch.nn.LSTMCell, GRUCell, RNNCell) against torch itself: names, shapes
and counts; a sequence stepped as a user loops the cell (float64, 1e-12); conversions both
ways loaded with load_state_dict(strict=True); files in every format read as PyTorch cells,
never as Equinox (issue 22: a .safetensors LSTMCell was read as "Equinox LSTM, no bias,
131,072" with exit 0). Random weights and biases, different per gate. Skips without torch."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import lstmcalc  # noqa: E402
from lstmcalc.cli import app  # noqa: E402
from lstmcalc.readers import read_layer, read_layers  # noqa: E402
from lstmcalc.spec import SpecError  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

CLASSES = {"lstm": torch.nn.LSTMCell, "gru": torch.nn.GRUCell, "rnn": torch.nn.RNNCell}
MODULES = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}
runner = CliRunner()


def build(cell, x, h, bias=True, seed=0, nonlinearity="tanh", dtype=torch.float64):
    """A real cell with every parameter redrawn N(0, 0.5), so each gate's block differs."""
    torch.manual_seed(seed)
    kwargs = {"nonlinearity": nonlinearity} if cell == "rnn" else {}
    module = CLASSES[cell](x, h, bias=bias, **kwargs).to(dtype)
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0.0, 0.5)
    return module


def state_dict(module) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}


def loop(module, cell, xs, state=None):
    """``for t in range(T): state = cell(x[:, t], state)``: every step's h and the last state."""
    outs = []
    for t in range(xs.shape[1]):
        state = module(torch.from_numpy(xs[:, t]), state)
        outs.append(state[0] if cell == "lstm" else state)
    return torch.stack(outs, 1).detach().numpy(), state


def run_cli(args):
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    return r


# --- the silently wrong answer of issue 22 ------------------------------------------------------


def test_lstmcell_safetensors_is_a_pytorch_cell_not_equinox(tmp_path):
    st = pytest.importorskip("safetensors.torch")
    module = build("lstm", 128, 128, dtype=torch.float32)
    path = tmp_path / "cell.safetensors"
    st.save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(path))
    r = run_cli(["inspect", str(path), "--json"])
    (layer,) = json.loads(r.stdout)["layers"]
    assert (layer["framework"], layer["cell"], layer["bias"]) == ("torch_cell", "lstm", True)
    assert layer["total"] == sum(p.numel() for p in module.parameters()) == 132_096


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("fmt", ["pt", "safetensors", "npz"])
def test_every_format_reads_a_cell(tmp_path, cell, fmt):
    module = build(cell, 5, 3, dtype=torch.float32, seed=4)
    sd = {k: v.contiguous() for k, v in module.state_dict().items()}
    path = tmp_path / f"cell.{fmt}"
    if fmt == "pt":
        torch.save(sd, path)
    elif fmt == "safetensors":
        pytest.importorskip("safetensors.torch").save_file(sd, str(path))
    else:
        np.savez(path, **{k: v.numpy() for k, v in sd.items()})
    found = read_layer(path)
    assert (found.spec.framework, found.spec.cell, found.spec.units, found.spec.input_size) == ("torch_cell", cell, 3, 5)
    assert found.total == sum(p.numel() for p in module.parameters())


def test_cell_beside_a_module_under_prefixes(tmp_path):
    """A model with an nn.LSTM and an nn.LSTMCell: both found, each under its prefix."""
    lstm = torch.nn.LSTM(4, 3)
    cell = build("lstm", 3, 2, dtype=torch.float32)
    sd = {**{f"encoder.{k}": v for k, v in lstm.state_dict().items()},
          **{f"decoder.cell.{k}": v for k, v in cell.state_dict().items()}}
    torch.save(sd, tmp_path / "model.pt")
    found = {f.name: f.spec for f in read_layers(tmp_path / "model.pt")}
    assert set(found) == {"encoder", "decoder.cell"}
    assert (found["encoder"].framework, found["decoder.cell"].framework) == ("torch", "torch_cell")
    assert (found["decoder.cell"].units, found["decoder.cell"].input_size) == (2, 3)


# --- names two conventions share, and --from ---------------------------------------------------


def test_bias_free_names_are_asked_about(tmp_path):
    """weight_ih, weight_hh alone are a bias-free LSTMCell in PyTorch and in Equinox alike."""
    module = build("lstm", 4, 3, bias=False, dtype=torch.float32)
    path = tmp_path / "nobias.npz"
    np.savez(path, **state_dict(module))
    with pytest.raises(SpecError, match="PyTorch cell's and Equinox's alike; say which: one of torch_cell, equinox"):
        read_layer(path)
    r = runner.invoke(app, ["inspect", str(path)])
    assert r.exit_code == 2 and "--framework" in r.stderr and r.stdout == ""
    for fw in ("torch_cell", "equinox"):
        found = read_layer(path, framework=fw)
        assert (found.spec.framework, found.spec.bias, found.total) == (fw, False, 4 * (4 * 3 + 3 * 3))
    # and the forward pass of both readings is the cell's (no bias to place differently)
    xs = np.random.default_rng(1).normal(size=(2, 3, 4))
    want, (h, c) = loop(module.double(), "lstm", xs)
    for fw in ("torch_cell", "equinox"):
        got = lstmcalc.forward(xs, read_layer(path, framework=fw).weights, framework=fw, bias=False)
        np.testing.assert_allclose(got.h, h.detach().numpy(), rtol=1e-12, atol=1e-12)


def test_from_is_never_overruled(tmp_path):
    module = build("gru", 4, 3, dtype=torch.float32)
    path = tmp_path / "gru_cell.pt"
    torch.save(module.state_dict(), path)
    r = runner.invoke(app, ["convert", str(path), "--from", "torch", "--to", "keras", "-o", str(tmp_path / "k.npz")])
    assert r.exit_code == 2 and r.stdout == ""
    assert "--from: is torch, but the tensor names" in r.stderr and "PyTorch cell's (torch_cell" in r.stderr
    assert not (tmp_path / "k.npz").exists()
    r = runner.invoke(app, ["convert", str(path), "--from", "equinox", "--to", "keras", "-o", str(tmp_path / "k.npz")])
    assert r.exit_code == 2 and "not Equinox's" in r.stderr


# --- counts and names against the real cells ---------------------------------------------------


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("h, x", [(1, 1), (1, 2), (2, 1), (2, 2), (7, 3)])
@pytest.mark.parametrize("bias", [True, False])
def test_count_and_tensors_equal_the_cell(cell, h, x, bias):
    module = CLASSES[cell](x, h, bias=bias)
    b = lstmcalc.breakdown(h, x, cell=cell, framework="torch_cell", bias=bias)
    assert [(t.name, t.shape) for t in b.tensors] == [(n, tuple(p.shape)) for n, p in module.named_parameters()]
    assert lstmcalc.count(h, x, cell=cell, framework="torch_cell", bias=bias) == sum(p.numel() for p in module.parameters())
    # the constructor line builds the same cell
    (line,) = b.code
    rebuilt = eval(line, {"torch": torch})  # noqa: S307 (our own text)
    assert [(n, tuple(p.shape)) for n, p in rebuilt.named_parameters()] == [(n, tuple(p.shape)) for n, p in module.named_parameters()]


def test_the_four_counts_of_the_question():
    assert [lstmcalc.count(h, x, framework="torch_cell") for h, x in ((1, 1), (1, 2), (2, 1), (2, 2))] == [16, 20, 40, 48]


# --- run: the user's loop ----------------------------------------------------------------------


@pytest.mark.parametrize("cell, nonlinearity", [("lstm", "tanh"), ("gru", "tanh"), ("rnn", "tanh"), ("rnn", "relu")])
@pytest.mark.parametrize("bias", [True, False])
def test_forward_equals_the_loop(cell, nonlinearity, bias):
    module = build(cell, 5, 4, bias=bias, nonlinearity=nonlinearity, seed=7)
    xs = np.random.default_rng(2).normal(size=(3, 6, 5))
    want, state = loop(module, cell, xs)
    got = lstmcalc.forward(xs, state_dict(module), cell=cell, framework="torch_cell", bias=bias, activation=nonlinearity)
    np.testing.assert_allclose(got.output, want, rtol=1e-12, atol=1e-12)
    h = state[0] if cell == "lstm" else state
    np.testing.assert_allclose(got.h, h.detach().numpy(), rtol=1e-12, atol=1e-12)
    if cell == "lstm":
        np.testing.assert_allclose(got.c, state[1].detach().numpy(), rtol=1e-12, atol=1e-12)
    assert [n for n, _ in got.returned] == [o.name for o in lstmcalc.breakdown(4, 5, cell=cell, framework="torch_cell",
                                                                                bias=bias, time=6, batch=3).outputs]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_run_cli_with_initial_state_saves_what_the_loop_returns(tmp_path, cell):
    module = build(cell, 3, 2, seed=11)
    sd = state_dict(module)
    torch.save({k: torch.from_numpy(v) for k, v in sd.items()}, tmp_path / "cell.pt")
    rng = np.random.default_rng(5)
    xs = rng.normal(size=(2, 4, 3))
    np.save(tmp_path / "x.npy", xs)
    h0, c0 = rng.normal(size=(2, 2)), rng.normal(size=(2, 2))
    states = {"h_0": h0, "c_0": c0} if cell == "lstm" else {"h_0": h0}
    np.savez(tmp_path / "s.npz", **states)
    start = (torch.from_numpy(h0), torch.from_numpy(c0)) if cell == "lstm" else torch.from_numpy(h0)
    want, state = loop(module, cell, xs, start)
    run_cli(["run", "--weights", str(tmp_path / "cell.pt"), "--inputs", str(tmp_path / "x.npy"), "--dtype", "float64",
             "--initial-state", str(tmp_path / "s.npz"), "--save", str(tmp_path / "out.npz")])
    out = np.load(tmp_path / "out.npz")
    assert sorted(out.files) == (["c", "h", "output"] if cell == "lstm" else ["h", "output"])
    np.testing.assert_allclose(out["output"], want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out["h"], (state[0] if cell == "lstm" else state).detach().numpy(), rtol=1e-12, atol=1e-12)


# --- convert both ways -------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_convert_cell_to_module_and_back(tmp_path, cell):
    module = build(cell, 4, 3, seed=3)
    xs = np.random.default_rng(9).normal(size=(2, 5, 4))
    want, state = loop(module, cell, xs)
    to_module = lstmcalc.convert(state_dict(module), cell=cell, source="torch_cell", target="torch")
    real = MODULES[cell](4, 3, batch_first=True).double()
    real.load_state_dict({k: torch.from_numpy(v) for k, v in to_module.items()}, strict=True)
    out, _ = real(torch.from_numpy(xs))
    np.testing.assert_allclose(out.detach().numpy(), want, rtol=1e-12, atol=1e-12)
    back = lstmcalc.convert(to_module, cell=cell, source="torch", target="torch_cell")
    fresh = CLASSES[cell](4, 3).double()
    fresh.load_state_dict({k: torch.from_numpy(v) for k, v in back.items()}, strict=True)
    again, _ = loop(fresh, cell, xs)
    np.testing.assert_allclose(again, want, rtol=1e-12, atol=1e-12)


def test_convert_cli_cell_to_keras_runs_in_keras(tmp_path):
    keras = pytest.importorskip("keras")
    module = build("lstm", 4, 3, seed=21, dtype=torch.float32)
    torch.save(module.state_dict(), tmp_path / "cell.pt")
    run_cli(["convert", str(tmp_path / "cell.pt"), "--to", "keras", "-o", str(tmp_path / "k.npz")])
    k = np.load(tmp_path / "k.npz")
    layer = keras.layers.LSTM(3, return_sequences=True)
    layer.build((None, None, 4))
    layer.set_weights([k["kernel"], k["recurrent_kernel"], k["bias"]])
    xs = np.random.default_rng(4).normal(size=(2, 5, 4)).astype(np.float32)
    want, _ = loop(module, "lstm", xs)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(xs)), want, rtol=1e-5, atol=1e-5)


def test_bidirectional_module_into_a_cell_is_refused():
    module = torch.nn.LSTM(3, 2, bidirectional=True)
    with pytest.raises(SpecError, match="one direction"):
        lstmcalc.convert(state_dict(module), cell="lstm", source="torch", target="torch_cell")
