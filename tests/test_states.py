"""Initial states, padded batches (lengths) and streaming in lstmcalc.forward.

Independent of the frameworks (tests/crosscheck/test_states_{torch,keras}.py compare with
them): a stream of chunks equals one run; a padded row's states and real outputs equal
those of the same row run alone on its real steps; NumPy and both Numba paths agree; bad
states and lengths are one-line SpecErrors naming the state and the shape. Float64
tolerance 1e-12.
"""

from __future__ import annotations

import numpy as np
import pytest

import lstmcalc
from lstmcalc.cells import WHY_NO_STREAM, forward, stream
from lstmcalc.frameworks import all_tensors, weights_key
from lstmcalc.frameworks import get, make_spec
from lstmcalc.spec import SpecError

B, T, X, H, P = 3, 7, 2, 4, 3

CELLS = [("keras", "lstm", {}), ("keras", "gru", {"reset_after": True}), ("keras", "gru", {"reset_after": False}),
         ("keras", "rnn", {}), ("torch", "lstm", {}), ("torch", "lstm", {"proj_size": P}), ("torch", "gru", {}),
         ("torch", "rnn", {"activation": "relu"})]


def setup(framework, cell, extra, layers=1, bidirectional=False, seed=0):
    spec = make_spec(H, X, cell=cell, framework=framework, layers=layers, bidirectional=bidirectional, **extra)
    rng = np.random.default_rng(seed)
    weights = {weights_key(spec, t): rng.uniform(-0.8, 0.8, t.shape) for t in all_tensors(spec)}
    x = rng.uniform(-2, 2, (B, T, X))
    opts = dict(cell=cell, framework=framework, layers=layers, bidirectional=bidirectional, **extra)
    if framework == "keras":
        opts["return_sequences"] = True  # every step, to compare step by step (Keras returns the last by default)
    return spec, weights, x, opts


def ids(v):
    return "-".join([v[0], v[1]] + [f"{k}={w}" for k, w in v[2].items()])


def close(a, b, atol=1e-12):
    np.testing.assert_allclose(a, b, rtol=0, atol=atol)


@pytest.mark.parametrize("backend", ["numpy", "numba-kernel", "numba-stepwise", "numba-units"])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("fw_cell", CELLS, ids=ids)
def test_a_stream_of_chunks_equals_one_run(fw_cell, layers, backend, use_backend):
    backend = use_backend(backend)
    spec, weights, x, opts = setup(*fw_cell, layers=layers)
    whole = forward(x, weights, backend=backend, **opts)
    parts = list(stream([x[:, :3], x[:, 3:4], x[:, 4:]], weights, backend=backend, **opts))
    close(np.concatenate([p.output for p in parts], axis=1), whole.output)
    close(parts[-1].h, whole.h)
    if whole.c is not None:
        close(parts[-1].c, whole.c)
    # one step at a time, too
    steps = list(stream([x[:, t : t + 1] for t in range(T)], weights, backend=backend, **opts))
    close(np.concatenate([p.output for p in steps], axis=1), whole.output)


def _time_tail(whole: np.ndarray, part: np.ndarray) -> np.ndarray:
    """The steps of ``whole`` that the last chunk ``part`` covers: the axis where they differ
    in length is time (axis 0 for ONNX layout 0, 1 elsewhere); arrays of equal shape (final
    states) are compared whole."""
    if whole.shape == part.shape:
        return whole
    (axis,) = [k for k, (a, b) in enumerate(zip(whole.shape, part.shape)) if a != b]
    return np.take(whole, range(whole.shape[axis] - part.shape[axis], whole.shape[axis]), axis=axis)


STREAMED = [(name, cell) for name in __import__("lstmcalc.frameworks", fromlist=["FRAMEWORKS"]).FRAMEWORKS
            for cell in get(name).CELLS]


@pytest.mark.parametrize("backend", ["numpy", "numba-kernel"])
@pytest.mark.parametrize("fw_cell", STREAMED, ids=lambda v: "-".join(v))
def test_every_convention_streams_from_the_previous_chunks_states(fw_cell, backend, use_backend):
    """Every convention and cell, including those whose initial_state= lstmcalc does not take
    (MLX, Equinox, Flax, Keras 2, TFLite): the last chunk returns what one run over the whole
    sequence returns for those steps (every returned array, under the convention's names).
    Before the states travelled in the pass's own form, those conventions restarted each
    chunk from zeros (h differed by 0.01 to 0.17 at H = 4)."""
    backend = use_backend(backend)
    framework, cell = fw_cell
    spec = make_spec(H, X, cell=cell, framework=framework)
    rng = np.random.default_rng(7)
    weights = {weights_key(spec, t): rng.uniform(-0.8, 0.8, t.shape) for t in all_tensors(spec)}
    x = rng.uniform(-2, 2, (B, T, X))
    opts = {"return_sequences": True} if "return_sequences" in get(framework).OPTIONS else {}
    if backend == "numba" and get(framework).CELL_SEQUENCE and cell == "lstm":  # refused, with its reason
        with pytest.raises(SpecError, match="numba keeps the final cell state only"):
            stream([x], weights, cell=cell, framework=framework, backend=backend)
        return
    whole = forward(x, weights, cell=cell, framework=framework, backend=backend, **opts)
    parts = list(stream([x[:, :3], x[:, 3:5], x[:, 5:]], weights, cell=cell, framework=framework, backend=backend,
                        **opts))
    got, expected = dict(parts[-1].returned), dict(whole.returned)
    assert list(got) == list(expected) and got
    for name, array in got.items():
        close(array, _time_tail(expected[name], array))


