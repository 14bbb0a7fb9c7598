"""Which requests the server answers: those addressed to it (`RequestHost`), and no write a web page
of another site could send (`check_same_site`).

- **Host**: only the names the server is bound to (plus `--allowed-host`). A page on another
  site that re-points its own name at 127.0.0.1 (DNS rebinding) still sends its own name as Host.
- **Cross-site writes**: a page the user visits may send a form POST or a no-cors fetch to
  127.0.0.1 without asking (no preflight), and with no token on loopback nothing else would stop
  it. A write must carry a JSON body or the `X-Tuitune-Client` header, neither of which a browser
  sends cross-site without a preflight this server never grants; and an `Origin` header, which
  browsers add to every cross-site write, must be the server's own (same host and port).
"""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlsplit

from fastapi import HTTPException, Request, status
from starlette.responses import JSONResponse

from tuitune.serve.settings import ServeSettings, is_loopback

CLIENT_HEADER = "x-tuitune-client"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
_ANY_ADDRESS = ("0.0.0.0", "::", "")


def allowed_hosts(settings: ServeSettings) -> frozenset[str]:
    """The Host names this server answers to (lower case, no port)."""
    names = {settings.host.lower().strip("[]"), *(name.lower() for name in settings.allowed_hosts)}
    if is_loopback(settings.host) or settings.host in _ANY_ADDRESS:
        names.update(LOOPBACK_NAMES)
    if settings.host in _ANY_ADDRESS:
        names.update(_machine_names())
    return frozenset(names)


def _machine_names() -> set[str]:
    """This machine's own names and addresses: what a client on the network may call it."""
    # Imported here, as psutil is everywhere in tuitune (~20 ms; the service has loaded it already).
    import psutil

    names = {socket.gethostname().lower(), socket.getfqdn().lower()}
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family in (socket.AF_INET, socket.AF_INET6):
                names.add(address.address.split("%")[0].lower())
    return names


def host_name(value: str) -> str:
    """`example.org:8765` → `example.org`; `[::1]:8765` → `::1`."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class RequestHost:
    """ASGI middleware: refuse a Host header the server is not bound to (400), before any route."""

    def __init__(self, app: Any, settings: ServeSettings) -> None:
        self.app = app
        self.hosts = allowed_hosts(settings)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
        host = host_name(given)
        if host in self.hosts:
            await self.app(scope, receive, send)
            return
        message = (
            f"This server does not answer to the host name {host[:80]!r}: use one of "
            f"{', '.join(sorted(self.hosts))}, or start it with --allowed-host {host[:80] or 'NAME'}."
        )
        await JSONResponse({"detail": message, "error": "RequestRefused"}, status_code=400)(scope, receive, send)


def check_same_site(request: Request) -> None:
    """A FastAPI dependency (after the token check): 403 for what a page of another site could send."""
    origin = request.headers.get("origin")
    # Same origin: the page's scheme://host:port is the address the request went to.
    if (
        origin is not None
        and origin != "null"
        and urlsplit(origin).netloc.lower() != request.headers.get("host", "").lower()
    ):
        raise _refused("Requests from another web site are refused: open the dashboard from this server's own address.")
    if request.method in SAFE_METHODS:
        return
    if origin == "null":
        raise _refused("Requests from a sandboxed or local page are refused: open the dashboard from this server.")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json" and CLIENT_HEADER not in request.headers:
        raise _refused(
            "A request that changes something must send a JSON body (Content-Type: application/json) or the "
            "header X-Tuitune-Client: 1, so that no web page can send it behind your back."
        )


def _refused(message: str) -> HTTPException:
    return HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail=message)
