"""Validation: every impossible size or combination is a SpecError naming the option."""

import pytest

from lstmcalc import SpecError, count

BAD = [
    (dict(units=0, input_size=1), "--units"),
    (dict(units=-3, input_size=1), "--units"),
    (dict(units=1.5, input_size=1), "--units"),
    (dict(units="2", input_size=1), "--units"),
    (dict(units=True, input_size=1), "--units"),
    (dict(units=2, input_size=0), "--input"),
    (dict(units=2, input_size=1, layers=0), "--layers"),
    (dict(units=2, input_size=1, batch=0), "--batch"),
    (dict(units=2, input_size=1, time=-1), "--time"),
    (dict(units=2, input_size=1, cell="lstmx"), "--cell"),
    (dict(units=2, input_size=1, framework="jax"), "--framework"),
    (dict(units=2, input_size=1, proj_size=1), "--proj-size"),  # keras
    (dict(units=2, input_size=1, proj_size=1, framework="torch", cell="gru"), "--proj-size"),
    (dict(units=2, input_size=1, proj_size=1, framework="torch", cell="rnn"), "--proj-size"),
    (dict(units=2, input_size=1, proj_size=2, framework="torch"), "--proj-size"),  # P == H
    (dict(units=2, input_size=1, proj_size=-1, framework="torch"), "--proj-size"),
    (dict(units=2, input_size=1, merge_mode="sum"), "--merge-mode"),  # not bidirectional
    (dict(units=2, input_size=1, merge_mode="sum", bidirectional=True, framework="torch"), "--merge-mode"),
    (dict(units=2, input_size=1, merge_mode="max", bidirectional=True), "--merge-mode"),
    (dict(units=2, input_size=1, reset_after=False), "--reset-after/--no-reset-after"),  # lstm
    (dict(units=2, input_size=1, reset_after=False, cell="gru", framework="torch"), "--reset-after/--no-reset-after"),
    (dict(units=2, input_size=1, return_state=True, framework="torch"), "--return-state"),
    (dict(units=2, input_size=1, return_sequences=True, framework="torch"), "--return-sequences"),
    (dict(units=2, input_size=1, bias="yes"), "--no-bias"),
]


@pytest.mark.parametrize("options, option", BAD)
def test_bad_options_name_the_option(options, option):
    with pytest.raises(SpecError) as info:
        count(**options)
    from lstmcalc.cli import option_name

    assert option_name(info.value.param) == option
    assert "\n" not in str(info.value)
    assert info.value.problem


def test_valid_edge_cases():
    assert count(units=2, input_size=1, proj_size=1, framework="torch") == 4 * (1 * 2 + 1 * 2 + 2 * 2) + 1 * 2
    assert count(units=2, input_size=1, proj_size=0, framework="torch") == 40
    assert count(units=2, input_size=1, cell="gru", reset_after=True, framework="torch") == 30