def test_a_layer_with_peepholes_cannot_stream_yet():
    spec = make_spec(H, X, framework="onnx", peepholes=True)
    rng = np.random.default_rng(0)
    weights = {weights_key(spec, t): rng.uniform(-0.8, 0.8, t.shape) for t in all_tensors(spec)}
    with pytest.raises(SpecError, match="not implemented for LSTM layers with peepholes") as e:
        stream([rng.uniform(-1, 1, (B, T, X))], weights, framework="onnx", peepholes=True)
    assert e.value.param == "peepholes"


def test_a_bidirectional_layer_cannot_stream():
    _, weights, x, opts = setup("torch", "lstm", {}, bidirectional=True)
    with pytest.raises(SpecError, match="cannot stream") as e:
        stream([x], weights, **opts)  # refused at once, before any chunk runs
    assert e.value.param == "bidirectional" and str(e.value) == f"bidirectional: {WHY_NO_STREAM}"
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("backend", ["numpy", "numba-kernel", "numba-stepwise", "numba-units"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("fw_cell", CELLS, ids=ids)
def test_a_padded_row_equals_the_row_run_alone(fw_cell, bidirectional, backend, use_backend):
    """lengths: each row's final states, and its outputs at real steps, are those of the row
    run alone on x[r, :length] (the backward direction starting at its own last step)."""
    backend = use_backend(backend)
    spec, weights, x, opts = setup(*fw_cell, layers=2, bidirectional=bidirectional)
    lengths = np.array([T, 4, 1])
    rng = np.random.default_rng(5)
    h0 = rng.uniform(-1, 1, (spec.directions * 2, B, spec.hidden_out))
    c0 = rng.uniform(-1, 1, (spec.directions * 2, B, H))
    state = get(spec.framework).initial_state_to(spec, h0, c0 if spec.cell == "lstm" else None)
    got = forward(x, weights, backend=backend, lengths=lengths, initial_state=state, **opts)
    fill = get(spec.framework).masked_output(spec)
    for r, n in enumerate(lengths):
        row_state = get(spec.framework).initial_state_to(
            spec, h0[:, r : r + 1], c0[:, r : r + 1] if spec.cell == "lstm" else None)
        alone = forward(x[r : r + 1, :n], weights, backend=backend, initial_state=_rows(row_state), **opts)
        close(got.output[r, :n], alone.output[0])
        for field in ("h", "c", "h_backward", "c_backward"):
            if getattr(alone, field) is not None:
                mine, theirs = getattr(got, field), getattr(alone, field)
                close(mine[:, r] if mine.ndim == 3 else mine[r], theirs[:, 0] if theirs.ndim == 3 else theirs[0])
        if n < T:
            pad = got.output[r, n:]
            if fill == "zero":
                assert not pad.any()
            else:  # Keras, one direction: the last real output, held
                close(pad, np.broadcast_to(got.output[r, n - 1], pad.shape), atol=0)


def _rows(state):
    """initial_state_to's nested lists/tuples of (·, 1, ·) or (1, ·) arrays, contiguous."""
    if isinstance(state, (list, tuple)):
        return type(state)(_rows(s) for s in state)
    return np.ascontiguousarray(state)


def test_full_lengths_equal_no_lengths():
    _, weights, x, opts = setup("torch", "gru", {}, layers=2, bidirectional=True)
    a = forward(x, weights, **opts)
    b = forward(x, weights, lengths=[T] * B, **opts)
    close(a.output, b.output, atol=0)
    close(a.h, b.h, atol=0)
    np.testing.assert_array_equal(b.lengths, [T] * B)


def test_zero_initial_state_equals_none():
    _, weights, x, opts = setup("keras", "lstm", {}, bidirectional=True)
    zeros = [np.zeros((B, H))] * 4
    a, b = forward(x, weights, **opts), forward(x, weights, initial_state=zeros, **opts)
    close(a.output, b.output, atol=0)


def test_state_round_trips_and_is_what_the_framework_returns():
    _, weights, x, opts = setup("torch", "lstm", {"proj_size": P}, layers=2)
    r = forward(x, weights, **opts)
    h_n, c_n = r.state
    assert h_n.shape == (2, B, P) and c_n.shape == (2, B, H)
    close(h_n, r.h, atol=0)
    _, weights, x, opts = setup("keras", "lstm", {}, layers=2, bidirectional=True)
    r = forward(x, weights, **opts)
    assert len(r.state) == 2 and [a.shape for a in r.state[1]] == [(B, H)] * 4
    close(r.state[1][0], r.h, atol=0)
    close(r.state[1][3], r.c_backward, atol=0)


def test_keras_stack_takes_one_entry_per_layer_and_none_means_zeros():
    _, weights, x, opts = setup("keras", "gru", {}, layers=2)
    h1 = np.random.default_rng(1).uniform(-1, 1, (B, H))
    a = forward(x, weights, initial_state=[None, [h1]], **opts)
    b = forward(x, weights, initial_state={"layer1/h": h1}, **opts)
    close(a.output, b.output, atol=0)
    c = forward(x, weights, **opts)
    assert np.abs(a.output - c.output).max() > 1e-3  # layer 1's state changed the output


# --- refusals ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("framework, cell, extra, given, message", [
    ("torch", "lstm", {}, "h0_only", "got 1 array state(s); torch.nn.LSTM's hx takes 2: [h0, c0]"),
    ("torch", "lstm", {}, "wrong_h0", "h0 has shape (3, 4); expected (1, 3, 4)"),
    ("torch", "lstm", {"proj_size": P}, "wrong_c0", "c0 has shape (1, 3, 3); expected (1, 3, 4)"),
    ("torch", "gru", {}, "mapping_extra", "'c0' is not a state name; torch.nn.GRU's hx takes h0"),
    ("keras", "lstm", {}, "three", "got 3 state(s); keras.layers.LSTM's initial_state takes 2: [h, c]"),
    ("keras", "lstm", {}, "wrong_h", "h has shape (3, 5); expected (3, 4)"),
    ("keras", "lstm", {}, "nan", "c holds NaN or inf; every value must be finite"),
])
def test_bad_initial_state_is_one_line_naming_the_state_and_shape(framework, cell, extra, given, message):
    spec, weights, x, opts = setup(framework, cell, extra)
    good_h = np.zeros((B, H))
    values = {
        "h0_only": np.zeros((1, B, spec.hidden_out)),
        "wrong_h0": (np.zeros((B, H)), np.zeros((1, B, H))),
        "wrong_c0": (np.zeros((1, B, P)), np.zeros((1, B, P))),
        "mapping_extra": {"h0": np.zeros((1, B, H)), "c0": np.zeros((1, B, H))},
        "three": [good_h, good_h, good_h],
        "wrong_h": [np.zeros((B, 5)), good_h],
        "nan": [good_h, np.full((B, H), np.nan)],
    }[given]
    with pytest.raises(SpecError) as e:
        forward(x, weights, initial_state=values, **opts)
    assert str(e.value) == f"initial_state: {message}"


