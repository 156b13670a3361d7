"""Ctrl-C and SIGTERM, sent to a real seprof process at a known moment: one line, exit 130 (143 for SIGTERM),
the old output files untouched and no temporary file left behind.

The process's stderr is a pseudo-terminal, so seprof shows its live status there; each test waits until the
status names the step it wants to interrupt (loading torch, timing) before sending the signal."""

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time

import pytest

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


def start_and_wait_for(args, cwd, marker):
    """Start seprof with stderr on a pseudo-terminal; return once ``marker`` appears in its status."""
    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "seprof", *args], cwd=cwd, stdout=subprocess.PIPE,
                               stderr=follower)
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 120
    while marker not in seen:
        ready, _, _ = select.select([leader], [], [], max(0.0, deadline - time.monotonic()))
        assert ready, f"no {marker!r} on the terminal within 120 s: {seen[-300:]!r}"
        seen += os.read(leader, 4096)
    return process, leader


def finish(process, leader):
    """The exit code and the lines the terminal showed (status redraws and colours removed) after a signal."""
    rest = b""
    while True:
        try:
            ready, _, _ = select.select([leader], [], [], 60)
            chunk = os.read(leader, 4096) if ready else b""
        except OSError:  # the process has closed the terminal
            chunk = b""
        if not chunk:
            break
        rest += chunk
    os.close(leader)
    out = process.stdout.read()
    process.wait(timeout=60)
    lines = [line.rstrip(b"\r").split(b"\r")[-1].strip() for line in ANSI.sub(b"", rest).split(b"\n")]
    return process.returncode, [line.decode() for line in lines if line], out


@pytest.mark.parametrize("sig, code, line", [(signal.SIGINT, 130, "seprof: aborted"),
                                             (signal.SIGTERM, 143, "seprof: aborted (terminated)")])
def test_an_interrupted_timing_run_exits_cleanly_and_writes_nothing(tmp_path, sig, code, line):
    (tmp_path / "r.csv").write_text("keep me\n")
    (tmp_path / "m.pt").write_bytes(b"old checkpoint")
    before = sorted(os.listdir(tmp_path))
    process, leader = start_and_wait_for(["inject", "resnet18", "--input", "3x64x64", "--runs", "1000",
                                          "--warmup", "0", "--csv", "r.csv", "--save", "m.pt"], tmp_path, b"timing")
    process.send_signal(sig)
    returncode, lines, out = finish(process, leader)
    assert returncode == code and lines[-1] == line and out == b"", lines
    assert not any("Traceback" in shown for shown in lines)
    assert sorted(os.listdir(tmp_path)) == before
    assert (tmp_path / "r.csv").read_text() == "keep me\n" and (tmp_path / "m.pt").read_bytes() == b"old checkpoint"


def test_an_interrupt_while_torch_is_imported_is_one_line_too(tmp_path):
    # a run that lasts long after torch is loaded, so that on a loaded machine, where this test may read the
    # status late, the signal still arrives before the run ends
    process, leader = start_and_wait_for(["inject", "resnet18", "--input", "3x64x64", "--runs", "1000", "--warmup",
                                          "0"], tmp_path, b"loading torch")
    process.send_signal(signal.SIGINT)
    returncode, lines, out = finish(process, leader)
    assert returncode == 130 and lines[-1] == "seprof: aborted" and out == b"", lines
    assert not any("Traceback" in shown for shown in lines)


SWALLOWING_FACTORIES = '''
import os
import signal
import time

import torchvision


def _signalled_and_swallowed(sig):
    """A library that catches the KeyboardInterrupt a signal raised in it, as one may while it imports."""
    try:
        os.kill(os.getpid(), sig)
        time.sleep(5)
    except KeyboardInterrupt:
        pass


def broken(sig=signal.SIGTERM):
    _signalled_and_swallowed(sig)
    raise ImportError("cannot load module more than once per process")  # what the half import leaves


def working(sig=signal.SIGTERM):
    _signalled_and_swallowed(sig)
    return torchvision.models.resnet18()


def broken_by_ctrl_c():
    return broken(signal.SIGINT)
'''


@pytest.mark.parametrize("factory, code, line", [
    ("swallowing:broken", 143, "seprof: aborted (terminated)"),
    ("swallowing:working", 143, "seprof: aborted (terminated)"),
    ("swallowing:broken_by_ctrl_c", 130, "seprof: aborted"),
])
def test_a_signal_a_library_swallows_still_ends_the_run(tmp_path, factory, code, line):
    """The interruption is recorded when it arrives: an error it leaves behind is reported as the interruption
    (not as a traceback or a bad model), and a run that goes on stops at its next step."""
    (tmp_path / "swallowing.py").write_text(SWALLOWING_FACTORIES)
    (tmp_path / "r.csv").write_text("keep me\n")
    result = subprocess.run([sys.executable, "-m", "seprof", "inject", factory, "--input", "3x32x32", "--no-latency",
                             "--csv", "r.csv"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == code, result.stderr
    assert result.stderr.strip().splitlines() == [line] and result.stdout == ""
    assert (tmp_path / "r.csv").read_text() == "keep me\n"
    assert set(os.listdir(tmp_path)) - {"__pycache__"} == {"r.csv", "swallowing.py"}  # no temporary file left
