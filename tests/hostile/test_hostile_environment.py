"""The environment turning hostile: a full disk or a closed stdout for every command, a
lowered ulimit -v, a container's cgroup limit. One line, exit 1, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import hostile_files as hf
from conftest import MEMORY_CAP, _cap, assert_refused, environment, run_capped
from lstmcalc import memory

COMMANDS = [
    ["count", "-u", "2", "-x", "1"],
    ["count", "-u", "2", "-x", "1", "--json"],
    ["count", "-u", "1,2", "-x", "1,2"],
    ["breakdown", "-u", "2", "-x", "1"],
    ["breakdown", "-u", "2", "-x", "1", "--json"],
    ["breakdown", "-u", "2", "-x", "1", "--diagram"],
    ["cost", "-u", "2", "-x", "1"],
    ["cost", "-u", "2", "-x", "1", "--json"],
    ["explain", "-u", "2", "-x", "1"],
    ["explain", "-u", "2", "-x", "1", "--json"],
    ["run", "-u", "2", "-x", "1", "--backend", "numpy"],
    ["run", "-u", "2", "-x", "1", "--backend", "numpy", "--json"],
    ["inspect", "in.npz"],
    ["inspect", "in.npz", "--json"],
    ["convert", "in.npz", "-o", "out.npz", "--json"],
    ["--help"],
    ["count", "--help"],
    ["run", "--help"],
    ["--version"],
    [],
]


@pytest.mark.parametrize("mode, needle", [("full", "No space left on device"), ("closed", "standard output is closed")])
def test_full_disk_and_closed_stdout_are_one_line(tmp_path, mode, needle):
    hf.npz_file(tmp_path / "in.npz")
    results = run_capped(COMMANDS, cwd=tmp_path, mode=mode)
    for result in results:
        assert result["code"] == 1, result
        lines = result["stderr"].splitlines()
        assert len(lines) == 1 and lines[0].startswith("lstmcalc: error: ") and needle in lines[0], result
        assert "Traceback" not in result["stderr"]
    written = sorted(os.listdir(tmp_path))
    if mode == "closed":  # refused before anything ran
        assert written == ["in.npz"]
    else:  # convert wrote its file (atomically, whole) before stdout failed
        assert written in (["in.npz"], ["in.npz", "out.npz"])
        if "out.npz" in written:
            with np.load(tmp_path / "out.npz") as f:
                assert set(f.files) == {"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"}


@pytest.mark.parametrize("redirect, needle", [(">/dev/full", "No space left on device"),
                                              (">&-", "standard output is closed")])
def test_the_real_shell_redirections(redirect, needle):
    """The same through a shell, as a user types it."""
    for args in ("count -u 2 -x 1 --json", "--help"):
        out = subprocess.run(["sh", "-c", f"{sys.executable} -m lstmcalc {args} {redirect}"], capture_output=True,
                             text=True, timeout=120, env=environment())
        assert out.returncode == 1, out.stderr
        assert out.stderr.count("\n") == 1 and out.stderr.startswith("lstmcalc: error: ") and needle in out.stderr


# --- the memory guard under ulimit -v -------------------------------------------------------------


def test_large_run_under_ulimit_is_refused_by_the_guard(tmp_path):
    """4096 units, batch 64, 1500 steps: about 6 GiB, more than a 3 GiB address space holds
    but less than this machine may have free; the guard must see the ulimit, not MemAvailable."""
    big = ["run", "-u", "4096", "-x", "64", "--batch", "64", "--time", "1500", "--backend", "numpy"]
    results = run_capped([big, big + ["--json"]], cwd=tmp_path)
    for result in results:
        assert_refused(result, "needs about")
        assert "RLIMIT_AS (ulimit -v)" in result["stderr"], result["stderr"]


def test_memory_limits_in_a_capped_process_see_the_rlimit():
    probe = "import json, lstmcalc.memory as m; print(json.dumps(m.memory_limits()))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                         env=environment(), preexec_fn=_cap, check=True)
    import json

    limits = json.loads(out.stdout)
    assert 0 < limits["RLIMIT_AS (ulimit -v)"] < MEMORY_CAP


# --- cgroups and /proc, faked ---------------------------------------------------------------------


@pytest.fixture
def fake_system(tmp_path, monkeypatch):
    """A fake /proc/self, /proc/meminfo and /sys/fs/cgroup; no rlimit."""
    proc = tmp_path / "proc_self"
    proc.mkdir()
    (proc / "status").write_text("Name:\tpython\nVmSize:\t  1048576 kB\nVmData:\t   524288 kB\n")
    (tmp_path / "meminfo").write_text("MemTotal: 67108864 kB\nMemFree: 1000 kB\nMemAvailable: 33554432 kB\n")
    cgroup = tmp_path / "cgroup"
    cgroup.mkdir()
    monkeypatch.setattr(memory, "PROC_SELF", str(proc))
    monkeypatch.setattr(memory, "PROC_MEMINFO", str(tmp_path / "meminfo"))
    monkeypatch.setattr(memory, "CGROUP_ROOT", str(cgroup))
    import resource

    monkeypatch.setattr(resource, "getrlimit", lambda which: (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    return proc, cgroup


GIB = 1024**3


def test_cgroup_v2_limit_minus_usage(fake_system):
    proc, cgroup = fake_system
    (proc / "cgroup").write_text("0::/user.slice/job\n")
    job = cgroup / "user.slice" / "job"
    job.mkdir(parents=True)
    (job / "memory.max").write_text(f"{4 * GIB}\n")
    (job / "memory.current").write_text(f"{1 * GIB}\n")
    (cgroup / "user.slice" / "memory.max").write_text("max\n")
    assert memory.memory_limits() == {"cgroup memory limit": 3 * GIB, "MemAvailable": 32 * GIB}
    assert memory.memory_budget() == (3 * GIB, "cgroup memory limit")


def test_cgroup_v2_a_parent_can_be_the_tighter(fake_system):
    proc, cgroup = fake_system
    (proc / "cgroup").write_text("0::/a/b\n")
    (cgroup / "a" / "b").mkdir(parents=True)
    (cgroup / "a" / "b" / "memory.max").write_text(f"{8 * GIB}\n")
    (cgroup / "a" / "b" / "memory.current").write_text("0\n")
    (cgroup / "a" / "memory.max").write_text(f"{2 * GIB}\n")
    (cgroup / "a" / "memory.current").write_text(f"{GIB // 2}\n")
    assert memory.memory_limits()["cgroup memory limit"] == GIB + GIB // 2


def test_cgroup_v1_limit_minus_usage(fake_system):
    proc, cgroup = fake_system
    (proc / "cgroup").write_text("5:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n0::/\n")
    v1 = cgroup / "memory" / "docker" / "abc"
    v1.mkdir(parents=True)
    (v1 / "memory.limit_in_bytes").write_text(f"{2 * GIB}\n")
    (v1 / "memory.usage_in_bytes").write_text(f"{GIB // 4}\n")
    (cgroup / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712\n")  # the root: no limit
    assert memory.memory_budget() == (2 * GIB - GIB // 4, "cgroup memory limit")


def test_rlimits_take_the_usage_off(fake_system, monkeypatch):
    import resource

    limits = {resource.RLIMIT_AS: 3 * GIB, resource.RLIMIT_DATA: 4 * GIB}
    monkeypatch.setattr(resource, "getrlimit", lambda which: (limits.get(which, resource.RLIM_INFINITY),) * 2)
    got = memory.memory_limits()
    assert got["RLIMIT_AS (ulimit -v)"] == 3 * GIB - GIB  # VmSize 1 GiB
    assert got["RLIMIT_DATA (ulimit -d)"] == 4 * GIB - GIB // 2  # VmData 512 MiB
    assert memory.memory_budget() == (2 * GIB, "RLIMIT_AS (ulimit -v)")


def test_no_limit_known_falls_back(fake_system, monkeypatch):
    monkeypatch.setattr(memory, "PROC_MEMINFO", "/nonexistent/meminfo")
    monkeypatch.setattr(os, "sysconf", lambda name: -1)
    assert memory.memory_budget() == (memory.FALLBACK_AVAILABLE, "an assumed 8 GiB (this platform reports no limit)")


def test_the_guard_names_what_limits_it(fake_system):
    proc, cgroup = fake_system
    (proc / "cgroup").write_text("0::/\n")
    (cgroup / "memory.max").write_text(f"{GIB}\n")
    (cgroup / "memory.current").write_text("0\n")
    from lstmcalc.frameworks import make_spec

    with pytest.raises(memory.SizeError, match=r"more than the 1\.00 GiB of memory available \(limited by cgroup"):
        memory.check_memory(make_spec(1024, 1024, batch=64, time=1000))


def test_docs_state_the_limits_in_force():
    """docs/errors.md gives the limits the code applies, and the exit codes."""
    from pathlib import Path

    from lstmcalc.readers import limits
    from lstmcalc.spec import SpecError
    from lstmcalc.errors import FileError

    errors = (Path(__file__).resolve().parents[2] / "docs" / "errors.md").read_text(encoding="utf-8")
    assert f"at most {limits.MAX_JSON_BYTES // 2**20} MiB" in errors  # config.json
    assert limits.MAX_PICKLE_BYTES == limits.MAX_JSON_BYTES  # "config.json and ... data.pkl at most 64 MiB"
    assert f"{limits.MAX_JSON_DEPTH} levels of nesting" in errors
    assert f"at most {limits.NPY_MAX_HEADER:,} bytes" in errors
    assert f"the file and {limits.SAFETENSORS_MAX_HEADER // 10**6} MB" in errors
    assert f"(above {memory.ALWAYS_FITS // 2**20} MiB)" in errors
    assert f"{memory.FALLBACK_AVAILABLE // 2**30} GiB is\nassumed" in errors
    assert "| 1 | a file or the environment" in errors and "| 2 | a bad option" in errors
    assert not any(hasattr(cls, "code") for cls in (SpecError, FileError, memory.SizeError))  # the CLI maps them
    assert "`SpecError` (2), `FileError` (1), `SizeError` (1)" in " ".join(errors.split())
