"""Plain-language notes on a layer's count, with the user's own numbers (stdlib only).

These are the facts that confuse people reading a one-cell diagram and then
``model.summary()``; each note is one paragraph of text, no markup.
"""

from __future__ import annotations

from dataclasses import replace

from . import frameworks
from .spec import LayerSpec

CELL_HISTORY = {
    "lstm": (
        "The LSTM in Keras and PyTorch is the cell of Hochreiter & Schmidhuber (1997) with the "
        "forget gate that Gers, Schmidhuber & Cummins (2000) added, and no peephole "
        "connections: the cell drawn in Olah's \"Understanding LSTM Networks\". "
        "i = σ(W_i x + U_i h + b_i), f = σ(...), g = tanh(...), o = σ(...); "
        "c = f⊙c_prev + i⊙g; h = o⊙tanh(c)."
    ),
    "gru": (
        "The GRU is the cell of Cho et al. (2014): an update gate z, a reset gate r and a "
        "candidate n; h = z⊙h_prev + (1 − z)⊙n. Keras orders the blocks z, r, h(=n); "
        "PyTorch orders them r, z, n, so the slices differ even where the counts agree."
    ),
    "rnn": (
        "SimpleRNN (torch.nn.RNN) is the Elman (1990) network: one block, "
        "h = tanh(W x + U h_prev + b), with relu as the other nonlinearity PyTorch offers."
    ),
}


def _one_unit_count(spec: LayerSpec, x: int, nb: int) -> int:
    return spec.gates * (x + 1 + nb)


def notes(spec: LayerSpec, total: int) -> list[str]:
    """Short paragraphs explaining ``total`` for ``spec``, using its sizes."""
    from .counting import biases_per_gate  # shared arithmetic; imported late to avoid a cycle

    g, h, x, t = spec.gates, spec.units, spec.input_size, spec.time
    nb = biases_per_gate(spec)
    blocks = "gate" if g > 1 else "block"
    out = []

    out.append(
        f"Every unit's {blocks}s read the whole input vector x_t: each of the {g} {blocks}s "
        f"has an X × H = {x} × {h} block of input weights, so one more input feature adds "
        f"{g} × {h} = {g * h} weights (one per {blocks} per unit) — for one Keras LSTM unit, 12 → 16."
    )

    if spec.proj_size:
        matrix = f"H × P = {h} × {spec.proj_size}"
        cross = "Every unit reads all P features of the projected h_(t-1)."
    elif h == 1:
        matrix = "H × H = 1 × 1"
        cross = (
            "With one unit that is one weight per " + blocks + "; with 2 units it is already 2 × 2, "
            "which is why a Keras LSTM with 2 units and 1 input has 32 parameters, not 2 × 12 = 24."
        )
    else:
        one = _one_unit_count(spec, x, nb)
        matrix = f"H × H = {h} × {h}"
        cross = (
            f"{h} independent one-unit cells would have {h} × {one} = {h * one} parameters; the "
            f"{g * h * (h - 1)} more here are the weights from each unit's h_(t-1) into the other "
            f"units' {blocks}s."
        )
    out.append(
        f"Every unit's {blocks}s also read every unit's previous output h_(t-1): the recurrent "
        f"matrix is {matrix} per {blocks}, so the units are not independent cells. {cross}"
    )

    out.append(
        f"The same weights are used at every time step: a sequence of T = {t} steps (or any "
        f"other length) adds computation, not parameters."
    )

    framework_notes = getattr(frameworks.of(spec), "notes", None)  # a framework's own words, if it has them
    if framework_notes is not None:
        out += framework_notes(spec)
    elif spec.bias:
        extra = g * h if spec.cell != "gru" else 0
        if spec.framework == "torch":
            out.append(
                "PyTorch keeps two bias vectors per gate, bias_ih and bias_hh, because the cuDNN "
                "kernels it mirrors define both; only their sum ever reaches the gates, so one is "
                "mathematically redundant"
                + (f" — the reason this layer has {extra} more parameters per direction than Keras'." if extra else
                   " — Keras' GRU with reset_after=True keeps two as well, so here the counts agree.")
            )
        else:
            if spec.cell == "gru" and spec.reset_after:
                out.append(
                    "With reset_after=True (the Keras 3 default, the cuDNN-compatible form PyTorch "
                    "also uses) the reset gate multiplies U_n h_(t-1) + b_hn, so each gate keeps a "
                    "second, recurrent bias: bias has shape (2, 3H), row 0 for the input, row 1 for "
                    "the recurrent product. PyTorch's GRU has the same count."
                )
            else:
                out.append(
                    f"PyTorch would report {extra} more per layer and direction: it keeps two bias "
                    "vectors per gate (bias_ih and bias_hh, for cuDNN compatibility), of which only "
                    "the sum matters."
                    if extra
                    else "With reset_after=False the reset gate multiplies h_(t-1) before the "
                    "recurrent product, so there is one bias per gate (shape (3H,)); PyTorch has "
                    "no such GRU."
                )

    history = CELL_HISTORY[spec.cell]
    if spec.cell == "lstm" and spec.framework == "keras":
        history += (
            " Keras starts the forget-gate bias at 1 (unit_forget_bias=True, after Jozefowicz, "
            "Zaremba & Sutskever, 2015), so a new cell keeps its memory by default."
        )
    out.append(history)

    if spec.proj_size:
        out.append(
            f"With proj_size P = {spec.proj_size}, h_t = W_hr (o⊙tanh(c_t)) is projected from "
            f"H = {h} down to P: weight_hr is P × H, the recurrent weights shrink to H × P per gate, "
            f"and h_n and the next layer see P features."
        )
    if spec.bidirectional:
        nxt = spec.layer_input_size(1)
        out.append(
            "Bidirectional runs a second copy of each layer, with its own weights, over the "
            f"reversed sequence: twice the parameters. A layer above the first reads {nxt} features "
            + (f"(the {spec.merge_mode} of both directions)." if spec.framework == "keras" and spec.merge_mode != "concat"
               else "(both directions concatenated).")
        )
    elif spec.layers > 1:
        out.append(
            f"Stacked layers: layer 1 and above read the {spec.hidden_out} features of the layer "
            f"below, not the {x} input features, so their input blocks are {spec.hidden_out} × {h}."
        )
    return out


