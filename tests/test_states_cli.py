"""run --initial-state/--lengths, breakdown's initial states and cost --lengths, from the
command line and the library; every refusal one line on stderr with its exit code."""

from __future__ import annotations

import json

import numpy as np
import pytest

import lstmcalc
from lstmcalc.frameworks import all_tensors, weights_key
from lstmcalc.frameworks import make_spec
from lstmcalc.spec import SpecError



from helpers import invoke  # noqa: E402  (CliRunner, arguments as strings)


def refused(result, code, message):
    assert result.exit_code == code, result.stdout
    assert result.stdout == ""
    assert result.stderr == f"lstmcalc: error: {message}\n"


# --- cost --------------------------------------------------------------------------------------


def test_cost_with_lengths_counts_the_sum_of_lengths():
    # per sample-step: layer 0 4·(3·5 + 5·5) = 160, layer 1 4·(5·5 + 5·5) = 200 MACs; 7 + 3 + 1 = 11 steps
    c = lstmcalc.cost(units=5, input_size=3, framework="torch", layers=2, lengths=[7, 3, 1])
    assert (c.spec.batch, c.spec.time, c.steps, c.lengths) == (3, 7, 11, (7, 3, 1))
    assert c.macs == 360 * 11 == 3960
    assert c.flops.matmul == 7920
    assert c.flops.bias == 2 * 2 * 4 * 5 * 11  # bias_ih + bias_hh, 2 layers, 4 gates, H = 5
    assert c.compare.thop == lstmcalc.cost(units=5, input_size=3, framework="torch", layers=2, batch=3,
                                           time=7).compare.thop
    assert c.compare.ptflops is None and c.compare.torchinfo is None
    assert c.formula.endswith("= 11·1·[4·(3·5 + 5·5) + 1·4·(5·5 + 5·5)] = 3960")
    assert "B·max(lengths) = 21 sample-steps for 11 real ones" in c.compare.notes[1].note
    full = lstmcalc.cost(units=5, input_size=3, framework="torch", layers=2, batch=3, time=7)
    assert full.macs == 360 * 21 and full.memory_bytes == c.memory_bytes


def test_cost_with_lengths_says_keras_masking_computes_every_step():
    c = lstmcalc.cost(units=4, input_size=3, lengths=[5, 2, 3])
    assert c.macs == 4 * (3 * 4 + 4 * 4) * 10
    assert any("Keras runs B·T = 15 sample-steps' arithmetic for these 10" in n for n in c.notes)


@pytest.mark.parametrize("lengths, problem", [
    ([3, 0], "lengths[1] = 0"), ([3, 9], "lengths[1] = 9"), ([True, 2], "lengths[0] = True"), ([1, 2, 3], "has 3 value(s)"),
])
def test_cost_refuses_bad_lengths(lengths, problem):
    with pytest.raises(SpecError) as e:
        lstmcalc.cost(units=2, input_size=1, batch=2, time=8, lengths=lengths)
    assert str(e.value) == f"lengths: {problem}; allowed: 2 whole number(s), one per batch row, each 1 <= length <= T = 8"


def test_cost_cli_lengths_json_and_table():
    r = invoke("cost", "--units", 5, "--input", 3, "-f", "torch", "--layers", 2, "--lengths", "7,3,1", "--json")
    assert r.exit_code == 0, r.stderr
    d = json.loads(r.stdout)
    assert (d["lengths"], d["steps"], d["macs"], d["config"]["batch"], d["config"]["time"]) == ([7, 3, 1], 11, 3960, 3, 7)
    assert d["compare"]["thop"] == 10920 and d["compare"]["ptflops"] is None
    r = invoke("cost", "--units", 5, "--input", 3, "-f", "torch", "--lengths", "7,3,1", "--time", 9)
    assert r.exit_code == 0 and "whole run (Σ lengths = 11)" in r.stdout and "T = 9" in r.stdout


