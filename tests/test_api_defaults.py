"""lstmcalc.forward's defaults are the run command's (issue 13: the library and the CLI agree)."""

import inspect

from lstmcalc.cells import forward, prepare
from lstmcalc.cli import commands


def _run_defaults() -> dict:
    info = next(i for i in commands.registered_commands if i.callback.__name__ == "run")
    out = {}
    for name, p in inspect.signature(info.callback).parameters.items():
        default = p.default
        out[name] = getattr(default, "value", default)  # Enum choices -> their value
    return out


def test_forward_defaults_equal_the_cli():
    cli = _run_defaults()
    api = {n: p.default for n, p in inspect.signature(forward).parameters.items() if p.default is not p.empty}
    shared = sorted(set(cli) & set(api))
    assert {"backend", "return_sequences", "return_state"} <= set(shared)
    # the CLI's None means "from the weights, else the framework default": forward reads the
    # same weights, so only concrete CLI defaults are compared
    differing = {n: (cli[n], api[n]) for n in shared if cli[n] is not None and cli[n] != api[n]}
    assert differing == {}


def test_prepare_defaults_equal_forward():
    """lstmcalc.prepare(weights, ...)(x) is forward(x, weights, ...): the same keywords with
    the same defaults (the per-call ones, initial_state and lengths, go to the call)."""
    fwd = {n: p.default for n, p in inspect.signature(forward).parameters.items() if p.default is not p.empty}
    prep = {n: p.default for n, p in inspect.signature(prepare).parameters.items() if p.default is not p.empty}
    assert set(fwd) - set(prep) == {"initial_state", "lengths"}
    assert {n: fwd[n] for n in prep} == prep
