"""PyTorch ``Module.load_state_dict`` messages: missing and unexpected keys, size mismatches."""

from __future__ import annotations

import re

from .. import frameworks
from .common import Diagnosis, Difference, SIDES, Seen, Side, TORCH_CLASSES, TORCH_WORDS, UnrecognisedError, find_differences, infer_pair, row_notes, shape_of, unexplained_sizes


TORCH_HEADER = re.compile(r"Error\(s\) in loading state_dict for (?P<cls>[\w.]+):")
TORCH_KEYS = re.compile(r"(?P<kind>Missing|Unexpected) key\(s\) in state_dict:\s*(?P<keys>(?:\"[^\"]*\"[,\s]*)+)")
TORCH_SIZE = re.compile(
    r"size mismatch for (?P<key>[^\s:]+):\s*copying a param with shape torch\.Size\(\[(?P<ckpt>[\d,\s]*)\]\)\s*"
    r"from checkpoint,\s*the shape in current model is torch\.Size\(\[(?P<model>[\d,\s]*)\]\)"
)


def parse_torch(text: str) -> Diagnosis:
    header = TORCH_HEADER.search(text)
    sizes = list(TORCH_SIZE.finditer(text))
    keyed = list(TORCH_KEYS.finditer(text))
    if not header and not sizes and not keyed:
        raise UnrecognisedError("no PyTorch load_state_dict message")
    torch_fw = frameworks.get("torch")
    modules: dict[str, dict[str, Side]] = {}
    mismatched: dict[str, set] = {}  # prefix -> slots both sides hold with different shapes
    ignored = []

    def side(prefix, which):
        return modules.setdefault(prefix, {s: Side() for s in SIDES})[which]

    def slot(key):
        m = torch_fw.TORCH_NAME.match(key)
        if not m:
            ignored.append(key)
            return None, None
        return m["prefix"], (int(m["layer"]), "backward" if m["reverse"] else "forward", m["name"])

    for m in sizes:
        prefix, s = slot(m["key"])
        if s is None:
            continue
        for which, shape in (("checkpoint", shape_of(m["ckpt"])), ("model", shape_of(m["model"]))):
            side(prefix, which).present[s] = shape
            side(prefix, which).seen.append(Seen(m["key"], shape, "size mismatch"))
        mismatched.setdefault(prefix, set()).add(s)
    listed = {kind: [k for m in keyed if m["kind"] == kind for k in re.findall(r"\"([^\"]*)\"", m["keys"])]
              for kind in ("Missing", "Unexpected")}
    renaming = _renaming(listed["Unexpected"], listed["Missing"])
    renamed_modules = []
    if renaming:
        a, b = renaming
        for key in listed["Unexpected"]:
            if not key.startswith(a):
                continue
            theirs = b + key[len(a):]
            prefix, s = slot(theirs)
            if s is None:
                ignored.pop()  # a renamed non-recurrent key: the prefix explains it
                continue
            renamed_modules.append(prefix.rstrip("."))
            for which, k, how in (("checkpoint", key, "unexpected"), ("model", theirs, "missing")):
                side(prefix, which).present.setdefault(s, None)  # held by both, under two names
                side(prefix, which).seen.append(Seen(k, None, how))
    for m in keyed:
        only = "model" if m["kind"] == "Missing" else "checkpoint"
        other = "checkpoint" if only == "model" else "model"
        for key in re.findall(r"\"([^\"]*)\"", m["keys"]):
            if renaming and key.startswith(renaming[0 if only == "checkpoint" else 1]):
                continue  # under another name on the other side
            prefix, s = slot(key)
            if s is None:
                continue
            side(prefix, only).present.setdefault(s, None)
            side(prefix, only).seen.append(Seen(key, None, "missing" if only == "model" else "unexpected"))
            side(prefix, other).absent.add(s)
    if not modules:
        raise UnrecognisedError(
            "a PyTorch load_state_dict message, but none of its keys is a recurrent layer's "
            f"({torch_fw.NAMES_HINT}); it names {', '.join(ignored[:5]) or 'no key'}"
        )
    cls = header["cls"] if header else None
    checkpoint, model, differences = [], [], []
    for prefix, sides in modules.items():
        mismatch = mismatched.get(prefix, set())
        if prefix == "" and cls in TORCH_CLASSES:
            sides["model"].cell_hint = TORCH_CLASSES[cls]
        name = prefix.rstrip(".")  # "" for bare keys: the module load_state_dict was called on
        ck, mo = infer_pair(sides["checkpoint"], sides["model"], mismatch, name, complete=header is not None)
        checkpoint.append(ck)
        model.append(mo)
        found = find_differences(ck, mo, sides, TORCH_WORDS, "torch")
        differences += found + unexplained_sizes(ck, mo, {x.field for x in found})
    if renaming:
        differences.insert(0, _renaming_difference(renaming, renamed_modules))
    source = f"PyTorch load_state_dict for {cls}" if cls else "PyTorch load_state_dict"
    notes = row_notes(sizes, checkpoint, model)
    if header is None:
        notes.append("no 'Error(s) in loading state_dict' line: read as a fragment, so what other lines of the "
                     "full message would show (layers, directions, shapes of tensors not listed) stays unknown")
    return Diagnosis(source, tuple(checkpoint), tuple(model), tuple(differences), tuple(dict.fromkeys(ignored)),
                     tuple(notes))


