"""lstmcalc.weights: inferring a layer from its tensors, default initialisation, .npz/.npy files.

Statistical bounds on the initial weights are generous (5 standard errors on thousands of
numbers) but would fail for the wrong distribution, range or scale; orthogonality is exact to
1e-12 in float64 and 1e-6 in float32.
"""

from __future__ import annotations

import os
import stat
from dataclasses import replace

import numpy as np
import pytest

from lstmcalc import memory, weights as W
from lstmcalc.cells import forward
from lstmcalc.frameworks import all_tensors, weights_key
from lstmcalc.frameworks import make_spec
from lstmcalc.spec import SpecError
from lstmcalc.weights import FileError, infer_spec, init_weights, load_inputs, load_npz
from lstmcalc.writers import save_npz

SPECS = [
    make_spec(3, 2, cell="lstm", framework="keras"),
    make_spec(3, 2, cell="lstm", framework="keras", layers=2, bidirectional=True),
    make_spec(3, 2, cell="lstm", framework="keras", layers=2, bidirectional=True, merge_mode="mul"),
    make_spec(3, 2, cell="gru", framework="keras", reset_after=False, bias=True),
    make_spec(3, 2, cell="gru", framework="keras", layers=3),
    make_spec(3, 2, cell="rnn", framework="keras", bias=False),
    make_spec(4, 2, cell="lstm", framework="torch", layers=2, bidirectional=True, proj_size=3),
    make_spec(3, 2, cell="gru", framework="torch", bias=False, layers=2),
    make_spec(3, 5, cell="rnn", framework="torch", bidirectional=True),
]


def ident(spec):
    return f"{spec.framework}-{spec.cell}-L{spec.layers}{'-bi' if spec.bidirectional else ''}" \
           f"{'-' + spec.merge_mode if spec.merge_mode != 'concat' else ''}{'-proj' if spec.proj_size else ''}" \
           f"{'-nobias' if not spec.bias else ''}{'-reset-before' if not spec.reset_after else ''}"


