"""The contract every convention keeps (stdlib only).

A convention is one module in this package (``keras.py``, ``torch.py``, ...) that ends with
``CONVENTION = Convention(__name__)``, or with its family's class: one instance holding the
module's data and hooks, with the defaults below for what neither the module nor its family
defines. The registry (:mod:`lstmcalc.frameworks`) hands out these instances; callers ask them
(``fw.OPTIONS``, ``fw.takes_initial_state``, ``fw.bias_note(spec)``) and never test for a name
or probe with ``hasattr``.

A hook is found in this order: the module's own function (a plain function, called
``fw.hook(spec, ...)`` with no ``self``), then its family class's method, then the default
here. Family classes hold what their members share, parameterised by each module's data:

- :class:`~lstmcalc.frameworks.fused.Fused` (``fused.py``; MLX, Equinox): one cell with an
  input and a recurrent matrix of stacked gate blocks, from the module's ``NAMES``,
  ``GATE_ORDER``, ``TITLE``, ``A_TITLE`` and ``NAMES_HINT``;
- :class:`~lstmcalc.frameworks.treeparams.FlaxTree` (``treeparams.py``; Flax linen, nnx,
  nnx OptimizedLSTMCell): a parameter tree of Dense kernels, from the module's ``TREE``,
  ``TITLE``, ``NAMES_HINT`` and ``WHY_NO_BHN``;
- :class:`~lstmcalc.frameworks.keras.Keras` (``keras.py``; Keras 3, Keras 2 CuDNN): our Keras
  weights keys, the layer's outputs and constructor lines, the inference from names and shapes.

A member module keeps its data and what truly differs (its constructor, outputs, bias
sentence, ...). The import-time check below accepts a required hook from the module or the class.

Data a module (or its family class) must define:

- ``NAME`` (the ``--framework`` value), ``TITLE`` (for headings), ``SHORT`` (in running text),
  ``CELLS``, ``CELL_TITLES`` ({cell: class name}), ``GATE_ORDER`` ({cell: our gate letters in
  its tensor order}), ``NAMES_HINT`` (its weights keys, for messages);
- ``OPTIONS``: the layer options it has beyond the common ones (``merge_mode``, ``proj_size``,
  ``reset_before``, ``return_sequences``, ``return_state``, ``peepholes``, ``layout``, ``direction``) and
  ``WHY_NOT`` ({option: why it has no such thing}; also ``no_bias``, ``bidirectional``,
  ``layers`` for a convention without a bias-free, bidirectional or stacked form).

Hooks a module or its family class must define (arithmetic and words stdlib; weights NumPy,
imported inside):
``layer_tensors(spec, layer, direction)``, ``weights_key(spec, tensor)``,
``biases_per_gate(spec)``, ``formula(spec, layer)``, ``outputs(spec)`` (what the layer
returns, in its order, under the names ``run`` returns and saves), ``constructor(spec)``,
``recognises(key)``, ``parse_name(key)``, ``describe_names(names)``,
``infer_options(weights, parsed, cell)``, ``to_canonical(weights, spec)``,
``from_canonical(canonical, spec)``, ``init_weights(spec, rng, dtype)``,
``forward_result(spec, output, h_n, c_n[, cells])`` (``cells``: every step's c, (B, T, H), given
with ``CELL_SEQUENCE``), ``returned_fields(spec)`` (the names ``outputs(spec)`` gives, in its order),
``unknown_options(spec)``.

Data and hooks with defaults (:class:`Convention` below): ``LETTERS``, ``SHAPED_CELLS``,
``NAMES_CARRY_POSITION``, ``PEER``, ``TORCH_MODULE``, ``CELL_SEQUENCE``, ``gate_biases``, ``claims_h5``,
``bias_note``, ``history_note``, ``notes``, ``file_title``, ``why_no_reverse``, ``input_shapes``,
``initial_state_shapes`` / ``initial_state_from`` / ``initial_state_to`` / ``initial_state_aliases``
(``takes_initial_state``), ``masked_output`` (``takes_lengths``).
"""