def _renaming(unexpected: list[str], missing: list[str]) -> tuple[str, str] | None:
    """(checkpoint prefix, model prefix) when the unexpected keys under the one are exactly
    the missing keys under the other (``module.lstm.weight_ih_l0`` for ``lstm.weight_ih_l0``:
    a DataParallel checkpoint; ``rnn.`` for ``lstm.``: a renamed attribute), else None."""
    if not unexpected or not missing:
        return None
    tails = {}  # dotted suffix of a missing key -> the prefixes it follows
    for key in missing:
        parts = key.split(".")
        for i in range(len(parts)):
            tails.setdefault(".".join(parts[i:]), set()).add(".".join(parts[:i]) + "." if i else "")
    votes = {}
    for key in unexpected:
        parts = key.split(".")
        for i in range(len(parts)):  # the longest shared suffix first
            tail = ".".join(parts[i:])
            if tail in tails:
                a = ".".join(parts[:i]) + "." if i else ""
                for b in tails[tail]:
                    if a != b:
                        votes[(a, b)] = votes.get((a, b), 0) + 1
                break
    for (a, b), _ in sorted(votes.items(), key=lambda kv: -kv[1]):
        under_a = {k[len(a):] for k in unexpected if k.startswith(a)}
        under_b = {k[len(b):] for k in missing if k.startswith(b)}
        if under_a and under_a == under_b:
            return a, b
    return None


def _renaming_difference(renaming: tuple[str, str], modules: list[str]) -> Difference:
    a, b = renaming
    where = ", ".join(dict.fromkeys(modules)) or "(top level)"
    if b == "":
        fix = f'model.load_state_dict({{k.removeprefix("{a}"): v for k, v in state_dict.items()}})'
    elif a == "" and b == "module.":
        fix = "model.module.load_state_dict(state_dict)"
    elif a == "":
        fix = f'model.load_state_dict({{"{b}" + k: v for k, v in state_dict.items()}})'
    else:
        fix = (f'model.load_state_dict({{("{b}" + k[{len(a)}:] if k.startswith("{a}") else k): v '
               "for k, v in state_dict.items()})")
    said = {("module.", ""): " (saved from a torch.nn.DataParallel or DistributedDataParallel wrapper, which "
                             "holds the model as .module)",
            ("", "module."): " (your model is wrapped in torch.nn.DataParallel or DistributedDataParallel, which "
                             "holds it as .module)"}.get((a, b), "")
    words = (f"the keys differ only by a prefix: the checkpoint's start with '{a}' where your model's start with "
             f"'{b}'{said}; their shapes are not in the text. Fix: {fix}")
    return Difference(where, "prefix", a, b, words)