def test_keras_stack_state_needs_one_entry_per_layer():
    _, weights, x, opts = setup("keras", "lstm", {}, layers=2)
    with pytest.raises(SpecError, match=r"a stack of 2 Keras layers takes a list of 2 entries, one per layer, "
                                        r"each None or that layer's \[h, c\]"):
        forward(x, weights, initial_state=[np.zeros((B, H)), np.zeros((B, H))], **opts)


@pytest.mark.parametrize("lengths, problem", [
    ([3, 2], "has shape (2,)"),
    ([3, 0, 2], "lengths[1] = 0"),
    ([3, 8, 2], "lengths[1] = 8"),
    ([1.5, 2, 2], "has dtype float64"),
    (["a", "b", "c"], "has dtype <U1"),
])
def test_bad_lengths_are_refused(lengths, problem):
    _, weights, x, opts = setup("torch", "lstm", {})
    with pytest.raises(SpecError) as e:
        forward(x, weights, lengths=lengths, **opts)
    assert str(e.value) == (f"lengths: {problem}; allowed: {B} whole number(s), one per batch row, "
                            f"each 1 <= length <= T = {T}")


def test_public_forward_takes_the_new_keywords():
    _, weights, x, opts = setup("torch", "rnn", {})
    r = lstmcalc.forward(x, weights, lengths=[7, 1, 3], initial_state=np.ones((1, B, H)) * 0.5, **opts)
    assert not r.output[1, 1:].any() and r.output[1, 0].any()
