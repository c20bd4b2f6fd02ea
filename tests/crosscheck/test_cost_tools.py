"""cost(...).compare against the real FLOP counters run on real torch.nn layers.

Each tool is run as its README says, on ``torch.nn.LSTM/GRU/RNN(..., batch_first=True)``
with a (B, T, X) input:
- ptflops: ``get_model_complexity_info(model, (T, X), input_constructor=..., as_strings=False)``
  with the default backend ('pytorch'); its first return value.
- thop: ``profile(model, inputs=(x,))``; its first return value (a float, compared as int).
- torchinfo: ``summary(model, input_size=(B, T, X)).total_mult_adds``.

The module is built here from the test's own options (``_module``), never from lstmcalc's
``torch_equivalent`` line, so a wrong equivalent cannot pass; a separate test checks that the
line builds this same module.

CI installs them with:  pip install 'torch==2.13.0' numpy ptflops thop torchinfo
(thop and torchinfo import numpy without declaring it; the torch pin stops an upgrade).
"""

import io
import itertools
import warnings

import pytest

torch = pytest.importorskip("torch")

from lstmcalc.costing import cost  # noqa: E402

TORCH_CLASSES = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}


def _configs():
    out = []
    # every cell, with and without bias, stacked and bidirectional, several B and T
    shapes = [(1, 1, 1, False), (3, 5, 2, True), (2, 4, 3, False), (4, 3, 2, False), (2, 6, 1, True)]
    for (cell, bias), (b, t, layers, bidir) in itertools.product(
        itertools.product(["lstm", "gru", "rnn"], [True, False]), shapes[:3]
    ):
        out.append(dict(units=5, input_size=3, cell=cell, bias=bias, batch=b, time=t, layers=layers,
                        bidirectional=bidir, framework="torch"))
    for cell, (b, t, layers, bidir) in itertools.product(["lstm", "gru", "rnn"], shapes[3:]):
        out.append(dict(units=7, input_size=4, cell=cell, batch=b, time=t, layers=layers,
                        bidirectional=bidir, framework="torch"))
    # PyTorch LSTM projections (ptflops and thop ignore W_hr; thop ignores P altogether)
    for p, layers, bidir, bias in [(1, 1, False, True), (2, 2, True, True), (3, 3, False, False), (4, 2, True, False)]:
        out.append(dict(units=5, input_size=3, proj_size=p, layers=layers, bidirectional=bidir, bias=bias,
                        batch=2, time=3, framework="torch"))
    # relu SimpleRNN, a longer sequence, a wider layer
    out.append(dict(units=6, input_size=2, cell="rnn", activation="relu", layers=2, bidirectional=True,
                    batch=3, time=4, framework="torch"))
    out.append(dict(units=8, input_size=8, batch=2, time=40, framework="torch"))
    out.append(dict(units=32, input_size=16, cell="gru", layers=2, batch=4, time=10, framework="torch"))
    # Keras specs: compared through their PyTorch twin
    out.append(dict(units=4, input_size=3, batch=2, time=3))  # LSTM: the twin has two biases
    out.append(dict(units=4, input_size=3, cell="gru", layers=2, batch=2, time=3))  # reset_after
    out.append(dict(units=4, input_size=3, cell="rnn", bidirectional=True, merge_mode="sum", batch=2, time=3))
    out.append(dict(units=4, input_size=3, bidirectional=True, layers=2, bias=False, batch=3, time=2))
    return out


CONFIGS = _configs()


def _ids(o):
    skip = {"framework"}
    return "-".join(f"{k}={v}" for k, v in o.items() if k not in skip)


def _module(options):
    """The torch.nn layer the tools run on, built here from the test's own options, not from
    anything lstmcalc says (a Keras configuration's twin: the same cell, sizes, bias, layers and
    directions in PyTorch, which keeps two biases and always concatenates the directions)."""
    torch.manual_seed(0)
    cls = getattr(torch.nn, TORCH_CLASSES[options.get("cell", "lstm")])
    kwargs = dict(input_size=options["input_size"], hidden_size=options["units"],
                  num_layers=options.get("layers", 1), bias=options.get("bias", True), batch_first=True,
                  bidirectional=options.get("bidirectional", False))
    if options.get("proj_size"):
        kwargs["proj_size"] = options["proj_size"]
    if options.get("activation"):
        kwargs["nonlinearity"] = options["activation"]
    return cls(**kwargs)


def _input(c):
    s = c.spec
    return torch.randn(s.batch, s.time, s.input_size)


def test_there_are_a_few_dozen_configurations():
    assert len(CONFIGS) >= 30


@pytest.mark.parametrize("options", CONFIGS, ids=_ids)
def test_ptflops(options):
    ptflops = pytest.importorskip("ptflops")
    c = cost(**options)
    model, x = _module(options), _input(c)
    out = io.StringIO()
    macs, params = ptflops.get_model_complexity_info(
        model, tuple(x.shape[1:]), input_constructor=lambda res: x,
        as_strings=False, print_per_layer_stat=False, ost=out,
    )
    assert macs is not None, out.getvalue()
    assert params == sum(p.numel() for p in model.parameters())
    assert macs == c.compare.ptflops


@pytest.mark.parametrize("options", CONFIGS, ids=_ids)
def test_thop(options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # thop 0.1.1 imports distutils
        thop = pytest.importorskip("thop")
    c = cost(**options)
    ops, _ = thop.profile(_module(options), inputs=(_input(c),), verbose=False)
    assert ops == int(ops)
    assert int(ops) == c.compare.thop


@pytest.mark.parametrize("options", CONFIGS, ids=_ids)
def test_torchinfo(options):
    torchinfo = pytest.importorskip("torchinfo")
    c = cost(**options)
    s = c.spec
    stats = torchinfo.summary(_module(options), input_size=(s.batch, s.time, s.input_size), verbose=0)
    assert stats.total_mult_adds == c.compare.torchinfo


@pytest.mark.parametrize("options", CONFIGS, ids=_ids)
def test_torch_equivalent_is_the_independent_module(options):
    """The constructor line cost() prints builds the module the tools were run on here."""
    c = cost(**options)
    theirs = _module(options)
    mine = eval(c.compare.torch_equivalent, {"torch": torch})  # noqa: S307 -- lstmcalc's output, under test
    assert type(mine) is type(theirs)
    assert [(n, tuple(p.shape)) for n, p in mine.named_parameters()] == [
        (n, tuple(p.shape)) for n, p in theirs.named_parameters()
    ]
    assert getattr(mine, "nonlinearity", None) == getattr(theirs, "nonlinearity", None)
    assert mine.batch_first and mine.bidirectional == theirs.bidirectional


def test_keras_layers_without_a_twin_report_none():
    for options in (
        dict(units=4, input_size=3, cell="gru", reset_after=False),
        dict(units=4, input_size=3, bidirectional=True, merge_mode="ave", layers=2),
    ):
        c = cost(**options)
        assert (c.compare.torch_equivalent, c.compare.ptflops, c.compare.thop, c.compare.torchinfo) == (
            None, None, None, None,
        )
        assert c.compare.reason
