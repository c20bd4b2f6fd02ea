"""Read a weight-loading error message and say how the checkpoint's recurrent layer differs
from the model's (stdlib only).

Recognised texts (the exact words the frameworks print; see tests/crosscheck/test_why.py):

- PyTorch ``Module.load_state_dict``: ``Error(s) in loading state_dict for <Class>:``, then
  ``Missing key(s) in state_dict: "k", ...``, ``Unexpected key(s) in state_dict: ...`` and
  ``size mismatch for <key>: copying a param with shape torch.Size([..]) from checkpoint,
  the shape in current model is torch.Size([..])``.
- Keras 3 ``load_weights`` / ``Variable.assign``: ``variable.shape=(..), Received:
  value.shape=..`` with ``Target variable: <Variable path=.../<cell>/<name>``; ``Layer
  '<cell>' expected N variables, but received M variables during loading. Expected: [...]``;
  ``Layer <name> weight shape (..) is not compatible with provided weight shape (..)``
  (``set_weights``); ``You called `set_weights(weights)` on layer '<name>' with a weight
  list of length M, but the layer was expecting N weights``.
- Keras 2 (TF-Keras) ``load_weights``: ``weight <tf.Variable '<layer>/<name>:0' shape=(..)
  ...> has shape (..), but the saved weight has shape (..)`` (a CuDNNLSTM bias of 8H,
  keras-team/keras#11785).

Every field is inferred only from what the text proves: the checkpoint's side from the
shapes it reports and the keys only it has, the model's from its shapes, the keys only it
has and the class name in the message. A field the text does not settle is ``None``
("unknown"), never a default. One rule fills in shapes the text does not print: a key that
both sides hold (it is neither missing nor unexpected) and that is not a size mismatch has
the same shape on both sides.
"""

from __future__ import annotations

from .common import FIELDS, MAX_TEXT, Diagnosis, Difference, InferredLayer, Seen, UnrecognisedError
from .keras import parse_keras
from .onnx import parse_onnx
from .torch import parse_torch

__all__ = ["FIELDS", "Diagnosis", "Difference", "InferredLayer", "Seen", "UnrecognisedError", "diagnose"]


def diagnose(text: str) -> Diagnosis:
    """Read a weight-loading error message; :class:`UnrecognisedError` (a FileError, exit 1)
    saying what was recognised when it is none this module knows."""
    if not isinstance(text, str) or not text.strip():
        raise UnrecognisedError("the error text is empty; paste the message (or '-' to read it from stdin)")
    text = text[:MAX_TEXT]
    errors = []
    for parse in (parse_torch, parse_keras, parse_onnx):
        try:
            return parse(text)
        except UnrecognisedError as e:
            errors.append(str(e))
            if parse is parse_onnx and str(e).startswith("an onnxruntime error of"):
                raise  # recognised, and too little in it: say what was recognised
    first = text.strip().splitlines()[0][:80]
    raise UnrecognisedError(
        f"not a weight-loading error lstmcalc knows ({'; '.join(errors)}); it begins {first!r}. Recognised: "
        "PyTorch load_state_dict (size mismatch, missing and unexpected keys), Keras 3 load_weights/set_weights, "
        "Keras 2 load_weights, onnxruntime's LSTM/GRU/RNN input shape errors"
    )
