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

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from . import frameworks
from .atomic import check_target
from .writers import check_output_path, model_target, msgpack_targets, need_flax  # noqa: F401  (re-exported)
from .errors import FileError
from .frameworks import make_spec
from .tensors import (  # noqa: F401  (re-exported: what a layer is, from its tensors)
    TORCH_NAME, candidate_frameworks, check_tensors, describe_allowed, infer_framework, infer_layer_spec,
    unknown_options,
)
from .spec import CELLS, RECURRENT_ACTIVATION_FORMULAS, LayerSpec, SpecError, refuse_shaped_only

__all__ = ["FileError", "convert_weights", "infer_framework", "infer_layer_spec"]


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
    variants: Mapping[str, object] | None = None,
    drop_cell_clip: bool = False,
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

    ``variants``: the LSTM variants (:data:`lstmcalc.spec.VARIANTS`) the file states beyond
    its tensors, as a model file's options do (a fused op's ``cell_clip``); a target without
    one refuses the layer (the outputs would change). ``drop_cell_clip=True`` converts a
    layer with a cell clip into a target without one all the same: the clip is left out
    (:func:`conversion_warnings` says so; the outputs agree while |c| stays below it).
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
    if variants:
        spec = _with_variants(spec, variants)
    canonical = frameworks.get(source).to_canonical(weights, spec)
    if drop_cell_clip:
        if not canonical.cell_clip:
            raise SpecError("drop_cell_clip", "the layer has no cell clip to drop")
        if "cell_clip" not in frameworks.get(target).OPTIONS:
            canonical.cell_clip = 0.0
    try:
        return from_canonical(canonical, target)
    except SpecError as e:  # the target refuses what the layer holds: the weights' fault, no option's
        raise TargetRefusal(e.param, e.problem) from None


def _with_variants(spec: LayerSpec, variants: Mapping[str, object]) -> LayerSpec:
    """``spec`` with the variants a file states; one the tensors show otherwise is refused."""
    from dataclasses import replace

    from .spec import VARIANTS

    for name, value in variants.items():
        if name not in VARIANTS:
            raise SpecError("variants", f"{name!r} is not an LSTM variant; allowed: {', '.join(VARIANTS)}")
        shown = getattr(spec, name)
        if shown != VARIANTS[name] and shown != value:
            raise SpecError("variants", f"{name} is {value}, but the tensors show {shown}")
    return replace(spec, **dict(variants))


def conversion_warnings(weights: Mapping[str, np.ndarray], spec: LayerSpec, target: str,
                        drop_cell_clip: bool = False) -> list[dict]:
    """What a conversion that went through changed or could not keep, each ``{"text": one
    sentence, and its numbers}``: a cell clip left out (``drop_cell_clip``), weights stored
    as int8 (hybrid) written as their dequantized float values. ``spec``: the source layer,
    with the variants its file states."""
    source, fw = frameworks.of(spec), frameworks.get(target)
    out = []
    if drop_cell_clip and spec.cell_clip and "cell_clip" not in fw.OPTIONS:
        v = spec.cell_clip
        out.append({"dropped": "cell_clip", "value": v,
                    "text": f"cell_clip = {v:g} left out: {source.SHORT} clips c to ±{v:g} every step, {fw.TITLE} "
                            f"does not, so the outputs differ wherever |c| passes {v:g}"})
    canonical = source.to_canonical(weights, spec)
    stored = sum(len(part.quant or {}) for _, _, part in canonical.directions())
    if stored:
        out.append({"int8_tensors": stored,
                    "text": f"{stored} weight tensors are stored as int8 with one scale each (hybrid): written as "
                            f"their dequantized float32 values (int8 × scale); {source.SHORT}'s hybrid kernel also "
                            f"quantizes each input row to int8 at run time, which {fw.TITLE}'s float arithmetic "
                            "does not, so the outputs differ from the file's by that rounding"})
    return out


class TargetRefusal(SpecError):
    """The target convention cannot hold what the layer's weights hold (a GRU's b_hn in Flax
    nnx, a Bidirectional in Flax): the file's content, not an option. A SpecError for the
    library's callers; the command line reports it against the file (exit 1)."""


# what leaving a variant out would change, where it can be said more exactly than "the outputs"
CHANGED = {"cell_clip": "the outputs would differ wherever |c| passes {value:g}",
           "proj_clip": "the outputs would differ wherever the projection's output passes {value:g}"}
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
    return frameworks.get(target).why_no_reverse()


def from_canonical(canonical, target: str) -> dict[str, np.ndarray]:
    """The target framework's tensors for a canonical layer (see :mod:`lstmcalc.canonical`)."""
    fw = frameworks.get(target)
    gate = canonical.recurrent_activation
    if gate not in fw.GATE_FUNCTIONS:
        own = " or ".join(fw.GATE_FUNCTIONS)
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
            why = fw.WHY_NOT.get(option)
            raise SpecError(option, f"this layer has {VARIANT_WORDS[option]}"
                            + (f" ({value:g})" if not isinstance(value, bool) else "")
                            + f", which {fw.TITLE} does not have" + (f" ({why})" if why else "") + ": "
                            + CHANGED.get(option, "the outputs would change").format(value=value))
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


# --- what `lstmcalc convert` does ----------------------------------------------------------------


