"""Running the application under uvicorn, on a socket bound first so that a port in use is a
French error and port 0 gives a free port whose number is known before serving."""

from __future__ import annotations

import errno
import socket

from comms.errors import CommsError, Problem

# Connections, idle ones included; beyond, uvicorn answers its own 503 (in English). The
# application answers in French from `comms.web.app.MAX_IN_FLIGHT` requests, well before.
MAX_CONCURRENT = 800  # below the usual limit of 1024 open files
KEEP_ALIVE = 5  # seconds an idle connection is kept
MAX_HEADERS = 16 * 1024  # bytes of request line and headers (h11)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: a free one). Raises CommsError when the
    port is taken or the address is not this machine's."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Inherited by accepted connections: uvicorn writes headers and body separately, and
    # without it the body waits for the client's delayed ACK (about 40 ms per request).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise CommsError(f"Le port {port} est déjà utilisé sur {host}.", [Problem(
                None, None, "--port", f"un autre programme écoute déjà sur le port {port}",
                "choisissez un autre port, par exemple --port 8001, ou arrêtez l’autre "
                "programme")]) from None
        raise CommsError(f"Impossible d’écouter sur {host}:{port}\u00a0: {exc.strerror}.",
                         [Problem(None, None, "--host", "adresse ou port refusé",
                                  "utilisez --host 127.0.0.1 derrière le serveur mandataire "
                                  "(reverse proxy), et un port au-dessus de 1024")]) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def run(app: object, sock: socket.socket, proxy: str = "127.0.0.1") -> None:
    """Serve `app` on `sock` until Ctrl-C or SIGTERM (uvicorn's graceful shutdown). The
    X-Forwarded-For of connections from `proxy` (addresses, comma-separated, or "*") gives
    the client's address, for the limit of bad tokens per client."""
    import uvicorn

    config = uvicorn.Config(
        app, log_level="warning", access_log=False, server_header=False,
        proxy_headers=True, forwarded_allow_ips=proxy,
        limit_concurrency=MAX_CONCURRENT, timeout_keep_alive=KEEP_ALIVE,
        h11_max_incomplete_event_size=MAX_HEADERS, lifespan="off",
    )
    uvicorn.Server(config).run(sockets=[sock])
