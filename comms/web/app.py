"""`comms serve`: the public site and the unsubscribe endpoint, as one Starlette application.

Routes follow the territory's settings: the static site (`comms.web.site`) is mounted at the
path of `web_base_url`, the unsubscribe page at the path of `unsubscribe.url`.

- `GET <unsubscribe>?t=TOKEN`: a French confirmation page naming the address and what it
  stops, with a button that POSTs (and scope choices where the token allows them). Nothing is
  recorded by a GET: mail scanners follow links.
- `POST <unsubscribe>?t=TOKEN` with `List-Unsubscribe=One-Click` in the body (RFC 8058 §3.2,
  form-urlencoded or multipart): the suppression is committed to the journal before the answer,
  a 200 page with no redirect and no cookie.
- A forged, truncated or foreign token: a French 400 page, nothing recorded; an address that
  sends many bad tokens is slowed down (429). Bodies are bounded; errors never show a
  traceback.

The journal is opened per request (SQLite in WAL mode, busy timeout), so the endpoint writes
while a send runs, and nothing is held in memory that a restart could lose.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from comms.model import Site
from comms.render.templates import render, theme_for
from comms.send.journal import UNSUBSCRIBE, Journal
from comms.send.tokens import ALL, ForeignToken, InvalidToken, UnsubscribeToken, read_token
from comms.send.unsubscribe import SOURCE_LINK, apply_unsubscribe, scope_label

log = logging.getLogger("comms.web")
MAX_BODY = 8 * 1024  # bytes: a one-click POST is 26 bytes, our form a few dozen
MAX_IN_FLIGHT = 200  # requests answered at once; beyond, a French 503 at once
BAD_TOKENS_PER_MINUTE = 20  # per client address, then 429 until the minute has passed
ONE_CLICK_FIELD, ONE_CLICK_VALUE = "List-Unsubscribe", "One-Click"
DETAIL = "page de désinscription ou clic en un geste (RFC 8058)"

# Cache-Control by kind of file; the unsubscribe pages are personal and never cached.
CACHE = {
    ".html": "public, max-age=300",
    ".ics": "public, max-age=3600",
    "": "public, max-age=86400",  # images and anything else, renamed when they change
}
NO_STORE = "no-store"
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",  # the token in the URL must not leak to other sites
    "x-frame-options": "DENY",
    "content-security-policy": ("default-src 'none'; img-src 'self'; style-src 'unsafe-inline';"
                                " form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "interest-cohort=()",
}
MESSAGES = {
    400: ("Lien de désinscription invalide",
          "Ce lien n’a pas été émis par cette coordination, ou il est incomplet. Rien n’a été "
          "enregistré. Copiez le lien de désinscription en entier depuis le message reçu, ou "
          "répondez au message en demandant votre désinscription."),
    404: ("Page introuvable", "Cette page n’existe pas ou n’est plus en ligne."),
    405: ("Action impossible", "Cette adresse ne prend pas ce type de requête."),
    413: ("Requête trop volumineuse", "La requête dépasse la taille permise. Rien n’a été "
          "enregistré."),
    429: ("Trop de tentatives", "Trop de liens invalides ont été envoyés depuis votre "
          "connexion. Réessayez dans une minute."),
    503: ("Service momentanément indisponible", "Le serveur reçoit trop de demandes en ce "
          "moment. Rien n’a été enregistré. Réessayez dans quelques instants."),
    500: ("Erreur du serveur", "La demande n’a pas pu être traitée. Rien n’a été enregistré "
          "si la page ne l’a pas confirmé. Réessayez plus tard, ou répondez au message reçu "
          "en demandant votre désinscription."),
}


@dataclass
class ServeConfig:
    """What the application needs: the territory's root (journal under `var/`), its site
    settings, the folder of the public site (None: no static site), the unsubscribe secret,
    instance id -> name (to say what an invitation token stops)."""

    root: Path
    site: Site
    site_dir: Path | None
    secret: str
    instance_names: Mapping[str, str] = field(default_factory=dict)
    bad_tokens_per_minute: int = BAD_TOKENS_PER_MINUTE
    max_in_flight: int = MAX_IN_FLIGHT
    frames: bool = False  # `comms preview` shows its pages in frames of its own


class BadTokenLimiter:
    """At most `limit` refused tokens per client address in a sliding minute."""

    def __init__(self, limit: int, window: float = 60.0):
        self.limit = limit
        self.window = window
        self.seen: dict[str, deque[float]] = {}
        self.lock = threading.Lock()

    def blocked(self, client: str) -> bool:
        if self.limit <= 0:
            return False
        now = time.monotonic()
        with self.lock:
            times = self.seen.get(client)
            while times and now - times[0] > self.window:
                times.popleft()
            if not times:
                self.seen.pop(client, None)
                return False
            return len(times) >= self.limit

    def retry_after(self, client: str) -> int:
        """Seconds (at least 1) until `client` may try again: when its oldest refused token
        leaves the window. For the Retry-After header (RFC 9110 section 10.2.3)."""
        with self.lock:
            times = self.seen.get(client)
            wait = self.window - (time.monotonic() - times[0]) if times else 0.0
        return max(1, math.ceil(wait))

    def record(self, client: str) -> None:
        with self.lock:
            if len(self.seen) > 10_000:  # bounded memory under a spray of addresses
                self.seen.clear()
            self.seen.setdefault(client, deque()).append(time.monotonic())


class InFlightLimit:
    """At most `limit` requests answered at once (one event loop: a plain counter); beyond,
    `busy()` answers at once (a French 503 page), so that a flood gets French words and the
    journal is never queued behind it."""

    def __init__(self, app: ASGIApp, limit: int, busy: Callable[[], Response]):
        self.app = app
        self.limit = limit
        self.busy = busy
        self.active = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.active >= self.limit:
            response = self.busy()
            response.headers["retry-after"] = "5"
            await response(scope, receive, send)
            return
        self.active += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1


class HeadersMiddleware:
    """Security headers on every answer; caching by kind of file, none for personal pages."""

    def __init__(self, app: ASGIApp, private_paths: tuple[str, ...], frames: bool = False):
        self.app = app
        self.private_paths = private_paths
        self.security = dict(SECURITY_HEADERS)
        if frames:
            self.security["x-frame-options"] = "SAMEORIGIN"
            self.security["content-security-policy"] = SECURITY_HEADERS[
                "content-security-policy"].replace("frame-ancestors 'none'",
                                                   "frame-ancestors 'self'") + "; frame-src 'self'"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        security = self.security
        if path in self.private_paths:
            cache = NO_STORE
        else:
            name = path.rsplit("/", 1)[-1]
            suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ".html"
            cache = CACHE.get(suffix, CACHE[""])
            # The email shows the site's images inside a webmail of another origin (Zimbra,
            # Roundcube…): browsers would block them under « same-origin ».
            security = {**security, "cross-origin-resource-policy": "cross-origin"}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() != b"set-cookie"]
                present = {k.lower() for k, _ in headers}
                for key, value in security.items():
                    if key.encode() not in present:
                        headers.append((key.encode(), value.encode()))
                if b"cache-control" not in present:
                    status = message["status"]
                    value = cache if status < 400 else NO_STORE
                    headers.append((b"cache-control", value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class SiteFiles(StaticFiles):
    """Starlette's StaticFiles, with the body of a small file (a feed, a page) answered from
    memory while the file is unchanged: same headers, ETag, Last-Modified and 304s as
    StaticFiles computes them from the file's stat (RFC 9110 section 13), without the
    thread hops of opening and reading it on every request. A file is known by its inode,
    size and modification time, so a publish (new files renamed into place) is seen at the
    next request. HEAD requests and large files (images) keep StaticFiles' streaming."""

    SMALL = 256 * 1024  # bytes: a feed or a page, not an image
    CACHE_BYTES = 32 * 1024 * 1024  # bytes held at most; the cache starts over beyond

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.bodies: dict[tuple[str, int, int, int], bytes] = {}
        self.held = 0

    def file_response(self, full_path, stat_result: os.stat_result, scope: Scope,
                      status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        if (not isinstance(response, FileResponse) or scope["method"] != "GET"
                or stat_result.st_size > self.SMALL):
            return response
        key = (str(full_path), stat_result.st_ino, stat_result.st_size,
               stat_result.st_mtime_ns)
        body = self.bodies.get(key)
        if body is None:
            try:
                with open(full_path, "rb") as file:  # small: read at once
                    body = file.read(self.SMALL + 1)
            except OSError:
                return response
            if len(body) != stat_result.st_size:  # replaced meanwhile: stream it instead
                return response
            if self.held + len(body) > self.CACHE_BYTES:
                self.bodies.clear()
                self.held = 0
            self.bodies[key] = body
            self.held += len(body)
        return Response(body, status_code=status_code, headers=dict(response.headers))


def create_app(config: ServeConfig) -> Starlette:
    """The application: unsubscribe routes, then the static site; French error pages."""
    site = config.site
    limiter = BadTokenLimiter(config.bad_tokens_per_minute)
    Journal.open(config.root).close()  # created now, not by concurrent first requests
    journals = JournalConnections(config.root, config.secret)
    # Routes match the decoded path: the settings hold URIs (« /d%C3%A9sinscription »).
    unsubscribe_path = unquote(urlsplit(site.unsubscribe_url).path) or "/desinscription"
    site_path = unquote(urlsplit(site.web_base_url).path).rstrip("/")

    def page(status: int, template_args: dict) -> HTMLResponse:
        html = render(site.root, "unsubscribe.html.j2", site=site, theme=theme_for(site),
                      archive_url=site.web_base_url, **template_args)
        return HTMLResponse(html, status_code=status)

    def error_page(status: int) -> HTMLResponse:
        title, text = MESSAGES.get(status, MESSAGES[500])
        return page(status, {"state": "error", "heading": title, "text": text})

    def read(request: Request, token_text: str) -> UnsubscribeToken | None:
        """The token's address and scope; None (and counted against the client) when it is
        not one of ours."""
        client = request.client.host if request.client else "?"
        try:
            return read_token(config.secret, token_text)
        except ForeignToken:
            # For the coordinator reading the server's log; the visitor gets the page of any
            # invalid link (the key identifier proves nothing, and says nothing to forgers).
            log.warning("Désinscription refusée\u00a0: jeton fait avec le secret d’un autre "
                        "territoire, ou avec un autre secret que celui de ce territoire. Si "
                        "tous les liens sont refusés ainsi, vérifiez que «\u00a0comms serve"
                        "\u00a0» sert le bon territoire (--root) et que son secret (var/"
                        "unsubscribe-secret ou COMMS_UNSUBSCRIBE_SECRET) et son nom "
                        "(territory dans comms.yaml) sont ceux d’avant.")
            limiter.record(client)
            return None
        except InvalidToken:
            limiter.record(client)
            return None

    def choices(token_scope: str) -> list[tuple[str, str]]:
        """The token's own scope first (the default), then everything."""
        scopes = [token_scope] if token_scope == ALL else [token_scope, ALL]
        return [(s, scope_label(s, dict(config.instance_names))) for s in scopes]

    def stops(scope: str) -> str:
        """What « ne plus recevoir » is followed by: « aucun message » for everything."""
        if scope == ALL:
            return "aucun message de la coordination"
        return scope_label(scope, dict(config.instance_names))

    async def unsubscribe(request: Request) -> Response:
        client = request.client.host if request.client else "?"
        if limiter.blocked(client):
            answer = error_page(429)
            answer.headers["retry-after"] = str(limiter.retry_after(client))
            return answer
        token_text = request.query_params.get("t", "")
        form = None
        if request.method == "POST":
            body = await _bounded_body(request, MAX_BODY)
            if body is None:
                return error_page(413)
            form = await _replayed(request, body).form(max_files=0, max_fields=8,
                                                       max_part_size=1024)
            token_text = token_text or str(form.get("t", ""))
        token = read(request, token_text) if token_text else None
        if token is None:
            return error_page(400)
        if request.method == "GET":
            return page(200, {"state": "confirm", "email": token.email,
                              "choices": choices(token.scope), "what": stops(token.scope),
                              "token": token_text})
        assert form is not None
        if form.get(ONE_CLICK_FIELD) != ONE_CLICK_VALUE:
            return error_page(400)
        chosen = str(form.get("scope", token.scope))
        if chosen not in (token.scope, ALL):
            return error_page(400)
        await run_in_threadpool(journals.unsubscribe, token_text, chosen)
        return page(200, {"state": "done", "email": token.email, "what": stops(chosen)})

    async def http_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, HTTPException):
            return error_page(exc.status_code)
        log.error("%s %s: %s", request.method, request.url.path, exc,
                  exc_info=exc)  # for the server's log only; the page says nothing of it
        return error_page(500)

    routes: list = [Route(unsubscribe_path, unsubscribe, methods=["GET", "POST"])]
    if config.site_dir is not None:
        static = SiteFiles(directory=config.site_dir, html=True, check_dir=False)
        if site_path:
            routes.append(Route("/", lambda request: RedirectResponse(site_path + "/")))
        routes.append(Mount(site_path, app=static))
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error,
                                                       Exception: http_error})
    app.add_middleware(InFlightLimit, limit=config.max_in_flight,
                       busy=lambda: error_page(503))
    app.add_middleware(HeadersMiddleware, private_paths=(unsubscribe_path,),
                       frames=config.frames)
    return app