from __future__ import annotations

import sys

REQUIRED_DATA = ("NAME", "TITLE", "SHORT", "CELLS", "CELL_TITLES", "GATE_ORDER", "NAMES_HINT", "OPTIONS", "WHY_NOT")
REQUIRED_HOOKS = (
    "layer_tensors", "weights_key", "biases_per_gate", "formula", "outputs", "constructor", "recognises",
    "parse_name", "describe_names", "infer_options", "to_canonical", "from_canonical", "init_weights",
    "forward_result", "returned_fields", "unknown_options",
)
OPTIONAL = ("LETTERS", "SHAPED_CELLS", "NAMES_CARRY_POSITION", "PEER", "TORCH_MODULE", "GATE_FUNCTIONS", "CONVERT_TO",
            "DEFAULT_LAYOUT", "WRITES", "CELL_SEQUENCE", "auxiliary", "gate_biases", "claims_h5", "bias_note", "history_note",
            "notes", "file_title", "why_no_reverse", "outputs_caption", "lengths_note", "input_shapes",
            "initial_state_shapes", "initial_state_from", "initial_state_to", "initial_state_aliases", "masked_output")


class Convention:
    """One framework's convention: the module's data and hooks, and the defaults below."""

    # {(cell, gate): its own letter} where it differs from ours (Keras' c for our g)
    LETTERS: dict = {}
    # cells it counts and shapes only (count, breakdown; Keras' ConvLSTM1D/2D/3D)
    SHAPED_CELLS: tuple = ()
    # whether its tensor names already say the layer and direction (PyTorch weight_ih_l1_reverse,
    # ONNX's D axis); else tables add a layer and direction column for stacks and bidirectional layers
    NAMES_CARRY_POSITION = False
    # the framework a grid, a cost comparison or a bias sentence sets this one beside: PyTorch for
    # every convention but PyTorch's own
    PEER = "torch"
    # the gate functions (σ of i, f, o / z, r; spec.RECURRENT_ACTIVATIONS) its layers can compute
    GATE_FUNCTIONS: tuple = ("sigmoid",)
    # whether its layer is a torch.nn recurrent module itself (LSTM, GRU, RNN): cost's FLOP counters
    # (ptflops, thop, torchinfo) run it as it is; every other convention is costed through its twin there
    TORCH_MODULE = False
    # the convention `convert` writes when no --to is given: Keras for every convention but Keras' own
    CONVERT_TO = "keras"
    # the layout (ONNX layout, TFLite time_major) a spec gets when none is given
    DEFAULT_LAYOUT = 0
    # the files `convert` writes for it, by extension: an .npz of its tensors always; .onnx a
    # runnable model (ONNX), .msgpack a Flax parameter tree (the Flax forms)
    WRITES: tuple = (".npz",)
    # whether its LSTM returns every step's cell state (MLX: hidden and cell, (B, T, H) each):
    # the forward pass then keeps c_t for every step, which the Numba kernels do not
    CELL_SEQUENCE = False

    def __init__(self, module_name: str):
        module = sys.modules[module_name]
        family = type(self)
        missing = [n for n in REQUIRED_DATA + REQUIRED_HOOKS if not hasattr(module, n) and not hasattr(family, n)]
        if missing:
            by = "" if family is Convention else f", nor does its family class {family.__name__}"
            raise TypeError(f"{module_name} does not define {', '.join(missing)}{by} (see lstmcalc.frameworks.base)")
        for name, value in vars(module).items():  # the contract's names and the module's own constants
            if not name.startswith("_") and not isinstance(value, (type(sys), type)) and name != "CONVENTION":
                setattr(self, name, value)  # functions stay plain: fw.hook(spec, ...), before the class's methods
        self.module = module_name
        self.takes_initial_state = self._defines(module, "initial_state_from")
        self.takes_lengths = self._defines(module, "masked_output")

    @classmethod
    def _defines(cls, module, hook: str) -> bool:
        """Whether ``module`` or the family class gives ``hook`` itself (not the default here)."""
        return hasattr(module, hook) or getattr(cls, hook) is not getattr(Convention, hook)

    def __repr__(self) -> str:
        return f"<Convention {self.NAME}>"

    @property
    def cells(self) -> tuple[str, ...]:
        """Every cell it has: ``CELLS``, then those it counts and shapes only."""
        return tuple(self.CELLS) + tuple(self.SHAPED_CELLS)

    def has(self, option: str) -> bool:
        """Whether it has ``option`` (``merge_mode``, ``proj_size``, ...)."""
        return option in self.OPTIONS

    # --- hooks with defaults ---------------------------------------------------------------------

    def gate_biases(self, spec, gate: str) -> int:
        """Bias vectors of length H that ``gate`` has: ``biases_per_gate`` unless gates differ."""
        return self.biases_per_gate(spec)

    def claims_h5(self, arrays: dict) -> bool:
        """Whether a legacy Keras ``.h5`` layer's datasets are this convention's."""
        return False

    def bias_note(self, spec) -> str | tuple | None:
        """The sentence ``breakdown`` says about its biases, or (sentence, ((name, value, scope), ...))
        with the numbers it states (names from explain.NUMBER_NAMES; they reach ``--json``); None:
        no sentence on its biases. Called with bias only."""
        return None

    def history_note(self, spec) -> str | tuple | None:
        """What it adds to the cell's history (explain's first answer, breakdown's history note) on
        its own defaults (Keras' forget-gate bias of 1), in ``bias_note``'s forms; None: nothing."""
        return None

    def notes(self, spec) -> list | None:
        """The breakdown's notes on its tensors where it words them itself (ONNX: W/R/B, iofc,
        linear_before_reset), replacing the shared bias sentence; None: the shared ones. Each
        entry is a sentence or, as in ``bias_note``, (sentence, ((name, value, scope), ...)) with
        the numbers it states (names from explain.NUMBER_NAMES; they reach ``--json``)."""
        return None

    def file_title(self, version: str | None) -> str | None:
        """Its title for a layer read from a file that records the version which saved it (a Keras
        file's ``keras_version``), where that differs from ``TITLE``; None: ``TITLE``."""
        return None

    def why_no_reverse(self) -> str:
        """Why an ONNX ``direction="reverse"`` layer (one direction, run from t = T−1 down to 0, Y in
        input order) does not convert into this convention (``convert``)."""
        return (f"an ONNX direction=reverse node has no {self.TITLE} twin: its weights cannot say to run the "
                "sequence backwards, so whatever reads them runs the layer forward")

    def outputs_caption(self, spec) -> str | None:
        """A line under breakdown's in-and-out table (PyTorch: batch_first does not apply to the states)."""
        return None

    def lengths_note(self, spec, steps: int) -> str | None:
        """What the framework itself computes for padded sequences of ``steps`` real sample-steps
        (``cost --lengths``), where that differs from the arithmetic counted; None: nothing to add."""
        return None

    def auxiliary(self, key: str) -> bool:
        """Whether ``key`` is a value kept beside the tensors (TFLite's ``<name>:scale``), not a tensor."""
        return False

    def input_shapes(self, spec) -> list:
        """The input's shape where ``breakdown`` shows it ([Output]); none by default."""
        return []

    def initial_state_shapes(self, spec) -> list:
        """The states the layer takes, in its order ([Output]); none without ``initial_state_from``."""
        return []

    def initial_state_from(self, spec, given, dtype):
        from ..spec import SpecError

        raise SpecError("initial_state", f"is not implemented for {self.TITLE} layers yet")

    def initial_state_to(self, spec, h_n, c_n):
        return None

    def initial_state_aliases(self, spec) -> dict:
        """{state name: other names a states file may hold it under} (what ``run --save``
        writes for the final states, the framework's documented input names, names earlier
        lstmcalc versions saved); none by default."""
        return {}

    def masked_output(self, spec) -> str:
        from ..spec import SpecError

        raise SpecError("lengths", f"is not implemented for {self.TITLE} layers yet")