def tensors(spec, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return {weights_key(spec, t): rng.uniform(-1, 1, t.shape).astype(dtype) for t in all_tensors(spec)}


# --- infer_spec -----------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", SPECS, ids=ident)
def test_infer_spec_reads_the_layer_back(spec):
    given = {"merge_mode": spec.merge_mode} if spec.framework == "keras" and spec.bidirectional else {}
    if spec.cell == "rnn":
        given["activation"] = spec.activation
    if spec.cell == "gru" and spec.framework == "keras" and not spec.bias:
        given["reset_after"] = spec.reset_after
    got = infer_spec(tensors(spec), cell=spec.cell, framework=spec.framework, **given)
    assert got == spec


@pytest.mark.parametrize("spec, option, allowed", [
    (make_spec(3, 2, framework="keras", bidirectional=True), "merge_mode", "concat, sum, mul or ave"),
    (make_spec(3, 2, framework="keras", bidirectional=True, layers=2, merge_mode="mul"), "merge_mode", "sum, mul or ave"),
    (make_spec(3, 2, framework="keras", bidirectional=True, layers=2), "merge_mode", "allowed here: concat"),
    (make_spec(3, 2, cell="gru", framework="keras", bias=False), "reset_after", "True or False"),
    (make_spec(3, 2, cell="rnn", framework="keras"), "activation", "tanh or relu"),
    (make_spec(3, 2, cell="rnn", framework="torch"), "activation", "tanh or relu"),
], ids=lambda v: ident(v) if hasattr(v, "cell") else None)
def test_infer_spec_asks_for_what_the_tensors_cannot_show(spec, option, allowed):
    """No guess: merge mode, a bias-free GRU's reset_after and an RNN's activation leave no trace in the weights."""
    with pytest.raises(SpecError) as e:
        infer_spec(tensors(spec), cell=spec.cell, framework=spec.framework)
    assert e.value.param == option and "is needed" in e.value.problem and allowed in e.value.problem
    if option == "merge_mode" and spec.layers == 2 and spec.merge_mode == "mul":
        with pytest.raises(SpecError, match=r"merge_mode: is concat, but layer1/forward/kernel has shape \(3, 12\)"):
            infer_spec(tensors(spec), cell=spec.cell, framework=spec.framework, merge_mode="concat")
        assert infer_spec(tensors(spec), cell=spec.cell, framework=spec.framework, merge_mode="mul") == spec


def test_infer_spec_checks_given_sizes_against_the_tensors():
    spec = make_spec(3, 2, cell="lstm", framework="keras")
    with pytest.raises(SpecError) as e:
        infer_spec(tensors(spec), cell="lstm", framework="keras", units=4)
    assert str(e.value) == "weights: kernel: shape (2, 12), but a keras LSTM, units 4, input 2 needs (2, 16)"
    with pytest.raises(SpecError, match=r"kernel: shape \(2, 12\), but a keras LSTM, units 3, input 5 needs \(5, 12\)"):
        infer_spec(tensors(spec), cell="lstm", framework="keras", input_size=5)
    assert infer_spec(tensors(spec), cell="lstm", framework="keras", units=3, input_size=2) == spec


def test_missing_tensor_is_named_with_its_shape():
    spec = make_spec(3, 2, cell="gru", framework="torch", layers=2)
    ws = tensors(spec)
    del ws["bias_hh_l1"]
    with pytest.raises(SpecError, match=r"weights: bias_hh_l1: missing; .*torch GRU, units 3, input 2, 2 layers.* \(9,\)"):
        infer_spec(ws, cell="gru", framework="torch")


def test_extra_tensor_is_named():
    spec = make_spec(3, 2, cell="rnn", framework="torch")
    ws = tensors(spec)
    ws["weight_hr_l0"] = np.zeros((2, 3))
    with pytest.raises(SpecError, match=r"weights: .*weight_hr_l0"):
        infer_spec(ws, cell="rnn", framework="torch")
    ws = tensors(make_spec(3, 2, cell="lstm", framework="keras"))
    ws["layer0/forward/kernel"] = ws["kernel"]
    with pytest.raises(SpecError, match="bare Keras names"):
        infer_spec(ws, cell="lstm", framework="keras")


def test_inconsistent_shape_gives_expected_and_actual():
    spec = make_spec(3, 2, cell="lstm", framework="keras", layers=2)
    ws = tensors(spec)
    ws["layer1/forward/recurrent_kernel"] = np.zeros((3, 8))
    with pytest.raises(SpecError) as e:
        infer_spec(ws, cell="lstm", framework="keras")
    assert "layer1/forward/recurrent_kernel" in str(e.value)
    assert "(3, 8)" in str(e.value) and "(3, 12)" in str(e.value)
    ws = tensors(make_spec(3, 2, cell="lstm", framework="torch"))
    ws["bias_ih_l0"] = np.zeros(11)
    with pytest.raises(SpecError, match=r"bias_ih_l0: shape \(11,\) .*expected \(12,\)"):
        infer_spec(ws, cell="lstm", framework="torch")


def test_cell_must_match_the_block_count():
    ws = tensors(make_spec(3, 2, cell="gru", framework="torch"))
    with pytest.raises(SpecError, match=r"weight_hh_l0: shape \(9, 3\) holds 3 gate blocks of H=3 \(a GRU's\), not the 4 of an LSTM"):
        infer_spec(ws, cell="lstm", framework="torch")


def test_keras_gru_bias_shape_decides_reset_after():
    ws = tensors(make_spec(3, 2, cell="gru", framework="keras", reset_after=False))
    assert infer_spec(ws, cell="gru", framework="keras").reset_after is False
    with pytest.raises(SpecError, match=r"reset_after: is True, but bias has shape \(9,\)"):
        infer_spec(ws, cell="gru", framework="keras", reset_after=True)
    no_bias = tensors(make_spec(3, 2, cell="gru", framework="keras", bias=False))
    assert infer_spec(no_bias, cell="gru", framework="keras", reset_after=True).reset_after is True
    assert infer_spec(no_bias, cell="gru", framework="keras", reset_after=False).reset_after is False


@pytest.mark.parametrize("bad, match", [
    ({}, "weights: no tensors"),
    ({"kernel": np.zeros((2, 4)), 3: np.zeros(2)}, "tensor names must be strings"),
    ({"weight_ih_l0": np.zeros((4, 2))}, "weight_hh: missing for layer 0"),
    ({"kernal": np.zeros((2, 4))}, "'kernal' is not a Keras weights key"),
])
def test_bad_weight_sets(bad, match):
    framework = "torch" if any(str(k).startswith("weight") for k in bad) else "keras"
    with pytest.raises(SpecError, match=match):
        infer_spec(bad, cell="rnn", framework=framework)


def test_bad_options():
    ws = tensors(make_spec(3, 2, cell="rnn", framework="keras"))
    with pytest.raises(SpecError, match="framework: must be one of keras, torch"):
        infer_spec(ws, cell="rnn", framework="jax")
    with pytest.raises(SpecError, match="unitz: is not a layer option"):
        infer_spec(ws, cell="rnn", framework="keras", unitz=3)
    with pytest.raises(SpecError, match="weights: dtype <U1 is not a real number type|weights: kernel: dtype"):
        infer_spec({**ws, "kernel": np.full((2, 3), "a")}, cell="rnn", framework="keras")


# --- init_weights ---------------------------------------------------------------------------------


def test_keras_lstm_defaults():
    spec = make_spec(64, 48, cell="lstm", framework="keras", layers=2, bidirectional=True)
    ws = init_weights(spec, seed=1, dtype="float64")
    assert list(ws) == [weights_key(spec, t) for t in all_tensors(spec)]
    h = spec.units
    for layer, width in ((0, 48), (1, 2 * h)):
        for direction in ("forward", "backward"):
            k = ws[f"layer{layer}/{direction}/kernel"]
            limit = np.sqrt(6 / (width + 4 * h))  # glorot_uniform: fan_in = rows, fan_out = cols
            assert k.shape == (width, 4 * h) and np.abs(k).max() <= limit
            assert np.abs(k).max() > 0.99 * limit  # fills the range
            n = k.size
            assert abs(k.mean()) < 5 * limit / np.sqrt(3 * n)
            assert abs(k.var() / (limit**2 / 3) - 1) < 0.05  # uniform: variance limit²/3
            rk = ws[f"layer{layer}/{direction}/recurrent_kernel"]
            # Keras' Orthogonal on the whole (H, 4H) matrix: its rows are orthonormal, K Kᵀ = I,
            # so the gate blocks K_g (H, H) add up to it, Σ_g K_g K_gᵀ = I; no block alone is.
            np.testing.assert_allclose(rk @ rk.T, np.eye(h), rtol=0, atol=1e-12)
            blocks = [rk[:, g * h : (g + 1) * h] for g in range(4)]
            np.testing.assert_allclose(sum(b @ b.T for b in blocks), np.eye(h), rtol=0, atol=1e-12)
            assert all(np.abs(b @ b.T - np.eye(h)).max() > 0.1 for b in blocks)
            bias = ws[f"layer{layer}/{direction}/bias"]
            np.testing.assert_array_equal(bias[h : 2 * h], 1.0)  # unit_forget_bias: the f block (order i, f, c, o)
            np.testing.assert_array_equal(np.delete(bias, np.s_[h : 2 * h]), 0.0)


def test_keras_gru_and_rnn_defaults():
    gru = init_weights(make_spec(8, 5, cell="gru", framework="keras"), seed=2, dtype="float32")
    assert gru["bias"].shape == (2, 24) and not gru["bias"].any()
    assert gru["kernel"].dtype == np.float32
    np.testing.assert_allclose(gru["recurrent_kernel"] @ gru["recurrent_kernel"].T, np.eye(8), rtol=0, atol=1e-6)
    assert init_weights(make_spec(8, 5, cell="gru", framework="keras", reset_after=False), 2)["bias"].shape == (24,)
    rnn = init_weights(make_spec(8, 5, cell="rnn", framework="keras"), seed=3, dtype="float64")
    q = rnn["recurrent_kernel"]  # square: orthogonal both ways
    np.testing.assert_allclose(q @ q.T, np.eye(8), rtol=0, atol=1e-12)
    np.testing.assert_allclose(q.T @ q, np.eye(8), rtol=0, atol=1e-12)
    assert not rnn["bias"].any()


def test_torch_defaults_are_uniform_in_one_over_sqrt_h():
    spec = make_spec(100, 30, cell="lstm", framework="torch", layers=2, bidirectional=True, proj_size=40)
    ws = init_weights(spec, seed=4, dtype="float64")
    assert list(ws) == [t.name for t in all_tensors(spec)]
    bound = 1 / np.sqrt(100)  # hidden_size, not proj_size
    for name, a in ws.items():
        assert np.abs(a).max() <= bound, name
        assert abs(a.mean()) < 5 * bound / np.sqrt(3 * a.size), name
        if a.size >= 1000:
            assert abs(a.var() / (bound**2 / 3) - 1) < 0.1, name
    assert ws["weight_hr_l1_reverse"].shape == (40, 100)
    assert not np.array_equal(ws["bias_ih_l0"], ws["bias_hh_l0"])


def test_init_is_seeded():
    spec = make_spec(6, 4, cell="gru", framework="keras", layers=2)
    a, b, c = init_weights(spec, 5), init_weights(spec, 5), init_weights(spec, 6)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["layer0/forward/kernel"], c["layer0/forward/kernel"])
    assert a["layer0/forward/kernel"].dtype == np.float32  # the default dtype


