"""Helpers for driving the app with Textual's pilot: tests, the screenshot script, benchmarks.

`App.workers.wait_for_complete()` never returns while a DirectoryTree is mounted (its loader worker
lives as long as the tree), so these wait for the app's own work by group instead.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterable

from rich.console import Console
from textual.app import App
from textual.pilot import Pilot
from textual.worker import WorkerState

# Workers that never finish by design: Textual's own long-lived loaders and our pollers.
ENDLESS = frozenset({"_loader", "_poll"})
BUSY = (WorkerState.PENDING, WorkerState.RUNNING)


def busy_workers(app: App, names: Iterable[str] | None = None) -> list[str]:
    wanted = set(names) if names is not None else None
    return [
        worker.name
        for worker in app.workers
        if worker.state in BUSY
        and worker.name not in ENDLESS
        and (wanted is None or worker.name in wanted)
        and worker.group != "reconcile"
    ]


async def settle(pilot: Pilot, *, names: Iterable[str] | None = None, timeout: float = 120.0) -> None:
    """Wait until the named workers (default: all but the endless ones) are done, then repaint."""
    names = list(names) if names is not None else None
    deadline = time.monotonic() + timeout
    while busy_workers(pilot.app, names):
        if time.monotonic() > deadline:
            raise TimeoutError(f"workers still busy after {timeout}s: {busy_workers(pilot.app, names)}")
        await pilot.pause(0.1)
    await pilot.pause()


async def wait_until(
    pilot: Pilot, predicate: Callable[[], object], *, timeout: float = 120.0, what: str = "condition"
) -> object:
    """Let the app run until `predicate()` is truthy; returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            await pilot.pause()
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        await pilot.pause(0.1)


def screen_text(app: App) -> str:
    """The screen as plain text (what a user reads), for assertions."""
    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        color_system="truecolor",
        record=True,
        legacy_windows=False,
        safe_box=False,
    )
    # Textual has no public plain-text render; this is the call its own export_screenshot makes.
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()


def notifications(app: App, severity: str | None = None) -> list[str]:
    """Every notification the app showed so far, as "title: message" (optionally one severity)."""
    return [
        f"{item.title}: {item.message}" if item.title else item.message
        for item in getattr(app, "messages", [])
        if severity is None or item.severity == severity
    ]
