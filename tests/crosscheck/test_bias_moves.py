"""Which of PyTorch's two biases are interchangeable, measured on real torch.nn.LSTM/GRU/RNN, and
what lstmcalc says about it.

For each gate block, move bias_hh's block into bias_ih (b_ih += b_hh, b_hh = 0) in a copy of the
layer, with random weights and biases that differ per gate, and compare the outputs: where
only the sum b_ih + b_hh reaches the gate nothing changes; GRU's b_hn sits inside
r⊙(W_hn h + b_hn), so moving it changes the output. Keras' GRU with reset_after=True keeps the
same two biases as the rows of its (2, 3H) bias: the same move is made there.
"""

import copy
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import lstmcalc  # noqa: E402
from lstmcalc.explain import questions  # noqa: E402
from lstmcalc.frameworks import make_spec  # noqa: E402

ORDER = {"lstm": "ifgo", "gru": "rzn", "rnn": "h"}  # PyTorch's gate order (torch/nn/modules/rnn.py)
CHANGES = {"lstm": set(), "rnn": set(), "gru": {"n"}}  # what the cell math says; measured below


def _torch_layer(cell, units=3, input_size=2):
    torch.manual_seed(5)
    cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell]
    layer = cls(input_size=input_size, hidden_size=units, batch_first=True).double()
    with torch.no_grad():
        for p in layer.parameters():
            p.uniform_(-1.0, 1.0)  # every weight and bias random, different per gate
    return layer


def _moved_gates_torch(cell) -> set:
    units = 3
    layer = _torch_layer(cell, units)
    x = torch.randn(4, 6, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        reference = layer(x)[0]
    changed = set()
    for k, gate in enumerate(ORDER[cell]):
        moved = copy.deepcopy(layer)
        block = slice(k * units, (k + 1) * units)
        with torch.no_grad():
            moved.bias_ih_l0[block] += moved.bias_hh_l0[block]
            moved.bias_hh_l0[block] = 0.0
            out = moved(x)[0]
        # float64: a moved bias that only enters through the sum changes the output by rounding alone
        if not torch.allclose(out, reference, rtol=0, atol=1e-12):
            changed.add(gate)
    return changed


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_which_bias_moves_change_torch_outputs(cell):
    assert _moved_gates_torch(cell) == CHANGES[cell]


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
def test_keras_reset_after_gru_recurrent_bias_row():
    units = 3
    layer = keras.layers.GRU(units, reset_after=True, return_sequences=True)
    x = np.random.default_rng(2).standard_normal((4, 6, 2)).astype("float32")
    layer(x)
    rng = np.random.default_rng(3)
    weights = [rng.uniform(-1, 1, w.shape).astype("float32") for w in layer.get_weights()]
    layer.set_weights(weights)
    reference = keras.ops.convert_to_numpy(layer(x))
    changed = set()
    for k, gate in enumerate("zrn"):  # Keras' order z, r, h (= our n)
        kernel, recurrent, bias = (w.copy() for w in weights)
        block = slice(k * units, (k + 1) * units)
        bias[0, block] += bias[1, block]
        bias[1, block] = 0.0
        layer.set_weights([kernel, recurrent, bias])
        out = keras.ops.convert_to_numpy(layer(x))
        if not np.allclose(out, reference, rtol=0, atol=1e-5):  # float32 rounding of the moved sum
            changed.add(gate)
    assert changed == {"n"}


REDUNDANT = "one of the two is redundant"


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_what_lstmcalc_says_matches_the_measurement(cell):
    """The notes and the papers answer say the measured thing, for PyTorch and for Keras."""
    changes = _moved_gates_torch(cell)
    torch_notes = " ".join(lstmcalc.breakdown(units=3, input_size=2, cell=cell, framework="torch").notes)
    keras_notes = " ".join(lstmcalc.breakdown(units=3, input_size=2, cell=cell).notes)
    papers = questions(make_spec(3, 2, cell=cell))[-1][1]
    if changes:  # GRU: the candidate's recurrent bias is not redundant
        assert changes == {"n"}
        for text in (torch_notes, keras_notes):
            assert "b_hn" in text and "not redundant" in text and REDUNDANT not in text
            assert "only their sum" not in text
        assert "changes the output" in papers and "changes nothing" not in papers
    else:
        assert REDUNDANT in torch_notes and "only their sum" in torch_notes
        assert "only their sum" in keras_notes and "one of them is redundant" in keras_notes
        assert "changes nothing" in papers and "changes the output" not in papers
