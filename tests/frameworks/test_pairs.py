"""Converting between every pair of conventions through the registry, without their libraries:
source → canonical → target keeps the outputs of a PyTorch layer with random weights (different
per gate, both biases random), and a bias-free layer goes into an always-biased convention with
zero biases. (Each convention's own tests are in tests/frameworks/test_<name>.py; the
cross-checks against the real libraries in tests/crosscheck/.)"""

from __future__ import annotations

import numpy as np
import pytest

from helpers import forward_sequence as forward
from helpers import torch_state_dict
from lstmcalc import frameworks
from lstmcalc.converting import convert_weights

from .conformance import ISSUE16 as NEW
ALL = ("keras", "torch") + NEW
H, X = 3, 4


def torch_weights(cell, seed=0, b_hn_zero=False):
    return torch_state_dict(cell, H, X, seed, b_hn_zero=b_hn_zero)


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
    np.testing.assert_allclose(got.output, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("target", NEW)
def test_torch_into_each_and_back_keeps_the_outputs(target):
    for cell in frameworks.get(target).CELLS:
        base = torch_weights(cell, seed=1, b_hn_zero=target == "flax_nnx")
        there = convert_weights(base, cell=cell, source="torch", target=target)
        back = convert_weights(there, cell=cell, source=target, target="torch")
        xs = np.random.default_rng(2).normal(size=(2, 4, X))
        np.testing.assert_allclose(forward(xs, back, cell=cell, framework="torch").output,
                                   forward(xs, base, cell=cell, framework="torch").output, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("target", ["keras2", "flax", "flax_nnx", "flax_nnx_opt"])
def test_a_bias_free_layer_goes_into_an_always_biased_one_with_zero_biases(target):
    for cell in frameworks.get(target).CELLS:
        base = {k: v for k, v in torch_weights(cell, seed=7).items() if k.startswith("weight")}
        out = convert_weights(base, cell=cell, source="torch", target=target)
        assert all(not np.any(v) for k, v in out.items() if "bias" in k)
        xs = np.random.default_rng(8).normal(size=(2, 4, X))
        np.testing.assert_allclose(forward(xs, out, cell=cell, framework=target).output,
                                   forward(xs, base, cell=cell, framework="torch", bias=False).output, atol=1e-12)
