"""The conventions of issue 16 through the registry, without their libraries: every
convert between every pair (source → canonical → target) keeps the outputs of a PyTorch
layer with random weights (different per gate, both biases random); what a target cannot
hold is refused with its reason; counts against the formulas read from each framework's
source (the cross-checks against the real libraries are in tests/crosscheck/)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import lstmcalc
from lstmcalc import frameworks
from lstmcalc import frameworks
from lstmcalc.cells import forward as forward_returning


def forward(x, weights, **options):
    """The whole output sequence in every convention (Keras-like ones return the last step
    unless asked), so that conventions can be compared step by step."""
    if "return_sequences" in frameworks.get(options.get("framework", "keras")).OPTIONS:
        options.setdefault("return_sequences", True)
    return forward_returning(x, weights, **options)
from lstmcalc.cli import app
from lstmcalc.converting import convert_weights
from lstmcalc.errors import FileError
from lstmcalc.readers import read_layer
from lstmcalc.spec import SpecError

NEW = ("keras2", "mlx", "equinox", "flax", "flax_nnx", "flax_nnx_opt")
ALL = ("keras", "torch") + NEW
H, X = 3, 4


def torch_weights(cell, seed=0, b_hn_zero=False):
    """A PyTorch state_dict with every tensor random (float64)."""
    rng = np.random.default_rng(seed)
    g = {"lstm": 4, "gru": 3, "rnn": 1}[cell]
    w = {"weight_ih_l0": rng.normal(size=(g * H, X)), "weight_hh_l0": rng.normal(size=(g * H, H)),
         "bias_ih_l0": rng.normal(size=g * H), "bias_hh_l0": rng.normal(size=g * H)}
    if b_hn_zero:
        w["bias_hh_l0"][2 * H:] = 0.0
    return w


def holders(cell):
    return [fw for fw in ALL if cell in frameworks.get(fw).CELLS]


PAIRS = [(cell, s, t) for cell in ("lstm", "gru", "rnn") for s in holders(cell) for t in holders(cell)
         if s != t and "torch" not in (s,)]


@pytest.mark.parametrize(("cell", "source", "target"), PAIRS)
def test_every_pair_converts_and_keeps_the_outputs(cell, source, target):
    base = torch_weights(cell, seed=len(source) + 3 * len(target), b_hn_zero="flax_nnx" in (source, target))
    xs = np.random.default_rng(9).normal(size=(2, 5, X))
    want = forward(xs, base, cell=cell, framework="torch").output
    src = convert_weights(base, cell=cell, source="torch", target=source)
    out = convert_weights(src, cell=cell, source=source, target=target)
    got = forward(xs, out, cell=cell, framework=target)
    np.testing.assert_allclose(got.output if got.output.ndim == 3 else got.output, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("target", NEW)
def test_torch_into_each_and_back_keeps_the_outputs(target):
    for cell in frameworks.get(target).CELLS:
        base = torch_weights(cell, seed=1, b_hn_zero=target == "flax_nnx")
        there = convert_weights(base, cell=cell, source="torch", target=target)
        back = convert_weights(there, cell=cell, source=target, target="torch")
        xs = np.random.default_rng(2).normal(size=(2, 4, X))
        np.testing.assert_allclose(forward(xs, back, cell=cell, framework="torch").output,
                                   forward(xs, base, cell=cell, framework="torch").output, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    ("fw", "cell", "expected"),
    [
        ("mlx", "lstm", 4 * H * (X + H) + 4 * H), ("mlx", "gru", 3 * H * (X + H) + 4 * H), ("mlx", "rnn", H * (X + H) + H),
        ("equinox", "lstm", 4 * H * (X + H) + 4 * H), ("equinox", "gru", 3 * H * (X + H) + 4 * H),
        ("flax", "lstm", 4 * H * (X + H) + 4 * H), ("flax", "gru", 3 * H * (X + H) + 4 * H),
        ("flax", "rnn", H * (X + H) + H), ("flax_nnx", "gru", 3 * H * (X + H) + 3 * H),
        ("flax_nnx_opt", "lstm", 4 * H * (X + H) + 4 * H),
        ("keras2", "lstm", 4 * H * (X + H) + 8 * H), ("keras2", "gru", 3 * H * (X + H) + 6 * H),
    ],
)
def test_counts(fw, cell, expected):
    assert lstmcalc.count(H, X, framework=fw, cell=cell) == expected
    b = lstmcalc.breakdown(H, X, framework=fw, cell=cell)
    assert sum(t.count for t in b.tensors) == expected == b.total


def test_gru_bias_rows_say_which_gate_has_two():
    rows = {r.gate: r for r in lstmcalc.breakdown(H, X, framework="mlx", cell="gru").gates}
    assert (rows["r"].bias, rows["z"].bias, rows["n"].bias) == (H, H, 2 * H)


@pytest.mark.parametrize(
    ("weights", "cell", "target", "param", "words"),
    [
        (torch_weights("gru"), "gru", "flax_nnx", "bias", "no recurrent candidate bias b_hn"),
        ({**torch_weights("lstm"), **{k + "_reverse": v for k, v in torch_weights("lstm").items()}}, "lstm", "mlx",
         "bidirectional", "no bidirectional"),
        ({**torch_weights("lstm"), "weight_ih_l1": np.zeros((12, 3)), "weight_hh_l1": np.zeros((12, 3)),
          "bias_ih_l1": np.zeros(12), "bias_hh_l1": np.zeros(12)}, "lstm", "equinox", "layers", "one layer"),
        ({"kernel": np.ones((X, 9)), "recurrent_kernel": np.ones((H, 9)), "bias": np.ones(9)}, "gru", "flax",
         "reset_after", "reset-before"),
        ({"weight_ih_l0": np.ones((8, X)), "weight_hh_l0": np.ones((8, 1)), "weight_hr_l0": np.ones((1, 2))},
         "lstm", "mlx", "proj_size", "projection"),
    ],
)
def test_refusals_give_the_reason(weights, cell, target, param, words):
    source = "keras" if "kernel" in weights else "torch"
    with pytest.raises(SpecError) as err:
        convert_weights(weights, cell=cell, source=source, target=target)
    assert err.value.param == param and words in str(err.value)


def test_mlx_old_orientation_is_refused_with_the_reason():
    from lstmcalc.weights import infer_spec

    old = {"Wx": np.zeros((X, 4 * H)), "Wh": np.zeros((H, 4 * H)), "bias": np.zeros(4 * H)}
    with pytest.raises(SpecError, match=r"\(H, G·H\), the transpose of MLX's \(G·H, H\); transpose Wx and Wh"):
        infer_spec(old, cell="lstm", framework="mlx")
    rnn = {"Wxh": np.zeros((X, H)), "Whh": np.zeros((H, H)), "bias": np.zeros(H)}
    with pytest.raises(SpecError, match=r"Wxh: shape \(4, 3\) is \(X, H\), the transpose"):
        infer_spec(rnn, cell="rnn", framework="mlx")


def test_files_of_each_are_recognised(tmp_path):
    cases = [(fw, cell) for fw in NEW for cell in frameworks.get(fw).CELLS]  # nnx GRU and SimpleCell share paths
    assert ("flax_nnx", "rnn") in cases and ("mlx", "rnn") in cases
    for fw, cell in cases:
        arrays = convert_weights(torch_weights(cell, b_hn_zero=True), cell=cell, source="torch", target=fw)
        np.savez(tmp_path / f"{fw}.npz", **arrays)
        found = read_layer(tmp_path / f"{fw}.npz")
        assert (found.spec.framework, found.spec.cell, found.spec.units, found.spec.input_size) == (fw, cell, H, X)


def test_cli_count_convert_and_refusal(tmp_path):
    runner = CliRunner()
    r = runner.invoke(app, ["count", "--units", "300", "--input", "300", "--framework", "keras2", "--bidirectional"])
    assert r.exit_code == 0 and r.stdout.strip() == "1444800"
    np.savez(tmp_path / "t.npz", **torch_weights("gru"))
    r = runner.invoke(app, ["convert", str(tmp_path / "t.npz"), "--to", "mlx", "-o", str(tmp_path / "m.npz"), "--json"])
    assert r.exit_code == 0, r.output
    assert read_layer(tmp_path / "m.npz").spec.framework == "mlx"
    r = runner.invoke(app, ["convert", str(tmp_path / "t.npz"), "--to", "flax_nnx", "-o", str(tmp_path / "n.npz")])
    assert r.exit_code == 1 and "b_hn" in r.stderr and r.stdout == ""  # the file's content (issue 23 item 7)
    assert not (tmp_path / "n.npz").exists()
    r = runner.invoke(app, ["count", "--units", "3", "--input", "2", "--framework", "equinox", "--layers", "2"])
    assert r.exit_code == 2 and "one layer" in r.stderr


def test_msgpack_without_flax_or_damaged(tmp_path):
    bad = tmp_path / "x.msgpack"
    bad.write_bytes(b"\xc1\xc1 not msgpack")
    with pytest.raises(FileError, match="x.msgpack: "):
        read_layer(bad)


@pytest.mark.parametrize("fw", NEW)
def test_run_initialises_each_convention_and_its_shapes(fw):
    """``run`` with the framework's default initial weights: the tensors have the shapes the
    breakdown lists, and the pass returns finite states."""
    from lstmcalc.weights import init_weights

    for cell in frameworks.get(fw).CELLS:
        spec = frameworks.make_spec(H, X, cell=cell, framework=fw, batch=2, time=3)
        weights = init_weights(spec, seed=1, dtype="float64")
        assert {k: v.shape for k, v in weights.items()} == {
            t.name: t.shape for t in lstmcalc.breakdown(H, X, cell=cell, framework=fw).tensors}
        result = forward(np.ones((2, 3, X)), weights, cell=cell, framework=fw)
        assert np.isfinite(result.h).all() and result.h.shape == (2, H)
    runner = CliRunner()
    r = runner.invoke(app, ["run", "--units", "3", "--input", "2", "--framework", fw, "--json"])
    assert r.exit_code == 0, r.output


def test_breakdown_words_for_per_gate_trees_and_two_bias_candidates():
    """The tensor table's gate order comes from the framework (a Flax tree has one tensor per
    gate), and the diagram says a GRU candidate has two biases where the others have one."""
    runner = CliRunner()
    r = runner.invoke(app, ["breakdown", "--units", "2", "--input", "3", "--framework", "flax", "--cell", "gru"])
    assert r.exit_code == 0 and "Flax linen tensors (gate order r z n)" in r.stdout
    r = runner.invoke(app, ["breakdown", "--units", "2", "--input", "3", "--framework", "mlx", "--cell", "gru",
                            "--diagram"], env={"COLUMNS": "200"})
    assert r.exit_code == 0 and "Biases (one or two per gate here)" in r.stdout
    r = runner.invoke(app, ["breakdown", "--units", "2", "--input", "3", "--framework", "torch", "--diagram"],
                      env={"COLUMNS": "200"})
    assert "Biases (two per gate here)" in r.stdout


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([(fw, c) for fw in NEW for c in frameworks.get(fw).CELLS]),
       st.integers(1, 300), st.integers(1, 300))
def test_tensors_gate_rows_and_count_agree(case, units, inputs):
    """Per layer and direction (one here): the tensors' sizes, the per-gate rows and the
    count are one number, and a GRU's biases are 4H where the candidate keeps b_hn apart."""
    fw, cell = case
    b = lstmcalc.breakdown(units, inputs, framework=fw, cell=cell)
    assert sum(t.count for t in b.tensors) == b.total == sum(r.total for r in b.gates)
    assert b.total == lstmcalc.count(units, inputs, framework=fw, cell=cell)
    g = b.spec.gates
    if fw == "keras2":
        extra = 2 * g  # cuDNN's b_W and b_R for every gate
    elif cell == "gru" and fw != "flax_nnx":
        extra = 4  # b_r, b_z, b_n and b_hn
    else:
        extra = g  # one per gate (nnx GRUCell: no b_hn)
    assert b.total == b.spec.gates * units * (inputs + units) + extra * units


@pytest.mark.parametrize("target", ["keras2", "flax", "flax_nnx", "flax_nnx_opt"])
def test_a_bias_free_layer_goes_into_an_always_biased_one_with_zero_biases(target):
    for cell in frameworks.get(target).CELLS:
        base = {k: v for k, v in torch_weights(cell, seed=7).items() if k.startswith("weight")}
        out = convert_weights(base, cell=cell, source="torch", target=target)
        assert all(not np.any(v) for k, v in out.items() if "bias" in k)
        xs = np.random.default_rng(8).normal(size=(2, 4, X))
        np.testing.assert_allclose(forward(xs, out, cell=cell, framework=target).output,
                                   forward(xs, base, cell=cell, framework="torch", bias=False).output, atol=1e-12)
