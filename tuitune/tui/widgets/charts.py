"""Line charts with axes (plotext through textual-plotext), for run detail and compare."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from textual_plotext import PlotextPlot


@dataclass(frozen=True)
class Series:
    label: str
    x: Sequence[float]
    y: Sequence[float]


class LineChart(PlotextPlot):
    """One or more labelled series over a shared x-axis; redrawn whole when the data changes."""

    def __init__(self, title: str, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._title = title
        self._series: list[Series] = []
        self._xlabel = "step"
        self._ylabel = ""
        self._log_y = False

    def show(self, series: Sequence[Series], *, xlabel: str = "step", ylabel: str = "", log_y: bool = False) -> None:
        self._series = [s for s in series if len(s.x) and len(s.x) == len(s.y)]
        self._xlabel, self._ylabel, self._log_y = xlabel, ylabel, log_y
        self._draw()

    def _draw(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(self._title)
        plt.xlabel(self._xlabel)
        if self._ylabel:
            plt.ylabel(self._ylabel)
        if not self._series:
            plt.title(f"{self._title}: nothing logged yet")
        for series in self._series:
            plt.plot(list(series.x), list(series.y), label=series.label, marker="braille")
        if self._log_y and self._series:
            plt.yscale("log")
        self.refresh()

    def on_mount(self) -> None:
        super().on_mount()
        self._draw()
