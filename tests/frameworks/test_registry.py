"""Every registered convention has its test file here (adding one means adding its file), is an
instance of its family class where it has one, and keeps the contract's import-time check."""

import sys
import types
from pathlib import Path

import pytest

from lstmcalc import frameworks
from lstmcalc.frameworks import base
from lstmcalc.frameworks.fused import Fused
from lstmcalc.frameworks.keras import Keras
from lstmcalc.frameworks.treeparams import FlaxTree


def test_every_convention_has_a_test_file():
    here = Path(__file__).parent
    assert {p.stem[len("test_"):] for p in here.glob("test_*.py")} - {"registry"} == set(frameworks.names())


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
