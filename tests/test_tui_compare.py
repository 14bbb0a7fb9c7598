"""Comparing runs in the app: the curves' x-axis fits the points, and curves that lie exactly on
each other say so in the legend instead of one silently hiding the other."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Static

import tuitune
from tests.tui_steps import compare_runs
from tuitune._dev.pilot import wait_until
from tuitune.config import ConfigBuilder
from tuitune.store import COMPLETED, open_store
from tuitune.tui.app import create_app
from tuitune.tui.screens.history import HistoryScreen
from tuitune.tui.widgets.charts import LineChart

pytestmark = pytest.mark.slow


async def test_twin_runs_compare_on_an_axis_that_fits_and_the_legend_says_they_are_the_same(
    demo_model_path: Path,
) -> None:
    # The same configuration and seed twice: the same curves, point for point. Evaluated once, at step 10.
    config = (
        ConfigBuilder()
        .demo()
        .data(max_length=64)
        .training(max_steps=10, logging_steps=5, eval_steps=10, batch_size=4, save_steps=1000)
    )
    first = tuitune.train(config.name("first").build())
    twin = tuitune.train(config.name("twin").build())
    assert first.status == twin.status == COMPLETED
    store = open_store()
    runs = [store.get_run(first.run_id), store.get_run(twin.run_id)]

    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, HistoryScreen) and app.screen.table.total_count == 2,
            what="the runs",
        )
        compare = await compare_runs(pilot, runs)
        train = compare.query_one("#train-chart", LineChart)
        evaluation = compare.query_one("#eval-chart", LineChart)
        assert [list(series.x) for series in evaluation.series] == [[10.0], [10.0]]
        # Both charts span the runs' logged steps (1 to 10): the eval points sit at the end, where they
        # were logged, not in the middle of an axis plotext padded around them.
        assert train.x_range == evaluation.x_range == (1.0, 10.0)
        for chart in (train, evaluation):
            legend = str(chart.query_one(".chart-legend", Static).render())
            assert f"#{twin.run_id} twin (same as #{first.run_id})" in legend, legend
            assert f"#{first.run_id} first (same as" not in legend
