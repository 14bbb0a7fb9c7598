"""Steps the app's tests take again and again, through the keyboard as a user would."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import TypeVar

from textual.app import App
from textual.pilot import Pilot
from textual.screen import Screen

from tuitune._dev.pilot import wait_until
from tuitune.store import Run
from tuitune.tui.screens.compare import CompareScreen
from tuitune.tui.screens.detail import RunDetailScreen
from tuitune.tui.screens.history import HistoryScreen
from tuitune.tui.screens.training import TrainingScreen
from tuitune.tui.widgets.run_table import RunTable, TableRow

S = TypeVar("S", bound=Screen)


def current(app: App, kind: type[S]) -> S:
    """The app's screen, which must be a `kind`."""
    screen = app.screen
    assert isinstance(screen, kind), f"the app shows {type(screen).__name__}, not {kind.__name__}"
    return screen


async def shown(
    pilot: Pilot,
    kind: type[S],
    ready: Callable[[S], object] = lambda screen: True,
    *,
    timeout: float = 120.0,
    what: str = "the screen",
) -> S:
    """Let the app run until its screen is a `kind` that is `ready`; returns that screen."""

    def found() -> S | None:
        screen = pilot.app.screen
        return screen if isinstance(screen, kind) and ready(screen) else None

    screen = await wait_until(pilot, found, timeout=timeout, what=what)
    assert isinstance(screen, kind)
    return screen


def run_of(screen: TrainingScreen | RunDetailScreen) -> Run:
    """The run a one-run screen shows, which it must have by now."""
    assert screen.run is not None, f"{type(screen).__name__} shows no run"
    return screen.run


def row(table: RunTable, key: Hashable) -> TableRow:
    """The table's line for `key` (a run id), which must be there."""
    found = table.get_row(key)
    assert found is not None, f"no row {key!r} in the table"
    return found


async def compare_runs(pilot: Pilot, runs: Iterable[Run]) -> CompareScreen:
    """From the history: mark `runs` with space, press v (compare), wait for the comparison and its charts."""
    history = pilot.app.screen
    assert isinstance(history, HistoryScreen)
    for run in runs:
        history.table.move_to(run.id)
        await pilot.press("space")
    await pilot.press("v")
    compare = await shown(pilot, CompareScreen, lambda screen: screen.comparison, what="the comparison")
    await pilot.pause(0.3)
    return compare