def test_init_weights_run_through_forward():
    spec = make_spec(5, 3, cell="lstm", framework="torch", proj_size=2)
    r = forward(np.ones((1, 4, 3), dtype=np.float32), init_weights(spec, 0), framework="torch", proj_size=2)
    assert r.output.shape == (1, 4, 2)


def test_init_bad_arguments_and_huge_layers():
    spec = make_spec(4, 3)
    with pytest.raises(SpecError, match="seed: must be a whole number >= 0"):
        init_weights(spec, -1)
    with pytest.raises(SpecError, match="dtype: must be float32 or float64, got 'int8'"):
        init_weights(spec, 0, "int8")
    huge = make_spec(200_000, 200_000)
    with pytest.raises(memory.SizeError, match=r"the weights of this layer \(320,000,800,000 numbers\) needs about"):
        init_weights(huge, 0)


# --- files ------------------------------------------------------------------------------------------


def test_load_npz_round_trip(tmp_path):
    spec = make_spec(3, 2, cell="lstm", framework="keras", bidirectional=True)
    ws = tensors(spec, dtype=np.float32)
    path = tmp_path / "w.npz"
    np.savez(path, **ws)
    got = load_npz(path)
    assert set(got) == set(ws)
    for k in ws:
        np.testing.assert_array_equal(got[k], ws[k])
    assert infer_spec(got, cell="lstm", framework="keras", merge_mode="concat") == spec