@pytest.mark.parametrize("args, message", [
    (["--lengths", "7,x"], "--lengths: must be whole numbers separated by commas (5,3,7) or an .npy file, got '7,x'"),
    (["--lengths", "7,3", "--batch", "3"], "--lengths: has 2 value(s); allowed: 3 whole number(s), one per batch row, "
                                           "each 1 <= length <= T = 7"),
    (["--lengths", "7,3", "--time", "5"], "--lengths: lengths[0] = 7; allowed: 2 whole number(s), one per batch row, "
                                          "each 1 <= length <= T = 5"),
    (["--units", "2:4", "--lengths", "2"], "--lengths: takes one --units and one --input, not lists or a plot"),
])
def test_cost_cli_refuses_bad_lengths(args, message):
    base = ["cost", "--input", 1] + ([] if "--units" in args else ["--units", 2])
    refused(invoke(*base, *args), 2, message)


# --- breakdown ---------------------------------------------------------------------------------


def test_breakdown_lists_the_initial_states_each_framework_takes():
    d = json.loads(invoke("breakdown", "--units", 4, "--input", 2, "-f", "torch", "--layers", 2, "--bidirectional",
                          "--proj-size", 3, "--batch", 5, "--json").stdout)
    assert d["initial_states"] == [
        {"name": "h0", "shape": [4, 5, 3], "meaning": "initial h of every layer and direction"},
        {"name": "c0", "shape": [4, 5, 4], "meaning": "initial c of every layer and direction"},
    ]
    assert [o["shape"] for o in d["outputs"] if o["name"] in ("h_n", "c_n")] == [[4, 5, 3], [4, 5, 4]]
    d = json.loads(invoke("breakdown", "--units", 4, "--input", 2, "--bidirectional", "--batch", 5, "--json").stdout)
    assert [(s["name"], s["shape"]) for s in d["initial_states"]] == [
        ("h_fw", [5, 4]), ("c_fw", [5, 4]), ("h_bw", [5, 4]), ("c_bw", [5, 4])]
    d = json.loads(invoke("breakdown", "--units", 4, "--input", 2, "--cell", "gru", "--layers", 2, "--batch", 5,
                          "--json").stdout)
    assert [(s["name"], s["shape"]) for s in d["initial_states"]] == [("layer0/h", [5, 4]), ("layer1/h", [5, 4])]
    table = invoke("breakdown", "--units", 4, "--input", 2, "-f", "torch", "--batch", 5).stdout
    assert "  in    h0       (1, 5, 4)" in table and "  out   h_n      (1, 5, 4)" in table


# --- run ---------------------------------------------------------------------------------------


@pytest.fixture
def files(tmp_path):
    spec = make_spec(3, 2, cell="lstm", framework="torch", layers=2)
    rng = np.random.default_rng(0)
    weights = {weights_key(spec, t): rng.uniform(-0.8, 0.8, t.shape) for t in all_tensors(spec)}
    np.savez(tmp_path / "w.npz", **weights)
    x = rng.uniform(-2, 2, (4, 6, 2))
    np.save(tmp_path / "x.npy", x)
    h0, c0 = rng.uniform(-1, 1, (2, 4, 3)), rng.uniform(-1, 1, (2, 4, 3))
    np.savez(tmp_path / "s.npz", h0=h0, c0=c0)
    np.save(tmp_path / "len.npy", np.array([6, 2, 1, 4]))
    return tmp_path, weights, x, (h0, c0)


