"""Compare marked runs: loss curves overlaid (x: step or epoch) and, for preference or GRPO runs,
their objectives' key curves beside them (reward margin and accuracy, mean reward); metrics side by
side; config diff. Runs of different objectives share every key curve any of them has: a curve
only some of them log says which in its title."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, VerticalScroll
from textual.screen import Screen
from textual.widgets import Header, Static, TabbedContent, TabPane

from tuitune.runs import present
from tuitune.runs.compare import ComparedCurve, Comparison, CurvePoint, compare_runs, only_in
from tuitune.runs.documents import RunSummary
from tuitune.runs.metrics import EVAL_PREFIX
from tuitune.tui.failures import ReportsWorkerErrors
from tuitune.tui.widgets.charts import LineChart, Series, x_range_of
from tuitune.tui.widgets.footer import FittingFooter
from tuitune.tui.widgets.task_bar import TaskBar


class CompareScreen(ReportsWorkerErrors, Screen[None]):
    """Two or more runs side by side."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", tooltip="Back to the history.", id="compare-back"),
        Binding(
            "x", "toggle_x", "x: step/epoch", tooltip="Plot the curves against steps or epochs.", id="compare-x-axis"
        ),
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
                # One column of loss charts; two, with the key curves' charts after them, once the
                # runs turn out to have key curves (`_add_key_charts`).
                with Grid(id="curve-grid"):
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
        service = self.tuitune.service
        runs = [service.get_run(run_id) for run_id in self.run_ids]
        comparison = compare_runs(runs, service.store)
        self.tuitune.call_from_thread(self._show, comparison)

    def _show(self, comparison: Comparison) -> None:
        self.comparison = comparison
        self._add_key_charts(comparison.key_curves)
        self._draw_tables()
        self._draw_curves()

    def _add_key_charts(self, key_curves: list[ComparedCurve]) -> None:
        """A chart per key curve, after the loss charts, two charts to a row."""
        grid = self.query_one("#curve-grid", Grid)
        if not key_curves or grid.query(".key-chart"):
            return
        grid.mount_all(
            LineChart(key_chart_title(curve, self.comparison), id=f"key-chart-{index}", classes="key-chart")
            for index, curve in enumerate(key_curves)
        )
        charts = 2 + len(key_curves)
        grid.styles.grid_size_columns = 2
        grid.styles.grid_size_rows = -(-charts // 2)

    def _draw_tables(self) -> None:
        if self.comparison is None:
            return
        width = self.size.width - 2  # room for the scroll bar
        self.query_one("#metrics-table", Static).update(metrics_table(self.comparison, width))
        self.query_one("#diff-table", Static).update(diff_table(self.comparison, width))

    def on_resize(self) -> None:
        self._draw_tables()  # cells are fitted to the width

    def action_toggle_x(self) -> None:
        self.x_axis = "epoch" if self.x_axis == "step" else "step"
        self._draw_curves()
        self.notify(f"x-axis: {self.x_axis}", timeout=2)

    def _draw_curves(self) -> None:
        comparison = self.comparison
        if comparison is None:
            return
        charts = {
            chart_id: curves(comparison, attribute, self.x_axis)
            for chart_id, attribute in (("#train-chart", "loss"), ("#eval-chart", "eval_loss"))
        }
        ylabels = dict.fromkeys(charts, "loss")
        for index, curve in enumerate(comparison.key_curves):
            charts[f"#key-chart-{index}"] = key_curve(comparison, curve, self.x_axis)
            ylabels[f"#key-chart-{index}"] = ""
        # Every chart spans the same steps (or epochs), the runs' whole length, so they read together.
        shared = x_range_of([series for chart in charts.values() for series in chart])
        for chart_id, series in charts.items():
            self.query_one(chart_id, LineChart).show(
                series, xlabel=self.x_axis, ylabel=ylabels[chart_id], x_range=shared
            )


def curves(comparison: Comparison, attribute: str, x_axis: str) -> list[Series]:
    """One series per run of its logged `attribute` (loss or eval_loss) against steps or epochs."""
    return [
        _series(comparison, summary, lambda point: getattr(point, attribute), x_axis) for summary in comparison.runs
    ]


def key_curve(comparison: Comparison, curve: ComparedCurve, x_axis: str) -> list[Series]:
    """For each run that has the key curve, its training values as a line and its evaluations as
    dots, in the run's colour on the loss charts, against steps or epochs."""
    series = []
    for index, summary in enumerate(comparison.runs):
        if summary.run_id not in curve.run_ids:
            continue
        trained = _series(comparison, summary, lambda point: point.extra.get(curve.key), x_axis)
        evaluated = _series(comparison, summary, lambda point: point.extra.get(EVAL_PREFIX + curve.key), x_axis)
        series.append(replace(trained, colour=index))
        series.append(
            replace(evaluated, label=f"{evaluated.label} · eval", key=f"{evaluated.key} eval", colour=index, dots=True)
        )
    return series


def key_chart_title(curve: ComparedCurve, comparison: Comparison | None) -> str:
    """`reward margin`, or `reward accuracy · only #3 (dpo)` when some of the runs do not have it."""
    if comparison is None or len(curve.run_ids) == len(comparison.runs):
        return curve.label
    return f"{curve.label} · {only_in(curve, comparison)}"


def _series(
    comparison: Comparison, summary: RunSummary, value: Callable[[CurvePoint], float | None], x_axis: str
) -> Series:
    by_epoch = x_axis == "epoch"
    points = [p for p in comparison.curves.get(summary.run_id, []) if value(p) is not None]
    if by_epoch:
        points = [p for p in points if p.epoch is not None]
    xs = [float(p.epoch or 0.0) if by_epoch else float(p.step) for p in points]
    ys = [float(v) for p in points if (v := value(p)) is not None]
    return Series(f"#{summary.run_id} {summary.name}", xs, ys, key=f"#{summary.run_id}")


# Cells that do not fit lose the part that tells least, by one rule on every screen: a path or a
# model id keeps its end (the file, the model), a name or a key keeps its start.
LABEL_WIDTH = 16


def _value(value: Any, width: int) -> Text:
    """A config value as written (2e-04 and 0.002 alike as `0.0002`, `0.002`), fitted to `width`."""
    if isinstance(value, bool) or value is None:
        text = "–" if value is None else str(value).lower()
    elif isinstance(value, float):
        text = f"{value:g}"
    elif isinstance(value, list):
        text = ", ".join(map(str, value)) or "[]"
    else:
        text = str(value)
    return fitted(text, width)


def fitted(text: str, width: int) -> Text:
    """`text` as plain Text that fits `width`: a path keeps its end, anything else its start."""
    text = present.literal(text)
    if "/" in text and " " not in text:
        return Text(present.short_model(text, max(width, 4)), no_wrap=True)
    return Text(text, no_wrap=True, overflow="ellipsis")


def run_column_width(width: int, runs: int, label: int = LABEL_WIDTH) -> int:
    """Cells per run column when a table of `runs` columns and a label column fills `width`."""
    borders = 1 + 3 * (runs + 1)  # outer edge, then a rule and one space each side per column
    return max(6, (width - borders - label) // max(runs, 1))


def _table(
    label: str, comparison: Comparison, width: int, header: Any, label_width: int = LABEL_WIDTH
) -> tuple[Table, int]:
    cell = run_column_width(width, len(comparison.runs), label_width)
    table = Table(expand=True)
    table.add_column(label, style="bold", width=label_width, no_wrap=True, overflow="ellipsis")
    for summary in comparison.runs:
        table.add_column(fitted(header(summary), cell), ratio=1, no_wrap=True)
    return table, cell


def metrics_table(comparison: Comparison, width: int = 120) -> RenderableType:
    """The runs' figures side by side, and which key curves only some of them have."""
    table, cell = _table("", comparison, width, lambda s: f"#{s.run_id} {s.name}")
    for column in table.columns[1:]:
        column.justify = "right"
    runs = comparison.runs
    rows: list[tuple[str, list[Any]]] = [
        ("status", [present.status_text(s.status) for s in runs]),
        ("method", [s.method for s in runs]),
        ("objective", [s.objective for s in runs]),
        ("model", [s.model for s in runs]),
        ("dataset", [s.dataset for s in runs]),
        ("steps", [f"{s.steps:,}" for s in runs]),
        ("train loss", [present.number(s.train_loss) for s in runs]),
        ("eval loss", [present.number(s.eval_loss) for s in runs]),
        ("best eval loss", [present.number(s.best_eval_loss) for s in runs]),
        # The last logged value of each key curve; `–` where a run's objective does not log it.
        *((curve.label, [curve.show(s.key_values.get(curve.key)) for s in runs]) for curve in comparison.key_curves),
        ("duration", [present.duration(s.duration_seconds) for s in runs]),
        ("tokens/s", [f"{s.tokens_per_second:,.0f}" if s.tokens_per_second else "–" for s in runs]),
    ]
    for metric in comparison.metrics:
        rows.append((metric, [present.number(s.scores.get(metric)) for s in runs]))
    for label, cells in rows:
        table.add_row(
            Text(label),
            *(cell_text if isinstance(cell_text, Text) else fitted(str(cell_text), cell) for cell_text in cells),
        )
    notes = [Text(f"{curve.label}: {only_in(curve, comparison)}", style="dim") for curve in comparison.only_some()]
    # Where the runs came from, when it differs: the data's versions, the weights, the stack, git.
    notes += [present.literal_text(line, style="dim") for line in comparison.lineage_differences]
    return Group(table, *notes) if notes else table


def diff_table(comparison: Comparison, width: int = 120) -> Table | Text:
    if not comparison.differences:
        return Text("The configurations are the same (apart from names and folders).", style="dim")
    # The keys are what this table is about: as wide as the longest, up to a third of the width.
    key_width = min(max(len("setting"), *(len(key) for key in comparison.differences)), max(LABEL_WIDTH, width // 3))
    table, cell = _table("setting", comparison, width, lambda s: f"#{s.run_id}", key_width)
    for key, values in comparison.differences.items():
        table.add_row(fitted(key, key_width), *(_value(v, cell) for v in values))
    return table
