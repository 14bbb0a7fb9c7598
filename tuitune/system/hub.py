"""Is the Hugging Face Hub usable from here? Light: no huggingface_hub import unless it must.

On an air-gapped GPU box huggingface_hub and datasets retry a failed lookup five times with
backoff (half a minute of waiting and warnings on stderr) before failing; one DNS query tells at
once. When the Hub cannot be reached, tuitune works from the local cache only.
"""

from __future__ import annotations

import functools
import os
import socket
from urllib.parse import urlparse

_TRUE = {"1", "on", "yes", "true"}


def hub_offline() -> bool:
    """Whether the Hub is switched off for this process (HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE).

    Read from the environment now, not from huggingface_hub's constants (frozen when it was first
    imported), so a late `HF_HUB_OFFLINE=1` still holds.
    """
    return any(os.environ.get(var, "").strip().lower() in _TRUE for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


@functools.lru_cache(maxsize=1)
def hub_reachable() -> bool:
    """Whether the Hub's host name resolves (asked once per process)."""
    host = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co").hostname or "huggingface.co"
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        return False
    return True


def local_files_only() -> bool:
    """Use the local cache only: the Hub is switched off, or cannot be reached from here."""
    return hub_offline() or not hub_reachable()
