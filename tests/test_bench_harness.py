"""The benchmark harness runs a command to completion whatever it prints.

A child that writes more than a pipe's buffer to an undrained pipe blocks forever (the
harness waits with `wait4` for the child's own rusage). The child below writes with its
output descriptors non-blocking: where a blocking write would hang, it gets EAGAIN, says so
and fails, so the test fails instead of hanging.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from harness import run_command

MEGABYTE = 1 << 20

CHILD = """
import os, sys
for fd in (1, 2):
    os.set_blocking(fd, False)
line = b"avertissement : " + b"x" * 100 + b"\\n"
chunk = line * 1000
written = 0
try:
    while written < {size}:
        for fd in (1, 2):
            sent = os.write(fd, chunk)
            if sent < len(chunk):
                raise BlockingIOError
        written += len(chunk)
except BlockingIOError:
    sys.exit(3)  # nothing more can be written without blocking
os.write(2, b"\\nDONE after %d bytes\\n" % written)
sys.exit({status})
"""


def child(status: int) -> list[str]:
    return [sys.executable, "-c", CHILD.format(size=MEGABYTE, status=status)]


def test_a_command_printing_megabytes_runs_to_completion():
    wall, peak = run_command(child(0))
    assert wall > 0
    assert peak > 0  # the child's own peak RSS, in MB


def test_an_expected_failure_is_recognised_after_megabytes_of_output():
    run_command(child(1), expect_failure="DONE")


def test_a_failing_command_reports_its_whole_stderr():
    with pytest.raises(SystemExit) as raised:
        run_command(child(2))
    message = str(raised.value)
    assert "benchmark command failed (2)" in message
    assert "DONE after" in message
    line = "avertissement : " + "x" * 100 + "\n"
    assert message.count(line) >= MEGABYTE // len(line)  # the whole stderr, not a pipeful
