"""cost(..., lengths=...) against the real FLOP counters run on a packed input:
``pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)`` into the
torch.nn twin, each tool called as test_cost_tools calls it. Measured (ptflops 0.7.5,
thop 0.1.1, torchinfo 1.8.0): ptflops reports None (its hook reads ``input.shape``),
thop charges B·max(lengths) steps, torchinfo raises. And the exact count's Σ lengths is
the number of rows PyTorch itself runs: ``packed.batch_sizes.sum()``.
"""

from __future__ import annotations

import io
import warnings

import pytest

torch = pytest.importorskip("torch")

from lstmcalc.costing import cost  # noqa: E402

CONFIGS = [
    dict(units=5, input_size=3, framework="torch", lengths=[7, 3, 1]),
    dict(units=5, input_size=3, framework="torch", layers=2, bidirectional=True, lengths=[7, 3, 1]),
    dict(units=4, input_size=2, framework="torch", cell="gru", layers=2, lengths=[2, 5, 5, 1], time=6),
    dict(units=6, input_size=2, framework="torch", cell="rnn", bias=False, lengths=[4, 4]),
    dict(units=5, input_size=3, framework="torch", proj_size=2, layers=2, lengths=[3, 1, 2]),
    dict(units=4, input_size=3, lengths=[5, 2, 3]),  # Keras LSTM, through its torch twin
]


def ids(o):
    return "-".join(f"{k}={v}" for k, v in o.items() if k != "framework")


def packed(c):
    s = c.spec
    x = torch.randn(s.batch, s.time, s.input_size)
    return torch.nn.utils.rnn.pack_padded_sequence(x, torch.tensor(c.lengths), batch_first=True, enforce_sorted=False)


def module(c):
    torch.manual_seed(0)
    return eval(c.compare.torch_equivalent, {"torch": torch})


@pytest.mark.parametrize("options", CONFIGS, ids=ids)
def test_sum_of_lengths_is_what_torch_runs(options):
    c = cost(**options)
    p = packed(c)
    assert c.steps == int(p.batch_sizes.sum()) == sum(options["lengths"])
    assert c.macs == c.steps * (c.flops.per_step_per_sample.matmul // 2)


@pytest.mark.parametrize("options", CONFIGS, ids=ids)
def test_thop_on_a_packed_input(options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        thop = pytest.importorskip("thop")
    c = cost(**options)
    ops, _ = thop.profile(module(c), inputs=(packed(c),), verbose=False)
    assert int(ops) == c.compare.thop
    full = cost(**{k: v for k, v in options.items() if k not in ("lengths", "time")}, batch=c.spec.batch,
                time=max(options["lengths"]))
    assert c.compare.thop == full.compare.thop  # B·max(lengths) steps, as on a padded input


@pytest.mark.parametrize("options", CONFIGS, ids=ids)
def test_ptflops_reports_none_on_a_packed_input(options):
    ptflops = pytest.importorskip("ptflops")
    c = cost(**options)
    out = io.StringIO()
    p = packed(c)
    macs, params = ptflops.get_model_complexity_info(
        module(c), (c.spec.time, c.spec.input_size), input_constructor=lambda res: p,
        as_strings=False, print_per_layer_stat=False, ost=out,
    )
    assert macs is None and params is None and c.compare.ptflops is None
    assert "'PackedSequence' object has no attribute 'shape'" in out.getvalue() + _stdout_of(ptflops, c, p)


def _stdout_of(ptflops, c, p) -> str:
    """ptflops prints its exception to stdout, not to ost: capture it."""
    import contextlib

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        ptflops.get_model_complexity_info(module(c), (c.spec.time, c.spec.input_size), input_constructor=lambda res: p,
                                          as_strings=False, print_per_layer_stat=False, ost=io.StringIO())
    return buf.getvalue()


@pytest.mark.parametrize("options", CONFIGS[:2], ids=ids)
def test_torchinfo_fails_on_a_packed_input(options):
    torchinfo = pytest.importorskip("torchinfo")
    c = cost(**options)
    with pytest.raises(AttributeError, match="'torch.Size' object has no attribute 'device'"):
        torchinfo.summary(module(c), input_data=packed(c), verbose=0)
    assert c.compare.torchinfo is None
