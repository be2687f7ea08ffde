"""Atomic output folders: builds sharing an output folder, and builds killed midway."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

from comms.write import atomic_directory


def _fill(target: Path, tag: str) -> None:
    with atomic_directory(target) as staging:
        (staging / "images").mkdir()
        (staging / "images" / "a.png").write_text(tag, encoding="utf-8")
        (staging / "index.html").write_text(tag, encoding="utf-8")


def test_builds_sharing_an_output_folder_take_turns(tmp_path):
    """Several writers of the same folder at once (two `comms build` in one build/): each
    swap completes, and the folder ends whole, from one of them."""
    target = tmp_path / "build" / "2027-1"
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for round_ in range(15):
                _fill(target, f"{n}-{round_}")
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(p.name for p in target.parent.iterdir()) == ["2027-1"]
    assert (target / "index.html").read_text(encoding="utf-8") == \
        (target / "images" / "a.png").read_text(encoding="utf-8")


def test_a_staging_folder_left_by_a_killed_build_is_removed_by_the_next(tmp_path):
    """SIGKILL while a build fills its staging folder: the next build removes that folder
    and swaps in its own output."""
    target = tmp_path / "build" / "2027-1"
    _fill(target, "first")
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from comms.write import atomic_directory\n"
        "with atomic_directory(Path(sys.argv[1])) as staging:\n"
        "    (staging / 'index.html').write_text('half')\n"
        "    print('ready', flush=True)\n"
        "    time.sleep(60)\n")
    child = subprocess.Popen([sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE)
    assert child.stdout is not None and child.stdout.readline() == b"ready\n"
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert len(list(target.parent.iterdir())) == 2  # the killed build's staging folder
    _fill(target, "second")
    assert sorted(p.name for p in target.parent.iterdir()) == ["2027-1"]
    assert (target / "index.html").read_text(encoding="utf-8") == "second"
