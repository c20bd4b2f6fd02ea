"""CI checks against pinned versions of every framework and tool it compares with, so a new
release cannot turn CI red with no change here; the pins are the versions tested here."""

import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from packaging.version import Version

CI = Path(__file__).resolve().parent.parent / ".ci" / "run"
CHECKED_AGAINST = ("torch", "keras", "ptflops", "thop", "torchinfo", "nbclient", "nbformat", "ipykernel",
                   "ai-edge-litert", "tflite", "numba", "matplotlib", "h5py", "safetensors")


def pins() -> dict[str, str]:
    text = CI.read_text(encoding="utf-8").replace("\\\n", " ")
    found = {}
    for line in text.splitlines():
        if not line.strip().startswith("pip install"):
            continue
        for spec in re.findall(r"'([A-Za-z0-9_.-]+)(==[^']*)?'|\b([a-z][a-z0-9_-]*)\b", line.split("install", 1)[1]):
            name, pin, bare = spec
            if name:
                found[name.lower()] = pin[2:] if pin else ""
            elif bare in CHECKED_AGAINST:
                found[bare] = ""
    return found


def test_every_checked_against_package_is_pinned():
    found = pins()
    for name in CHECKED_AGAINST:
        assert found.get(name), f".ci/run installs {name} without ==version"


def test_pins_are_the_versions_installed_here():
    for name, pinned in pins().items():
        if name not in CHECKED_AGAINST:
            continue
        try:
            installed = version(name)
        except PackageNotFoundError:
            continue  # not in this environment: nothing to compare with
        assert Version(installed.split("+")[0]) == Version(pinned), (name, installed, pinned)


PYPROJECT = CI.parent.parent / "pyproject.toml"


def extra(name: str) -> dict[str, str]:
    """{package: pinned version or ""} of pyproject.toml's optional extra ``name``."""
    text = PYPROJECT.read_text(encoding="utf-8")
    body = re.search(rf"^{name} = \[(.*?)\]$", text, flags=re.M | re.S)
    assert body, f"pyproject.toml has no {name} extra"
    found = {}
    for spec in re.findall(r'"([^"]+)"', body.group(1)):
        package, _, pin = spec.partition("==")
        found[package.lower()] = pin if "==" in spec else ""
    return found


def test_crosscheck_extra_has_the_pins_of_ci():
    """`pip install '.[crosscheck]'` (what the skip line at the end of a test run says) installs
    exactly the framework versions CI checks against."""
    text = CI.read_text(encoding="utf-8")
    ci = {name.lower(): pin for name, pin in re.findall(r"'([A-Za-z0-9_.\[\]-]+)==([^']+)'", text)}
    assert ci["torch"] and ci["mlx[cpu]"] and ci["tflite"]  # the pins are read
    crosscheck = {name: pin for name, pin in extra("crosscheck").items() if pin}
    assert ci == {name: pin for name, pin in crosscheck.items() if name in ci}
    assert set(crosscheck) - set(ci) <= set(extra("docs")), "a pin that .ci/run does not install"
    assert crosscheck["torch"] == "2.13.0"  # never an unpinned torch: it pulls CUDA


def test_ci_builds_the_docs_strictly():
    text = CI.read_text(encoding="utf-8")
    assert "'.[docs]'" in text and "mkdocs build --strict" in text
    assert extra("docs") and all(extra("docs").values()), "the docs tools are pinned"
