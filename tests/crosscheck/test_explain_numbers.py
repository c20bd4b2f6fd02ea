"""Every number that ``explain`` and ``breakdown``'s notes state, against real Keras 3 and PyTorch.

For each generated configuration (Keras: unidirectional and Bidirectional with every merge mode,
stacked, GRU in both reset forms, no bias, relu SimpleRNN, return_sequences/return_state;
PyTorch: every cell, stacked, bidirectional, projection, no bias, relu RNN) the test walks the
``numbers`` of every answer in ``explain --json`` and the ``note_numbers`` of ``breakdown --json``.
Each number names what it counts and its scope; the test measures that quantity on the real
framework layer built for the configuration (or the configuration with units or input changed,
as the scope says) at every place the scope covers, and the values must all equal the number.
A number whose name has no measurement here fails the test, so a new number cannot go unchecked.
"""

from __future__ import annotations

import json
import os
import random

import pytest

torch = pytest.importorskip("torch")
os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from typer.testing import CliRunner  # noqa: E402

from _frameworks import short_id  # noqa: E402
from _numbers import PLACE, WHOLE, check_number  # noqa: E402
from lstmcalc.cli import app  # noqa: E402

runner = CliRunner()


from helpers import one_thread_per_module  # noqa: E402,F401  (autouse: torch on one thread)


# ---------------------------------------------------------------- configurations


def _configs() -> list[dict]:
    rng = random.Random(1111)
    out = []

    def size():
        return rng.choice((1, 1, 2, 3, 4, 5))

    # the asker's four cases, in both frameworks
    for h, x in ((1, 1), (1, 2), (2, 1), (2, 2)):
        out.append(dict(units=h, input_size=x))
        out.append(dict(units=h, input_size=x, framework="torch"))
    # Keras: every cell, Bidirectional with every merge mode (None = its default), stacked, no bias
    for cell in ("lstm", "gru", "rnn"):
        for merge in ("uni", None, "concat", "sum", "mul", "ave"):
            layers = rng.choice((1, 2, 3))
            config = dict(units=size(), input_size=size(), cell=cell, layers=layers,
                          bias=rng.random() > 0.25, batch=rng.choice((1, 3, 32)), time=rng.choice((1, 4)))
            if merge != "uni":
                config["bidirectional"] = True
                if merge is not None:
                    config["merge_mode"] = merge
            if cell == "gru":
                config["reset_after"] = rng.choice((True, False))
            config["return_sequences"] = rng.random() > 0.5
            config["return_state"] = rng.random() > 0.5
            out.append(config)
    # both GRU reset forms, with and without bias, stacked and bidirectional
    for reset_after in (True, False):
        for bias in (True, False):
            out.append(dict(units=3, input_size=2, cell="gru", reset_after=reset_after, bias=bias,
                            layers=2, bidirectional=True))
    # relu SimpleRNN
    out.append(dict(units=2, input_size=3, cell="rnn", activation="relu", layers=2))
    out.append(dict(units=3, input_size=1, cell="rnn", activation="relu", framework="torch", bidirectional=True))
    # PyTorch: every cell, stacked, bidirectional, no bias; LSTM with projection
    for cell in ("lstm", "gru", "rnn"):
        for bidirectional in (False, True):
            for layers in (1, 3):
                out.append(dict(units=size(), input_size=size(), cell=cell, framework="torch",
                                bidirectional=bidirectional, layers=layers, bias=rng.random() > 0.25,
                                batch=rng.choice((1, 5)), time=rng.choice((1, 3))))
    for p, h, layers, bidirectional, bias in ((1, 2, 1, False, True), (2, 4, 2, True, True),
                                              (1, 3, 3, False, False), (3, 5, 2, True, False)):
        out.append(dict(units=h, input_size=3, framework="torch", proj_size=p, layers=layers,
                        bidirectional=bidirectional, bias=bias))
    return out


CONFIGS = _configs()


def _ids(config):
    return short_id(config) + ("-relu" if config.get("activation") == "relu" else "")


