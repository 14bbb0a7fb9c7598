"""The sender of a run's notifications: `python -m tuitune.runs.notify_send`, started detached by
`tuitune.runs.notify` with its work on stdin.

Each message is POSTed with a bounded timeout and tried a few times with a growing pause between
tries; the outcome becomes an event on the run, with the URL shown by its host alone. Standard
library only, so it starts in a blink and needs nothing a bare install lacks.
"""

from __future__ import annotations

import json
import socket
import sys
import time
import urllib.error
import urllib.request
from http.client import HTTPException
from typing import Any
from urllib.parse import urlsplit

from tuitune.locations import redact_url

TRIES = 3
TIMEOUT_SECONDS = 5.0
PAUSES = (1.0, 2.0)  # between tries: the worst case is 3 × 5 s + 3 s, then the sender is gone


def scrub(text: str, url: str) -> str:
    """`text` (an error's words) with the URL, and any secret part of it, replaced by its host."""
    parts = urlsplit(url)
    text = text.replace(url, redact_url(url))
    for secret in (parts.path, parts.query, parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""):
        if len(secret) > 1:
            text = text.replace(secret, "/…")
    return text


def _reason(error: BaseException) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        if not isinstance(error.reason, BaseException):
            return str(error.reason)
        error = error.reason
    if isinstance(error, (TimeoutError, socket.timeout)):
        return f"no answer within {TIMEOUT_SECONDS:g} s"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    return getattr(error, "strerror", None) or str(error) or type(error).__name__


def _worth_retrying(error: BaseException) -> bool:
    # A receiver that says the request itself is wrong (401, 404) says the same the next time.
    if isinstance(error, urllib.error.HTTPError):
        return error.code >= 500 or error.code in (408, 429)
    return True


def deliver(url: str, headers: dict[str, str], body: bytes) -> tuple[int, str | None]:
    """POST `body`; (tries made, None) once the receiver took it, else (tries, the last reason)."""
    reason = None
    for attempt in range(1, TRIES + 1):
        request = urllib.request.Request(url, data=body, headers={"User-Agent": "tuitune", **headers}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:
                answer.read(65536)
            return attempt, None
        except (OSError, ValueError, HTTPException) as error:
            reason = scrub(_reason(error), url)
            if not _worth_retrying(error):
                return attempt, reason
        if attempt < TRIES:
            time.sleep(PAUSES[min(attempt - 1, len(PAUSES) - 1)])
    return TRIES, reason


def main() -> int:
    work: dict[str, Any] = json.loads(sys.stdin.buffer.read() or b"{}")
    url, run_id = work["url"], int(work["run_id"])
    outcomes = []
    for delivery in work["deliveries"]:
        tries, reason = deliver(url, delivery["headers"], bytes.fromhex(delivery["body"]))
        outcomes.append((delivery["what"], tries, reason))
    from tuitune.store import open_store

    store = open_store()
    try:
        for what, tries, reason in outcomes:
            if reason is None:
                store.add_event(run_id, f"Notified webhook {redact_url(url)}: {what}")
            else:
                store.add_event(
                    run_id,
                    f"Webhook {redact_url(url)} failed after {tries} {'try' if tries == 1 else 'tries'} ({what}): {reason}",
                    "warning",
                )
    finally:
        store.release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