def write(path, data: bytes):
    path.write_bytes(data)
    return path


def test_load_npz_errors(tmp_path):
    ok = tmp_path / "ok.npz"
    np.savez(ok, kernel=np.zeros((2, 4)))
    cases = {
        "no such file": tmp_path / "missing.npz",
        "is a directory": tmp_path,
        "not an .npz archive": write(tmp_path / "text.npz", b"kernel = 1\n"),
        "damaged|truncated": write(tmp_path / "cut.npz", ok.read_bytes()[:-30]),
    }
    for match, path in cases.items():
        with pytest.raises(FileError, match=match) as e:
            load_npz(path)
        assert str(path) in str(e.value) and "\n" not in str(e.value)

    def saved(name, **arrays):
        p = tmp_path / name
        np.savez(p, **arrays)
        return p

    with pytest.raises(FileError, match="object arrays, which need unpickling"):
        load_npz(saved("obj.npz", kernel=np.array([{"a": 1}], dtype=object)))
    with pytest.raises(FileError, match=r"kernel has dtype int64; allowed: float16, float32, float64"):
        load_npz(saved("int.npz", kernel=np.zeros((2, 4), dtype=np.int64)))
    with pytest.raises(FileError, match=r"kernel has shape \(2, 4, 1, 1\); a weight is a vector, a matrix or "
                                        r"\(ONNX W, R\) a 3-dimensional \[D, G·H, ·\]"):
        load_npz(saved("rank.npz", kernel=np.zeros((2, 4, 1, 1))))
    # ONNX's W [D, G·H, X] is 3-D: loaded, then checked against the layer by infer_spec
    assert load_npz(saved("onnx.npz", W=np.ones((1, 4, 3))))["W"].shape == (1, 4, 3)
    bad = np.zeros((2, 4))
    bad[1, 2] = np.nan
    with pytest.raises(FileError, match=r"kernel holds 1 NaN or inf value\(s\), the first at index \(1, 2\)"):
        load_npz(saved("nan.npz", kernel=bad))
    with pytest.raises(FileError, match="holds no arrays"):
        load_npz(saved("empty.npz"))


