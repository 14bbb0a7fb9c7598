"""Steps the app's tests take again and again, through the keyboard as a user would."""

from __future__ import annotations

from collections.abc import Hashable, Iterable

from textual.pilot import Pilot

from tuitune._dev.pilot import wait_until
from tuitune.store import Run
from tuitune.tui.screens.compare import CompareScreen
from tuitune.tui.widgets.run_table import RunTable, TableRow


def row(table: RunTable, key: Hashable) -> TableRow:
    """The table's line for `key` (a run id), which must be there."""
    found = table.get_row(key)
    assert found is not None, f"no row {key!r} in the table"
    return found


async def compare_runs(pilot: Pilot, runs: Iterable[Run]) -> CompareScreen:
    """From the history: mark `runs` with space, press v (compare), wait for the comparison and its charts."""
    app = pilot.app
    history = app.screen
    for run in runs:
        history.table.move_to(run.id)  # type: ignore[attr-defined]  # the history screen's table
        await pilot.press("space")
    await pilot.press("v")
    compare = await wait_until(
        pilot,
        lambda: isinstance(app.screen, CompareScreen) and app.screen.comparison and app.screen,
        what="the comparison",
    )
    await pilot.pause(0.3)
    assert isinstance(compare, CompareScreen)
    return compare
