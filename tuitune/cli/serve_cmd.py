"""`tuitune serve` (REST API, live stream, web dashboard) and `tuitune web` (the app in a browser).

Both bind to 127.0.0.1 by default. Any other address needs a token (`serve`) or an explicit
`--insecure-no-auth` (`web`, which has no authentication of its own). Light at import.
"""

from __future__ import annotations

import errno
import socket
from pathlib import Path
from typing import Any, Optional

import typer
from rich.text import Text

from tuitune.cli.app import app, console, err_console
from tuitune.errors import AddressUnavailableError, UsageError
from tuitune.runs.present import literal
from tuitune.system import child

# Commands import what they use when they run: `tuitune --help` imports every command module.

DEFAULT_HOST = "127.0.0.1"


def check_can_listen(host: str, port: int) -> None:
    """Bind the address once before anything is announced, so a port in use is said in one line
    instead of a "Serving on …" followed by the server's own traceback."""
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (socket.gaierror, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, socket.gaierror) else "not a host name"
        raise AddressUnavailableError(
            f"Cannot listen on {literal(host)[:80]} ({reason}): give --host an address of this machine, "
            "e.g. 127.0.0.1 or 0.0.0.0."
        ) from None
    with socket.socket(family, kind, proto) as probe:
        # As uvicorn and aiohttp bind: a port left in TIME_WAIT by a server that just stopped is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                problem = f"port {port} is already in use there (another server, or an earlier one still running)"
                advice = "stop it, or choose another port with --port"
            elif exc.errno == errno.EACCES:
                problem = f"port {port} needs privileges this user does not have"
                advice = "choose a port above 1023 with --port"
            elif exc.errno == errno.EADDRNOTAVAIL:
                problem = "that is not an address of this machine"
                advice = "give --host one of its addresses, e.g. 127.0.0.1 or 0.0.0.0"
            else:
                problem, advice = exc.strerror or str(exc), "choose another --host or --port"
            raise AddressUnavailableError(f"Cannot listen on {literal(shown)[:120]}: {problem}; {advice}.") from None


@app.command("serve")
def serve_command(
    host: str = typer.Option(
        DEFAULT_HOST, "--host", help="Address to listen on; anything but loopback requires a token."
    ),
    port: int = typer.Option(8765, "--port", "-p", min=0, max=65535, help="Port to listen on (0: any free port)."),
    token: Optional[str] = typer.Option(
        None,
        "--token",
        envvar="TUITUNE_API_TOKEN",
        help="API token clients must send (Authorization: Bearer …); made up and printed once when needed.",
    ),
    data_roots: Optional[list[Path]] = typer.Option(
        None,
        "--data-root",
        help="A folder requests may name (repeatable; default: the current folder and TUITUNE_HOME).",
    ),
    allow_hub: bool = typer.Option(
        False, "--allow-hub", help="Let requests name Hugging Face Hub models and datasets, and upload to the Hub."
    ),
    hub_ids: Optional[list[str]] = typer.Option(
        None, "--hub-id", help="A Hub model or dataset id requests may name (repeatable), without --allow-hub."
    ),
    allow_remote_code: bool = typer.Option(
        False,
        "--allow-remote-code",
        help="Let requests run code a model ships (trust_remote_code) or a Hub kernel: only if every client is trusted.",
    ),
    allowed_hosts: Optional[list[str]] = typer.Option(
        None, "--allowed-host", help="Another host name clients reach this server by (repeatable; e.g. behind a proxy)."
    ),
) -> None:
    """Serve the REST API, the live event stream and the web dashboard."""
    import uvicorn

    from tuitune.serve import ServeSettings, create_app
    from tuitune.serve.settings import is_loopback, token_for

    chosen, generated = token_for(host, token)
    if port:  # 0: the system picks a free one
        check_can_listen(host, port)
    settings = ServeSettings(
        host=host,
        port=port,
        token=chosen,
        data_roots=tuple(data_roots or ()),
        allow_hub=allow_hub,
        hub_ids=tuple(hub_ids or ()),
        allow_remote_code=allow_remote_code,
        allowed_hosts=tuple(allowed_hosts or ()),
    )
    config = uvicorn.Config(create_app(settings), host=host, port=port, log_level="warning", access_log=False)

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            # Say where it listens once the socket is bound (port 0 picks one).
            bound = self.servers[0].sockets[0].getsockname()[1] if self.servers else port
            shown = f"[{host}]" if ":" in host else host
            console.print(Text(f"tuitune serve: http://{shown}:{bound}/  (API docs at /docs)"), highlight=False)
            if generated:
                err_console.print(Text(f"API token (shown once, not stored): {chosen}"), soft_wrap=True)
            elif chosen is None and is_loopback(host):
                console.print("No token: only this machine can connect.")
            roots = ", ".join(literal(root) for root in settings.roots())
            console.print(Text(f"Requests may name files under: {roots}"))
            hub = "any id" if allow_hub else ", ".join(hub_ids or ()) or "off (--allow-hub)"
            code = "allowed" if allow_remote_code else "refused (--allow-remote-code)"
            console.print(Text(f"Hugging Face Hub: {hub}; code named by a request: {code}"))

    Server(config).run()


@app.command("web")
def web_command(
    host: str = typer.Option(
        DEFAULT_HOST, "--host", help="Address to listen on; anything but loopback needs --insecure-no-auth."
    ),
    port: int = typer.Option(8766, "--port", "-p", min=1, max=65535, help="Port to listen on."),
    insecure_no_auth: bool = typer.Option(
        False, "--insecure-no-auth", help="Serve on a non-loopback address without any authentication."
    ),
) -> None:
    """The terminal app in a browser (textual-serve), on this machine by default."""
    from tuitune.serve.settings import is_loopback

    if not is_loopback(host) and not insecure_no_auth:
        raise UsageError(
            f"`tuitune web` has no login of its own, so anyone who can reach {host}:{port} could start and "
            "delete runs: keep the default 127.0.0.1 (and use an SSH tunnel), or add --insecure-no-auth."
        )
    try:
        from tuitune.serve.web_app import WebServer
    except ImportError:
        raise UsageError("`tuitune web` needs textual-serve: pip install 'tuitune[web]'.") from None
    check_can_listen(host, port)
    import shlex

    command = shlex.join(child.python_command("tuitune"))
    WebServer(command, host=host, port=port, title="tuitune").serve()
