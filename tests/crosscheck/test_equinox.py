"""lstmcalc's Equinox convention against equinox itself (LSTMCell, GRUCell run with
jax.lax.scan): field names and shapes, counts, final states (float32, 1e-5). Skips without
equinox."""

from __future__ import annotations

import numpy as np
import pytest

eqx = pytest.importorskip("equinox")
jax = pytest.importorskip("jax")
jnp = jax.numpy

import lstmcalc  # noqa: E402
from lstmcalc.cells import forward  # noqa: E402
from lstmcalc.converting import convert_weights  # noqa: E402

CLASSES = {"lstm": "LSTMCell", "gru": "GRUCell"}
FIELDS = ("weight_ih", "weight_hh", "bias", "bias_n")


def build(cell, x, h, bias=True, seed=0):
    cellmod = getattr(eqx.nn, CLASSES[cell])(x, h, use_bias=bias, key=jax.random.key(seed))
    rng = np.random.default_rng(seed)
    for name in FIELDS:
        if getattr(cellmod, name, None) is not None:
            new = jnp.asarray(rng.normal(0, 0.5, size=getattr(cellmod, name).shape).astype(np.float32))
            cellmod = eqx.tree_at(lambda m, n=name: getattr(m, n), cellmod, new)
    return cellmod


def params(cellmod):
    return {n: np.asarray(getattr(cellmod, n)) for n in FIELDS if getattr(cellmod, n, None) is not None}


def run(cellmod, cell, xs):
    """xs (B, T, X) -> final h (B, H)[, c]: the scan of Equinox's docstring, vmapped over B."""
    h = cellmod.hidden_size

    def one(seq):
        init = (jnp.zeros(h), jnp.zeros(h)) if cell == "lstm" else jnp.zeros(h)
        final, _ = jax.lax.scan(lambda s, x: (cellmod(x, s), None), init, seq)
        return final

    return jax.vmap(one)(jnp.asarray(xs))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("bias", [True, False])
def test_fields_count_and_final_state(cell, bias):
    cellmod = build(cell, 4, 3, bias, seed=2)
    p = params(cellmod)
    b = lstmcalc.breakdown(3, 4, cell=cell, framework="equinox", bias=bias)
    assert {t.name: t.shape for t in b.tensors} == {k: v.shape for k, v in p.items()}
    assert b.total == sum(v.size for v in p.values())
    xs = np.random.default_rng(3).normal(size=(2, 6, 4)).astype(np.float32)
    final = run(cellmod, cell, xs)
    ours = forward(xs, p, cell=cell, framework="equinox", bias=bias)
    if cell == "lstm":
        np.testing.assert_allclose(ours.h, np.asarray(final[0]), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(ours.c, np.asarray(final[1]), rtol=1e-5, atol=1e-5)
    else:
        np.testing.assert_allclose(ours.h, np.asarray(final), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_keras_weights_converted_into_equinox_run_the_same(cell):
    rng = np.random.default_rng(4)
    g = 4 if cell == "lstm" else 3
    keras_w = {"kernel": rng.normal(size=(4, g * 3)), "recurrent_kernel": rng.normal(size=(3, g * 3))}
    keras_w["bias"] = rng.normal(size=(2, 9)) if cell == "gru" else rng.normal(size=12)
    keras_w = {k: v.astype(np.float32) for k, v in keras_w.items()}
    xs = rng.normal(size=(2, 5, 4)).astype(np.float32)
    want = forward(xs, keras_w, cell=cell, framework="keras").h
    cellmod = build(cell, 4, 3)
    for name, value in convert_weights(keras_w, cell=cell, source="keras", target="equinox").items():
        cellmod = eqx.tree_at(lambda m, n=name: getattr(m, n), cellmod, jnp.asarray(value))
    final = run(cellmod, cell, xs)
    np.testing.assert_allclose(np.asarray(final[0] if cell == "lstm" else final), want, rtol=1e-5, atol=1e-5)
