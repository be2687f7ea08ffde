"""Time `comms build` on the sample and on a generated large root: wall time and peak memory,
each beside an anchor measured in the same run.

Target: the sample issue builds in under 5 times `python -c "import jinja2, mjml"` (the
floor of any build). Each build runs in a fresh process, as a coordinator would run it, so
the figures include imports.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

from harness import (
    REPO,
    Bench,
    env_with_repo,
    python_command,
    time_command,
    time_commands_interleaved,
)

COMMS = [sys.executable, "-m", "comms"]
SHORT_REPEAT = 9  # runs of each sub-second command compared as a ratio

SECTIONS = ("news", "progress", "resources")
SCHEMES = ("ASV", "CLS", "CLSM", "commun")
INSTANCES = ("copil", "cotech", "pleniere", "gt-logement", "gt-parentalite", "gt-cohesion")
# Link texts that say where they lead, as `check` asks (« lien » alone would be warned about
# on every item, burying the output the benchmark times).
LINK_TEXTS = ("le compte rendu", "le programme détaillé", "l’inscription en ligne",
              "la carte des lieux")


def generate(root: Path, news: int = 1000, events: int = 200) -> None:
    """A territory with the sample's identity, three issues a year and about 40 items per
    issue (a heavy but realistic issue that fits the 90 KB limit): 1,000 news span eight
    years, 10,000 news eighty-three. Events are spread over the same years."""
    shutil.copy(REPO / "comms.yaml", root / "comms.yaml")
    shutil.copytree(REPO / "content" / "images", root / "content" / "images")
    (root / "calendars" / "events").mkdir(parents=True)
    shutil.copy(REPO / "calendars" / "instances.yaml", root / "calendars" / "instances.yaml")
    issues = root / "content" / "issues"
    issues.mkdir(parents=True)
    years = max(1, news // 120)
    last = 2027
    for year in range(last - years + 1, last + 1):
        for n, month in enumerate((2, 6, 10), 1):
            (issues / f"{year}-{n}.md").write_text(
                f"---\nnumber: {n}\npublish_on: {year}-{month:02d}-15\nperiod: P{n} {year}\n"
                "---\nÉditorial.\n", encoding="utf-8")
    folder = root / "content" / "news"
    folder.mkdir(parents=True)
    first = date(last - years, 10, 16)
    span = (date(last, 10, 15) - first).days
    for i in range(news):
        on = first + timedelta(days=i * span // news)
        (folder / f"{on}-item-{i}.md").write_text(
            f"---\ntitle: Actualité numéro {i}\ndate: {on}\ndispositif: {SCHEMES[i % 4]}\n"
            f"section: {SECTIONS[i % 3]}\nsummary: Résumé de l’actualité {i}.\n---\n"
            f"Un paragraphe court sur l’actualité {i}, avec [{LINK_TEXTS[i % 4]}]"
            f"(https://example.org/{i}).\n",
            encoding="utf-8")
    for i in range(events):
        on = first + timedelta(days=i * span // events)
        (root / "calendars" / "events" / f"ev-{i}.md").write_text(
            f"---\ninstance: {INSTANCES[i % len(INSTANCES)]}\nstart: {on} 14:00\n"
            f"end: {on} 16:00\nlocation: Mairie, salle {i}\n---\nOrdre du jour {i}.\n",
            encoding="utf-8")


def main() -> None:
    bench = Bench("build", "Build: the sample issue and a generated large root")
    if os.environ.get("COMMS_ROOT"):
        bench.say("COMMS_ROOT is ignored: the benchmark uses its own roots")
    repeat = bench.repeat
    env = env_with_repo()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        # Under a second each: more runs, taken in turns after a warm-up, steady the ratio.
        floor, sample = time_commands_interleaved(
            [python_command("-c", "import jinja2, mjml"),
             [*COMMS, "build", "2027-1", "--root", str(REPO), "--out", str(tmp_path / "sample")]],
            max(repeat, SHORT_REPEAT), env=env, cwd=REPO)
        bench.figure("sample issue 2027-1, build (fresh process)", sample.wall,
                     anchor=('python -c "import jinja2, mjml"', floor.wall), ratio_max=5)
        sizes = {1_000: 200, 10_000: 2_000}  # news: events
        measured = {}
        for news, events in sizes.items():
            root = tmp_path / f"root-{news}"
            root.mkdir()
            generate(root, news, events)
            measured[news] = (
                time_command([*COMMS, "build", "--all", "--root", str(root), "--out",
                              str(tmp_path / f"out-{news}")], repeat, env=env, cwd=root),
                time_command([*COMMS, "check", "--root", str(root)], repeat, env=env,
                             cwd=root))
        small, large = measured[1_000], measured[10_000]
        growth = 10
        for n, what in enumerate(("build --all", "check")):
            bench.figure(f"10,000 news + 2,000 events, {what}", large[n].wall,
                         anchor=("1,000 news + 200 events", small[n].wall),
                         ratio_max=1.2 * growth, note=f"linear means a ratio near {growth}")
            bench.figure(f"10,000 news + 2,000 events, {what}, peak memory", large[n].peak,
                         anchor=("1,000 news + 200 events", small[n].peak))
    bench.finish()


if __name__ == "__main__":
    main()