@pytest.mark.parametrize("lengths", ["6,2,1,4", "len.npy"])
def test_run_starts_from_the_states_file_and_honours_lengths(files, lengths):
    tmp, weights, x, state = files
    arg = str(tmp / lengths) if lengths.endswith(".npy") else lengths
    r = invoke("run", "-f", "torch", "--weights", tmp / "w.npz", "--inputs", tmp / "x.npy", "--dtype", "float64",
               "--initial-state", tmp / "s.npz", "--lengths", arg, "--save", tmp / "out.npz", "--backend", "numpy")
    assert r.exit_code == 0, r.stderr
    want = lstmcalc.forward(x, weights, framework="torch", layers=2, initial_state=state, lengths=[6, 2, 1, 4])
    with np.load(tmp / "out.npz") as saved:
        np.testing.assert_array_equal(saved["output"], want.output)
        assert saved.files == ["output", "h_n", "c_n"]
        np.testing.assert_array_equal(saved["h_n"], want.h)
        np.testing.assert_array_equal(saved["c_n"], want.c)
    for row in ("input           lengths        (4,)", "initial state   h0             (2, 4, 3)",
                "initial state   c0             (2, 4, 3)", "state           h_n            (2, 4, 3)"):
        assert row in r.stdout, row
    assert "lengths         6, 2, 1, 4 of T = 6" in r.stdout
    d = json.loads(invoke("run", "-f", "torch", "--weights", tmp / "w.npz", "--inputs", tmp / "x.npy",
                          "--initial-state", tmp / "s.npz", "--lengths", arg, "--json").stdout)
    assert d["lengths"] == [6, 2, 1, 4] and d["initial_state"] == str(tmp / "s.npz")
    assert {"role": "initial state", "name": "c0", "shape": [2, 4, 3]} in d["tensors"]


def test_run_without_states_says_zeros():
    d = json.loads(invoke("run", "--units", 2, "--input", 1, "--batch", 3, "--json", "--backend", "numpy").stdout)
    assert d["initial_state"] == "zeros" and d["lengths"] is None
    assert [t for t in d["tensors"] if t["role"] == "initial state"] == [
        {"role": "initial state", "name": "h", "shape": [3, 2]}, {"role": "initial state", "name": "c", "shape": [3, 2]}]


def test_run_refuses_bad_state_files_and_lengths(files):
    tmp, _, _, (h0, c0) = files
    base = ["run", "-f", "torch", "--weights", tmp / "w.npz", "--inputs", tmp / "x.npy"]
    np.savez(tmp / "keras.npz", h=h0[0], c=c0[0])  # h, c: earlier versions' names, read as h0, c0
    refused(invoke(*base, "--initial-state", tmp / "keras.npz"), 1,
            f"{tmp / 'keras.npz'}: h (read as h0) has shape (4, 3); expected (2, 4, 3)")
    np.savez(tmp / "bi.npz", h_fw=h0[0], c_fw=c0[0])
    refused(invoke(*base, "--initial-state", tmp / "bi.npz"), 1,
            f"{tmp / 'bi.npz'}: 'c_fw' is not a state name; torch.nn.LSTM's hx takes h0, c0")
    np.savez(tmp / "short.npz", h0=h0[:1], c0=c0)
    refused(invoke(*base, "--initial-state", tmp / "short.npz"), 1,
            f"{tmp / 'short.npz'}: h0 has shape (1, 4, 3); expected (2, 4, 3)")
    np.savez(tmp / "big.npz", h0=np.zeros((2, 4, 3000)), c0=c0)
    r = invoke(*base, "--initial-state", tmp / "big.npz")
    assert r.exit_code == 1 and "h0.npy holds 192,128 bytes; the largest state this layer takes is 192 bytes" in r.stderr
    refused(invoke(*base, "--initial-state", tmp / "nope.npz"), 1, f"{tmp / 'nope.npz'}: no such file")
    refused(invoke(*base, "--initial-state", tmp / "x.npy"), 1,
            f"{tmp / 'x.npy'}: holds one array (.npy), not named arrays (.npz)")
    refused(invoke(*base, "--lengths", "6,2,1"), 2,
            "--lengths: has shape (3,); allowed: 4 whole number(s), one per batch row, each 1 <= length <= T = 6")
    refused(invoke(*base, "--lengths", "6,2,1,7"), 2,
            "--lengths: lengths[3] = 7; allowed: 4 whole number(s), one per batch row, each 1 <= length <= T = 6")
    np.save(tmp / "flen.npy", np.array([1.0, 2.0]))
    refused(invoke(*base, "--lengths", tmp / "flen.npy"), 1,
            f"{tmp / 'flen.npy'}: dtype float64, shape (2,); lengths are one integer vector (B,)")


