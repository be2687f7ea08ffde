"""What every benchmark of `make bench` shares: repeated measurements, a figure printed
beside its anchor measured in the same run, and `--json` output.

The machine is shared and noisy, so a figure alone means little: each figure is compared
with an anchor (a floor such as `python -c "import jinja2"`, a reference client, the same
work at a smaller size) measured in the same run, and both are repeated (min, median, max).
A target is a bound on the ratio of the two medians, or on the figure's median itself.

Usage, in `bench/bench_<topic>.py`:

    from harness import Bench, time_call, time_command

    def main() -> None:
        bench = Bench("build", "Build of the sample issue")
        floor = time_command([sys.executable, "-c", "import jinja2"], bench.repeat)
        build = time_command([sys.executable, "-m", "comms", "build"], bench.repeat)
        bench.figure("sample issue build", build, anchor=("import jinja2", floor),
                     ratio_max=5)
        bench.finish()

Each script runs on its own (`python bench/bench_x.py [--repeat N] [--json]`); `--json` prints
one JSON object per script (one line), so `make bench BENCH_FLAGS=--json > run.jsonl` keeps a
run to compare with another commit's.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
MIN_REPEAT = 3


@dataclass(frozen=True)
class Stats:
    """Repeated measurements of one quantity, in `unit` ("s", "MB", "msg/s")."""

    values: tuple[float, ...]
    unit: str

    @property
    def min(self) -> float:
        return min(self.values)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def max(self) -> float:
        return max(self.values)

    def map(self, function: Callable[[float], float], unit: str) -> Stats:
        """The same measurements converted (seconds -> messages per second...). A decreasing
        conversion swaps min and max, which is what one wants."""
        return Stats(tuple(function(v) for v in self.values), unit)

    def as_dict(self) -> dict[str, Any]:
        return {"unit": self.unit, "min": self.min, "median": self.median, "max": self.max,
                "values": list(self.values)}


@dataclass(frozen=True)
class Measure:
    """Wall time (seconds) and peak resident memory (MB) of repeated runs."""

    wall: Stats
    peak: Stats


def time_call(function: Callable[[], object], repeat: int) -> Stats:
    """Wall seconds of `repeat` calls of `function` in this process."""
    values = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        values.append(time.perf_counter() - start)
    return Stats(tuple(values), "s")


def run_command(argv: Sequence[str], expect_failure: str = "",
                **popen: Any) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one command run to completion; its output is
    discarded. Raises SystemExit with the command's stderr when it fails, or, with
    `expect_failure`, unless it fails with that text in its output.

    The output kept goes to temporary files, never to a pipe: `wait4` (the only way to get
    this child's own rusage) does not drain pipes, so a child writing more than a pipe's
    buffer (64 KB on Linux, e.g. `comms check` with a thousand warnings) would block forever.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        popen.setdefault("stdout", out if expect_failure else subprocess.DEVNULL)
        popen.setdefault("stderr", err)
        start = time.perf_counter()
        process = subprocess.Popen(list(argv), **popen)
        # wait4 gives the rusage of this child alone (RUSAGE_CHILDREN would be the max of all).
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if expect_failure:
        output = stdout + stderr
        if process.returncode == 0 or expect_failure.encode() not in output:
            raise SystemExit(f"benchmark command should have failed with « {expect_failure} »"
                             f": {' '.join(map(str, argv))}\n"
                             f"{output.decode(errors='replace')}")
    elif process.returncode != 0:
        raise SystemExit(f"benchmark command failed ({process.returncode}): "
                         f"{' '.join(map(str, argv))}\n{stderr.decode(errors='replace')}")
    return wall, usage.ru_maxrss / 1024  # ru_maxrss is in KB on Linux


def time_command(argv: Sequence[str], repeat: int, **popen: Any) -> Measure:
    """Wall time and peak memory of `repeat` fresh runs of a command."""
    return time_commands_interleaved([argv], repeat, warmup=0, **popen)[0]


def time_commands_interleaved(argvs: Sequence[Sequence[str]], repeat: int, warmup: int = 1,
                              **popen: Any) -> list[Measure]:
    """Wall time and peak memory of `repeat` fresh runs of each command, taken in turns
    (A B A B ...) after `warmup` untimed runs of each, so that a slower moment of a shared
    machine weighs on every command alike rather than on whichever ran then. For short
    commands compared as a ratio (a build against its import floor)."""
    for _ in range(warmup):
        for argv in argvs:
            run_command(argv, **popen)
    runs: list[list[tuple[float, float]]] = [[] for _ in argvs]
    for _ in range(repeat):
        for n, argv in enumerate(argvs):
            runs[n].append(run_command(argv, **popen))
    return [Measure(Stats(tuple(w for w, _ in r), "s"), Stats(tuple(p for _, p in r), "MB"))
            for r in runs]


def python_command(*args: str) -> list[str]:
    """This interpreter, with the repository importable (as `make bench` runs it)."""
    return [sys.executable, *args]


def env_with_repo() -> dict[str, str]:
    """The environment of a fresh `python -m comms`: the repository importable, and comms
    byte-compiled first (`compile_comms`)."""
    compile_comms()
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{path}" if path else str(REPO)}


@functools.cache
def compile_comms() -> None:
    """Byte-compile the comms package, as pip does when it installs one, so that each fresh
    process loads bytecode like the anchors' libraries do. Without it, a shell that sets
    PYTHONDONTWRITEBYTECODE would make every timed run compile comms' sources again (about
    a quarter of a sample build), which no installed copy does."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "comms")],
                   check=True, stdout=subprocess.DEVNULL)