@dataclass(frozen=True)
class ConvertReport:
    """One file's layer written in another convention: what was read, written and said."""

    input: str
    output: str
    spec: LayerSpec  # the layer read (its own convention)
    target: str
    arrays: dict  # the target's tensors, in its order, as written
    unknown: dict  # what the file does not say ({option: allowed values})
    notes: tuple[str, ...]  # what the target needs beside the tensors (nonlinearity='relu', ...)
    warnings: tuple[dict, ...]  # what was left out on request (a dropped cell clip): {"dropped", "value", "text"}

    def to_dict(self) -> dict:
        return {"input": self.input, "output": self.output, "cell": self.spec.cell, "from": self.spec.framework,
                "to": self.target,
                "unknown": {k: list(v) for k, v in self.unknown.items() if k != "reset_after"},
                "tensors": [{"name": k, "shape": list(a.shape), "count": int(a.size)} for k, a in self.arrays.items()],
                "notes": list(self.notes), "warnings": list(self.warnings)}


def convert_file(
    path: str,
    output: str,
    *,
    cell: str | None = None,
    source: str | None = None,
    target: str | None = None,
    layer: str | None = None,
    bidirectional: bool | None = None,
    layers: int | None = None,
    reset_after: bool | None = None,
    drop_cell_clip: bool = False,
) -> ConvertReport:
    """``lstmcalc convert`` as one library call: the output path checked before any work (an
    ``.onnx`` output is a runnable ONNX model, a ``.msgpack`` a Flax tree, else an ``.npz`` of
    tensors), the layer read by :func:`lstmcalc.readers.read_layer` in ``source`` where given
    (the names decide, never overruled in silence), written in ``target`` (default: the
    source convention's ``CONVERT_TO``). ``cell``, ``bidirectional``, ``layers`` and
    ``reset_after`` check what the file says. Refusals caused by the file's content are
    :class:`FileError`; those of an option given, :class:`SpecError` naming it."""
    from dataclasses import replace

    from .readers import read_layer
    from .spec import VARIANTS

    if cell is not None:
        refuse_shaped_only(cell, "convert")
    given = {k for k, v in (("reset_after", reset_after), ("bidirectional", bidirectional), ("layers", layers))
             if v is not None}  # a refusal of what these say is the option's (exit 2), else the file's
    as_model = output.endswith(".onnx")  # a runnable ONNX model rather than an .npz of tensors
    as_msgpack = output.endswith(".msgpack")  # a Flax parameter tree (flax.serialization)
    if as_model:
        if target is not None and target != model_target():
            raise SpecError("output", f"{output!r} is an ONNX model; --to {target} writes an .npz")
        check_target(output, "--output", [path])  # the same checks as for an .npz, before any work
    elif as_msgpack:
        if target not in msgpack_targets():
            said = f"--to {target} writes an .npz" if target is not None else "give --to"
            raise SpecError("output", f"{output!r} is a Flax .msgpack, written for --to "
                                      f"{', '.join(msgpack_targets())}; {said}")
        check_target(output, "--output", [path])
        need_flax()  # before any work: without flax, one line naming the extra
    else:
        check_output_path(output, "--output", [path])  # before reading anything: a bad path writes nothing
    try:
        found = read_layer(path, layer, framework=source)
    except SpecError as e:  # the file's convention is the source here
        raise SpecError("source", e.problem) if e.param == "framework" else e from None
    spec = found.spec
    if cell is not None and cell != spec.cell:
        raise SpecError("cell", f"is {cell}, but {path} holds {spec.cell} weights")
    to = model_target() if as_model else target if target is not None else frameworks.of(spec).CONVERT_TO
    if reset_after is not None and spec.cell != "gru":
        raise SpecError("reset_after", f"applies to GRU weights only; {path} holds {spec.cell} weights")
    if reset_after is not None and "reset_after" not in found.unknown and reset_after != spec.reset_after:
        raise SpecError("reset_after", f"is {reset_after}, but {path} says reset_after={spec.reset_after}")
    if reset_after is None and spec.cell == "gru" and "reset_after" not in found.unknown:
        reset_after = spec.reset_after
    if spec.reverse and to != spec.framework:  # the file's node runs backwards; no other convention says so
        raise FileError(f"{path}: {why_no_reverse(to)}")
    stated = {k: getattr(spec, k) for k, v in VARIANTS.items() if getattr(spec, k) != v}  # a model file's options
    if drop_cell_clip and not spec.cell_clip:
        raise SpecError("drop_cell_clip", f"{path} has no cell clip to drop")
    try:
        arrays = convert_weights(found.weights, cell=spec.cell, source=spec.framework, target=to,
                                 bidirectional=bidirectional, layers=layers,
                                 reset_after=reset_after if spec.cell == "gru" else None,
                                 recurrent_activation=spec.recurrent_activation, variants=stated,
                                 drop_cell_clip=drop_cell_clip)
    except TargetRefusal as e:  # caused by the file's content: exit 1, named by the file, no option
        if e.param in given:
            raise SpecError(e.param, e.problem) from None
        more = "; --drop-cell-clip converts it without the clip" if e.param == "cell_clip" else ""
        raise FileError(f"{path}: {frameworks.get(to).TITLE} cannot hold this layer: {e.problem}{more}") from None
    warnings = conversion_warnings(found.weights, replace(spec, **stated), to, drop_cell_clip)
    from .writers import save_arrays, save_msgpack, write_onnx_weights

    if as_model:
        write_onnx_weights(output, arrays, cell=spec.cell, activation=spec.activation,
                           reset_after=reset_after if spec.cell == "gru" else True)
    elif as_msgpack:
        save_msgpack(output, arrays, to, "--output", [path])
    else:
        save_arrays(output, arrays, "--output", [path])
    return ConvertReport(path, output, spec, to, arrays, dict(found.unknown),
                         tuple(conversion_notes(spec, to, found.unknown)), tuple(warnings))
