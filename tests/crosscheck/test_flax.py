"""lstmcalc's Flax linen and nnx conventions against flax itself: parameter trees (paths and
shapes), counts, outputs (float32, 1e-5) through ``RNN`` over a sequence, the carry order
(c, h), nnx GRUCell's missing b_hn, and .npz / .msgpack files. Skips without flax."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
flax = pytest.importorskip("flax")
from flax import linen, nnx, serialization, traverse_util  # noqa: E402

import lstmcalc  # noqa: E402
from lstmcalc.cells import forward  # noqa: E402
from lstmcalc.converting import convert_weights  # noqa: E402
from lstmcalc.readers import read_layer  # noqa: E402
from lstmcalc.spec import SpecError  # noqa: E402

jnp = jax.numpy
LINEN = {"lstm": ["LSTMCell", "OptimizedLSTMCell"], "gru": ["GRUCell"], "rnn": ["SimpleCell"]}
NNX = {"lstm": "LSTMCell", "gru": "GRUCell", "rnn": "SimpleCell"}


def randomise(flat: dict, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {k: rng.normal(0, 0.5, size=np.shape(v)).astype(np.float32) for k, v in flat.items()}


def linen_case(cls, x_size, h, seed=0):
    cell = getattr(linen, cls)(features=h)
    rnn = linen.RNN(cell, return_carry=True)
    xs = np.random.default_rng(seed + 10).normal(size=(2, 5, x_size)).astype(np.float32)
    params = rnn.init(jax.random.key(seed), jnp.asarray(xs))["params"]["cell"]
    flat = randomise(traverse_util.flatten_dict(params, sep="/"), seed)
    tree = traverse_util.unflatten_dict({tuple(k.split("/")): jnp.asarray(v) for k, v in flat.items()})
    carry, outs = rnn.apply({"params": {"cell": tree}}, jnp.asarray(xs))
    return flat, xs, carry, np.asarray(outs)


@pytest.mark.parametrize(("cell", "cls"), [(c, k) for c, ks in LINEN.items() for k in ks])
def test_linen_tree_count_and_outputs(cell, cls):
    flat, xs, carry, outs = linen_case(cls, 4, 3, seed=1)
    b = lstmcalc.breakdown(3, 4, cell=cell, framework="flax")
    assert {t.name: t.shape for t in b.tensors} == {k: v.shape for k, v in flat.items()}
    assert b.total == sum(v.size for v in flat.values())
    ours = forward(xs, flat, cell=cell, framework="flax")
    np.testing.assert_allclose(ours.output, outs, rtol=1e-5, atol=1e-5)
    if cell == "lstm":  # Flax's carry is (c, h)
        np.testing.assert_allclose(ours.c, np.asarray(carry[0]), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(ours.h, np.asarray(carry[1]), rtol=1e-5, atol=1e-5)
    else:
        np.testing.assert_allclose(ours.h, np.asarray(carry), rtol=1e-5, atol=1e-5)


def nnx_case(cls, x_size, h, seed=0, set_flat=None):
    cell = getattr(nnx, cls)(x_size, h, rngs=nnx.Rngs(seed))
    state = nnx.state(cell, nnx.Param)
    flat = traverse_util.flatten_dict(nnx.to_pure_dict(state), sep="/")
    flat = set_flat if set_flat is not None else randomise(flat, seed)
    pure = traverse_util.unflatten_dict({tuple(k.split("/")): jnp.asarray(v) for k, v in flat.items()})
    nnx.replace_by_pure_dict(state, pure)
    nnx.update(cell, state)
    rnn = nnx.RNN(cell, return_carry=True)
    xs = np.random.default_rng(seed + 10).normal(size=(2, 5, x_size)).astype(np.float32)
    carry, outs = rnn(jnp.asarray(xs))
    return flat, xs, carry, np.asarray(outs)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_nnx_tree_count_and_outputs(cell):
    flat, xs, carry, outs = nnx_case(NNX[cell], 4, 3, seed=2)
    b = lstmcalc.breakdown(3, 4, cell=cell, framework="flax_nnx")
    assert {t.name: t.shape for t in b.tensors} == {k: v.shape for k, v in flat.items()}
    assert b.total == sum(np.size(v) for v in flat.values())
    ours = forward(xs, flat, cell=cell, framework="flax_nnx")
    np.testing.assert_allclose(ours.output, outs, rtol=1e-5, atol=1e-5)
    if cell == "lstm":
        np.testing.assert_allclose(ours.c, np.asarray(carry[0]), rtol=1e-5, atol=1e-5)


def test_nnx_optimized_lstm_cell():
    flat, xs, carry, outs = nnx_case("OptimizedLSTMCell", 4, 3, seed=3)
    b = lstmcalc.breakdown(3, 4, framework="flax_nnx_opt")
    assert {t.name: t.shape for t in b.tensors} == {k: v.shape for k, v in flat.items()}
    assert b.total == sum(np.size(v) for v in flat.values())
    ours = forward(xs, flat, cell="lstm", framework="flax_nnx_opt")
    np.testing.assert_allclose(ours.output, outs, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours.h, np.asarray(carry[1]), rtol=1e-5, atol=1e-5)


def test_nnx_gru_takes_a_gru_only_when_its_b_hn_is_zero():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    gru = torch.nn.GRU(4, 3, batch_first=True)
    sd = {k: v.detach().numpy().copy() for k, v in gru.state_dict().items()}
    with pytest.raises(SpecError, match="no recurrent candidate bias b_hn"):
        convert_weights(sd, cell="gru", source="torch", target="flax_nnx")
    sd["bias_hh_l0"][6:] = 0.0  # b_hn = 0: the r and z recurrent biases fold into dense_i/bias
    tree = convert_weights(sd, cell="gru", source="torch", target="flax_nnx")
    _, xs, _, outs = nnx_case("GRUCell", 4, 3, set_flat=tree)
    with torch.no_grad():
        gru.bias_hh_l0[6:] = 0.0
        want = gru(torch.from_numpy(xs))[0].numpy()
    np.testing.assert_allclose(outs, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_torch_weights_into_linen_run_the_same(cell):
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    mod = getattr(torch.nn, cell.upper())(4, 3, batch_first=True)
    sd = {k: v.detach().numpy() for k, v in mod.state_dict().items()}
    flat = convert_weights(sd, cell=cell, source="torch", target="flax")
    cls = LINEN[cell][0]
    rnn = linen.RNN(getattr(linen, cls)(features=3), return_carry=True)
    xs = np.random.default_rng(3).normal(size=(2, 5, 4)).astype(np.float32)
    tree = traverse_util.unflatten_dict({tuple(k.split("/")): jnp.asarray(v) for k, v in flat.items()})
    _, outs = rnn.apply({"params": {"cell": tree}}, jnp.asarray(xs))
    want = mod(torch.from_numpy(xs))[0].detach().numpy()
    np.testing.assert_allclose(np.asarray(outs), want, rtol=1e-5, atol=1e-5)


def test_msgpack_and_npz_files(tmp_path):
    flat, *_ = linen_case("GRUCell", 4, 3, seed=5)
    tree = traverse_util.unflatten_dict({tuple(k.split("/")): v for k, v in flat.items()})
    (tmp_path / "p.msgpack").write_bytes(serialization.msgpack_serialize({"params": tree}))
    found = read_layer(tmp_path / "p.msgpack")
    assert (found.spec.framework, found.spec.cell, found.spec.units, found.spec.input_size) == ("flax", "gru", 3, 4)
    np.savez(tmp_path / "p.npz", **flat)
    assert read_layer(tmp_path / "p.npz").spec.framework == "flax"
    nflat, *_ = nnx_case("LSTMCell", 4, 3, seed=6)
    (tmp_path / "n.msgpack").write_bytes(serialization.msgpack_serialize(
        traverse_util.unflatten_dict({tuple(k.split("/")): np.asarray(v) for k, v in nflat.items()})))
    assert read_layer(tmp_path / "n.msgpack").spec.framework == "flax_nnx"


@pytest.mark.parametrize(("cell", "cls"), [(c, k) for c, ks in LINEN.items() for k in ks])
def test_returned_is_what_linen_rnn_returns(cell, cls):
    """run's returned list = RNN(cell, return_carry=True)'s (carry, outputs), the carry (c, h)
    for the LSTM; float32, 1e-5 (issue 21)."""
    flat, xs, carry, outs = linen_case(cls, 4, 3, seed=2)
    real = ([np.asarray(carry[0]), np.asarray(carry[1])] if cell == "lstm" else [np.asarray(carry)]) + [outs]
    ours = forward(xs, flat, cell=cell, framework="flax", backend="numpy")
    names = [n for n, _ in ours.returned]
    assert names == (["c", "h", "outputs"] if cell == "lstm" else ["h", "outputs"])
    for (_, a), want in zip(ours.returned, real, strict=True):
        np.testing.assert_allclose(a, want, rtol=1e-5, atol=1e-5)
