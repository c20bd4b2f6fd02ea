"""Regression tests for the defects issue 21 lists ("Defects this structure let through"),
each with the number written out by hand or taken from the real framework.
(--plot for every convention: tests/test_matrix.py::test_grids_text_json_and_plot.)"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import lstmcalc
from helpers import invoke, random_weights
from lstmcalc import frameworks

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def flat(text: str) -> str:
    return " ".join(text.split())


def test_keras2_bidirectional_sum_says_sum_not_concatenated():
    r = invoke("breakdown", "-u", "4", "-x", "3", "-f", "keras2", "--bidirectional", "--merge-mode", "sum",
               env={"COLUMNS": "200"})
    assert r.exit_code == 0
    text = flat(r.stdout)
    assert "concatenated" not in text
    assert "The output has 4 features per step (the sum of both" in text  # H = 4, not D·H = 8


def test_keras2_merge_flops_are_keras3s():
    # element-wise FLOPs, B = 32, T = 1, H = 4, D = 2: the two directions' cell updates 2,048 (what
    # keras2 said before the fix), plus the sum merge's B·H = 32·4 = 128: 2,176, Keras 3's figure.
    got = {fw: json.loads(invoke("cost", "-u", "4", "-x", "3", "-f", fw, "--bidirectional", "--merge-mode", "sum",
                                 "--json").stdout)["flops"]["elementwise"] for fw in ("keras", "keras2")}
    assert got == {"keras": 2176, "keras2": 2176}


def test_keras2_stacked_bidirectional_rows_have_layer_and_direction():
    b = json.loads(invoke("breakdown", "-u", "2", "-x", "1", "-f", "keras2", "--bidirectional", "--layers", "2",
                          "--json").stdout)
    rows = [(t["layer"], t["direction"], t["name"]) for t in b["tensors"]]
    assert len(rows) == 12 and len(set(rows)) == 12  # 2 layers x 2 directions x 3 tensors, each distinct
    text = invoke("breakdown", "-u", "2", "-x", "1", "-f", "keras2", "--bidirectional", "--layers", "2",
                  env={"COLUMNS": "200"}).stdout
    rows = [line.split()[:3] for line in text.splitlines() if line.split()[2:3] in (["kernel"], ["recurrent_kernel"], ["bias"])]
    assert rows == [[str(k), d, n] for k in "01" for d in ("fw", "bw") for n in ("kernel", "recurrent_kernel", "bias")]


@pytest.mark.parametrize("fw", ["mlx", "equinox", "flax"])
def test_gru_torch_twin_sentence_is_the_count_difference(fw):
    # GRU H = 3, X = 2: torch 3·(3·2 + 3·3 + 2·3) = 63; MLX/Equinox 3·(6 + 9 + 3) + 3 = 57 (b 3H, b_hn H);
    # linen 3·(6 + 9 + 3) + 3 = 57 (input-side biases and the candidate's recurrent one)
    assert int(invoke("count", "-u", "3", "-x", "2", "--cell", "gru", "-f", "torch").stdout) == 63
    assert int(invoke("count", "-u", "3", "-x", "2", "--cell", "gru", "-f", fw).stdout) == 57
    text = flat(invoke("cost", "-u", "3", "-x", "2", "--cell", "gru", "-f", fw, env={"COLUMNS": "200"}).stdout)
    assert "6 more parameters" in text and "9 more" not in text
    assert "where Keras keeps one" not in text


def test_flax_nnx_gru_bias_sentence_and_candidate():
    # H = 2, X = 1: nnx 3·(1·2 + 2·2) + 3·2 = 24; Keras reset-after 3·(2 + 4) + 6·2 = 30: 6 = 3H fewer
    assert int(invoke("count", "-u", "2", "-x", "1", "--cell", "gru", "-f", "flax_nnx").stdout) == 24
    assert int(invoke("count", "-u", "2", "-x", "1", "--cell", "gru", "-f", "keras").stdout) == 30
    text = flat(invoke("breakdown", "-u", "2", "-x", "1", "-f", "flax_nnx", "--cell", "gru",
                       env={"COLUMNS": "200"}).stdout)
    assert "3H = 6 fewer than Keras' reset-after GRU (6H = 12)" in text
    assert "H fewer than Keras" not in text
    assert "without the recurrent candidate bias b_hn" in text


def test_convert_keras_npz_to_onnx_then_run(tmp_path):
    out = tmp_path / "k.npz"
    r = invoke("convert", EXAMPLES / "lstm_keras.npz", "--to", "onnx", "-o", out)
    assert r.exit_code == 0, r.stderr
    r = invoke("run", "-f", "onnx", "--weights", out, "--backend", "numpy", "--json")
    assert r.exit_code == 0, r.stderr
    a = json.loads(invoke("run", "-f", "keras", "--weights", EXAMPLES / "lstm_keras.npz", "--backend", "numpy",
                          "--json").stdout)
    np.testing.assert_allclose(json.loads(r.stdout)["h_sample"], a["h_sample"], rtol=1e-5, atol=1e-6)


def test_run_weights_from_a_torch_state_dict(tmp_path):
    torch = pytest.importorskip("torch")
    spec = frameworks.make_spec(3, 2, framework="torch")
    w = random_weights(spec, 5, dtype=np.float32)
    torch.save({k: torch.from_numpy(v) for k, v in w.items()}, tmp_path / "model.pt")
    x = np.random.default_rng(0).uniform(-1, 1, (2, 4, 2)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    module = torch.nn.LSTM(2, 3, batch_first=True)
    module.load_state_dict({k: torch.from_numpy(v) for k, v in w.items()})
    with torch.no_grad():
        want = module(torch.from_numpy(x))[0].numpy()
    r = invoke("run", "--weights", tmp_path / "model.pt", "--backend", "numpy", "--save", tmp_path / "o.npz")
    assert r.exit_code == 0, r.stderr
    ours = lstmcalc.forward(want[:, :, :2] * 0 + x, w, framework="torch").output  # same weights, same x
    np.testing.assert_allclose(ours, want, rtol=1e-5, atol=1e-6)


def test_help_words_follow_the_registry():
    app_help = flat(invoke("--help", env={"COLUMNS": "200"}).stdout)
    assert "in the Keras and the PyTorch conventions" not in app_help
    convert_help = flat(invoke("convert", "--help", env={"COLUMNS": "200"}).stdout)
    assert "between Keras and PyTorch" not in convert_help
    assert not list(Path(__file__).resolve().parents[1].glob("*.whl"))


@pytest.mark.parametrize("fw", ["mlx", "flax", "flax_nnx", "equinox"])
def test_run_returns_and_saves_what_breakdown_lists(fw, tmp_path):
    cell = "lstm"
    b = json.loads(invoke("breakdown", "-u", "3", "-x", "2", "-f", fw, "-b", "2", "-t", "5", "--json").stdout)
    r = invoke("run", "-u", "3", "-x", "2", "-f", fw, "-b", "2", "-t", "5", "--backend", "numpy", "--json",
               "--save", tmp_path / "o.npz")
    run = json.loads(r.stdout)
    listed = [(o["name"], o["shape"]) for o in b["outputs"]]
    assert listed == [(o["name"], o["shape"]) for o in run["returned"]]
    with np.load(tmp_path / "o.npz") as z:
        assert [(k, list(z[k].shape)) for k in z.files] == listed
    want = {"mlx": [("hidden", [2, 5, 3]), ("cell", [2, 5, 3])],           # mlx.nn.LSTM: (hidden, cell)
            "flax": [("c", [2, 3]), ("h", [2, 3]), ("outputs", [2, 5, 3])],  # RNN(return_carry): ((c, h), outputs)
            "flax_nnx": [("c", [2, 3]), ("h", [2, 3]), ("outputs", [2, 5, 3])],
            "equinox": [("h", [2, 3]), ("c", [2, 3])]}[fw]                  # the scanned cell's final (h, c)
    assert listed == want, cell


def test_mlx_numba_refused_for_the_lstm_cell_sequence():
    pytest.importorskip("numba")
    r = invoke("run", "-u", "3", "-x", "2", "-f", "mlx", "--backend", "numba")
    assert r.exit_code == 2 and r.stdout == "" and "every step's" in r.stderr and r.stderr.count("\n") == 1
