"""convert and inspect from the command line: files in, files out, errors at the edge."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from lstmcalc import count
from lstmcalc.cli import app

runner = CliRunner()
rng = np.random.default_rng(7)


def keras_lstm_npz(path, units=3, inputs=2):
    arrays = {
        "kernel": rng.standard_normal((inputs, 4 * units)),
        "recurrent_kernel": rng.standard_normal((units, 4 * units)),
        "bias": rng.standard_normal(4 * units),
    }
    np.savez(path, **arrays)
    return arrays


def test_inspect_npz_json(tmp_path):
    path = tmp_path / "lstm.npz"
    arrays = keras_lstm_npz(path)
    result = runner.invoke(app, ["inspect", str(path), "--json"])
    assert result.exit_code == 0, result.stderr
    (layer,) = json.loads(result.stdout)["layers"]
    assert (layer["cell"], layer["framework"], layer["units"], layer["input"]) == ("lstm", "keras", 3, 2)
    assert layer["total"] == count(units=3, input_size=2) == sum(a.size for a in arrays.values())
    forget = next(g for g in layer["gates"] if g["gate"] == "f")
    block = arrays["kernel"][:, 3:6]  # Keras kernel columns [H:2H] are the forget gate
    assert forget["input_weights"]["mean"] == pytest.approx(block.mean(), rel=1e-12)
    assert forget["input_weights"]["max_abs"] == pytest.approx(np.abs(block).max(), rel=1e-12)


def test_inspect_table(tmp_path):
    path = tmp_path / "lstm.npz"
    keras_lstm_npz(path)
    result = runner.invoke(app, ["inspect", str(path)])
    assert result.exit_code == 0
    assert "Keras 3 LSTM, units H = 3, input X = 2" in result.stdout and "f forget" in result.stdout


def test_convert_round_trip(tmp_path):
    src, mid, back = tmp_path / "k.npz", tmp_path / "t.npz", tmp_path / "k2.npz"
    arrays = keras_lstm_npz(src)
    result = runner.invoke(app, ["convert", str(src), "--to", "torch", "-o", str(mid), "--json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert [t["name"] for t in data["tensors"]] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    torch_arrays = np.load(mid)
    np.testing.assert_array_equal(torch_arrays["weight_ih_l0"], arrays["kernel"].T)
    np.testing.assert_array_equal(torch_arrays["bias_hh_l0"], np.zeros(12))
    assert runner.invoke(app, ["convert", str(mid), "-o", str(back)]).exit_code == 0
    again = np.load(back)
    for name, a in arrays.items():
        np.testing.assert_array_equal(again[name], a)


def test_convert_gru_gate_order(tmp_path):
    h, x = 2, 3
    kernel = np.concatenate([np.full((x, h), v) for v in (1.0, 2.0, 3.0)], axis=1)  # Keras z, r, h blocks
    np.savez(tmp_path / "gru.npz", kernel=kernel, recurrent_kernel=rng.standard_normal((h, 3 * h)),
             bias=rng.standard_normal((2, 3 * h)))
    out = tmp_path / "t.npz"
    assert runner.invoke(app, ["convert", str(tmp_path / "gru.npz"), "-o", str(out)]).exit_code == 0
    w = np.load(out)["weight_ih_l0"]  # PyTorch rows r, z, n
    assert w[:h].tolist() == [[2.0] * x] * h and w[h:2 * h].tolist() == [[1.0] * x] * h
    assert w[2 * h:].tolist() == [[3.0] * x] * h


@pytest.mark.parametrize("args, code, needle", [
    (["inspect", "{d}/missing.pt"], 1, "missing.pt"),
    (["convert", "{d}/missing.npz", "-o", "{d}/out.npz"], 1, "missing.npz"),
    (["convert", "{d}/k.npz", "-o", "{d}/out.txt"], 2, "--output"),
    (["convert", "{d}/k.npz", "-o", "{d}/nofolder/out.npz"], 1, "--output"),
    (["convert", "{d}/k.npz", "--cell", "gru", "-o", "{d}/out.npz"], 2, "--cell"),
    (["convert", "{d}/k.npz", "--from", "torch", "-o", "{d}/out.npz"], 2, "--from"),
    (["convert", "{d}/k.npz", "--to", "keras", "-o", "{d}/out.npz"], 2, "--to"),
    (["convert", "{d}/gru_before.npz", "-o", "{d}/out.npz"], 1, "reset"),  # the file's content: exit 1 (issue 23)
    (["inspect", "{d}/garbage.npz"], 1, "garbage.npz"),
    (["inspect", "{d}/k.npz", "--layer", "nope"], 1, "nope"),
])
def test_file_errors_are_one_line_and_write_nothing(tmp_path, args, code, needle):
    keras_lstm_npz(tmp_path / "k.npz")
    np.savez(tmp_path / "gru_before.npz", kernel=np.ones((2, 6)), recurrent_kernel=np.ones((2, 6)), bias=np.ones(6))
    (tmp_path / "garbage.npz").write_bytes(b"this is not a zip file")
    before = set(tmp_path.iterdir())
    result = runner.invoke(app, [a.format(d=tmp_path) for a in args])
    assert result.exit_code == code, result.stderr
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and needle in result.stderr
    assert "Traceback" not in result.stderr
    assert set(tmp_path.iterdir()) == before  # no output, no temporary left behind
