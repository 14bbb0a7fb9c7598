"""`tuitune web`: textual-serve's server, answering only its own host names and only pages of its own.

The app in a browser drives the whole terminal app over one websocket, so a page of another site
that opened it (cross-site websocket hijacking; a browser lets any page try) or reached it under a
re-pointed name of its own (DNS rebinding) could start and delete runs. Every request must name
this server in its Host; a request with an Origin (every websocket handshake a browser makes
has one) must come from a page of this server: one of its names, on its port.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from textual_serve.server import Server

from tuitune.serve.origin import allowed_hosts, host_name
from tuitune.serve.settings import ServeSettings


def refusal(headers: Any, hosts: frozenset[str], port: int) -> str | None:
    """Why a request to the app is refused, or None."""
    host = host_name(headers.get("Host", ""))
    if host not in hosts:
        return f"This server does not answer to the host name {host[:80]!r}: open it as http://127.0.0.1:{port}/."
    origin = headers.get("Origin")
    if origin is not None:
        parts = urlsplit(origin)
        if host_name(parts.netloc) not in hosts or (parts.port or 80) != port:
            return "Pages of another web site may not open the app: open it from this server's own address."
    return None


class WebServer(Server):
    """textual-serve's server with tuitune's host and origin rules in front of every route."""

    async def _make_app(self) -> web.Application:
        app: web.Application = await super()._make_app()
        hosts = allowed_hosts(ServeSettings(host=self.host, port=self.port))
        port = int(self.port)

        @web.middleware
        async def same_site(request: web.Request, handler: Any) -> web.StreamResponse:
            reason = refusal(request.headers, hosts, port)
            if reason is not None:
                return web.Response(status=403 if "another web site" in reason else 400, text=reason)
            response: web.StreamResponse = await handler(request)
            return response

        app.middlewares.append(same_site)
        return app
