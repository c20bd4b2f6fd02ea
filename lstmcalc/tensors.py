"""The one place a layer is inferred from its tensors' names and shapes, and the one check of
tensors against a layer (NumPy only through the framework modules' hooks).

:func:`infer_framework` / :func:`candidate_frameworks`: which registered conventions the
names belong to; :func:`infer_layer_spec`: the :class:`LayerSpec` the names and shapes
describe; :func:`check_tensors`: exactly the tensors of a spec, each with its shape;
:func:`unknown_options`: what the tensors cannot show. Readers, the forward pass and the
conversions all call these.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from . import frameworks
from .errors import FileError
from .frameworks import all_tensors, make_spec, weights_key
from .frameworks.shared import as_array, describe, shape_of
from .frameworks.torch import TORCH_NAME  # noqa: F401  (module-prefixed state_dict names, for readers)
from .spec import LayerSpec, SpecError


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
    weights: Mapping[str, "np.ndarray"],
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
