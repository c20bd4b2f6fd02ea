"""The tables in a real terminal (tmux) at 80 and 120 columns: nothing wider than the screen."""

import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("args", [
    "breakdown --units 2 --input 1",
    "breakdown --units 4 --input 3 --framework torch --proj-size 2 --bidirectional --layers 2",
    "count --units 1,2,4 --input 1,2,8",
])
def test_tables_fit_a_real_terminal(width, args):
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    session = f"lstmcalc-{uuid.uuid4().hex[:8]}"
    done = f"/tmp/{session}.done"
    cmd = f"{sys.executable} -m lstmcalc {args}; echo $? > {done}; sleep 30"
    tmux = ["tmux", "-L", session]  # a server of its own: no race with other tmux servers
    subprocess.run([*tmux, "new-session", "-d", "-s", session, "-x", str(width), "-y", "200", cmd], check=True)
    try:
        for _ in range(200):
            try:
                with open(done) as f:
                    status = f.read().strip()
                if status:
                    break
            except FileNotFoundError:
                pass
            time.sleep(0.05)
        screen = subprocess.run([*tmux, "capture-pane", "-p", "-t", session, "-S", "-200"],
                                capture_output=True, text=True, check=True).stdout
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
        if os.path.exists(done):
            os.unlink(done)
    assert status == "0"
    lines = [line.rstrip() for line in screen.splitlines()]
    assert any(line for line in lines)
    assert max(len(line) for line in lines) <= width
    if args.startswith("breakdown --units 2"):
        assert "32 parameters" in screen and "i input" in screen
