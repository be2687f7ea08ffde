"""Before a real send: are the issue's page and its images online where the email points?

Each public URL the email links to for its content (the issue's web page, the logo and every
news image) gets an HTTP HEAD with a short timeout, a few at a time. A partner who opens the
email before the site is published would otherwise see broken images.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from comms.model import Project
from comms.render.newsletter import assets, issue_url
from comms.selection import select

TIMEOUT = 5.0  # seconds per request
PARALLEL = 8


@dataclass(frozen=True)
class Missing:
    url: str
    reason: str  # French: « réponse 404 », « serveur injoignable »…


def public_urls(project: Project, issue_id: str) -> list[str]:
    """The issue's page, then the logo and each image, as the email writes them."""
    content = select(project, issue_id)
    return [issue_url(project, issue_id),
            *(project.site.url(relative) for _, relative, _ in assets(project, content))]


def _head(url: str, timeout: float) -> Missing | None:
    import requests

    try:
        answer = requests.head(url, timeout=timeout, allow_redirects=True,
                               headers={"User-Agent": "comms (vérification avant envoi)"})
    except requests.Timeout:
        return Missing(url, f"pas de réponse en {timeout:g}\u00a0s")
    except requests.exceptions.SSLError:
        return Missing(url, "certificat HTTPS refusé (expiré, ou établi pour un autre nom)")
    except requests.RequestException:
        return Missing(url, "serveur injoignable")
    if answer.status_code >= 400:
        return Missing(url, f"réponse {answer.status_code}")
    return None


def check_online(urls: list[str], timeout: float = TIMEOUT) -> list[Missing]:
    """Every URL that does not answer a HEAD with a success (after redirects), in order."""
    if not urls:
        return []
    with ThreadPoolExecutor(max_workers=min(PARALLEL, len(urls))) as pool:
        results = list(pool.map(lambda u: _head(u, timeout), urls))
    return [m for m in results if m is not None]