@dataclass
class Figure:
    name: str
    stats: Stats
    anchor_name: str = ""
    anchor: Stats | None = None
    ratio_max: float | None = None
    ratio_min: float | None = None
    value_max: float | None = None
    value_min: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.anchor is None or self.anchor.median == 0:
            return None
        return self.stats.median / self.anchor.median

    @property
    def verdict(self) -> bool | None:
        """True when every target holds, False when one does not, None without target."""
        checks = []
        ratio = self.ratio
        if self.ratio_max is not None and ratio is not None:
            checks.append(ratio < self.ratio_max)
        if self.ratio_min is not None and ratio is not None:
            checks.append(ratio >= self.ratio_min)
        if self.value_max is not None:
            checks.append(self.stats.median < self.value_max)
        if self.value_min is not None:
            checks.append(self.stats.median >= self.value_min)
        return all(checks) if checks else None

    def target_text(self) -> str:
        parts = []
        if self.ratio_max is not None:
            parts.append(f"ratio < {self.ratio_max:g}")
        if self.ratio_min is not None:
            parts.append(f"ratio >= {self.ratio_min:g}")
        if self.value_max is not None:
            parts.append(f"< {self.value_max:g} {self.stats.unit}")
        if self.value_min is not None:
            parts.append(f">= {self.value_min:g} {self.stats.unit}")
        return ", ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, **{k: v for k, v in self.stats.as_dict().items()},
            "anchor": None if self.anchor is None else
            {"name": self.anchor_name, **self.anchor.as_dict()},
            "ratio": self.ratio, "target": self.target_text() or None,
            "ok": self.verdict, "note": self.note or None,
        }


def _number(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 0.1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _spread(stats: Stats) -> str:
    return f"{_number(stats.median):>8} {stats.unit:<5} " \
           f"(min {_number(stats.min)}, max {_number(stats.max)}, n={len(stats.values)})"


class Bench:
    """One benchmark script: its options, its figures and how they are printed."""

    def __init__(self, topic: str, title: str, argv: Sequence[str] | None = None,
                 default_repeat: int = MIN_REPEAT):
        parser = argparse.ArgumentParser(description=title)
        parser.add_argument("--json", action="store_true",
                            help="print the figures as one JSON object instead of text")
        parser.add_argument("--repeat", type=int, default=default_repeat,
                            help=f"repetitions of each measurement (at least {MIN_REPEAT})")
        self.parser = parser
        self.topic = topic
        self.title = title
        self._argv = argv
        self._options: argparse.Namespace | None = None
        self.figures: list[Figure] = []
        self.notes: list[str] = []

    def add_argument(self, *args: Any, **kwargs: Any) -> None:
        """An option of this script only (before `options` is read)."""
        self.parser.add_argument(*args, **kwargs)

    @property
    def options(self) -> argparse.Namespace:
        if self._options is None:
            self._options = self.parser.parse_args(self._argv)
            if self._options.repeat < MIN_REPEAT:
                self.parser.error(f"--repeat must be at least {MIN_REPEAT}")
            if not self._options.json:
                print(f"== {self.title} ==", flush=True)
        return self._options

    @property
    def repeat(self) -> int:
        return self.options.repeat

    @property
    def json(self) -> bool:
        return self.options.json

    def say(self, text: str) -> None:
        """A line of context (which sink, which sizes); kept in the JSON as a note."""
        self.notes.append(text)
        if not self.json:
            print(f"   {text}", flush=True)

    def figure(self, name: str, stats: Stats, *, anchor: tuple[str, Stats] | None = None,
               ratio_max: float | None = None, ratio_min: float | None = None,
               value_max: float | None = None, value_min: float | None = None,
               note: str = "") -> Figure:
        """Record and print one figure, beside its anchor when it has one."""
        figure = Figure(name, stats, *(anchor or ("", None)), ratio_max=ratio_max,
                        ratio_min=ratio_min, value_max=value_max, value_min=value_min,
                        note=note)
        self.figures.append(figure)
        if not self.json:
            self._print(figure)
        return figure

    def _print(self, figure: Figure) -> None:
        print(f"{figure.name:<46} {_spread(figure.stats)}")
        if figure.anchor is not None:
            print(f"  anchor: {figure.anchor_name:<38} {_spread(figure.anchor)}")
        line = []
        if figure.ratio is not None:
            line.append(f"ratio {figure.ratio:.2f}")
        if figure.target_text():
            line.append(f"target {figure.target_text()}")
        if figure.verdict is not None:
            line.append("ok" if figure.verdict else "MISSED")
        if figure.note:
            line.append(figure.note)
        if line:
            print(f"  -> {'; '.join(line)}")
        print(flush=True)

    def finish(self) -> None:
        """Print the JSON object (with --json) or the summary line."""
        if self.json:
            print(json.dumps({
                "topic": self.topic, "title": self.title, "repeat": self.repeat,
                "python": platform.python_version(), "machine": platform.machine(),
                "cpus": os.cpu_count(), "at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                            time.gmtime()),
                "notes": self.notes, "figures": [f.as_dict() for f in self.figures],
            }, ensure_ascii=False), flush=True)
            return
        missed = [f.name for f in self.figures if f.verdict is False]
        if missed:
            print(f"   targets missed: {', '.join(missed)}", flush=True)
        else:
            print("   every target met", flush=True)
