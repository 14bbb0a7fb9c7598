"""Line charts with axes (plotext through textual-plotext), for run detail and compare.

The legend is a line of its own above the plot, in the series' colours: plotext draws its legend
inside the plot's top-left corner, exactly where a short run's curve starts, and at 80x24 it hid
whole curves. A series exactly like an earlier one would hide it (or be hidden): it is drawn once,
and its legend entry says "same as …". The x-axis spans the data (or the range given, which
charts meant to be read together share), never plotext's own padded guess (points at step 20
alone used to sit on an axis of 10-30).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static
from textual_plotext import PlotextPlot

# Distinct on a dark and a light background; the legend and the curves share them.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (79, 179, 191),  # teal
    (242, 166, 90),  # orange
    (199, 146, 234),  # violet
    (123, 196, 127),  # green
    (239, 91, 91),  # red
    (242, 193, 78),  # yellow
    (120, 150, 240),  # blue
    (220, 220, 220),  # grey
)


@dataclass(frozen=True)
class Series:
    label: str
    x: Sequence[float]
    y: Sequence[float]
    key: str = ""  # a short name for "same as …" (default: the label)
    # The palette entry to draw in (default: the series' place), so that a run keeps its colour
    # across charts that show different subsets of the runs.
    colour: int | None = None
    # Points, not a line: evaluations, a few steps apart, beside the training values' line. They
    # share their run's colour and the legend names them once for all runs.
    dots: bool = False

    @property
    def short(self) -> str:
        return self.key or self.label


def same_as(series: Sequence[Series]) -> list[Series | None]:
    """For each series, the first earlier one of its kind (line or dots) with exactly the same
    points (None if it has none)."""
    found: list[Series | None] = []
    for index, item in enumerate(series):
        points = (list(item.x), list(item.y), item.dots)
        found.append(next((s for s in series[:index] if (list(s.x), list(s.y), s.dots) == points), None))
    return found


def x_range_of(series: Sequence[Series]) -> tuple[float, float] | None:
    """The span of the series' x values, widened by one either side when it is a single value."""
    xs = [float(x) for item in series for x in item.x]
    if not xs:
        return None
    low, high = min(xs), max(xs)
    return (low - 1, high + 1) if low == high else (low, high)


def series_colour(index: int) -> tuple[int, int, int]:
    return PALETTE[index % len(PALETTE)]


def colour_of(series: Series, index: int) -> tuple[int, int, int]:
    """The colour `series`, drawn `index`th, is drawn in."""
    return series_colour(index if series.colour is None else series.colour)


def legend(title: str, series: Sequence[Series]) -> Text:
    """`title  ━━ first  ━━ second`, each marker in its series' colour; labels are plain text."""
    line = Text(title, style="bold")
    if not series:
        line.append(": nothing logged yet", style="dim")
        return line
    for index, (item, twin) in enumerate(zip(series, same_as(series))):
        if item.dots:
            continue  # named once, after the lines
        red, green, blue = colour_of(item, index)
        line.append("  ")
        line.append("━━ ", style=f"bold rgb({red},{green},{blue})")
        line.append(item.label)
        if twin is not None:
            line.append(f" (same as {twin.short})", style="dim")
    if any(item.dots for item in series):
        line.append("  • evaluations", style="dim")
    return line


class LineChart(Vertical):
    """One or more labelled series over a shared x-axis; redrawn whole when the data changes."""

    DEFAULT_CSS = """
    LineChart { height: 1fr; min-height: 6; }
    LineChart > .chart-legend { height: auto; padding: 0 1; }
    LineChart > PlotextPlot { height: 1fr; }
    """

    def __init__(self, title: str, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._title = title
        self._series: list[Series] = []
        self._xlabel = "step"
        self._ylabel = ""
        self._log_y = False
        self._x_range: tuple[float, float] | None = None

    def compose(self) -> ComposeResult:
        yield Static(legend(self._title, []), classes="chart-legend")
        yield PlotextPlot()

    @property
    def series(self) -> list[Series]:
        """What is drawn, in legend order."""
        return list(self._series)

    @property
    def x_range(self) -> tuple[float, float] | None:
        """The x-axis's span as drawn (None: nothing drawn)."""
        return self._x_range

    def show(
        self,
        series: Sequence[Series],
        *,
        xlabel: str = "step",
        ylabel: str = "",
        log_y: bool = False,
        x_range: tuple[float, float] | None = None,
        title: str | None = None,
    ) -> None:
        """Draw `series`; the x-axis spans `x_range` when given, else the data. `title`: a new
        title for the legend line (a chart whose subject depends on the run)."""
        if title is not None:
            self._title = title
        self._series = [s for s in series if len(s.x) and len(s.x) == len(s.y)]
        self._xlabel, self._ylabel, self._log_y = xlabel, ylabel, log_y
        given = x_range if x_range and x_range[0] < x_range[1] else None
        self._x_range = (given or x_range_of(self._series)) if self._series else None
        if self.is_mounted:
            self._draw()

    def _draw(self) -> None:
        self.query_one(".chart-legend", Static).update(legend(self._title, self._series))
        plot = self.query_one(PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        plt.xlabel(self._xlabel)
        if self._ylabel:
            plt.ylabel(self._ylabel)
        for index, (series, twin) in enumerate(zip(self._series, same_as(self._series))):
            if twin is not None:
                continue  # drawn already, in the colour of the first; the legend says so
            # No label: plotext would draw its legend box over the data.
            draw = plt.scatter if series.dots else plt.plot
            draw(
                list(series.x), list(series.y), color=colour_of(series, index), marker="•" if series.dots else "braille"
            )
        if self._x_range is not None:
            plt.xlim(*self._x_range)
        if self._log_y and self._series:
            plt.yscale("log")
        plot.refresh()

    def on_mount(self) -> None:
        self._draw()
