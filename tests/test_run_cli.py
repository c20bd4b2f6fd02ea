"""lstmcalc run from the command line: shapes, files in and out, and every refusal."""

import json
import subprocess
import sys

import numpy as np
import pytest

from lstmcalc import breakdown



from helpers import invoke  # noqa: E402  (CliRunner, arguments as strings)


def test_run_default_shows_every_tensor():
    result = invoke("run", "--units", "2", "--input", "1", "--backend", "numpy")
    assert result.exit_code == 0, result.stderr
    for needle in ("(32, 1, 1)", "kernel", "(1, 8)", "recurrent_kernel", "(2, 8)", "(32, 2)",
                   "GFLOP/s", "backend", "numpy", "output[0]"):
        assert needle in result.stdout, needle
    # keras.layers.LSTM(2) returns its last step, (32, 2), as breakdown says; not (32, 1, 2)
    assert "(32, 1, 2)" not in result.stdout
    assert [line.split()[:3] for line in result.stdout.splitlines() if line.strip().startswith("output ")] == [
        ["output", "output", "(32,"]]


def _returned(*args):
    result = invoke("run", "-u", "3", "-x", "2", "-b", "4", "-t", "5", "--backend", "numpy", "--json", *args)
    assert result.exit_code == 0, result.stderr
    return [(r["name"], tuple(r["shape"])) for r in json.loads(result.stdout)["returned"]]


def test_run_returns_what_keras_returns_for_its_options():
    assert _returned() == [("output", (4, 3))]
    assert _returned("--return-sequences") == [("output", (4, 5, 3))]
    assert _returned("--return-state") == [("output", (4, 3)), ("h", (4, 3)), ("c", (4, 3))]
    assert _returned("--bidirectional", "--return-sequences", "--return-state") == [
        ("output", (4, 5, 6)), ("h_fw", (4, 3)), ("c_fw", (4, 3)), ("h_bw", (4, 3)), ("c_bw", (4, 3))]
    assert _returned("--bidirectional", "--merge-mode", "sum", "--cell", "gru", "--return-state") == [
        ("output", (4, 3)), ("h_fw", (4, 3)), ("h_bw", (4, 3))]
    assert _returned("-f", "torch", "--cell", "gru") == [("output", (4, 5, 3)), ("h_n", (1, 4, 3))]
    assert _returned("-f", "torch") == [("output", (4, 5, 3)), ("h_n", (1, 4, 3)), ("c_n", (1, 4, 3))]
    assert _returned("-f", "onnx") == [("Y", (5, 1, 4, 3)), ("Y_h", (1, 4, 3)), ("Y_c", (1, 4, 3))]
    assert _returned("-f", "onnx", "--cell", "gru", "--layout", "1") == [("Y", (4, 5, 1, 3)), ("Y_h", (4, 1, 3))]


def test_run_shows_and_saves_exactly_what_is_returned(tmp_path):
    from lstmcalc.running import run_layer
    from lstmcalc.frameworks import make_spec

    out = tmp_path / "o.npz"
    result = invoke("run", "-u", "3", "-x", "2", "-b", "4", "-t", "5", "--backend", "numpy", "--bidirectional",
                    "--return-state", "--save", out)
    assert result.exit_code == 0, result.stderr
    rows = [line.split()[:2] for line in result.stdout.splitlines() if line.strip().startswith(("output ", "state "))]
    assert rows == [["output", "output"], ["state", "h_fw"], ["state", "c_fw"], ["state", "h_bw"],
                    ["state", "c_bw"]]
    report = run_layer(make_spec(3, 2, bidirectional=True, return_state=True, batch=4, time=5), backend="numpy")
    with np.load(out) as saved:
        assert saved.files == ["output", "h_fw", "c_fw", "h_bw", "c_bw"]
        for name, array in report.result.returned:
            np.testing.assert_array_equal(saved[name], array)
    # no return_state: Keras returns the output alone, and that is all that is saved
    assert invoke("run", "-u", "3", "-x", "2", "--backend", "numpy", "--save", out).exit_code == 0
    with np.load(out) as saved:
        assert saved.files == ["output"] and saved["output"].shape == (32, 3)


