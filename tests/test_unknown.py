"""Nothing inferred is reported as fact: options a weights file cannot show are asked for
(run, convert) or shown as unknown (inspect), for every such option."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from lstmcalc.cli import app
from lstmcalc.frameworks import all_tensors, weights_key
from lstmcalc.readers import read_layers
from lstmcalc.frameworks import make_spec

runner = CliRunner()


def save(tmp_path, spec, name="w.npz"):
    rng = np.random.default_rng(0)
    path = tmp_path / name
    np.savez(path, **{weights_key(spec, t): rng.uniform(-0.8, 0.8, t.shape) for t in all_tensors(spec)})
    return path


# (spec, the option, the values the tensors allow, what `run` must be given)
CASES = [
    (make_spec(3, 2, bidirectional=True), "merge_mode", ["concat", "sum", "mul", "ave"], ["--merge-mode", "sum"]),
    (make_spec(3, 2, bidirectional=True, layers=2, merge_mode="ave"), "merge_mode", ["sum", "mul", "ave"],
     ["--merge-mode", "ave"]),
    (make_spec(3, 2, bidirectional=True, layers=2), "merge_mode", ["concat"], ["--merge-mode", "concat"]),
    (make_spec(3, 2, cell="gru", bias=False), "reset_after", [True, False], ["--no-reset-after"]),
    (make_spec(3, 2, cell="rnn"), "activation", ["tanh", "relu"], ["--activation", "relu"]),
    (make_spec(3, 2, cell="rnn", framework="torch", layers=2), "activation", ["tanh", "relu"], ["--activation", "tanh"]),
]


@pytest.mark.parametrize("spec, option, allowed, given", CASES)
def test_inspect_shows_unknown(tmp_path, spec, option, allowed, given):
    path = save(tmp_path, spec)
    [found] = read_layers(path)
    data = found.to_dict()
    assert data[option] is None
    assert data["unknown"] == {option: allowed}
    result = runner.invoke(app, ["inspect", str(path)], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    words = [str(v) for v in allowed]
    said = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]
    assert f"{option}: unknown ({said}; the file does not say)" in result.stdout


@pytest.mark.parametrize("spec, option, allowed, given", CASES)
def test_run_asks_for_it(tmp_path, spec, option, allowed, given):
    path = save(tmp_path, spec)
    base = ["run", "--weights", str(path), "--cell", spec.cell, "--framework", spec.framework, "--backend", "numpy",
            "-b", "2", "-t", "3"]
    refused = runner.invoke(app, base)
    assert refused.exit_code == 2 and refused.stdout == ""
    flag = {"merge_mode": "--merge-mode", "reset_after": "--reset-after/--no-reset-after",
            "activation": "--activation"}[option]
    assert refused.stderr.startswith(f"lstmcalc: error: {flag}: is needed"), refused.stderr
    assert len(refused.stderr.splitlines()) == 1
    ran = runner.invoke(app, [*base, *given, "--json"])
    assert ran.exit_code == 0, ran.stderr
    config = json.loads(ran.stdout)["config"]
    assert str(config[option]).lower() == {"--no-reset-after": "false"}.get(given[0], given[-1])


def test_known_options_are_not_reported_unknown(tmp_path):
    for spec in (make_spec(3, 2, cell="gru"), make_spec(3, 2, cell="gru", reset_after=False),
                 make_spec(3, 2, framework="torch", bidirectional=True), make_spec(3, 2, layers=2)):
        [found] = read_layers(save(tmp_path, spec))
        data = found.to_dict()
        assert data["unknown"] == {}
        if spec.cell == "gru":
            assert data["reset_after"] is spec.reset_after  # read from the bias shape: a fact


def test_convert_asks_for_reset_after_of_a_bias_free_keras_gru(tmp_path):
    path = save(tmp_path, make_spec(3, 2, cell="gru", bias=False))
    out = tmp_path / "t.npz"
    refused = runner.invoke(app, ["convert", str(path), "-o", str(out)])
    assert refused.exit_code == 2 and refused.stdout == "" and not out.exists()
    assert refused.stderr.startswith("lstmcalc: error: --reset-after/--no-reset-after: is needed")
    assert runner.invoke(app, ["convert", str(path), "-o", str(out), "--no-reset-after"]).exit_code == 2
    assert not out.exists()
    ok = runner.invoke(app, ["convert", str(path), "-o", str(out), "--reset-after"])
    assert ok.exit_code == 0, ok.stderr
    with np.load(out) as f:
        assert sorted(f.files) == ["weight_hh_l0", "weight_ih_l0"]
    with_bias = save(tmp_path, make_spec(3, 2, cell="gru", reset_after=False), "b.npz")
    contradicted = runner.invoke(app, ["convert", str(with_bias), "-o", str(out), "--reset-after"])
    assert contradicted.exit_code == 2 and "says reset_after=False" in contradicted.stderr


def test_convert_json_names_what_the_file_does_not_say(tmp_path):
    path = save(tmp_path, make_spec(3, 2, cell="rnn", framework="torch"))
    result = runner.invoke(app, ["convert", str(path), "-o", str(tmp_path / "k.npz"), "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["unknown"] == {"activation": ["tanh", "relu"]}
