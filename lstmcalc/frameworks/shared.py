"""What every framework module needs when it reads tensors: shapes, dtypes, and the cell a
fused tensor's block count shows (NumPy imported inside the functions)."""

from __future__ import annotations

from ..errors import FileError
from ..spec import LayerSpec

CELL_BY_GATES = {4: "lstm", 3: "gru", 1: "rnn"}
GATES_OF = {"lstm": 4, "gru": 3, "rnn": 1}
CELL_WORDS = {"lstm": "LSTM", "gru": "GRU", "rnn": "SimpleRNN/RNN"}
A_CELL = {"lstm": "an LSTM", "gru": "a GRU", "rnn": "a SimpleRNN/RNN"}


def parsed_names(keys, parse, what: str, skip=None) -> dict:
    """{parse(key): key} for every key (the slot a convention's ``parse_name`` gives it), or
    :class:`FileError` "'key' is not {what}" for the first key it does not parse; keys that
    ``skip`` says are not tensors (TFLite's scales) are left out."""
    parsed = {}
    for key in keys:
        if skip is not None and skip(key):
            continue
        slot = parse(key)
        if slot is None:
            raise FileError(f"{key!r} is not {what}")
        parsed[slot] = key
    return parsed


def shape_of(a) -> tuple[int, ...]:
    import numpy as np

    return tuple(int(d) for d in np.shape(a))


def as_array(key: str, value):
    """``value`` as an ndarray of real numbers, or :class:`FileError` naming ``key``."""
    import numpy as np

    a = np.asarray(value)
    if a.dtype.kind not in "fiu":
        raise FileError(f"{key}: dtype {a.dtype} is not a real number type")
    return a


def cell_from_blocks(key: str, shape: tuple[int, ...], blocks: int, h: int, cell: str | None) -> str:
    """The cell whose gate count is ``blocks`` (checked against ``cell`` when given)."""
    found = CELL_BY_GATES.get(blocks)
    if cell is None:
        if found is None:
            raise FileError(
                f"{key}: shape {shape} holds {blocks} blocks of H={h}; an LSTM has 4, a GRU 3, a SimpleRNN 1"
            )
        return found
    want = GATES_OF[cell]
    if blocks != want:
        what = f"{A_CELL[found]}'s" if found else "no cell's"
        raise FileError(
            f"{key}: shape {shape} holds {blocks} gate blocks of H={h} ({what}), not the {want} of {A_CELL[cell]}"
        )
    return cell


def describe(spec: LayerSpec) -> str:
    """'torch LSTM, units 4, input 3, 2 layers, bidirectional': for messages."""
    parts = [f"{spec.framework} {CELL_WORDS[spec.cell]}", f"units {spec.units}", f"input {spec.input_size}"]
    if spec.layers > 1:
        parts.append(f"{spec.layers} layers")
    if spec.bidirectional:
        parts.append("bidirectional")
    if spec.reverse:
        parts.append("direction reverse")
    if spec.proj_size:
        parts.append(f"proj_size {spec.proj_size}")
    if spec.peepholes:
        parts.append("peepholes")
    if not spec.bias:
        parts.append("no bias")
    return ", ".join(parts)


def state_array(name: str, value, shape: tuple[int, ...], dtype):
    """One initial state as a C-contiguous array of ``dtype`` with exactly ``shape``, or a
    one-line :class:`SpecError` (param ``initial_state``) naming the state and the shape
    it must have. An array that already is all that (a previous call's ``state``) is used
    as it is, after the finiteness check."""
    import numpy as np

    a = value
    if not (type(a) is np.ndarray and a.dtype == dtype and a.shape == tuple(shape) and a.flags.c_contiguous):
        a = _converted_state(name, value, shape, dtype)
    if not (np.isfinite(a.min()) and np.isfinite(a.max())):  # min/max propagate NaN; no temporary array
        from ..spec import SpecError

        raise SpecError("initial_state", f"{name} holds NaN or inf; every value must be finite")
    return a


def _converted_state(name: str, value, shape: tuple[int, ...], dtype):
    """:func:`state_array`'s checks and conversion for any other value."""
    import numpy as np

    from ..spec import SpecError

    want = "(" + ", ".join(map(str, shape)) + ")"
    try:
        a = np.asarray(value)
    except (ValueError, TypeError) as e:
        raise SpecError("initial_state", f"{name} is not an array of numbers ({e}); expected shape {want}") from None
    if a.dtype.kind not in "fiu" or a.dtype == np.bool_:
        raise SpecError("initial_state", f"{name} has dtype {a.dtype}; expected real numbers of shape {want}")
    if tuple(a.shape) != tuple(shape):
        raise SpecError("initial_state", f"{name} has shape {shape_of(a)}; expected {want}")
    return np.ascontiguousarray(a, dtype=dtype)


def states_given(given, names: list[str], what: str) -> list:
    """``given`` as a list matching ``names``: a mapping by name (every name present, no
    other), or a sequence of len(names) (a bare array when there is one name)."""
    from collections.abc import Mapping

    from ..spec import SpecError

    if isinstance(given, Mapping):
        extra = sorted(set(given) - set(names))
        if extra:
            raise SpecError("initial_state", f"{extra[0]!r} is not a state name; {what} takes {', '.join(names)}")
        missing = [n for n in names if n not in given]
        if missing:
            raise SpecError("initial_state", f"{missing[0]} is missing; {what} takes {', '.join(names)}")
        return [given[n] for n in names]
    if len(names) == 1 and not isinstance(given, (list, tuple)):
        return [given]
    if not isinstance(given, (list, tuple)) or len(given) != len(names):
        count = len(given) if isinstance(given, (list, tuple)) else "1 array"
        raise SpecError("initial_state", f"got {count} state(s); {what} takes {len(names)}: [{', '.join(names)}]")
    return list(given)


# --- what a convention's sentences need (stdlib) --------------------------------------------------

# the scopes a stated number may have (lstmcalc.explain's grammar)
PER = "per layer and direction"
WHOLE = "whole configuration"


def shape_text(shape: tuple[int, ...]) -> str:
    """'(2, 12)', '(12,)': a shape as a sentence states it (lstmcalc.explain writes the same)."""
    return "(" + ", ".join(f"{v:,}" for v in shape) + ("," if len(shape) == 1 else "") + ")"


def count_in(spec: LayerSpec, framework: str, **changes) -> int:
    """Parameters of ``spec``'s layer as convention ``framework`` holds it (with ``changes``):
    the sizes of every tensor that convention lists for it (the registry imported here: a
    module asks for its ``PEER`` by name, never imports another convention's module)."""
    from dataclasses import replace

    from . import all_tensors

    return sum(t.count for t in all_tensors(replace(spec, framework=framework, **changes)))
