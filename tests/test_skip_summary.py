"""Issue 25, item 3: a test run that skipped tests ends with one line saying how many
cross-checks against the real frameworks were skipped and the one command that runs them.

Each case runs pytest in a subprocess on a tiny generated test directory whose conftest
takes the hook from tests/conftest.py; frameworks are made missing with ``sys.modules[name]
= None``, which is how ``pytest.importorskip`` sees an absent package.
"""

import subprocess
import sys
from pathlib import Path

CONFTEST = Path(__file__).resolve().parent / "conftest.py"


def run_pytest(tmp_path, files: dict[str, str], missing: tuple[str, ...] = ()) -> str:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "conftest.py").write_text(
        "import importlib.util, sys\n"
        f"for name in {missing!r}:\n"
        "    sys.modules[name] = None  # importorskip(name) now skips\n"
        f"spec = importlib.util.spec_from_file_location('lstmcalc_tests_conftest', {str(CONFTEST)!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "pytest_terminal_summary = module.pytest_terminal_summary\n")
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-ra", str(tmp_path)],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


FILES = {
    # two cross-checks under crosscheck/: a module skipped whole, one test skipped inside a module
    "crosscheck/test_module_skipped.py": "import pytest\npytest.importorskip('mlx.core')\n\ndef test_a():\n    pass\n",
    "crosscheck/test_one_skipped.py": "import pytest\n\ndef test_b():\n    pytest.importorskip('onnxruntime')\n\n"
                                      "def test_c():\n    assert 1 + 1 == 2\n",
    # one outside crosscheck/ that needs a framework: a cross-check too
    "test_unit.py": "import pytest\n\ndef test_d():\n    pytest.importorskip('torch')\n\n"
                    # and one that needs an optional package that is not a framework
                    "def test_e():\n    pytest.importorskip('h5py')\n\ndef test_f():\n    assert [1] * 2 == [1, 1]\n",
}


def test_a_run_with_skips_ends_with_the_line(tmp_path):
    out = run_pytest(tmp_path, FILES, missing=("mlx", "mlx.core", "onnxruntime", "torch", "h5py"))
    lines = out.rstrip("\n").splitlines()
    assert "2 passed, 4 skipped" in lines[-1]
    assert lines[-2] == ("lstmcalc: skipped 1 cross-check file and 2 cross-check tests against the real frameworks "
                         "(and 1 other test that needs h5py or another tool); to run them: "
                         "pip install '.[crosscheck]' && python -m pytest, or bash .ci/run as CI does")
    assert sum("cross-check" in line for line in lines) == 1  # one line, not one per skip


def test_a_run_without_skips_has_no_line(tmp_path):
    out = run_pytest(tmp_path, {"test_ok.py": "def test_ok():\n    assert 2 * 3 == 6\n"})
    assert "1 passed" in out
    assert "cross-check" not in out


def test_the_line_names_an_extra_that_exists():
    """The command the line gives installs something: pyproject.toml has the extra."""
    import importlib.util

    from test_ci import extra

    spec = importlib.util.spec_from_file_location("lstmcalc_tests_conftest", CONFTEST)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # tests/conftest.py itself, not the first `conftest` imported
    RUN_SKIPPED = module.RUN_SKIPPED

    assert "pip install '.[crosscheck]'" in RUN_SKIPPED
    assert extra("crosscheck")["torch"] == "2.13.0"


def test_a_skip_no_install_brings_back_is_not_sent_to_the_extra(tmp_path):
    """Only a test skipped for its own reason (running as root): the line says no cross-check
    was skipped and points at the reason listed above, not at an install that would not help."""
    out = run_pytest(tmp_path, {"test_root.py": "import pytest\n\n"
                                                "def test_a():\n    pytest.skip('root may write it: run as another user')\n"})
    lines = out.splitlines()
    line = next(line for line in lines if line.startswith("lstmcalc: "))
    assert line == ("lstmcalc: no cross-check against the real frameworks was skipped; 1 other test skipped, "
                    "for the reason listed above")
    assert "crosscheck" not in line
