"""Compare marked runs: loss curves overlaid (x: step or epoch), metrics side by side, config diff."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Header, Static, TabbedContent, TabPane

from tuitune.compare import Comparison, compare_runs
from tuitune.tui import format as fmt
from tuitune.tui.failures import ReportsWorkerErrors
from tuitune.tui.widgets.charts import LineChart, Series
from tuitune.tui.widgets.footer import FittingFooter
from tuitune.tui.widgets.task_bar import TaskBar


class CompareScreen(ReportsWorkerErrors, Screen[None]):
    """Two or more runs side by side."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", tooltip="Back to the history.", id="compare-back"),
        Binding("x", "toggle_x", "x: step/epoch", tooltip="Plot the curves against steps or epochs.", id="compare-x-axis"),
    ]

    def __init__(self, run_ids: list[int]) -> None:
        super().__init__()
        self.run_ids = run_ids
        self.x_axis = "step"
        self.comparison: Comparison | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="compare-tabs"):
            with TabPane("Curves", id="curves"):
                with Vertical():
                    yield LineChart("train loss", id="train-chart")
                    yield LineChart("eval loss", id="eval-chart")
            with TabPane("Metrics", id="metrics-pane"):
                with VerticalScroll():
                    yield Static("Loading…", id="metrics-table")
            with TabPane("Config diff", id="diff"):
                with VerticalScroll():
                    yield Static("", id="diff-table")
        yield TaskBar()
        yield FittingFooter()

    def on_mount(self) -> None:
        self.sub_title = "compare " + ", ".join(f"#{i}" for i in self.run_ids)
        self.load()

    @work(thread=True, exclusive=True, group="compare-load", exit_on_error=False)
    def load(self) -> None:
        service = self.app.service  # type: ignore[attr-defined]
        runs = [service.get_run(run_id) for run_id in self.run_ids]
        comparison = compare_runs(runs, service.store)
        self.app.call_from_thread(self._show, comparison)

    def _show(self, comparison: Comparison) -> None:
        self.comparison = comparison
        self.query_one("#metrics-table", Static).update(metrics_table(comparison))
        self.query_one("#diff-table", Static).update(diff_table(comparison))
        self._draw_curves()

    def action_toggle_x(self) -> None:
        self.x_axis = "epoch" if self.x_axis == "step" else "step"
        self._draw_curves()
        self.notify(f"x-axis: {self.x_axis}", timeout=2)

    def _draw_curves(self) -> None:
        comparison = self.comparison
        if comparison is None:
            return
        by_epoch = self.x_axis == "epoch"
        for chart_id, attribute in (("#train-chart", "loss"), ("#eval-chart", "eval_loss")):
            series = []
            for summary in comparison.runs:
                points = [p for p in comparison.curves.get(summary.run_id, []) if getattr(p, attribute) is not None]
                if by_epoch:
                    points = [p for p in points if p.epoch is not None]
                xs = [float(p.epoch) if by_epoch else float(p.step) for p in points]  # type: ignore[arg-type]
                series.append(Series(f"#{summary.run_id} {summary.name}", xs, [getattr(p, attribute) for p in points]))
            self.query_one(chart_id, LineChart).show(series, xlabel=self.x_axis, ylabel="loss")


def _value(value: Any) -> str:
    if isinstance(value, float):
        return fmt.number(value)
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "[]"
    return "–" if value is None else str(value)


def metrics_table(comparison: Comparison) -> Table:
    table = Table(expand=True)
    table.add_column("", style="bold")
    for summary in comparison.runs:
        table.add_column(f"#{summary.run_id} {summary.name}", justify="right")
    rows: list[tuple[str, list[Any]]] = [
        ("status", [fmt.status_text(s.status) for s in comparison.runs]),
        ("method", [s.method for s in comparison.runs]),
        ("model", [s.model for s in comparison.runs]),
        ("dataset", [s.dataset for s in comparison.runs]),
        ("steps", [f"{s.steps:,}" for s in comparison.runs]),
        ("train loss", [fmt.number(s.train_loss) for s in comparison.runs]),
        ("eval loss", [fmt.number(s.eval_loss) for s in comparison.runs]),
        ("best eval loss", [fmt.number(s.best_eval_loss) for s in comparison.runs]),
        ("duration", [fmt.duration(s.duration_seconds) for s in comparison.runs]),
        ("tokens/s", [f"{s.tokens_per_second:,.0f}" if s.tokens_per_second else "–" for s in comparison.runs]),
    ]
    for metric in comparison.metrics:
        rows.append((metric, [fmt.number(s.scores.get(metric)) for s in comparison.runs]))
    for label, cells in rows:
        table.add_row(label, *cells)
    return table


def diff_table(comparison: Comparison) -> Table | Text:
    if not comparison.differences:
        return Text("The configurations are the same (apart from names and folders).", style="dim")
    table = Table(expand=True)
    table.add_column("setting", style="bold")
    for summary in comparison.runs:
        table.add_column(f"#{summary.run_id}")
    for key, values in comparison.differences.items():
        table.add_row(key, *(_value(v) for v in values))
    return table
