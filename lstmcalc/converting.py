"""Convert recurrent-layer weights between any two registered conventions (NumPy).

Per layer and direction, with H units and gate blocks in each framework's order
(``frameworks.of(spec).GATE_ORDER``: LSTM i, f, g, o in both; GRU Keras z, r, n, PyTorch r, z, n):

    Keras                              PyTorch
    kernel            (X, G·H)    <->  weight_ih_l{k}  (G·H, X)   transpose, reorder blocks
    recurrent_kernel  (H, G·H)    <->  weight_hh_l{k}  (G·H, H)   transpose, reorder blocks
    bias   LSTM/RNN   (G·H,)       ->  bias_ih = bias, bias_hh = 0
                                  <-   bias = bias_ih + bias_hh
    bias   GRU        (2, 3H)     <->  row 0 = bias_ih, row 1 = bias_hh (reset_after form)

Why the sums are exact: LSTM and SimpleRNN add both PyTorch biases to the same
pre-activation (``W_ih x + b_ih + W_hh h + b_hh``, torch/nn/modules/rnn.py), so one Keras
bias carries them. The GRU candidate keeps its recurrent bias inside the reset product,
``n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))`` (Cho et al. 2014, the form PyTorch and
Keras' ``reset_after=True`` share), so both rows must stay separate.

Two layers have no twin and are refused with a :class:`~lstmcalc.spec.SpecError`:
Keras GRU with ``reset_after=False`` (bias (3H,)) and PyTorch LSTM with ``proj_size``.
Tensors whose names or shapes contradict each other raise :class:`FileError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from . import frameworks
from .atomic import check_target
from .frameworks import all_tensors, weights_key
from .errors import FileError
from .frameworks import make_spec
from .frameworks.shared import as_array, describe, shape_of
from .frameworks.torch import TORCH_NAME  # noqa: F401  (module-prefixed state_dict names, for readers)
from .spec import CELLS, RECURRENT_ACTIVATION_FORMULAS, LayerSpec, SpecError, refuse_shaped_only

__all__ = ["FileError", "convert_weights", "infer_framework", "infer_layer_spec"]


def infer_framework(names: Iterable[str]) -> str:
    """The registered framework whose weights keys every name is (``weight_ih_l0`` PyTorch,
    ``layer1/backward/recurrent_kernel`` Keras, ...); otherwise :class:`FileError`."""
    names = list(names)
    if not names:
        raise FileError("no tensors: nothing to tell the framework from")
    modules = [frameworks.get(n) for n in frameworks.names()]
    matches = {m.NAME: [m.recognises(n) for n in names] for m in modules}
    full = [fw for fw, hits in matches.items() if all(hits)]
    if full:
        return full[0]
    partial = [fw for fw, hits in matches.items() if any(hits)]
    for fa in partial:  # two frameworks, each with a name the other does not have (Keras 3 and 2 share theirs)
        for fb in partial:
            ia = next((k for k, (x, y) in enumerate(zip(matches[fa], matches[fb])) if x and not y), None)
            ib = next((k for k, (x, y) in enumerate(zip(matches[fb], matches[fa])) if x and not y), None)
            if ia is not None and ib is not None:
                a, b = frameworks.get(fa), frameworks.get(fb)
                raise FileError(
                    f"{names[ia]!r} is a {a.TITLE} name but {names[ib]!r} is a {b.TITLE} name; a file holds one framework"
                )
    odd = next(n for k, n in enumerate(names) if not any(hits[k] for hits in matches.values()))
    hints = " nor ".join(f"a {m.TITLE} name ({m.NAMES_HINT})" for m in modules)
    raise FileError(f"{odd!r} is neither {hints}")


def candidate_frameworks(names: Iterable[str]) -> list[str]:
    """Every registered framework whose weights keys all ``names`` are, in registry order
    (Keras 3 and Keras 2 CuDNN share kernel / recurrent_kernel / bias: the shapes decide)."""
    names = list(names)
    return [n for n in frameworks.names() if names and all(map(frameworks.get(n).recognises, names))]


def infer_layer_spec(
    weights: Mapping[str, np.ndarray],
    *,
    framework: str,
    cell: str | None = None,
    bidirectional: bool | None = None,
    layers: int | None = None,
    reset_after: bool | None = None,
) -> LayerSpec:
    """The :class:`LayerSpec` that the names and shapes of ``weights`` describe.

    ``weights`` use the framework's keys (:func:`lstmcalc.frameworks.weights_key`).
    ``cell``, ``bidirectional`` and ``layers`` are inferred when ``None`` and checked
    against the tensors otherwise. ``reset_after`` (Keras GRU) follows from the bias shape;
    without a bias it defaults to ``True``. Every tensor is checked against the shape the
    spec gives it: :class:`FileError` names the first one that contradicts the rest.
    """
    if not weights:
        raise FileError("no tensors")
    fw = frameworks.get(framework)
    parsed = fw.describe_names(weights)
    found = fw.infer_options(weights, parsed, cell)
    if layers is not None and layers != found["layers"]:
        raise SpecError("layers", f"is {layers}, but the tensors describe {found['layers']} layer(s)")
    if bidirectional is not None and bidirectional != found["bidirectional"]:
        what = "both directions" if found["bidirectional"] else "the forward direction only"
        raise SpecError("bidirectional", f"is {bidirectional}, but the tensors hold {what}")
    if found["cell"] == "gru":
        shown = found.get("reset_after")
        if shown is not None and reset_after is not None and reset_after != shown:
            b_key = next(k for (_, _, name), k in parsed.items() if name == "bias")
            form = "(2, 3H): reset_after=True" if shown else "(3H,): reset_after=False"
            raise SpecError("reset_after", f"is {reset_after}, but {b_key} has shape {shape_of(weights[b_key])} ({form})")
        if shown is None and reset_after is not None:
            found["reset_after"] = reset_after
    try:
        spec = make_spec(**found, framework=framework)
    except SpecError as e:
        raise FileError(f"the tensor shapes describe no real layer: {e}") from None
    check_tensors(weights, spec)
    return spec


def unknown_options(spec: LayerSpec) -> dict[str, tuple]:
    """The options of ``spec`` that its tensors cannot show, each with the values the
    tensors allow, for a spec inferred from names and shapes alone (no config): the
    framework module says which (a Keras Bidirectional's merge mode, a bias-free Keras GRU's
    reset_after, a SimpleRNN's activation, ...). :func:`infer_layer_spec` fills them with a
    placeholder (the first allowed value) so that the spec can be counted, which they do not
    change; they must be asked for before a forward pass, and shown as unknown."""
    return frameworks.of(spec).unknown_options(spec)


def describe_allowed(values: tuple) -> str:
    """("sum", "mul", "ave") -> "sum, mul or ave"; (True, False) -> "True or False"."""
    words = [str(v) for v in values]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def check_tensors(weights: Mapping[str, np.ndarray], spec: LayerSpec, error: type = FileError) -> None:
    """Every tensor the spec needs is there with its shape and a real-number dtype, and
    nothing else is (keys beside the tensors that the framework declares auxiliary aside);
    the first that is not is refused. ``error``, the caller's choice: :class:`FileError`
    where ``spec`` was inferred from the tensors themselves (they contradict each other),
    :class:`SpecError` (param ``weights``) where ``spec`` comes from options the caller gave."""
    given = error is SpecError

    def refuse(inferred: str, stated: str):
        return SpecError("weights", stated) if given else FileError(inferred)

    expected = {weights_key(spec, t): t.shape for t in all_tensors(spec)}
    for key, shape in expected.items():
        if key not in weights:
            raise refuse(f"{key}: missing; the other tensors describe a {describe(spec)}, which needs it {shape}",
                         f"{key}: missing; a {describe(spec)} needs it with shape {shape}")
        got = shape_of(weights[key])
        if got != shape:
            raise refuse(f"{key}: shape {got} contradicts the other tensors ({describe(spec)}): expected {shape}",
                         f"{key}: shape {got}, but a {describe(spec)} needs {shape}")
        try:
            as_array(key, weights[key])
        except FileError as e:
            raise refuse(str(e), str(e)) from None
    auxiliary = frameworks.of(spec).auxiliary  # keys beside the tensors (TFLite scales)
    for key in weights:
        if key not in expected and not auxiliary(key):
            raise refuse(f"{key}: unexpected for a {describe(spec)} (it has {len(expected)} tensors)",
                         f"{key}: unexpected; a {describe(spec)} has only {', '.join(expected)}")


def convert_weights(
    weights: Mapping[str, np.ndarray],
    *,
    cell: str,
    source: str,
    target: str,
    bidirectional: bool | None = None,
    layers: int | None = None,
    reset_after: bool | None = None,
    direction: str | None = None,
    recurrent_activation: str = "sigmoid",
) -> dict[str, np.ndarray]:
    """The same layer's weights in another framework's names, shapes and gate order:
    source tensors → :mod:`lstmcalc.canonical` → target tensors.

    ``weights``: the source framework's keys (:func:`lstmcalc.frameworks.weights_key`).
    ``bidirectional`` and ``layers`` are checked against the names when given.
    ``reset_after`` matters only for a bias-free Keras GRU, whose tensors cannot show it:
    there it must be given (``True`` converts; ``False`` has no PyTorch twin); with a bias it
    is read from the bias shape.

    Returns a new dict in the target framework's tensor order, dtypes kept. What the target
    cannot express (a projection, peepholes, a reset-before GRU into PyTorch, a stacked
    merged Bidirectional into PyTorch) is refused with a :class:`SpecError` giving the reason.
    A Keras ``Bidirectional`` with ``merge_mode`` sum/mul/ave converts for one layer
    (PyTorch then returns the concatenation; merge it yourself). ``direction``: an ONNX
    node's attribute (the tensors do not show it); "reverse" is refused with
    :func:`why_no_reverse`'s reason.
    """
    refuse_shaped_only(cell, "convert")
    if cell not in CELLS:
        _bad_choice("cell", cell, CELLS)
    if source not in frameworks.names():
        _bad_choice("source", source, frameworks.names())
    if target not in frameworks.names():
        _bad_choice("target", target, frameworks.names())
    if source == target:
        raise SpecError("target", f"is the source framework too ({source}); nothing to convert")
    if direction is not None and direction not in frameworks.DIRECTION_WORDS:
        _bad_choice("direction", direction, frameworks.DIRECTION_WORDS)
    if direction == "reverse":
        raise SpecError("direction", why_no_reverse(target))

    spec = infer_layer_spec(
        weights, framework=source, cell=cell, bidirectional=bidirectional, layers=layers, reset_after=reset_after
    )
    unknown = unknown_options(spec)
    if "reset_after" in unknown and reset_after is None:
        raise SpecError(
            "reset_after",
            f"is needed: a {frameworks.get(source).SHORT} GRU without bias does not show it in its weights; "
            f"allowed: {describe_allowed(unknown['reset_after'])}",
        )
    if recurrent_activation != "sigmoid":
        from dataclasses import replace

        make_spec(1, 1, cell=cell, framework=source, recurrent_activation=recurrent_activation)  # checked
        spec = replace(spec, recurrent_activation=recurrent_activation)
    canonical = frameworks.get(source).to_canonical(weights, spec)
    try:
        return from_canonical(canonical, target)
    except SpecError as e:  # the target refuses what the layer holds: the weights' fault, no option's
        raise TargetRefusal(e.param, e.problem) from None


class TargetRefusal(SpecError):
    """The target convention cannot hold what the layer's weights hold (a GRU's b_hn in Flax
    nnx, a Bidirectional in Flax): the file's content, not an option. A SpecError for the
    library's callers; the command line reports it against the file (exit 1)."""