@pytest.mark.parametrize("args", [
    ["--units", "3", "--input", "2", "--time", "4", "--batch", "5"],
    ["--units", "3", "--input", "2", "-f", "torch", "--bidirectional", "--layers", "2", "-t", "4", "-b", "5"],
    ["--units", "4", "--input", "2", "-f", "torch", "--proj-size", "2", "-t", "3", "-b", "2"],
    ["--units", "3", "--input", "2", "--cell", "gru", "--bidirectional", "--merge-mode", "sum", "-t", "4", "-b", "5"],
    ["--units", "3", "--input", "2", "--cell", "rnn", "-f", "torch", "--activation", "relu", "-t", "4", "-b", "5"],
])
def test_run_json_shapes_agree_with_breakdown(args):
    result = invoke("run", *args, "--json", "--backend", "numpy")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    cfg = data["config"]
    options = {k: cfg[k] for k in ("cell", "framework", "bias", "bidirectional", "layers", "proj_size", "batch", "time")}
    if cfg["bidirectional"] and cfg["framework"] == "keras":
        options["merge_mode"] = cfg["merge_mode"]
    b = breakdown(units=cfg["units"], input_size=cfg["input_size"], **options)
    shapes = {(t["role"], t["name"]): tuple(t["shape"]) for t in data["tensors"]}
    for t in b.tensors:
        key = t.name if cfg["framework"] == "torch" or (cfg["layers"] == 1 and not cfg["bidirectional"]) \
            else f"layer{t.layer}/{t.direction}/{t.name}"
        assert shapes[("weight", key)] == t.shape
    assert shapes[("output", "output")] == b.outputs[0].shape
    if cfg["framework"] == "torch":
        assert shapes[("state", "h_n")] == b.outputs[1].shape and b.outputs[1].name == "h_n"
    assert data["backend"] == "numpy"
    assert data["run_ms"] >= 0 and data["gflops_per_s"] > 0


def test_run_is_deterministic_for_a_seed():
    one = json.loads(invoke("run", "-u", "3", "-x", "2", "--seed", "5", "--json", "--backend", "numpy").stdout)
    two = json.loads(invoke("run", "-u", "3", "-x", "2", "--seed", "5", "--json", "--backend", "numpy").stdout)
    other = json.loads(invoke("run", "-u", "3", "-x", "2", "--seed", "6", "--json", "--backend", "numpy").stdout)
    assert one["h_sample"] == two["h_sample"] != other["h_sample"]


def test_run_save_layouts(tmp_path):
    out = tmp_path / "out.npz"
    result = invoke("run", "-u", "3", "-x", "2", "-f", "torch", "--bidirectional", "-l", "2", "-b", "4", "-t", "5",
                    "--save", out, "--backend", "numpy")
    assert result.exit_code == 0, result.stderr
    saved = np.load(out)
    assert saved.files == ["output", "h_n", "c_n"]
    assert saved["output"].shape == (4, 5, 6) and saved["h_n"].shape == (4, 4, 3) and saved["c_n"].shape == (4, 4, 3)
    keras_out = tmp_path / "k.npz"
    assert invoke("run", "-u", "3", "-x", "2", "--cell", "gru", "--bidirectional", "-b", "4", "-t", "5",
                  "--save", keras_out, "--backend", "numpy").exit_code == 0
    saved = np.load(keras_out)
    assert saved["output"].shape == (4, 6) and saved.files == ["output"]
    assert invoke("run", "-u", "3", "-x", "2", "--cell", "gru", "--bidirectional", "-b", "4", "-t", "5",
                  "--return-sequences", "--return-state", "--save", keras_out, "--backend", "numpy").exit_code == 0
    saved = np.load(keras_out)
    assert saved.files == ["output", "h_fw", "h_bw"]
    assert saved["output"].shape == (4, 5, 6) and saved["h_fw"].shape == (4, 3) and saved["h_bw"].shape == (4, 3)


