"""Line charts with axes (plotext through textual-plotext), for run detail and compare.

The legend is a line of its own above the plot, in the series' colours: plotext draws its legend
inside the plot's top-left corner, exactly where a short run's curve starts, and at 80x24 it hid
whole curves.
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


def series_colour(index: int) -> tuple[int, int, int]:
    return PALETTE[index % len(PALETTE)]


def legend(title: str, series: Sequence[Series]) -> Text:
    """`title  ━━ first  ━━ second`, each marker in its series' colour; labels are plain text."""
    line = Text(title, style="bold")
    if not series:
        line.append(": nothing logged yet", style="dim")
        return line
    for index, item in enumerate(series):
        red, green, blue = series_colour(index)
        line.append("  ")
        line.append("━━ ", style=f"bold rgb({red},{green},{blue})")
        line.append(item.label)
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

    def compose(self) -> ComposeResult:
        yield Static(legend(self._title, []), classes="chart-legend")
        yield PlotextPlot()

    @property
    def series(self) -> list[Series]:
        """What is drawn, in legend order."""
        return list(self._series)

    def show(self, series: Sequence[Series], *, xlabel: str = "step", ylabel: str = "", log_y: bool = False) -> None:
        self._series = [s for s in series if len(s.x) and len(s.x) == len(s.y)]
        self._xlabel, self._ylabel, self._log_y = xlabel, ylabel, log_y
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
        for index, series in enumerate(self._series):
            # No label: plotext would draw its legend box over the data.
            plt.plot(list(series.x), list(series.y), color=series_colour(index), marker="braille")
        if self._log_y and self._series:
            plt.yscale("log")
        plot.refresh()

    def on_mount(self) -> None:
        self._draw()
