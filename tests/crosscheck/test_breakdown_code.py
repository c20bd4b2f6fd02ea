"""``Breakdown.code``, the framework lines lstmcalc prints as "the same layer", executed in real
Keras 3 and PyTorch: the layer they build must have breakdown's count and output shapes, and
compute the same function as a layer built independently from the configuration (its weights
copied in, random inputs).
"""

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import lstmcalc  # noqa: E402
from _frameworks import keras_stack, short_id, torch_module  # noqa: E402


from helpers import one_thread_per_module  # noqa: E402,F401  (autouse: torch on one thread)


KERAS = [
    dict(units=2, input_size=1),
    dict(units=1, input_size=1, bias=False),
    dict(units=3, input_size=2, cell="gru"),
    dict(units=3, input_size=2, cell="gru", reset_after=False, layers=2, return_sequences=True),
    dict(units=2, input_size=3, cell="rnn", activation="relu", time=4, return_state=True),
    dict(units=2, input_size=1, cell="rnn", bidirectional=True, merge_mode="sum", layers=2,
         return_sequences=True, return_state=True, time=4),
    dict(units=4, input_size=3, bidirectional=True, layers=3, batch=5, time=3, return_state=True),
    dict(units=2, input_size=2, cell="gru", bidirectional=True, merge_mode="mul", bias=False, time=2),
    dict(units=3, input_size=1, bidirectional=True, merge_mode="ave", layers=2, time=2),
]
TORCH = [
    dict(units=2, input_size=1, framework="torch"),
    dict(units=4, input_size=3, framework="torch", proj_size=2, bidirectional=True, layers=2, batch=8, time=5),
    dict(units=3, input_size=2, cell="gru", framework="torch", layers=3, bias=False),
    dict(units=3, input_size=2, cell="rnn", framework="torch", activation="relu", bidirectional=True, time=4),
    dict(units=1, input_size=1, cell="rnn", framework="torch"),
]


def _ids(config):
    return short_id(config) + ("-relu" if config.get("activation") == "relu" else "")


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
@pytest.mark.parametrize("config", KERAS, ids=_ids)
def test_keras_code_builds_the_same_layer(config):
    b = lstmcalc.breakdown(**config)
    built = [eval(line, {"keras": keras}) for line in b.code]  # noqa: S307 -- lstmcalc's own output, under test
    x = np.random.default_rng(0).standard_normal((b.spec.batch, b.spec.time, b.spec.input_size)).astype("float32")
    reference = keras_stack(config)

    def call(stack):
        y = x
        for layer in stack:
            y = layer(y)
        return [keras.ops.convert_to_numpy(t) for t in (y if isinstance(y, (list, tuple)) else [y])]

    expected = call(reference)
    got = call(built)
    assert sum(layer.count_params() for layer in built) == b.total
    assert [tuple(o.shape) for o in got] == [tuple(o.shape) for o in b.outputs]
    for mine, theirs in zip(built, reference):
        mine.set_weights(theirs.get_weights())
    for a, e in zip(call(built), expected):
        np.testing.assert_allclose(a, e, rtol=0, atol=1e-6)  # same float32 arithmetic


@pytest.mark.parametrize("config", TORCH, ids=_ids)
def test_torch_code_builds_the_same_layer(config):
    b = lstmcalc.breakdown(**config)
    assert len(b.code) == 1
    torch.manual_seed(0)
    built = eval(b.code[0], {"torch": torch})  # noqa: S307 -- lstmcalc's own output, under test
    reference = torch_module(config)
    x = torch.randn(b.spec.batch, b.spec.time, b.spec.input_size)
    assert sum(p.numel() for p in built.parameters()) == b.total
    with torch.no_grad():
        out, state = built(x)
    returned = [out, *state] if isinstance(state, tuple) else [out, state]
    assert [tuple(t.shape) for t in returned] == [tuple(o.shape) for o in b.outputs]
    built.load_state_dict(reference.state_dict())  # strict: the same names and shapes
    with torch.no_grad():
        out, _ = built(x)
        expected, _ = reference(x)
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