PAPERS = {
    "lstm": [
        "Hochreiter & Schmidhuber (1997), Long Short-Term Memory, Neural Computation 9(8).",
        "Gers, Schmidhuber & Cummins (2000), Learning to Forget: Continual Prediction with LSTM, Neural Computation 12(10).",
        "Jozefowicz, Zaremba & Sutskever (2015), An Empirical Exploration of Recurrent Network Architectures, ICML (forget-gate bias of 1).",
        "Sak, Senior & Beaufays (2014), LSTM Recurrent Neural Network Architectures for Large Scale Acoustic Modeling (the projection PyTorch's proj_size implements).",
    ],
    "gru": [
        "Cho et al. (2014), Learning Phrase Representations using RNN Encoder-Decoder for Statistical Machine Translation, EMNLP.",
        "Chung et al. (2014), Empirical Evaluation of Gated Recurrent Neural Networks on Sequence Modeling.",
    ],
    "rnn": ["Elman (1990), Finding Structure in Time, Cognitive Science 14(2)."],
}


def questions(spec: LayerSpec) -> list[tuple[str, str]]:
    """The questions a newcomer asks about this layer, answered with its own sizes."""
    from .counting import biases_per_gate, layer_count, total_count

    g, h, x = spec.gates, spec.units, spec.input_size
    nb = biases_per_gate(spec)
    total = total_count(spec)
    one_layer = layer_count(spec, 0)
    kind = {"lstm": "LSTM", "gru": "GRU", "rnn": "SimpleRNN"}[spec.cell]
    blocks = "gates" if g > 1 else "block"
    out = []

    out.append((
        "Is this the cell in the diagrams?",
        CELL_HISTORY[spec.cell],
    ))
    out.append((
        f"With units = {h}, do I have one cell or {h}?",
        f"One layer whose state has {h} numbers. The box in a one-cell diagram is the whole layer at one "
        f"time step, with vectors on every arrow: x_t has {x} feature{'s' if x != 1 else ''}, h_t and the gates have {h} "
        f"entries each. Each \"unit\" is one entry of those vectors, not a separate cell, and the "
        f"layer is applied at every one of the T = {spec.time} steps with the same weights.",
    ))
    out.append((
        f"Why does one more input feature add {g * h} parameters?",
        f"Each of the {h} units has, in each of its {g} {blocks}, one weight per input feature: the input "
        f"block is X × H = {x} × {h} per gate. Going from X = {x} to {x + 1} adds a row of {g} × {h} = "
        f"{g * h} weights (for one Keras LSTM unit, 12 → 16).",
    ))
    def c(units, inputs):
        return total_count(replace(spec, units=units, input_size=inputs))

    one = g * (x + 1 + nb)
    independent = h * one
    two = layer_count(replace(spec, units=2), 0)
    if spec.proj_size:
        p = spec.proj_size
        out.append((
            f"Why do {h} units give {one_layer:,} parameters per layer and direction?",
            f"Every unit's gates read all P = {p} values of the projected previous output, so each gate "
            f"has an H × P = {h} × {p} recurrent block; W_hr adds P × H = {p * h}: "
            f"{g} × ({x}·{h} + {p}·{h} + {nb}·{h}) + {p}·{h} = {one_layer:,}.",
        ))
    elif h > 1:
        out.append((
            f"Why do {h} units give {one_layer:,} parameters, not {h} × {one} = {independent:,}?",
            f"Because units are not independent: every unit's {blocks} read the previous output of every "
            f"unit, so the recurrent block is H × H = {h} × {h} per gate, not {h} separate 1 × 1 weights. "
            f"The {one_layer - independent:,} extra parameters are the cross-unit recurrent weights "
            f"({g} × {h} × {h - 1}).",
        ))
    else:
        out.append((
            f"Why would 2 units give {two:,}, not 2 × {one} = {2 * one}?",
            f"Every unit reads the whole previous output h_(t-1), so the recurrent weights grow as H × H per "
            f"gate: with 2 units each gate has a 2 × 2 recurrent block, {g} × 4 = {4 * g} recurrent weights "
            f"where two independent cells would have {g} × 2 = {2 * g}.",
        ))
    bigger = ", ".join([f"H = {2 * h}: {c(2 * h, x):,}", f"H = {4 * h}: {c(4 * h, x):,}",
                        f"X = {2 * x}: {c(h, 2 * x):,}"])
    out.append((
        "How do the numbers grow?",
        f"Quadratically in the units and linearly in the inputs: {g} × H² recurrent weights, plus "
        f"{g} × X × H input weights, plus {nb} × {g} × H biases per layer and direction. "
        f"This layer has {total:,}; with {bigger}. Sequence length and batch size add none "
        f"(they add computation and memory, see `lstmcalc cost`).",
    ))
    out.append((
        f"Which papers do Keras and PyTorch implement for the {kind}?",
        " ".join(PAPERS[spec.cell])
        + " PyTorch's second bias vector per gate comes from cuDNN's formulation; only the sum "
        "b_ih + b_hh affects the output.",
    ))
    return out