MERGE_OPS = {"sum": "add", "mul": "multiply", "ave": "average"}


def conversion_notes(spec: LayerSpec, target: str, unknown: Mapping = {}) -> list[str]:
    """What the target layer needs that its tensors do not carry: a SimpleRNN's activation
    (with the constructor that builds it), a Keras merge the target cannot do."""
    fw = frameworks.get(target)
    notes = []
    if spec.cell == "rnn":
        if "activation" in unknown:
            notes.append(f"the activation is not in the file ({describe_allowed(unknown['activation'])}): build the "
                         f"{fw.TITLE} layer with the one the source used")
        elif spec.activation != "tanh":
            try:
                target_spec = make_spec(spec.units, spec.input_size, cell="rnn", framework=target, bias=spec.bias,
                                        bidirectional=spec.bidirectional, layers=spec.layers,
                                        activation=spec.activation)
                built = fw.constructor(target_spec)
            except (SpecError, ValueError):
                built = []
            notes.append(f"the source's activation is {spec.activation}, not tanh: the {fw.TITLE} layer needs it"
                         + (f": {built[-1]}" if built else ""))
    if spec.bidirectional and "merge_mode" not in fw.OPTIONS:
        if "merge_mode" in unknown:
            notes.append(f"the file does not say how the source merged the two directions "
                         f"({describe_allowed(unknown['merge_mode'])}); {fw.TITLE} returns them concatenated")
        elif spec.merge_mode in MERGE_OPS:
            how = fw.WHY_NOT.get("merge_mode", "").partition("; ")[2] or f"{fw.TITLE} returns both directions"
            notes.append(f"{how}; the source merged them with merge_mode='{spec.merge_mode}': "
                         f"{MERGE_OPS[spec.merge_mode]} the forward and backward outputs (H features each) yourself")
    return notes


