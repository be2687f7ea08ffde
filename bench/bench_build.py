"""Time `comms build` on the sample and on a generated large root; print wall time and memory.

Targets: the sample issue in under 1 s including interpreter start; a root with 1,000 news
items and 200 events in under 5 s and 200 MB. Each build runs in a fresh process, as a
coordinator would run it, so the figures include imports.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COMMS = [sys.executable, "-m", "comms"]
RUNS = 5

SECTIONS = ("news", "progress", "resources")
SCHEMES = ("ASV", "CLS", "CLSM", "commun")
INSTANCES = ("copil", "cotech", "pleniere", "gt-logement", "gt-parentalite", "gt-cohesion")


def generate(root: Path, news: int = 1000, events: int = 200) -> None:
    """A territory with the sample's identity and many items spread over eight years.

    About 40 items per issue: a heavy but realistic issue that still fits the 90 KB limit.
    """
    shutil.copy(REPO / "comms.yaml", root / "comms.yaml")
    shutil.copytree(REPO / "content" / "images", root / "content" / "images")
    (root / "calendars" / "events").mkdir(parents=True)
    shutil.copy(REPO / "calendars" / "instances.yaml", root / "calendars" / "instances.yaml")
    issues = root / "content" / "issues"
    issues.mkdir(parents=True)
    for year in range(2020, 2028):
        for n, month in enumerate((2, 6, 10), 1):
            (issues / f"{year}-{n}.md").write_text(
                f"---\nnumber: {n}\npublish_on: {year}-{month:02d}-15\nperiod: P{n} {year}\n"
                "---\nÉditorial.\n", encoding="utf-8")
    folder = root / "content" / "news"
    folder.mkdir(parents=True)
    first = date(2019, 10, 16)
    span = 8 * 365
    for i in range(news):
        on = first + timedelta(days=i * span // news)
        (folder / f"{on}-item-{i}.md").write_text(
            f"---\ntitle: Actualité numéro {i}\ndate: {on}\ndispositif: {SCHEMES[i % 4]}\n"
            f"section: {SECTIONS[i % 3]}\nsummary: Résumé de l’actualité {i}.\n---\n"
            f"Un paragraphe court sur l’actualité {i}, avec un [lien](https://example.org/{i}).\n",
            encoding="utf-8")
    for i in range(events):
        on = first + timedelta(days=i * span // events)
        (root / "calendars" / "events" / f"ev-{i}.md").write_text(
            f"---\ninstance: {INSTANCES[i % len(INSTANCES)]}\nstart: {on} 14:00\n"
            f"end: {on} 16:00\nlocation: Mairie, salle {i}\n---\nOrdre du jour {i}.\n",
            encoding="utf-8")


def timed_build(root: Path, issue: str, out: Path) -> tuple[float, float]:
    """Best wall time of RUNS builds, and the peak RSS (MB) of the build processes."""
    best = float("inf")
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run([*COMMS, "build", issue, "--root", str(root), "--out", str(out)],
                       check=True, stdout=subprocess.DEVNULL, cwd=root)
        best = min(best, time.perf_counter() - start)
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return best, peak_kb / 1024


def main() -> None:
    env_root = os.environ.get("COMMS_ROOT")
    if env_root:
        print(f"(COMMS_ROOT={env_root} ignored: the benchmark uses its own roots)")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        wall, peak = timed_build(REPO, "2027-1", tmp_path / "sample")
        print(f"sample issue 2027-1: {wall:.2f} s wall (best of {RUNS}, with interpreter "
              f"start), peak {peak:.0f} MB   [target < 1 s]")
        big = tmp_path / "big"
        big.mkdir()
        generate(big)
        wall, peak = timed_build(big, "2025-2", tmp_path / "big-out")
        print(f"1,000 news + 200 events, issue 2025-2: {wall:.2f} s wall, peak {peak:.0f} MB"
              "   [target < 5 s, < 200 MB]")


if __name__ == "__main__":
    main()
