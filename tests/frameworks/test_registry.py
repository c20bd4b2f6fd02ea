"""Every registered convention has its test file here (adding one means adding its file), is an
instance of its family class where it has one, and keeps the contract's import-time check; what
the registry words for every convention; and checks run over several conventions at once (issue
16's: their files are recognised, run initialises them, tensors, gate rows and count agree)."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lstmcalc
from helpers import forward_sequence as forward
from helpers import invoke, torch_state_dict
from lstmcalc import frameworks
from lstmcalc.converting import convert_weights
from lstmcalc.frameworks import base
from lstmcalc.frameworks.fused import Fused
from lstmcalc.frameworks.keras import Keras
from lstmcalc.frameworks.treeparams import FlaxTree
from lstmcalc.readers import read_layer

from .conformance import ISSUE16 as NEW

H, X = 3, 4


def test_every_convention_has_a_test_file():
    here = Path(__file__).parent
    assert {p.stem[len("test_"):] for p in here.glob("test_*.py")} - {"registry", "pairs"} == set(frameworks.names())


# --- family base classes (lstmcalc/frameworks/base.py) --------------------------------------------

FAMILIES = {Fused: ("mlx", "equinox"), FlaxTree: ("flax", "flax_nnx", "flax_nnx_opt"), Keras: ("keras", "keras2")}


@pytest.mark.parametrize("family, members", FAMILIES.items(), ids=lambda x: getattr(x, "__name__", "members"))
def test_family_members_are_instances_of_their_family_class(family, members):
    for name in members:
        fw = frameworks.get(name)
        assert type(fw) is family, (name, type(fw))
    outside = [n for n in frameworks.names() if n not in members]
    assert not any(isinstance(frameworks.get(n), family) for n in outside)


def _data_only_module(monkeypatch, name: str) -> types.ModuleType:
    """A synthetic convention module with every required datum (MLX-like names) and no hook."""
    module = types.ModuleType(name)
    module.__dict__.update(
        NAME="synthetic", TITLE="Synthetic", SHORT="Synthetic", CELLS=("lstm",), CELL_TITLES={"lstm": "LSTM"},
        GATE_ORDER={"lstm": ("i", "f", "g", "o")}, NAMES_HINT="Wx, Wh, bias", OPTIONS=frozenset(), WHY_NOT={},
        NAMES={"lstm": {"input": "Wx", "recurrent": "Wh", "bias": "bias", "bias_n": None}}, A_TITLE="a Synthetic",
    )
    monkeypatch.setitem(sys.modules, name, module)
    return module


def test_a_module_without_hooks_fails_the_import_time_check(monkeypatch):
    _data_only_module(monkeypatch, "synthetic_plain")
    with pytest.raises(TypeError) as plain:
        base.Convention("synthetic_plain")
    assert str(plain.value) == ("synthetic_plain does not define " + ", ".join(base.REQUIRED_HOOKS)
                                + " (see lstmcalc.frameworks.base)")


def test_a_family_member_without_its_own_hooks_is_told_which_the_family_lacks(monkeypatch):
    _data_only_module(monkeypatch, "synthetic_fused")
    with pytest.raises(TypeError) as fused:
        Fused("synthetic_fused")
    # Fused gives every shared hook; what a layer returns and its constructor line are the member's
    assert str(fused.value) == ("synthetic_fused does not define outputs, constructor, returned_fields, nor does its "
                                "family class Fused (see lstmcalc.frameworks.base)")


def test_a_hook_comes_from_the_module_then_the_family_then_the_default(monkeypatch):
    module = _data_only_module(monkeypatch, "synthetic_member")
    module.outputs = lambda spec: ["module's"]
    module.constructor = lambda spec: ["synthetic.LSTM()"]
    module.returned_fields = lambda spec: ("hidden",)
    module.weights_key = lambda spec, tensor: "module's " + tensor.name  # overrides Fused.weights_key
    fw = Fused("synthetic_member")
    spec = frameworks.make_spec(2, 3, framework="mlx")
    tensors = fw.layer_tensors(spec, 0, "forward")  # Fused's, from the module's NAMES
    assert [t.name for t in tensors] == ["Wx", "Wh", "bias"]
    assert fw.weights_key(spec, tensors[0]) == "module's Wx"  # a module function stays plain: no self
    assert fw.describe_names(["Wx"]) == {(0, "forward", "Wx"): "Wx"}
    with pytest.raises(Exception, match="'nope' is not a Synthetic weights key \\(Wx, Wh, bias\\)"):
        fw.describe_names(["nope"])
    assert fw.notes(spec) is None  # Convention's default
    assert not fw.takes_initial_state and not fw.takes_lengths


def test_a_capability_the_family_class_gives_counts_as_given(monkeypatch):
    class WithStates(Fused):
        def initial_state_from(self, spec, given, dtype):
            return given, None

    module = _data_only_module(monkeypatch, "synthetic_states")
    module.outputs = module.constructor = module.returned_fields = lambda spec: ()
    fw = WithStates("synthetic_states")
    assert fw.takes_initial_state and not fw.takes_lengths
    assert fw.initial_state_from(None, "h0", None) == ("h0", None)


@pytest.mark.parametrize("name", frameworks.names())
def test_proj_size_refusal_says_the_conventions_reason(name):
    """--proj-size on a convention without a projection: its own WHY_NOT reason, one line, exit 2
    (it was one sentence listing PyTorch and TFLite for every convention)."""
    fw = frameworks.get(name)
    r = invoke("count", "-u", "4", "-x", "3", "-f", name, "--proj-size", "2")
    if "proj_size" in fw.OPTIONS:
        assert r.exit_code == 0 and int(r.stdout) > 0, r.stderr
        return
    reason = fw.WHY_NOT["proj_size"]  # every convention without one says why (KeyError: it does not)
    assert "projection" in reason
    assert (r.exit_code, r.stdout) == (2, "")
    owners = " or ".join(m.NAME for m in frameworks.having("proj_size"))
    assert r.stderr == f"lstmcalc: error: --proj-size: {reason}; a projection exists for --framework {owners} --cell lstm\n"
    assert "torch" in owners and name not in owners.split(" or ")


def test_files_of_each_are_recognised(tmp_path):
    cases = [(fw, cell) for fw in NEW for cell in frameworks.get(fw).CELLS]  # nnx GRU and SimpleCell share paths
    assert ("flax_nnx", "rnn") in cases and ("mlx", "rnn") in cases
    for fw, cell in cases:
        arrays = convert_weights(torch_state_dict(cell, H, X, b_hn_zero=True), cell=cell, source="torch", target=fw)
        np.savez(tmp_path / f"{fw}.npz", **arrays)
        found = read_layer(tmp_path / f"{fw}.npz")
        assert (found.spec.framework, found.spec.cell, found.spec.units, found.spec.input_size) == (fw, cell, H, X)


@pytest.mark.parametrize("fw", NEW)
def test_run_initialises_each_convention_and_its_shapes(fw):
    """``run`` with the framework's default initial weights: the tensors have the shapes the
    breakdown lists, and the pass returns finite states."""
    from lstmcalc.weights import init_weights

    for cell in frameworks.get(fw).CELLS:
        spec = frameworks.make_spec(H, X, cell=cell, framework=fw, batch=2, time=3)
        weights = init_weights(spec, seed=1, dtype="float64")
        assert {k: v.shape for k, v in weights.items()} == {
            t.name: t.shape for t in lstmcalc.breakdown(H, X, cell=cell, framework=fw).tensors}
        result = forward(np.ones((2, 3, X)), weights, cell=cell, framework=fw)
        assert np.isfinite(result.h).all() and result.h.shape == (2, H)
    r = invoke("run", "--units", "3", "--input", "2", "--framework", fw, "--json")
    assert r.exit_code == 0, r.output


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([(fw, c) for fw in NEW for c in frameworks.get(fw).CELLS]),
       st.integers(1, 300), st.integers(1, 300))
def test_tensors_gate_rows_and_count_agree(case, units, inputs):
    """Per layer and direction (one here): the tensors' sizes, the per-gate rows and the
    count are one number, and a GRU's biases are 4H where the candidate keeps b_hn apart."""
    fw, cell = case
    b = lstmcalc.breakdown(units, inputs, framework=fw, cell=cell)
    assert sum(t.count for t in b.tensors) == b.total == sum(r.total for r in b.gates)
    assert b.total == lstmcalc.count(units, inputs, framework=fw, cell=cell)
    g = b.spec.gates
    if fw == "keras2":
        extra = 2 * g  # cuDNN's b_W and b_R for every gate
    elif cell == "gru" and fw != "flax_nnx":
        extra = 4  # b_r, b_z, b_n and b_hn
    else:
        extra = g  # one per gate (nnx GRUCell: no b_hn)
    assert b.total == b.spec.gates * units * (inputs + units) + extra * units
