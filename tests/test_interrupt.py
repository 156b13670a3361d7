"""Ctrl-C and SIGTERM, sent to a real seprof process mid-run: one line, exit 130 (143 for SIGTERM), the old
output files untouched and no temporary file left behind."""

import os
import signal
import subprocess
import sys
import time

import pytest


@pytest.mark.parametrize("sig, code, line", [(signal.SIGINT, 130, "seprof: aborted"),
                                             (signal.SIGTERM, 143, "seprof: aborted (terminated)")])
def test_an_interrupted_run_exits_cleanly_and_writes_nothing(tmp_path, sig, code, line):
    (tmp_path / "r.csv").write_text("keep me\n")
    (tmp_path / "m.pt").write_bytes(b"old checkpoint")
    before = sorted(os.listdir(tmp_path))
    process = subprocess.Popen(
        [sys.executable, "-m", "seprof", "inject", "resnet18", "--input", "3x64x64", "--runs", "100000",
         "--warmup", "0", "--csv", "r.csv", "--save", "m.pt"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(8)  # well into the run: torch imported, the models built, counting or timing
    assert process.poll() is None, process.communicate()
    process.send_signal(sig)
    out, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    assert err.strip().splitlines() == [line] and "Traceback" not in err and out == ""
    assert sorted(os.listdir(tmp_path)) == before
    assert (tmp_path / "r.csv").read_text() == "keep me\n" and (tmp_path / "m.pt").read_bytes() == b"old checkpoint"


@pytest.mark.parametrize("delay", [0.5, 2.0])
def test_an_interrupt_early_in_a_run_is_one_line_too(tmp_path, delay):
    # 0.5 s: while the command line is imported or parsed; 2 s: while the command imports torch
    process = subprocess.Popen([sys.executable, "-m", "seprof", "inject", "resnet18", "--no-latency"], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert err.strip().splitlines() == ["seprof: aborted"] and out == ""
