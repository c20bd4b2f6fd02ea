"""The tables in a real terminal: the program asks the terminal for its width and uses it.

Each command runs in a pseudo-terminal whose size is set with TIOCSWINSZ and with no COLUMNS in
its environment, and the raw bytes it writes are read back. (A terminal emulator such as tmux
wraps whatever is printed at the pane width, so its screen cannot show a line that was too
long; the raw output can.) At 80 columns every line must fit; at 120 some line must be wider
than 80 (Rich's fallback when it cannot ask the terminal), so the width really came from the
terminal; and nothing may be cut short with an ellipsis at either width.
"""

import os
import re
import struct
import subprocess
import sys

import pytest

pty = pytest.importorskip("pty")
fcntl = pytest.importorskip("fcntl")
termios = pytest.importorskip("termios")

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run_in_terminal(args: list[str], width: int, rows: int = 50) -> tuple[int, str]:
    """Exit code and the text ``python -m lstmcalc *args`` wrote to a width-column terminal."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, width, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    env["TERM"] = "xterm-256color"
    proc = subprocess.Popen([sys.executable, "-m", "lstmcalc", *args], stdin=slave, stdout=slave, stderr=slave,
                            env=env, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    code = proc.wait(timeout=120)
    text = ANSI.sub("", b"".join(chunks).decode("utf-8"))
    return code, text.replace("\r\n", "\n")


CASES = [
    ["breakdown", "--units", "2", "--input", "1"],
    ["breakdown", "--units", "4", "--input", "3", "--framework", "torch", "--proj-size", "2", "--bidirectional",
     "--layers", "2"],
    ["count", "--units", "1,2,4", "--input", "1,2,8"],
    ["explain", "--units", "1", "--input", "1"],
]


@pytest.mark.parametrize("args", CASES, ids=lambda a: " ".join(a[:5]))
def test_output_follows_the_terminal_width(args):
    code, narrow = run_in_terminal(args, 80)
    assert code == 0, narrow
    lines = narrow.splitlines()
    assert lines and max(len(line) for line in lines) <= 80, max(lines, key=len)
    assert "…" not in narrow
    code, wide = run_in_terminal(args, 120)
    assert code == 0
    assert max(len(line) for line in wide.splitlines()) > 80 or args[0] == "count"
    assert "…" not in wide
    if args[:3] == ["breakdown", "--units", "2"]:
        for text in (narrow, wide):
            assert "32 parameters" in text
            # every tensor row whole on one line: name, shape and count were not wrapped apart
            for name, shape, count in (("kernel", "(1, 8)", "8"), ("recurrent_kernel", "(2, 8)", "16"),
                                       ("bias", "(8,)", "8")):
                assert re.search(rf"^\s*{name}\s+{re.escape(shape)}\s+{count}\s", text, re.M), (name, text)