def test_run_takes_batch_and_time_from_lengths(tmp_path):
    d = json.loads(invoke("run", "--units", 2, "--input", 1, "-f", "torch", "--lengths", "4,2,1", "--json",
                          "--backend", "numpy").stdout)
    assert (d["config"]["batch"], d["config"]["time"], d["lengths"]) == (3, 4, [4, 2, 1])
    refused(invoke("run", "--units", 2, "--input", 1, "--lengths", "4,2,1", "--time", 3), 2,
            "--lengths: lengths[0] = 4; allowed: 3 whole number(s), one per batch row, each 1 <= length <= T = 3")
    np.save(tmp_path / "many.npy", np.ones(600, dtype=np.int64))
    refused(invoke("run", "--units", 2, "--input", 1, "--batch", 3, "--lengths", tmp_path / "many.npy"), 1,
            f"{tmp_path / 'many.npy'}: 4,928 bytes; lengths for B = 3 rows take at most 4,120")


# --- the names a states file may use (issue 21: run --save writes the framework's names) --------


def _torch_run(tmp, *extra):
    return invoke("run", "-f", "torch", "--weights", tmp / "w.npz", "--inputs", tmp / "x.npy", "--dtype", "float64",
                  "--backend", "numpy", *extra)


@pytest.mark.parametrize("names", [("h0", "c0"), ("h_0", "c_0"), ("h_n", "c_n"), ("h", "c")])
def test_torch_states_under_every_accepted_name(files, names):
    """h0/c0 (lstmcalc's), h_0/c_0 (PyTorch's documented inputs), h_n/c_n (run --save now), h/c
    (run --save before): each starts the layer from the same states; an output beside them is skipped."""
    tmp, weights, x, state = files
    np.savez(tmp / "named.npz", output=np.zeros((4, 6, 3)), **dict(zip(names, state)))
    r = _torch_run(tmp, "--initial-state", tmp / "named.npz", "--save", tmp / "out.npz")
    assert r.exit_code == 0, r.stderr
    want = lstmcalc.forward(x, weights, framework="torch", layers=2, initial_state=state)
    zeros = lstmcalc.forward(x, weights, framework="torch", layers=2)
    assert np.abs(want.output - zeros.output).max() > 1e-3  # the states matter for this check
    with np.load(tmp / "out.npz") as saved:
        np.testing.assert_array_equal(saved["output"], want.output)
        np.testing.assert_array_equal(saved["h_n"], want.h)
        np.testing.assert_array_equal(saved["c_n"], want.c)


@pytest.mark.parametrize("names,message", [
    (dict(h0=0, h_n=0, c_n=1), "holds h0 and h_n, 2 arrays for the one state h0; keep one of them"),
    (dict(h_0=0, c0=1, c=1), "holds c0 and c, 2 arrays for the one state c0; keep one of them"),
    (dict(h0=0, h_0=0, h=0, c0=1), "holds h0 and h_0 and h, 3 arrays for the one state h0; keep one of them"),
])
def test_torch_states_under_two_names_refused(files, names, message):
    tmp, _, _, state = files
    np.savez(tmp / "two.npz", **{k: state[v] for k, v in names.items()})
    refused(_torch_run(tmp, "--initial-state", tmp / "two.npz", "--save", tmp / "out.npz"), 1,
            f"{tmp / 'two.npz'}: {message}")
    assert not (tmp / "out.npz").exists()  # nothing written