def _cli_options(config: dict) -> list[str]:
    args = ["-u", str(config["units"]), "-x", str(config["input_size"])]
    flags = {"cell": "--cell", "framework": "--framework", "merge_mode": "--merge-mode", "layers": "--layers",
             "proj_size": "--proj-size", "batch": "--batch", "time": "--time"}
    for key, flag in flags.items():
        if config.get(key) is not None:
            args += [flag, str(config[key])]
    if config.get("bias") is False:
        args.append("--no-bias")
    for key, flag in (("bidirectional", "--bidirectional"), ("return_sequences", "--return-sequences"),
                      ("return_state", "--return-state")):
        if config.get(key):
            args.append(flag)
    if config.get("reset_after") is not None:
        args.append("--reset-after" if config["reset_after"] else "--no-reset-after")
    return args


def stated_numbers(config: dict) -> list[tuple[str, dict]]:
    """(where, number) for every number of every explain answer and breakdown note."""
    import lstmcalc
    from lstmcalc.explain import answers
    from lstmcalc.frameworks import make_spec

    if config.get("activation"):  # the CLI has no --activation for explain/breakdown: the library
        spec = make_spec(**config)
        questions = [a.to_dict() for a in answers(spec)]
        notes = lstmcalc.breakdown(**config).to_dict()
    else:
        result = runner.invoke(app, ["explain", *_cli_options(config), "--json"])
        assert result.exit_code == 0, result.stderr
        questions = json.loads(result.stdout)["questions"]
        result = runner.invoke(app, ["breakdown", *_cli_options(config), "--json"])
        assert result.exit_code == 0, result.stderr
        notes = json.loads(result.stdout)
    out = []
    for q in questions:
        out += [(f"explain: {q['question']}", n) for n in q["numbers"]]
    assert len(notes["note_numbers"]) == len(notes["notes"])
    for text, numbers in zip(notes["notes"], notes["note_numbers"]):
        out += [(f"breakdown note: {text[:60]}...", n) for n in numbers]
    return out


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
@pytest.mark.parametrize("config", CONFIGS, ids=_ids)
def test_every_stated_number_is_the_real_frameworks(config):
    numbers = stated_numbers(config)
    assert numbers
    found = []
    for where, number in numbers:
        found += [f"{where}: {problem}" for problem in check_number(config, number)]
    assert not found, "\n".join(found)


def test_the_configurations_cover_the_issue():
    keras_merges = {c.get("merge_mode", "default") for c in CONFIGS if c.get("bidirectional")
                    and c.get("framework", "keras") == "keras"}
    assert keras_merges == {"default", "concat", "sum", "mul", "ave"}
    assert {c["reset_after"] for c in CONFIGS if c.get("cell") == "gru" and "reset_after" in c} == {True, False}
    assert any(c.get("proj_size") for c in CONFIGS)
    assert any(c.get("layers", 1) > 1 and c.get("bidirectional") for c in CONFIGS)
    assert any(c.get("bias") is False for c in CONFIGS)
    assert {c.get("framework", "keras") for c in CONFIGS if c.get("activation") == "relu"} == {"keras", "torch"}


def test_a_wrong_number_or_scope_is_caught():
    """The checker itself: a number off by one, a per-direction figure called whole, and an
    unknown name all fail."""
    config = dict(units=2, input_size=1, bidirectional=True)
    assert check_number(config, {"name": "input_feature_adds", "value": 16, "scope": "whole configuration"}) == []
    assert check_number(config, {"name": "input_feature_adds", "value": 8, "scope": "whole configuration"})
    assert check_number(config, {"name": "input_feature_adds", "value": 8, "scope": "layer 0, each direction"}) == []
    with pytest.raises(AssertionError):
        check_number(config, {"name": "input_feature_adds", "value": 8, "scope": "layer 0"})
    assert check_number(dict(units=4, input_size=3, layers=2),
                        {"name": "input_feature_adds", "value": 16, "scope": "per layer and direction"})
    assert check_number(config, {"name": "something_new", "value": 1, "scope": "whole configuration"})


def test_every_number_name_has_a_measurement():
    from lstmcalc.explain import NUMBER_NAMES

    # the numbers a convention's own bias sentence states: measured on the real frameworks in
    # tests/crosscheck/test_bias_note_numbers.py (each name there, against Keras, Flax and torch)
    from test_bias_note_numbers import MEASURED_THERE
    # the numbers ONNX's and TFLite's own notes state: measured on onnx/onnxruntime and on the
    # TFLite fixtures and interpreter in tests/crosscheck/test_note_numbers.py
    from test_note_numbers import MEASURED_HERE

    assert set(NUMBER_NAMES) == set(PLACE) | set(WHOLE) | MEASURED_THERE | MEASURED_HERE
