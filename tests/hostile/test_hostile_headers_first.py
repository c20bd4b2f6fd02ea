"""Names and headers before data for .pt, .h5/.keras and .msgpack (issue 23, item 6; the
.npz and .safetensors cases are in test_hostile_names_first.py).

- ``.pt``: a torch.save zip whose one storage declares 3 GiB of float32 and is deflated and
  corrupt past its first MiB. lstmcalc reads the names, shapes and dtypes with
  ``map_location="meta"`` (data.pkl only), finds the layer from them, and only then maps
  the layer's storages; a reader that touched the giant storage would fail otherwise. Before,
  every storage's declared size was taken from the memory budget first, so all of these
  were refused as "needs 3.00 GiB" whatever their names said.
- ``.h5`` / ``.keras``: a gzip-chunked dataset that declares 3 GiB and was never written
  (reading it allocates 3 GiB). The layer is found from the datasets' shapes and dtypes;
  only its datasets are read.
- ``.msgpack``: not compressed, so what is read is bounded by the file's size, which is
  taken from the memory budget before a byte is read (a 3 GiB sparse file under the 3 GiB cap).

Every case runs in one subprocess under ``ulimit -v`` 3 GiB with a timeout that only guards
against a hang (conftest.run_capped); no timing is asserted.
"""

from __future__ import annotations

import pytest

import hostile_files as hf
from conftest import assert_refused, run_capped

FILES = {
    "missing.pt": hf.torch_giant_missing,
    "inconsistent.pt": hf.torch_giant_inconsistent,
    "extra.pt": hf.torch_giant_extra,
    "layer.pt": hf.torch_giant_layer,
    "deflated.pt": hf.torch_deflated,
    "inconsistent.weights.h5": hf.h5_giant_inconsistent,
    "units.keras": hf.keras_giant_units,
    "layer.weights.h5": hf.h5_giant_layer,
    "giant.msgpack": hf.msgpack_sparse_giant,
}

SAVE = ["--save", "saved.npz", "--backend", "numpy"]
CASES = [
    (["inspect", "missing.pt"], "missing.pt: weight_hh: missing for layer 0"),
    (["convert", "missing.pt", "-o", "out.npz"], "missing.pt: weight_hh: missing for layer 0"),
    (["run", "--weights", "missing.pt", "-f", "torch", *SAVE], "missing.pt: weight_hh: missing for layer 0"),
    (["inspect", "inconsistent.pt"], "weight_hh_l0: shape (8, 100663296)"),
    (["convert", "inconsistent.pt", "-o", "out.npz"], "weight_hh_l0: shape (8, 100663296)"),
    (["inspect", "extra.pt"], "no recurrent layer: no PyTorch RNN names (weight_ih_l0, …) or Keras keys "
                              "(kernel, recurrent_kernel, …) among bias, embedding, kernel, recurrent_kernel"),
    # a whole layer that claims 3 GiB: the memory guard refuses it by the declared size, unread
    (["inspect", "layer.pt"], "layer.pt: weight_ih_l0 needs 3,221,225,472 bytes (3.00 GiB)"),
    # storages are mapped where they lie: a deflated one is refused, naming it
    (["inspect", "deflated.pt"], "deflated.pt: archive/data/0: tensor data compressed in the zip"),
    (["inspect", "inconsistent.weights.h5"], "inconsistent.weights.h5: lstm: layers/lstm/cell/vars/2 (bias)"),
    (["convert", "inconsistent.weights.h5", "-o", "out.npz"], "layers/lstm/cell/vars/2 (bias)"),
    (["inspect", "units.keras"], "units.keras: lstm: config says units=4 but its recurrent_kernel has shape (2, 8)"),
    (["inspect", "layer.weights.h5"], "/layers/lstm/cell/vars/0 needs 3,221,225,472 bytes (3.00 GiB)"),
    (["inspect", "giant.msgpack"], "giant.msgpack: its msgpack tree (the file's bytes and the arrays restored "
                                   "from them) needs 6,442,450,944 bytes"),
]


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("h5py")
    pytest.importorskip("flax")
    folder = tmp_path_factory.mktemp("headers_first")
    for name, build in FILES.items():
        build(folder / name)
    results = run_capped([argv for argv, _ in CASES], cwd=folder)
    return folder, {tuple(r["argv"]): r for r in results}


def test_the_giant_files_are_small_on_disk(outcome):
    folder, _ = outcome
    for name in ("missing.pt", "inconsistent.pt", "layer.pt", "inconsistent.weights.h5", "units.keras"):
        assert (folder / name).stat().st_size < 8 * 1024**2, name  # 3 GiB declared in a few MB
    assert (folder / "giant.msgpack").stat().st_blocks * 512 < 1024**2  # sparse


@pytest.mark.parametrize("argv, needle", CASES, ids=[" ".join(argv[:2]) for argv, _ in CASES])
def test_refused_by_names_and_shapes_before_any_data(outcome, argv, needle):
    folder, by_argv = outcome
    result = by_argv[tuple(argv)]
    assert "invalid" not in result["stderr"], result["stderr"]  # the giant storage was never inflated
    assert_refused(result, needle)
    assert not (folder / "saved.npz").exists() and not (folder / "out.npz").exists()


def test_mapped_pt_reads_only_the_layer_and_its_exact_numbers(tmp_path):
    """A torch.save file with an LSTM under ``rnn.`` and a ``head.weight`` beside it: the
    layer's numbers come out bit for bit (read from storages mapped in place, then copied)."""
    torch = pytest.importorskip("torch")
    from lstmcalc.readers import read_layer

    w = hf.torch_weights()
    state = {"rnn." + k: torch.from_numpy(v) for k, v in w.items()}
    state["head.weight"] = torch.from_numpy(hf.RNG.standard_normal((3, 2)).astype("float32"))
    torch.save(state, tmp_path / "model.pt")
    found = read_layer(tmp_path / "model.pt")
    assert (found.name, found.spec.units, found.spec.input_size) == ("rnn", hf.H, hf.X)
    assert sorted(found.weights) == sorted(w)
    for key, value in w.items():
        assert found.weights[key].flags.writeable and found.weights[key].base is None  # a copy, not the map
        assert (found.weights[key] == value).all() and found.weights[key].dtype == value.dtype
