"""count and breakdown against the real torch.nn.LSTM / GRU / RNN.

For 384 configurations (8 per class: cell × bias × bidirectional × layers 1..3 × LSTM
projection or not; sizes mostly 1..5, some 17 and 64, from a seeded generator) the module is
built and called on zeros (B, T, X): the total, every tensor's (name, shape), its layer and
direction (from ``module.all_weights``), the output shapes and the gate rows must match.
"""

import itertools

import pytest

torch = pytest.importorskip("torch")

import lstmcalc  # noqa: E402
from _frameworks import mismatches, short_id, torch_configs, torch_facts  # noqa: E402


from helpers import one_thread_per_module  # noqa: E402,F401  (autouse: torch on one thread)

CONFIGS = torch_configs(per_class=8)

pytestmark = pytest.mark.filterwarnings(
    "ignore:LSTM with projections is not supported with oneDNN:UserWarning"
)


@pytest.mark.parametrize("config", CONFIGS, ids=short_id)
def test_count_and_breakdown_match_pytorch(config):
    real = torch_facts(config)
    found = mismatches(config, real, lstmcalc.count(**config), lstmcalc.breakdown(**config))
    assert not found, "\n".join(found)


def test_every_class_is_sampled():
    """The generator hits every combination class and the small and the larger sizes."""
    seen = {
        (c["cell"], c["bias"], c["bidirectional"], c["layers"], bool(c.get("proj_size"))) for c in CONFIGS
    }
    wanted = {
        (cell, bias, bidirectional, layers, projected)
        for cell, bias, bidirectional, layers, projected in itertools.product(
            ("lstm", "gru", "rnn"), (True, False), (False, True), (1, 2, 3), (False, True)
        )
        if cell == "lstm" or not projected
    }
    assert seen == wanted
    sizes = {c["units"] for c in CONFIGS} | {c["input_size"] for c in CONFIGS}
    assert {1, 2, 3, 4, 5, 17, 64} <= sizes
    assert len(CONFIGS) == 384


# Independently known: a PyTorch LSTM has 4·(X·H + H·H + 2H) parameters (weight_ih,
# weight_hh, bias_ih, bias_hh), i.e. 4H more than Keras' 4·((X + H)·H + H).
#   H=1, X=1: 4·(1 + 1 + 2) = 16     H=1, X=2: 4·(2 + 1 + 2) = 20
#   H=2, X=1: 4·(2 + 4 + 4) = 40     H=2, X=2: 4·(4 + 4 + 4) = 48
KNOWN = [((1, 1), 16), ((1, 2), 20), ((2, 1), 40), ((2, 2), 48)]


@pytest.mark.parametrize(("sizes", "expected"), KNOWN, ids=[f"H{h}-X{x}" for (h, x), _ in KNOWN])
def test_known_lstm_counts(sizes, expected):
    units, input_size = sizes
    config = dict(units=units, input_size=input_size, cell="lstm", framework="torch")
    real = torch_facts(config)
    assert real.total == expected, "real torch.nn.LSTM"
    assert lstmcalc.count(**config) == expected, "lstmcalc.count"
    assert lstmcalc.breakdown(**config).total == expected, "lstmcalc.breakdown"
    # and the rest of the breakdown, with the default batch=32, time=1
    found = mismatches(config, real, lstmcalc.count(**config), lstmcalc.breakdown(**config))
    assert not found, "\n".join(found)