def test_torch_save_then_initial_state_continues_the_sequence(files):
    """run --save's file (output, h_n, c_n) started from as it is: the two runs over x[:, :2] and
    x[:, 2:] give the one run over x (the last steps' output, the final h_n and c_n)."""
    tmp, weights, x, _ = files
    np.save(tmp / "x1.npy", x[:, :2])
    np.save(tmp / "x2.npy", x[:, 2:])
    common = ["run", "-f", "torch", "--weights", tmp / "w.npz", "--dtype", "float64", "--backend", "numpy"]
    assert invoke(*common, "--inputs", tmp / "x1.npy", "--save", tmp / "a.npz").exit_code == 0
    r = invoke(*common, "--inputs", tmp / "x2.npy", "--initial-state", tmp / "a.npz", "--save", tmp / "b.npz")
    assert r.exit_code == 0, r.stderr
    assert invoke(*common, "--inputs", tmp / "x.npy", "--save", tmp / "whole.npz").exit_code == 0
    with np.load(tmp / "b.npz") as b, np.load(tmp / "whole.npz") as whole:
        assert b.files == whole.files == ["output", "h_n", "c_n"]
        np.testing.assert_allclose(b["output"], whole["output"][:, 2:], rtol=0, atol=1e-12)
        np.testing.assert_allclose(b["h_n"], whole["h_n"], rtol=0, atol=1e-12)
        np.testing.assert_allclose(b["c_n"], whole["c_n"], rtol=0, atol=1e-12)


@pytest.fixture
def onnx_files(tmp_path):
    spec = make_spec(3, 2, cell="lstm", framework="onnx")
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "w.npz", **{weights_key(spec, t): rng.uniform(-0.8, 0.8, t.shape) for t in all_tensors(spec)})
    x = rng.uniform(-2, 2, (4, 6, 2))
    np.save(tmp_path / "x.npy", x)
    return tmp_path, x, (rng.uniform(-1, 1, (1, 4, 3)), rng.uniform(-1, 1, (1, 4, 3)))


def _onnx_run(tmp, *extra):
    return invoke("run", "-f", "onnx", "--weights", tmp / "w.npz", "--dtype", "float64", "--backend", "numpy", *extra)


@pytest.mark.parametrize("names", [("initial_h", "initial_c"), ("Y_h", "Y_c"), ("h", "c")])
def test_onnx_states_under_every_accepted_name(onnx_files, names):
    """initial_h/initial_c (the node's inputs), Y_h/Y_c (run --save now, beside a Y it skips),
    h/c (run --save before, beside its output): the same states."""
    tmp, x, state = onnx_files
    sequence = {"Y": np.zeros((6, 1, 4, 3))} if names[0] == "Y_h" else {"output": np.zeros((6, 1, 4, 3))}
    np.savez(tmp / "named.npz", **sequence, **dict(zip(names, state)))
    np.savez(tmp / "given.npz", initial_h=state[0], initial_c=state[1])
    runs = {}
    for f in ("named", "given", None):
        extra = ["--initial-state", tmp / f"{f}.npz"] if f else []
        r = _onnx_run(tmp, "--inputs", tmp / "x.npy", *extra, "--save", tmp / f"out-{f}.npz")
        assert r.exit_code == 0, r.stderr
        with np.load(tmp / f"out-{f}.npz") as z:
            assert z.files == ["Y", "Y_h", "Y_c"]
            runs[f] = {k: z[k] for k in z.files}
    for k in ("Y", "Y_h", "Y_c"):
        np.testing.assert_array_equal(runs["named"][k], runs["given"][k])
    assert np.abs(runs["named"]["Y"] - runs[None]["Y"]).max() > 1e-3  # the states were used, not zeros


def test_onnx_states_under_two_names_refused(onnx_files):
    tmp, _, (h, c) = onnx_files
    np.savez(tmp / "two.npz", initial_h=h, Y_h=h, Y_c=c)
    refused(_onnx_run(tmp, "--inputs", tmp / "x.npy", "--initial-state", tmp / "two.npz"), 1,
            f"{tmp / 'two.npz'}: holds initial_h and Y_h, 2 arrays for the one state initial_h; keep one of them")