def why_no_reverse(target: str) -> str:
    """Why an ONNX ``direction="reverse"`` layer (one direction, run from t = T−1 down to 0,
    Y in input order) does not convert to ``target``."""
    fw = frameworks.get(target)
    if target in ("keras", "keras2"):
        return (f"an ONNX direction=reverse node has no {fw.TITLE} weights file: its twin is a layer with "
                "go_backwards=True, which returns its sequence reversed (its output[:, t] is the node's Y at step "
                "T-1-t; the final states are equal), and kernel/recurrent_kernel/bias cannot say go_backwards, "
                "so whatever reads them runs the layer forward")
    if target == "torch":
        return ("an ONNX direction=reverse node has no PyTorch twin: PyTorch runs a direction backwards only as "
                "the second half of bidirectional=True, with no reverse-only LSTM, GRU or RNN")
    return (f"an ONNX direction=reverse node has no {fw.TITLE} twin: its weights cannot say to run the sequence "
            "backwards, so whatever reads them runs the layer forward")


def from_canonical(canonical, target: str) -> dict[str, np.ndarray]:
    """The target framework's tensors for a canonical layer (see :mod:`lstmcalc.canonical`)."""
    fw = frameworks.get(target)
    gate = canonical.recurrent_activation
    if gate not in getattr(fw, "GATE_FUNCTIONS", ("sigmoid",)):
        own = " or ".join(getattr(fw, "GATE_FUNCTIONS", ("sigmoid",)))
        why = fw.WHY_NOT.get("recurrent_activation") or f"lstmcalc writes {fw.TITLE} {canonical.cell} gates as {own} only"
        raise SpecError("recurrent_activation", f"{gate} gates ({RECURRENT_ACTIVATION_FORMULAS[gate]}) cannot be "
                        f"converted to {fw.TITLE}: {why}; the converted layer would give other outputs")
    options = {}
    if gate != "sigmoid":
        options["recurrent_activation"] = gate
    if canonical.cell == "gru":
        # a reset-before GRU into a framework without one: the spec says reset-after and the
        # module's from_canonical refuses with its reason
        options["reset_after"] = canonical.reset_after or "reset_before" not in fw.OPTIONS
    if canonical.cell == "rnn":
        options["activation"] = canonical.activation
    for option, value in (("proj_size", canonical.proj_size), ("peepholes", canonical.peepholes)):
        if value and option in fw.OPTIONS:
            options[option] = value  # otherwise from_canonical refuses with the reason
    from .spec import VARIANT_WORDS

    for option, value in canonical.variants().items():  # CIFG, layer norm, clips, ...: only where they exist
        if option not in fw.OPTIONS:
            raise SpecError(option, fw.WHY_NOT.get(option) or f"this layer has {VARIANT_WORDS[option]}"
                            + (f" ({value:g})" if not isinstance(value, bool) else "")
                            + f", which {fw.TITLE} does not have: the outputs would change")
        options[option] = value
    if canonical.bidirectional and canonical.merge_mode != "concat" and "merge_mode" in fw.OPTIONS:
        options["merge_mode"] = canonical.merge_mode
    spec = make_spec(
        canonical.units,
        canonical.input_size,
        cell=canonical.cell,
        framework=target,
        # a convention with no bias-free form takes zero biases (exact: they add nothing)
        bias=canonical.bias or "no_bias" in fw.WHY_NOT,
        bidirectional=canonical.bidirectional,
        layers=len(canonical.layers),
        **options,
    )
    return fw.from_canonical(canonical, spec)


def _bad_choice(param: str, value, allowed: tuple[str, ...]):
    raise SpecError(param, f"must be one of {', '.join(allowed)}, got {value!r}")


def check_output_path(path: str, option: str = "--output", inputs: Iterable = ()) -> None:
    """An ``.npz`` path that can be written without losing anything, checked before any work:
    :class:`SpecError` for another extension (a bad option), :class:`FileError` for a
    directory, a missing or unwritable folder, or one of ``inputs`` (see
    :func:`lstmcalc.atomic.check_target`)."""
    check_target(path, option, inputs)  # first: a directory or device is refused as a path (exit 1)
    if not str(path).endswith(".npz"):
        raise SpecError("save" if option == "--save" else "output", f"{path!r} must end in .npz")


MSGPACK_TARGETS = ("flax", "flax_nnx", "flax_nnx_opt")  # conventions whose weights are one Flax tree
FLAX_EXTRA = "pip install 'lstmcalc[flax]'"


def need_flax(option: str = "--output"):
    """``flax.serialization``, or a one-line :class:`FileError` naming the extra to install."""
    try:
        from flax import serialization
    except ImportError:
        raise FileError(f"{option}: writing a .msgpack needs flax; install it with {FLAX_EXTRA}") from None
    return serialization


