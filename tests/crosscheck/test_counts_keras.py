"""count and breakdown against real Keras 3 LSTM / GRU / SimpleRNN layers (torch backend).

For 216 configurations (two per class: cell × bias × unidirectional or Bidirectional with
merge_mode not given, concat, sum, mul, ave × layers 1..3; the two take complementary
return_sequences/return_state; GRU cycles reset_after through not given, True, False; sizes
mostly 1..5, some 17 and 64, from a seeded generator) the stack is built and called on zeros
(B, T, X) float32: the total (sum of count_params()), every weight's (name, shape) in
``.weights`` order, the layer and direction that owns it, the output shapes in return order
and the gate rows must match.
"""

import itertools
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import lstmcalc  # noqa: E402
from _frameworks import KERAS_MERGES, keras_configs, keras_facts, mismatches, short_id  # noqa: E402


from helpers import one_thread_per_module  # noqa: E402,F401  (autouse: torch on one thread)

CONFIGS = keras_configs()


@pytest.mark.parametrize("config", CONFIGS, ids=short_id)
def test_count_and_breakdown_match_keras(config):
    real = keras_facts(config)
    found = mismatches(config, real, lstmcalc.count(**config), lstmcalc.breakdown(**config))
    assert not found, "\n".join(found)


def test_every_class_is_sampled():
    """The generator hits every combination class and the small and the larger sizes."""
    def merge(c):
        return c["merge_mode"] if c["bidirectional"] else "unidirectional"

    seen = {(c["cell"], c["bias"], merge(c), c["layers"]) for c in CONFIGS}
    assert seen == set(
        itertools.product(("lstm", "gru", "rnn"), (True, False), ("unidirectional", *KERAS_MERGES), (1, 2, 3))
    )
    returns = set(itertools.product((False, True), (False, True)))
    for cell, mode in itertools.product(("lstm", "gru", "rnn"), ("unidirectional", *KERAS_MERGES)):
        got = {(c["return_sequences"], c["return_state"]) for c in CONFIGS if c["cell"] == cell and merge(c) == mode}
        assert got == returns, (cell, mode)
    grus = [c for c in CONFIGS if c["cell"] == "gru"]
    assert {(c["reset_after"], c["bias"], c["bidirectional"]) for c in grus} == set(
        itertools.product((None, True, False), (True, False), (False, True))
    )
    assert {c["reset_after"] for c in CONFIGS if c["cell"] != "gru"} == {None}
    sizes = {c["units"] for c in CONFIGS} | {c["input_size"] for c in CONFIGS}
    assert {1, 2, 3, 4, 5, 17, 64} <= sizes
    assert len(CONFIGS) == 216


# Independently known: a Keras LSTM has 4·((X + H)·H + H) parameters (kernel (X, 4H),
# recurrent_kernel (H, 4H), one bias (4H,)).
#   H=1, X=1: 4·(2·1 + 1) = 12     H=1, X=2: 4·(3·1 + 1) = 16
#   H=2, X=1: 4·(3·2 + 2) = 32     H=2, X=2: 4·(4·2 + 2) = 40
KNOWN = [((1, 1), 12), ((1, 2), 16), ((2, 1), 32), ((2, 2), 40)]


@pytest.mark.parametrize(("sizes", "expected"), KNOWN, ids=[f"H{h}-X{x}" for (h, x), _ in KNOWN])
def test_known_lstm_counts(sizes, expected):
    units, input_size = sizes
    config = dict(units=units, input_size=input_size, cell="lstm", framework="keras")
    real = keras_facts(config)
    assert real.total == expected, "real keras.layers.LSTM"
    assert lstmcalc.count(**config) == expected, "lstmcalc.count"
    assert lstmcalc.count(units=units, input_size=input_size) == expected, "lstmcalc.count, defaults"
    assert lstmcalc.breakdown(**config).total == expected, "lstmcalc.breakdown"
    # and the rest of the breakdown, with the default batch=32, time=1
    found = mismatches(config, real, lstmcalc.count(**config), lstmcalc.breakdown(**config))
    assert not found, "\n".join(found)


# keras.ops.convert_to_numpy on the torch backend calls np.array(tensor), which NumPy 2 warns about.
@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_bidirectional_state_order(cell):
    """Shapes cannot tell h_fw from h_bw, so check the return order on values: with a
    concatenated sequence output, h_fw is the forward half at the last step and h_bw the
    backward half at the first step (the backward layer's last step). The names lstmcalc
    gives those positions must say so."""
    units, batch, time, features = 3, 2, 4, 5
    layer = keras.layers.Bidirectional(
        getattr(keras.layers, {"lstm": "LSTM", "gru": "GRU", "rnn": "SimpleRNN"}[cell])(
            units, return_sequences=True, return_state=True
        )
    )
    x = np.random.default_rng(7).standard_normal((batch, time, features)).astype("float32")
    sequence, *states = (keras.ops.convert_to_numpy(t) for t in layer(x))
    names = [o.name for o in lstmcalc.breakdown(
        units=units, input_size=features, cell=cell, bidirectional=True, batch=batch, time=time,
        return_sequences=True, return_state=True,
    ).outputs]
    assert len(names) == 1 + len(states)
    position = {name: i for i, name in enumerate(names[1:])}
    # float32, the same arithmetic path: equal to the last bit in practice; 1e-6 allows reordering.
    np.testing.assert_allclose(states[position["h_fw"]], sequence[:, -1, :units], rtol=0, atol=1e-6)
    np.testing.assert_allclose(states[position["h_bw"]], sequence[:, 0, units:], rtol=0, atol=1e-6)
    if cell == "lstm":
        # c_fw follows h_fw and c_bw follows h_bw; c is not h (|h| = |o·tanh(c)| < |c| here).
        assert position["c_fw"] == position["h_fw"] + 1 and position["c_bw"] == position["h_bw"] + 1
        assert not np.allclose(states[position["c_fw"]], states[position["h_fw"]])