def test_run_with_weights_and_inputs_files(tmp_path):
    rng = np.random.default_rng(0)
    w = {"kernel": rng.standard_normal((2, 12)), "recurrent_kernel": rng.standard_normal((3, 12)),
         "bias": rng.standard_normal(12)}
    np.savez(tmp_path / "w.npz", **w)
    np.save(tmp_path / "x.npy", rng.standard_normal((4, 6, 2)))
    result = invoke("run", "--weights", tmp_path / "w.npz", "--inputs", tmp_path / "x.npy", "--dtype", "float64",
                    "--json", "--backend", "numpy")
    assert result.exit_code == 0, result.stderr
    cfg = json.loads(result.stdout)["config"]
    assert (cfg["units"], cfg["input_size"], cfg["batch"], cfg["time"]) == (3, 2, 4, 6)


def _files(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "w.npz", kernel=rng.standard_normal((2, 12)), recurrent_kernel=rng.standard_normal((3, 12)),
             bias=rng.standard_normal(12))
    np.save(tmp_path / "x.npy", rng.standard_normal((4, 6, 2)))
    bad = rng.standard_normal((4, 6, 2))
    bad[1, 2, 0] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    np.save(tmp_path / "x2d.npy", rng.standard_normal((4, 6)))
    (tmp_path / "corrupt.npz").write_bytes(b"PK\x03\x04 truncated")


@pytest.mark.parametrize("args, code, needle", [
    (["--input", "1"], 2, "--units"),
    (["--units", "2"], 2, "--input"),
    (["-u", "2", "-x", "1", "--save", "{d}/out.txt"], 2, "--save"),
    (["-u", "2", "-x", "1", "--save", "{d}/missing/out.npz"], 1, "--save"),  # a path: exit 1
    (["-u", "2", "-x", "1", "--dtype", "float16"], 2, "--dtype"),
    (["-u", "2", "-x", "1", "--activation", "relu"], 2, "--activation"),
    (["-u", "2", "-x", "1", "--seed", "-1"], 2, "--seed"),
    (["-u", "2", "-x", "1", "--batch", "0"], 2, "--batch"),
    (["-u", "200000", "-x", "200000", "--batch", "4096", "--time", "4096"], 1, "GiB"),  # memory: exit 1
    (["--weights", "{d}/missing.npz"], 1, "missing.npz"),
    (["--weights", "{d}/corrupt.npz"], 1, "corrupt.npz"),
    (["--weights", "{d}/w.npz", "--units", "5"], 2, "units"),
    (["--weights", "{d}/w.npz", "--framework", "torch"], 2, "kernel"),
    (["--weights", "{d}/w.npz", "--inputs", "{d}/nan.npy"], 1, "nan.npy"),
    (["--weights", "{d}/w.npz", "--inputs", "{d}/x2d.npy"], 1, "x2d.npy"),
    (["--weights", "{d}/w.npz", "--inputs", "{d}/x.npy", "--batch", "3"], 2, "--batch"),
    (["--weights", "{d}/w.npz", "--inputs", "{d}/x.npy", "--save", "{d}/out.npz", "--input", "3"], 1, "x.npy"),
])
def test_run_refusals(tmp_path, args, code, needle):
    _files(tmp_path)
    before = set(tmp_path.iterdir())
    result = invoke("run", *[a.format(d=tmp_path) for a in args])
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and needle in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert set(tmp_path.iterdir()) == before


def test_backend_numba_without_numba_is_a_clear_error():
    probe = ("import sys; sys.modules['numba'] = None\n"
             "from lstmcalc.cli import main\n"
             "main(['run', '--units', '2', '--input', '1', '--backend', 'numba'])\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert out.returncode == 2 and out.stdout == ""
    assert "pip install 'lstmcalc[numba]'" in out.stderr and out.stderr.count("\n") == 1
