"""An issue over Gmail's size limit is refused with the heaviest items named: time that
refusal (`comms build` of the issue, in a fresh process) at 100 and 400 news items.

Targets: under 3 s at 400 items, and linear: the 400-item refusal costs less than 1.2 times
4 times the 100-item one (its anchor, measured in the same run).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

from harness import REPO, Bench, env_with_repo, run_command

COMMS = [sys.executable, "-m", "comms"]
SIZES = (100, 400)
SECTIONS = ("news", "progress", "resources")
SCHEMES = ("ASV", "CLS", "CLSM", "commun")


def oversized_root(root: Path, items: int) -> None:
    """The sample's identity and one issue (2027-1) holding `items` news items."""
    shutil.copy(REPO / "comms.yaml", root / "comms.yaml")
    shutil.copytree(REPO / "content" / "images", root / "content" / "images")
    shutil.copytree(REPO / "calendars", root / "calendars")
    issues = root / "content" / "issues"
    issues.mkdir(parents=True)
    (issues / "2027-1.md").write_text(
        "---\nnumber: 1\npublish_on: 2027-02-15\nperiod: Hiver 2027\n---\nÉditorial.\n",
        encoding="utf-8")
    folder = root / "content" / "news"
    folder.mkdir(parents=True)
    first = date(2026, 10, 20)
    for i in range(items):
        on = first + timedelta(days=i % 110)
        (folder / f"{on}-item-{i}.md").write_text(
            f"---\ntitle: Actualité numéro {i}\ndate: {on}\ndispositif: {SCHEMES[i % 4]}\n"
            f"section: {SECTIONS[i % 3]}\nsummary: Résumé de l’actualité {i}.\n---\n"
            + f"Un paragraphe sur l’actualité {i}, avec un [compte rendu](https://example.org/"
            f"{i}).\n" * (1 + i % 5), encoding="utf-8")


def refusal(root: Path, out: Path) -> tuple[float, float]:
    """(wall seconds, peak MB) of a build that must be refused for its size."""
    return run_command([*COMMS, "build", "2027-1", "--root", str(root), "--out", str(out)],
                       env=env_with_repo(), cwd=root, expect_failure="Gmail")


def main() -> None:
    bench = Bench("size", "Oversized issue: refusal naming the heaviest items")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        roots = {}
        for items in SIZES:
            roots[items] = tmp_path / f"root-{items}"
            roots[items].mkdir()
            oversized_root(roots[items], items)
        walls: dict[int, list[float]] = {n: [] for n in SIZES}
        for _ in range(bench.repeat):
            for items in SIZES:
                walls[items].append(refusal(roots[items], tmp_path / "out")[0])
    from harness import Stats

    small, large = (Stats(tuple(walls[n]), "s") for n in SIZES)
    growth = SIZES[1] / SIZES[0]
    bench.figure(f"refusal of a {SIZES[1]}-item issue", large,
                 anchor=(f"same, {SIZES[0]} items", small), ratio_max=1.2 * growth,
                 value_max=3.0, note=f"linear means a ratio near {growth:g}")
    bench.finish()


if __name__ == "__main__":
    main()
