"""Names and headers before data (issue 23, item 6): every archive reader checks member
names, declared shapes and sizes against the layer before it inflates or reads any data.

The proof is not a timing: each file here has one member that declares 3 GiB of float32 but
whose compressed data is corrupt past the first MiB (hostile_files._deflated_corrupt), or
(safetensors) a 3 GiB sparse file read under ``ulimit -v`` 3 GiB. A reader that inflated
or read that member would fail with "invalid block type" (or run out of memory) instead of
naming the tensor that is missing, extra or inconsistent. Before this, `inspect` of such a
3 MB .npz inflated all 3 GiB (20+ CPU-seconds) before saying "weight_hh: missing". The
subprocess timeout of conftest.run_capped only guards against a hang.
"""

from __future__ import annotations

import os

import pytest

import hostile_files as hf
from conftest import assert_refused, run_capped

FILES = {
    "missing.npz": hf.npz_giant_missing,
    "inconsistent.npz": hf.npz_giant_inconsistent,
    "extra.npz": hf.npz_giant_extra,
    "beside.npz": hf.npz_giant_beside_torch_layer,
    "layer.npz": hf.npz_giant_layer,
    "missing.safetensors": hf.safetensors_sparse_giant,
}

SAVE = ["--save", "saved.npz", "--backend", "numpy"]
# argv, the words the one error line must hold (None: the command succeeds)
CASES = [
    (["inspect", "missing.npz"], "missing.npz: weight_hh: missing for layer 0"),
    (["convert", "missing.npz", "-o", "out.npz"], "missing.npz: weight_hh: missing for layer 0"),
    (["run", "--weights", "missing.npz", "-f", "torch", *SAVE], "missing.npz: weight_hh: missing for layer 0"),
    (["inspect", "inconsistent.npz"], "weight_hh_l0: shape (8, 100663296)"),
    (["convert", "inconsistent.npz", "-o", "out.npz"], "weight_hh_l0: shape (8, 100663296)"),
    (["run", "--weights", "inconsistent.npz", "-f", "torch", *SAVE], "weight_hh_l0: shape (8, 100663296)"),
    (["run", "--weights", "extra.npz", *SAVE], "extra.npz: no recurrent layer: no PyTorch RNN names"),
    (["inspect", "extra.npz"], "no recurrent layer: no PyTorch RNN names (weight_ih_l0, …) or Keras keys "
                               "(kernel, recurrent_kernel, …) among bias, embedding, kernel, recurrent_kernel"),
    (["inspect", "missing.safetensors"], "missing.safetensors: weight_hh: missing for layer 0"),
    (["convert", "missing.safetensors", "-o", "out.npz"], "missing.safetensors: weight_hh: missing for layer 0"),
    # a whole layer that claims 3 GiB: the memory guard refuses it by the declared size, unread
    (["inspect", "layer.npz"], "layer.npz: weight_ih_l0.npy needs 3,221,225,472 bytes (3.00 GiB)"),
    (["run", "--weights", "layer.npz", "-f", "torch", *SAVE], "layer.npz: weight_ih_l0.npy needs 3,221,225,472"),
    # a module that is no recurrent layer is never read: the LSTM beside it is
    (["inspect", "beside.npz", "--json"], None),
    (["convert", "beside.npz", "-o", "beside_keras.npz"], None),
]


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    folder = tmp_path_factory.mktemp("names_first")
    for name, build in FILES.items():
        build(folder / name)
    assert os.path.getsize(folder / "missing.npz") < 4 * 1024**2  # 3 GiB declared in a small archive
    results = run_capped([argv for argv, _ in CASES], cwd=folder)
    return folder, {tuple(r["argv"]): r for r in results}


@pytest.mark.parametrize("argv, needle", CASES, ids=[" ".join(argv[:2]) for argv, _ in CASES])
def test_refused_by_names_and_shapes_before_any_data(outcome, argv, needle):
    if any(arg.endswith(".safetensors") for arg in argv):  # without it the reader refuses, naming the extra
        pytest.importorskip("safetensors", reason="reading .safetensors needs safetensors: pip install '.[files]'")
    folder, by_argv = outcome
    result = by_argv[tuple(argv)]
    assert "invalid block type" not in result["stderr"], result["stderr"]  # the giant member was never inflated
    if needle is None:
        assert result["code"] == 0, result["stderr"][-3000:]
        return
    assert_refused(result, needle)
    assert not (folder / "saved.npz").exists() and not (folder / "out.npz").exists()


def test_the_layer_beside_the_giant_member_is_read(outcome):
    """inspect finds the LSTM under rnn. and convert writes its Keras twin: kernel =
    weight_ih_l0ᵀ, recurrent_kernel = weight_hh_l0ᵀ, bias = bias_ih + bias_hh (LSTM gate order
    i, f, g, o in both), from the arrays in the file (read here member by member)."""
    import json

    import numpy as np

    folder, by_argv = outcome
    found = json.loads(by_argv[("inspect", "beside.npz", "--json")]["stdout"])["layers"]
    assert [(f["name"], f["cell"], f["framework"], f["units"], f["input"]) for f in found] == \
        [("rnn", "lstm", "torch", hf.H, hf.X)]
    with np.load(folder / "beside.npz") as data:
        torch = {k: data["rnn." + k] for k in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")}
    with np.load(folder / "beside_keras.npz") as data:
        keras = {k: data[k] for k in data.files}
    assert sorted(keras) == ["bias", "kernel", "recurrent_kernel"]
    np.testing.assert_array_equal(keras["kernel"], torch["weight_ih_l0"].T)
    np.testing.assert_array_equal(keras["recurrent_kernel"], torch["weight_hh_l0"].T)
    np.testing.assert_allclose(keras["bias"], torch["bias_ih_l0"] + torch["bias_hh_l0"], rtol=0, atol=1e-7)
