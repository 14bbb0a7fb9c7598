"""How a server runs: where it listens, its token, which folders requests may name, its limits."""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from tuitune.errors import UsageError
from tuitune.system import child, paths

TOKEN_ENV = child.API_TOKEN_ENV
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
MAX_BODY_BYTES = 1_000_000  # a run configuration is ~2 KB
MAX_PAGE = 500


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServeSettings:
    """A server's settings; `token` None means no token is asked for (loopback only)."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    token: str | None = None
    data_roots: tuple[Path, ...] = field(default_factory=tuple)
    max_body_bytes: int = MAX_BODY_BYTES
    max_page: int = MAX_PAGE
    poll_seconds: float = 0.5
    # What requests may reach beyond the data roots: off unless the server was started to allow it.
    allow_hub: bool = False
    hub_ids: tuple[str, ...] = ()
    allow_remote_code: bool = False
    # Host names (and addresses) the server answers to besides the one it is bound to.
    allowed_hosts: tuple[str, ...] = ()

    def roots(self) -> tuple[Path, ...]:
        """Folders a request may name (datasets, outputs, local models): the given ones, else the
        current folder and TUITUNE_HOME."""
        chosen = self.data_roots or (Path.cwd(), paths.home())
        return tuple(root.expanduser().resolve() for root in chosen)


def token_for(host: str, given: str | None) -> tuple[str | None, bool]:
    """(token, generated): a non-loopback host always gets a token, made up if none was given."""
    token = given or os.environ.get(TOKEN_ENV) or None
    if token is not None and not token.strip():
        raise UsageError("The API token is blank: use a long random one (or leave it out to let tuitune make one).")
    if token is not None and token != token.strip():
        # Clients send `Authorization: Bearer TOKEN`, and HTTP strips the spaces around a header's
        # value: a token that starts or ends with whitespace could never be matched.
        raise UsageError(
            "The API token starts or ends with whitespace, which no client can send: remove it "
            "(check the quoting of --token or TUITUNE_API_TOKEN)."
        )
    if token is not None and len(token) < 16:
        raise UsageError(
            "An API token must be at least 16 characters: use a long random one (or let tuitune make one)."
        )
    if token is None and not is_loopback(host):
        return secrets.token_urlsafe(32), True
    return token, False
