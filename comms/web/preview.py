"""`comms preview`: an issue built with every link pointing at 127.0.0.1, served by the same
application as `comms serve`, rebuilt when the content changes.

The folder holds the public site (with this issue even before its publication date), the
email as partners get it (`ISSUE/email.html`, images resolved locally) and `apercu.html`, the
email and the web page side by side at desktop and phone widths.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path

from comms.content.source import newest_source
from comms.model import Project
from comms.render.newsletter import render_issue, subject_of
from comms.render.templates import render, theme_for
from comms.selection import select
from comms.web.site import published_issues, with_base, write_site
from comms.write import atomic_directory, atomic_write

POLL_SECONDS = 0.5
PAGE = "apercu.html"


def local_project(project: Project, base: str) -> Project:
    """The project with its site and unsubscribe page at `base` (http://127.0.0.1:PORT/)."""
    local = with_base(project, base)
    return replace(local, site=replace(local.site, unsubscribe_url=base + "desinscription"))


def build_preview(project: Project, issue_id: str, folder: Path, today: date) -> str:
    """Write the preview of `issue_id` into `folder` in one swap; returns the path of the
    side-by-side page, relative to the folder."""
    issues = {i.id: i for i in published_issues(project, today)}
    issues.setdefault(issue_id, project.issue(issue_id))  # type: ignore[arg-type]
    email = render_issue(project, issue_id)
    with atomic_directory(folder) as staging:
        write_site(project, staging, sorted(issues.values(), key=lambda i: i.publish_on))
        atomic_write(staging / issue_id / "email.html", email.html)
        atomic_write(staging / PAGE, render(
            project.site.root, "preview.html.j2", site=project.site,
            theme=theme_for(project.site), issue_id=issue_id,
            subject=subject_of(project, select(project, issue_id))))
    return PAGE



def watch(root: Path, rebuild: Callable[[], None], stop: threading.Event) -> threading.Thread:
    """Call `rebuild` whenever a source changes, until `stop` is set (a daemon thread)."""
    def loop() -> None:
        seen = newest_source(root)
        while not stop.wait(POLL_SECONDS):
            current = newest_source(root)
            if current != seen:
                seen = current
                time.sleep(0.2)  # let an editor finish writing
                rebuild()

    thread = threading.Thread(target=loop, name="comms-preview-watch", daemon=True)
    thread.start()
    return thread