def test_load_inputs(tmp_path):
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    np.testing.assert_array_equal(load_inputs(tmp_path / "x.npy", input_size=4), x)

    def saved(name, a):
        p = tmp_path / name
        np.save(p, a)
        return p

    npz = tmp_path / "x.npz"
    np.savez(npz, x=x)
    nan = x.copy()
    nan[0, 1, 2] = np.inf
    cases = [
        (tmp_path / "none.npy", "no such file"),
        (write(tmp_path / "t.npy", b"hello"), r"not a readable \.npy array \(no \.npy header\)"),
        (write(tmp_path / "cut.npy", saved("full.npy", x).read_bytes()[:-5]), "not a readable .npy array"),
        (npz, r"is an \.npz archive; inputs are one \.npy array"),
        (saved("two.npy", x[0]), r"shape \(3, 4\); inputs must be \(batch, time, features\)"),
        (saved("empty.npy", x[:, :0]), r"shape \(2, 0, 4\)"),
        (saved("int.npy", x.astype(np.int32)), "the input has dtype int32; allowed: float32, float64"),
        (saved("half.npy", x.astype(np.float16)), "the input has dtype float16; allowed: float32, float64"),
        (saved("inf.npy", nan), r"the input holds 1 NaN or inf value\(s\), the first at index \(0, 1, 2\)"),
        (saved("obj.npy", np.array([[[None]]], dtype=object)), "object array"),
    ]
    for path, match in cases:
        with pytest.raises(FileError, match=match) as e:
            load_inputs(path)
        assert str(path) in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(FileError, match="4 features per step .* but the layer takes 5"):
        load_inputs(tmp_path / "x.npy", input_size=5)


def result_for(spec):
    x = np.random.default_rng(1).standard_normal((2, 3, spec.input_size))
    opts = dict(cell=spec.cell, framework=spec.framework, layers=spec.layers, bidirectional=spec.bidirectional)
    if spec.framework == "keras":
        opts["return_state"] = True  # the states are saved only when the layer returns them
    return forward(x, tensors(spec), **opts)


@pytest.mark.parametrize("spec, keys", [
    (make_spec(3, 2, cell="lstm", framework="keras", bidirectional=True),
     {"output": "output", "h_fw": "h", "c_fw": "c", "h_bw": "h_backward", "c_bw": "c_backward"}),
    (make_spec(3, 2, cell="gru", framework="keras", bidirectional=True), {"output": "output", "h_fw": "h", "h_bw": "h_backward"}),
    (make_spec(3, 2, cell="lstm", framework="torch", bidirectional=True), {"output": "output", "h_n": "h", "c_n": "c"}),
    (make_spec(3, 2, cell="lstm", framework="onnx", bidirectional=True), {"Y": "output", "Y_h": "h", "Y_c": "c"}),
    (make_spec(3, 2, cell="rnn", framework="keras"), {"output": "output", "h": "h"}),
], ids=lambda v: ident(v) if hasattr(v, "cell") else "")
def test_save_npz_writes_the_result(tmp_path, spec, keys):
    """keys: {saved name (the framework's): the ForwardResult field holding it}, in the framework's order."""
    result = result_for(spec)
    path = tmp_path / "out.npz"
    save_npz(path, result, spec)
    with np.load(path) as f:
        assert f.files == list(keys)
        for k, field in keys.items():
            np.testing.assert_array_equal(f[k], getattr(result, field))
    assert os.listdir(tmp_path) == ["out.npz"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~umask


def test_save_npz_is_atomic(tmp_path, monkeypatch):
    spec = make_spec(3, 2, cell="lstm", framework="torch")
    result = result_for(spec)
    path = tmp_path / "out.npz"
    path.write_bytes(b"the previous file")

    def failing_savez(f, **arrays):
        f.write(b"PK\x03\x04 half an archive")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(W.np, "savez", failing_savez)
    with pytest.raises(FileError, match=r"out\.npz: cannot write \(No space left on device\)"):
        save_npz(path, result, spec)
    assert path.read_bytes() == b"the previous file"  # untouched
    assert os.listdir(tmp_path) == ["out.npz"]  # no temporary file left behind


def test_save_npz_bad_paths(tmp_path):
    spec = make_spec(3, 2, cell="rnn", framework="torch")
    result = result_for(spec)
    with pytest.raises(FileError, match="the folder .* does not exist"):
        save_npz(tmp_path / "nope" / "out.npz", result, spec)
    with pytest.raises(FileError, match="is a directory"):
        save_npz(tmp_path, result, spec)
    save_npz(tmp_path / "default-spec.npz", result)  # spec defaults to result.spec
    assert replace(result.spec, batch=2) == result.spec
