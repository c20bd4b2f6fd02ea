"""PyTorch − Keras, per layer and direction, measured on the real frameworks.

Same cell and sizes, bias on, Keras GRU with reset_after=True, no projection: PyTorch keeps
two bias vectors per gate (bias_ih, bias_hh) where Keras LSTM and SimpleRNN keep one, so
PyTorch has 4H more per LSTM layer and direction, H more for SimpleRNN, and the same for
GRU (Keras' reset_after GRU also keeps two, as its (2, 3H) bias). lstmcalc must say the same.
"""

import os

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import lstmcalc  # noqa: E402
from _frameworks import describe, keras_facts, torch_facts  # noqa: E402

EXTRA = {"lstm": 4, "rnn": 1, "gru": 0}  # PyTorch − Keras per layer and direction, in units of H
SIZES = st.one_of(st.integers(1, 5), st.sampled_from([17, 64]))
SETTINGS = settings(
    max_examples=120, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


from helpers import one_thread_per_module  # noqa: E402,F401  (autouse: torch on one thread)


def twins(cell, units, input_size, **options):
    keras_config = dict(units=units, input_size=input_size, cell=cell, framework="keras", bias=True, **options)
    if cell == "gru":
        keras_config["reset_after"] = True
    torch_config = dict(units=units, input_size=input_size, cell=cell, framework="torch", bias=True, **options)
    return keras_config, torch_config


@SETTINGS
@given(cell=st.sampled_from(["lstm", "gru", "rnn"]), units=SIZES, input_size=SIZES)
@example(cell="lstm", units=64, input_size=17)
@example(cell="gru", units=64, input_size=17)
@example(cell="rnn", units=64, input_size=17)
def test_single_layer(cell, units, input_size):
    keras_config, torch_config = twins(cell, units, input_size)
    keras_total, torch_total = keras_facts(keras_config).total, torch_facts(torch_config).total
    expected = EXTRA[cell] * units
    assert torch_total - keras_total == expected, f"real frameworks [{describe(torch_config)}]"
    got = lstmcalc.count(**torch_config) - lstmcalc.count(**keras_config)
    assert got == expected, f"lstmcalc [{describe(torch_config)}]"


@SETTINGS
@given(
    cell=st.sampled_from(["lstm", "gru", "rnn"]),
    units=SIZES,
    input_size=SIZES,
    layers=st.integers(1, 3),
    bidirectional=st.booleans(),
)
@example(cell="lstm", units=3, input_size=2, layers=3, bidirectional=True)
@example(cell="gru", units=3, input_size=2, layers=3, bidirectional=True)
@example(cell="rnn", units=3, input_size=2, layers=3, bidirectional=True)
def test_every_layer_and_direction(cell, units, input_size, layers, bidirectional):
    """The same per layer and direction of a stack (Keras Bidirectional concatenates, as
    PyTorch does, so layer k > 0 sees D·H features in both)."""
    options = dict(layers=layers, bidirectional=bidirectional)
    keras_config, torch_config = twins(cell, units, input_size, **options)
    keras_parts = keras_facts(keras_config).per_direction
    torch_parts = torch_facts(torch_config).per_direction
    assert keras_parts.keys() == torch_parts.keys()
    expected = EXTRA[cell] * units
    for place in keras_parts:
        assert torch_parts[place] - keras_parts[place] == expected, f"{place} [{describe(torch_config)}]"

    def per_place(config):
        rows = {}
        for g in lstmcalc.breakdown(**config).gates:
            rows[(g.layer, g.direction)] = rows.get((g.layer, g.direction), 0) + g.total
        return rows

    ours_keras, ours_torch = per_place(keras_config), per_place(torch_config)
    assert ours_keras.keys() == ours_torch.keys() == keras_parts.keys()
    for place in ours_keras:
        assert ours_torch[place] - ours_keras[place] == expected, f"lstmcalc {place} [{describe(torch_config)}]"
