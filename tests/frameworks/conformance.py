"""The one conformance check every registered convention passes (tests/frameworks/test_<name>.py
each call :func:`check_convention` with their name).

What it holds a convention to (issue 21, item 6):
- every option of the union of all conventions' ``OPTIONS`` is in its ``OPTIONS`` or refused by
  ``make_spec`` with a one-line reason (its ``WHY_NOT`` text where it gives one); likewise the
  structural refusals (``no_bias``, ``bidirectional``, ``layers``) it declares;
- each cell's ``GATE_ORDER`` is a permutation of the cell's gates;
- ``from_canonical(to_canonical(w)) == w`` exactly, for random weights (each tensor drawn
  separately) of every cell, with and without bias, stacked and bidirectional where it has them;
- ``count`` == the sum of ``all_tensors`` sizes == ``breakdown``'s total == ``cost``'s parameters;
- ``outputs(spec)`` (what breakdown lists) == what ``forward(...).returned`` gives: names, shapes, order.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import lstmcalc
from helpers import random_weights
from lstmcalc import frameworks
from lstmcalc.canonical import CELL_GATES
from lstmcalc.spec import SpecError

B, T = 3, 4  # small batch and time: shapes, not speed
# the conventions issue 16 added (tests/frameworks/test_pairs.py and test_registry.py loop over them)
ISSUE16 = ("keras2", "mlx", "equinox", "flax", "flax_nnx", "flax_nnx_opt")

# the options every convention that lacks them refuses with its own WHY_NOT reason (the LSTM
# variants and recurrent_activation may still fall back to make_spec's shared sentence)
STATED = ("merge_mode", "proj_size", "reset_before", "return_sequences", "return_state", "peepholes", "layout")


def _variant_value(name):
    from lstmcalc.spec import VARIANTS

    return True if isinstance(VARIANTS[name], bool) else 0.5


# option -> (cell it needs, make_spec keywords that use it)
def option_keywords(option: str) -> tuple[str, dict]:
    table = {
        "merge_mode": ("lstm", dict(bidirectional=True, merge_mode="sum")),
        "proj_size": ("lstm", dict(proj_size=1)),
        "reset_before": ("gru", dict(reset_after=False)),
        "return_sequences": ("lstm", dict(return_sequences=True)),
        "return_state": ("lstm", dict(return_state=True)),
        "peepholes": ("lstm", dict(peepholes=True)),
        "layout": ("lstm", dict(layout=1)),
        "direction": ("lstm", dict(direction="reverse")),
        "recurrent_activation": ("lstm", dict(recurrent_activation="hard_sigmoid_keras3")),
    }
    if option in table:
        return table[option]
    needs = dict(proj_size=1) if option in ("proj_bias", "proj_clip") else {}
    return "lstm", {option: _variant_value(option), **needs}


def all_options() -> set[str]:
    return set().union(*(frameworks.get(n).OPTIONS for n in frameworks.names()))


def configurations(fw) -> list[dict]:
    """make_spec keywords: every cell it runs, bias or not, stacked and bidirectional where it has them."""
    out = []
    for cell in fw.CELLS:
        for bias in (True, False):
            if not bias and "no_bias" in fw.WHY_NOT:
                continue
            shapes = [dict()]
            if "layers" not in fw.WHY_NOT:
                shapes.append(dict(layers=2))
            if "bidirectional" not in fw.WHY_NOT:
                shapes.append(dict(bidirectional=True))
                if "layers" not in fw.WHY_NOT:
                    shapes.append(dict(bidirectional=True, layers=2))
            for shape in shapes:
                out.append(dict(units=3, input_size=2, cell=cell, framework=fw.NAME, bias=bias, batch=B, time=T, **shape))
    for option in ("return_state", "return_sequences"):  # what it returns changes with these (Keras)
        if option in fw.OPTIONS:
            for shape in ([dict()] + ([dict(bidirectional=True)] if "bidirectional" not in fw.WHY_NOT else [])):
                for cell in fw.CELLS:
                    out.append(dict(units=3, input_size=2, cell=cell, framework=fw.NAME, batch=B, time=T,
                                    **{option: True}, **shape))
    return out


def check_options(name: str) -> None:
    fw = frameworks.get(name)
    for option in sorted(all_options()):
        cell, kw = option_keywords(option)
        if cell not in fw.CELLS:
            continue
        if option in fw.OPTIONS:
            frameworks.make_spec(3, 2, cell=cell, framework=name, **kw)  # accepted
            continue
        with pytest.raises(SpecError) as info:
            frameworks.make_spec(3, 2, cell=cell, framework=name, **kw)
        message = str(info.value)
        assert message and "\n" not in message, (option, message)
        if option in STATED:  # these every convention without them refuses with its own WHY_NOT reason
            assert option in fw.WHY_NOT, f"{name} has no {option} and no WHY_NOT[{option!r}] saying why"
        if option in fw.WHY_NOT:  # its own reason, or the reason it has no bidirectional layer to merge
            reasons = [fw.WHY_NOT[option]] + [fw.WHY_NOT[k] for k in ("bidirectional",) if kw.get(k) and k in fw.WHY_NOT]
            assert any(r in message for r in reasons), (option, message)
    for option, kw in (("no_bias", dict(bias=False)), ("bidirectional", dict(bidirectional=True)), ("layers", dict(layers=2))):
        if option in fw.WHY_NOT:
            with pytest.raises(SpecError) as info:
                frameworks.make_spec(3, 2, cell=fw.CELLS[0], framework=name, **kw)
            assert fw.WHY_NOT[option] in str(info.value)
        else:
            frameworks.make_spec(3, 2, cell=fw.CELLS[0], framework=name, **kw)


def check_gate_orders(name: str) -> None:
    fw = frameworks.get(name)
    for cell in fw.CELLS:
        order = fw.GATE_ORDER[cell]
        assert sorted(order) == sorted(CELL_GATES[cell]) and len(set(order)) == len(order), (cell, order)


def check_round_trip(config: dict, seed: int = 0) -> None:
    spec = frameworks.make_spec(**config)
    fw = frameworks.of(spec)
    w = random_weights(spec, seed)
    back = fw.from_canonical(fw.to_canonical(w, spec), spec)
    assert list(back) == list(w), (list(back), list(w))
    for k in w:
        assert back[k].shape == w[k].shape and np.array_equal(back[k], w[k]), k


def check_counts(config: dict) -> None:
    spec = frameworks.make_spec(**config)
    sizes = sum(math.prod(t.shape) for t in frameworks.all_tensors(spec))
    kw = {k: v for k, v in config.items() if k not in ("batch", "time")}
    assert lstmcalc.count(**kw) == sizes
    assert lstmcalc.breakdown(**kw).total == sizes
    cost = lstmcalc.cost(**kw).to_dict()
    assert cost["memory_bytes"]["parameters"] == sizes * cost["itemsize"]


def check_outputs(config: dict, seed: int = 1) -> None:
    spec = frameworks.make_spec(**config)
    w = random_weights(spec, seed)
    x = np.random.default_rng(seed).uniform(-1, 1, (B, T, spec.input_size))
    kw = {k: v for k, v in config.items() if k not in ("units", "input_size", "batch", "time")}
    got = [(n, a.shape) for n, a in lstmcalc.forward(x, w, backend="numpy", **kw).returned]
    assert got == [(o.name, o.shape) for o in frameworks.outputs(spec)]  # the same names: no mapping


def check_convention(name: str) -> None:
    """Every check above, over every configuration the convention has."""
    fw = frameworks.get(name)
    check_options(name)
    check_gate_orders(name)
    configs = configurations(fw)
    assert configs
    for config in configs:
        check_round_trip(config)
        check_counts(config)
        check_outputs(config)
