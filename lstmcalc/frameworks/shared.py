"""What every framework module needs when it reads tensors: shapes, dtypes, and the cell a
fused tensor's block count shows (NumPy imported inside the functions)."""

from __future__ import annotations

from ..errors import FileError
from ..spec import LayerSpec

CELL_BY_GATES = {4: "lstm", 3: "gru", 1: "rnn"}
GATES_OF = {"lstm": 4, "gru": 3, "rnn": 1}
CELL_WORDS = {"lstm": "LSTM", "gru": "GRU", "rnn": "SimpleRNN/RNN"}
A_CELL = {"lstm": "an LSTM", "gru": "a GRU", "rnn": "a SimpleRNN/RNN"}


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
    if spec.proj_size:
        parts.append(f"proj_size {spec.proj_size}")
    if spec.peepholes:
        parts.append("peepholes")
    if not spec.bias:
        parts.append("no bias")
    return ", ".join(parts)