def test_onnx_save_then_initial_state_continues_the_sequence(onnx_files):
    """run --save's file (Y, Y_h, Y_c) started from as it is: two runs over the halves = one run."""
    tmp, x, _ = onnx_files
    np.save(tmp / "x1.npy", x[:, :4])
    np.save(tmp / "x2.npy", x[:, 4:])
    assert _onnx_run(tmp, "--inputs", tmp / "x1.npy", "--save", tmp / "a.npz").exit_code == 0
    r = _onnx_run(tmp, "--inputs", tmp / "x2.npy", "--initial-state", tmp / "a.npz", "--save", tmp / "b.npz")
    assert r.exit_code == 0, r.stderr
    assert _onnx_run(tmp, "--inputs", tmp / "x.npy", "--save", tmp / "whole.npz").exit_code == 0
    with np.load(tmp / "b.npz") as b, np.load(tmp / "whole.npz") as whole:
        np.testing.assert_allclose(b["Y"], whole["Y"][4:], rtol=0, atol=1e-12)  # Y is (T, D, B, H)
        np.testing.assert_allclose(b["Y_h"], whole["Y_h"], rtol=0, atol=1e-12)
        np.testing.assert_allclose(b["Y_c"], whole["Y_c"], rtol=0, atol=1e-12)


@pytest.mark.parametrize("names", [("h_fw", "c_fw", "h_bw", "c_bw"), ("h", "c", "h_backward", "c_backward")])
def test_keras_bidirectional_states_new_and_old_names(tmp_path, names):
    """A Keras Bidirectional layer's states as run --save writes them now (h_fw, c_fw, h_bw, c_bw,
    Keras' order) and as it wrote them before (h, c, h_backward, c_backward): the same run."""
    rng = np.random.default_rng(2)
    states = [rng.uniform(-1, 1, (2, 3)) for _ in range(4)]
    np.savez(tmp_path / "s.npz", output=np.zeros((2, 6)), **dict(zip(names, states)))
    args = ["run", "-u", "3", "-x", "2", "-b", "2", "-t", "4", "--bidirectional", "--return-state", "--dtype", "float64",
            "--backend", "numpy"]
    r = invoke(*args, "--initial-state", tmp_path / "s.npz", "--save", tmp_path / "o.npz")
    assert r.exit_code == 0, r.stderr
    from lstmcalc.running import run_layer

    want = run_layer(make_spec(3, 2, bidirectional=True, return_state=True, batch=2, time=4), backend="numpy",
                     dtype="float64", initial_state=states).result
    with np.load(tmp_path / "o.npz") as z:
        assert z.files == ["output", "h_fw", "c_fw", "h_bw", "c_bw"]
        for name, a in want.returned:
            np.testing.assert_array_equal(z[name], a)


def test_torch_cell_states_saved_by_run(tmp_path):
    """torch_cell: run --save writes output, h, c (the last call's h_1, c_1), which the next run
    takes as its h_0, c_0."""
    from lstmcalc.running import run_layer

    args = ["run", "-u", "3", "-x", "2", "-b", "2", "-t", "4", "-f", "torch_cell", "--dtype", "float64",
            "--backend", "numpy"]
    assert invoke(*args, "--save", tmp_path / "a.npz").exit_code == 0
    r = invoke(*args, "--seed", "1", "--initial-state", tmp_path / "a.npz", "--save", tmp_path / "b.npz")
    assert r.exit_code == 0, r.stderr
    with np.load(tmp_path / "a.npz") as a, np.load(tmp_path / "b.npz") as b:
        assert a.files == b.files == ["output", "h", "c"]
        spec = make_spec(3, 2, framework="torch_cell", batch=2, time=4)
        want = run_layer(spec, seed=1, dtype="float64", initial_state=(a["h"], a["c"])).result
        zeros = run_layer(spec, seed=1, dtype="float64").result
        for name, array in want.returned:
            np.testing.assert_array_equal(b[name], array)
        assert np.abs(b["h"] - zeros.h).max() > 1e-3  # the states were used, not zeros