async def _bounded_body(request: Request, limit: int) -> bytes | None:
    """The request body, or None as soon as it is known to exceed `limit` bytes (announced
    length or bytes received: a chunked body is cut too)."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _replayed(request: Request, body: bytes) -> Request:
    """The same request, reading `body` again (for the form parser)."""
    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(request.scope, receive)


class JournalConnections:
    """One journal connection per worker thread, opened on first use and dropped after an
    error. Every suppression is committed before `suppress` returns: nothing is kept in
    memory that a restart could lose."""

    def __init__(self, root: Path, secret: str):
        self.root = root
        self.secret = secret
        self.local = threading.local()

    def unsubscribe(self, token_text: str, scope: str) -> UnsubscribeToken:
        """Record the request through `apply_unsubscribe` (the token's own scope); when the
        partner chose to stop everything, the "all" scope is recorded too."""
        journal = getattr(self.local, "journal", None)
        if journal is None:
            journal = self.local.journal = Journal.open(self.root)
        try:
            token = apply_unsubscribe(journal, self.secret, token_text, SOURCE_LINK, DETAIL)
            if scope == ALL and token.scope != ALL:
                journal.suppress(token.email, UNSUBSCRIBE, SOURCE_LINK, DETAIL, scope=ALL)
            return token
        except BaseException:
            self.local.journal = None
            with contextlib.suppress(Exception):
                journal.close()
            raise
