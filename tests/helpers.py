"""Helpers the tests share, defined once (``from helpers import ...``: tests/ is on sys.path
through tests/conftest.py).

- :func:`invoke`: the CLI in-process (Typer's CliRunner), arguments turned to strings;
- :func:`one_thread` and the module fixture :func:`one_thread_per_module`: torch on one
  intra-op thread (import the fixture into a module to make it autouse there);
- :func:`random_weights`: every tensor of a spec drawn separately (each gate, bias and
  direction differs), under the convention's own keys;
- :func:`torch_state_dict`: one PyTorch layer's state_dict, every tensor random;
- :func:`forward_sequence`: ``lstmcalc.forward`` returning the whole output sequence in every
  convention, so that conventions compare step by step.
"""

from __future__ import annotations

import contextlib

import pytest


def invoke(*args, env: dict | None = None):
    """``lstmcalc ARGS`` through CliRunner; stdout and stderr apart (``r.stdout``, ``r.stderr``)."""
    from typer.testing import CliRunner

    from lstmcalc.cli import app

    return CliRunner().invoke(app, [str(a) for a in args], env=env)


@contextlib.contextmanager
def one_thread():
    """Run torch (and Keras on the torch backend) on one intra-op thread, then restore.

    These layers are tiny: with two threads on a two-core machine that is also running
    something else, OpenMP's spinning made the same 384 PyTorch builds take 28 s instead
    of 0.6 s. One thread is both faster and steadier here.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(autouse=True, scope="module")
def one_thread_per_module():
    """Autouse in every module that imports it: the module's tests run torch on one thread."""
    with one_thread():
        yield


def random_weights(spec, seed=0, *, dtype=None, bound: float = 0.8, normal: bool = False) -> dict:
    """Every tensor of ``spec`` under its convention's ``.npz`` key, drawn separately:
    uniform in (−bound, bound), or standard normal with ``normal``; float64 unless ``dtype``."""
    import numpy as np

    from lstmcalc.frameworks import all_tensors, weights_key

    rng = np.random.default_rng(seed)
    draw = (lambda shape: rng.standard_normal(shape)) if normal else (lambda shape: rng.uniform(-bound, bound, shape))
    return {weights_key(spec, t): draw(t.shape).astype(dtype or np.float64) for t in all_tensors(spec)}


def torch_state_dict(cell: str, units: int, input_size: int, seed=0, *, b_hn_zero: bool = False) -> dict:
    """One-layer PyTorch state_dict (float64), every tensor N(0, 1), both biases; with
    ``b_hn_zero`` the GRU candidate's recurrent bias b_hn (bias_hh_l0[2H:]) is 0, which a
    convention without b_hn (Flax nnx GRUCell) can hold."""
    import numpy as np

    rng = np.random.default_rng(seed)
    g, h, x = {"lstm": 4, "gru": 3, "rnn": 1}[cell], units, input_size
    w = {"weight_ih_l0": rng.normal(size=(g * h, x)), "weight_hh_l0": rng.normal(size=(g * h, h)),
         "bias_ih_l0": rng.normal(size=g * h), "bias_hh_l0": rng.normal(size=g * h)}
    if b_hn_zero:
        w["bias_hh_l0"][2 * h:] = 0.0
    return w


def forward_sequence(x, weights, **options):
    """``lstmcalc.cells.forward`` with the whole output sequence in every convention (Keras-like
    ones return the last step unless asked: ``return_sequences`` is set where it exists)."""
    from lstmcalc import frameworks
    from lstmcalc.cells import forward

    if "return_sequences" in frameworks.get(options.get("framework", "keras")).OPTIONS:
        options.setdefault("return_sequences", True)
    return forward(x, weights, **options)
