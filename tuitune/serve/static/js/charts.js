// Line charts over steps, drawn by the vendored uPlot (static/vendor/uplot, MIT).

import { el, fill } from "./dom.js";

const HEIGHT = 200;

/**
 * A chart of one or more series against the step. `series`: [{label, stroke, sparse}], where a
 * sparse series (eval loss) has values at a few steps only and is drawn as dots joined by a line.
 * The container's `data-points` says how many steps it shows, and its `stepChart` is this chart,
 * whose `data` is what it draws (the browser tests read both).
 */
export class StepChart {
  constructor(container, { series, format = (value) => String(value), empty = "No points yet." }) {
    this.container = container;
    this.series = series;
    this.format = format;
    this.plot = null;
    this.data = [[]];
    this.container.dataset.points = "0";
    this.container.stepChart = this;
    fill(container, el("div", { class: "none", text: empty }));
    this.resize = new ResizeObserver(() => this.plot && this.plot.setSize(this.size()));
    this.resize.observe(container);
  }

  size() {
    return { width: Math.max(this.container.clientWidth, 200), height: HEIGHT };
  }

  /** Redraw with `steps` (ascending) and one array of values (or nulls) per series. */
  set(steps, ...columns) {
    this.container.dataset.points = String(steps.length);
    if (!steps.length) return;
    const data = [steps, ...columns];
    this.data = data;
    if (this.plot) {
      this.plot.setData(data);
      return;
    }
    fill(this.container);
    this.plot = new window.uPlot(this.options(), data, this.container);
  }

  options() {
    const format = this.format;
    return {
      ...this.size(),
      scales: { x: { time: false } },
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
      series: [
        { label: "step" },
        ...this.series.map(({ label, stroke, sparse }) => ({
          label,
          stroke,
          width: sparse ? 1.5 : 2,
          spanGaps: Boolean(sparse),
          points: { show: Boolean(sparse), size: 6 },
          value: (u, value) => (value === null || value === undefined ? "—" : format(value)),
        })),
      ],
      axes: [
        { label: "step", labelSize: 18, size: 36 },
        { size: 64, values: (u, values) => values.map(format) },
      ],
    };
  }

  destroy() {
    this.resize.disconnect();
    if (this.plot) this.plot.destroy();
    this.plot = null;
  }
}
