// Several runs' curves on one chart (the compare page), drawn by the vendored uPlot.
// Each run keeps its colour (palette.js) on every chart and table of the page.

import { el, fill } from "./dom.js";

const HEIGHT = 240;

/**
 * TensorBoard's smoothing: an exponential moving average, debiased so the first points are not
 * pulled toward zero. `weight` 0 draws the values as logged; nulls stay gaps.
 */
export function smooth(values, weight) {
  if (!weight) return values.slice();
  let last = 0;
  let seen = 0;
  return values.map((value) => {
    if (value === null || value === undefined || !Number.isFinite(value)) return null;
    last = last * weight + (1 - weight) * value;
    seen += 1;
    return last / (1 - weight ** seen);
  });
}

/**
 * One line per run. `set(lines, {log})`: lines are [{label, stroke, xs, ys}] with each run's own
 * x values (steps or epochs, ascending); the chart joins them on one x axis (a run without a value
 * at an x is a gap it spans). The container's `overlayChart` is this chart; its `data` is what it
 * draws ([xs, ...one column per line]) and `log` whether the y axis is logarithmic (the browser
 * tests read both).
 */
export class OverlayChart {
  constructor(container, { xLabel = "step", format = (value) => String(value), empty = "No points." } = {}) {
    this.container = container;
    this.xLabel = xLabel;
    this.format = format;
    this.empty = empty;
    this.plot = null;
    this.data = [[]];
    this.log = false;
    this.shape = "";
    container.overlayChart = this;
    container.dataset.lines = "0";
    fill(container, el("div", { class: "none", text: empty }));
    this.resize = new ResizeObserver(() => this.plot && this.plot.setSize(this.size()));
    this.resize.observe(container);
  }

  size() {
    return { width: Math.max(this.container.clientWidth, 200), height: HEIGHT };
  }

  /** Redraw with `lines`; `xLabel` names the x axis, `log` makes the y axis logarithmic. */
  set(lines, { xLabel = this.xLabel, log = false } = {}) {
    const drawn = lines.filter((line) => line.ys.some((y) => y !== null && y !== undefined));
    this.container.dataset.lines = String(drawn.length);
    if (!drawn.length) {
      this.destroyPlot();
      this.data = [[]];
      fill(this.container, el("div", { class: "none", text: this.empty }));
      return;
    }
    const xs = [...new Set(drawn.flatMap((line) => line.xs))].sort((a, b) => a - b);
    const index = new Map(xs.map((x, i) => [x, i]));
    const columns = drawn.map((line) => {
      const column = new Array(xs.length).fill(null);
      line.xs.forEach((x, i) => {
        const y = line.ys[i];
        // A logarithmic axis cannot place zero or less: such a value is a gap there.
        column[index.get(x)] = y === null || y === undefined || (log && y <= 0) ? null : y;
      });
      return column;
    });
    this.data = [xs, ...columns];
    this.log = log;
    // A new axis kind, other lines or other colours need a new plot; new values alone do not.
    const shape = JSON.stringify([xLabel, log, drawn.map((line) => [line.label, line.stroke])]);
    if (this.plot && shape === this.shape) {
      this.plot.setData(this.data);
      return;
    }
    this.shape = shape;
    this.xLabel = xLabel;
    this.destroyPlot();
    fill(this.container);
    this.plot = new window.uPlot(this.options(drawn, log), this.data, this.container);
  }

  options(lines, log) {
    const format = this.format;
    const xLabel = this.xLabel;
    return {
      ...this.size(),
      scales: { x: { time: false }, y: log ? { distr: 3 } : {} },
      legend: { live: true },
      cursor: { drag: { x: true, y: false } },
      series: [
        { label: xLabel, value: (u, value) => (value === null || value === undefined ? "—" : String(Number(value.toPrecision(4)))) },
        ...lines.map(({ label, stroke, xs }) => ({
          label,
          stroke,
          width: 2,
          spanGaps: true,
          // A short or sparse line (an eval loss every few steps) shows its points.
          points: { show: xs.length <= 24, size: 5, fill: stroke },
          value: (u, value) => (value === null || value === undefined ? "—" : format(value)),
        })),
      ],
      axes: [
        { label: xLabel, labelSize: 18, size: 36 },
        { size: 64, values: (u, values) => values.map(format) },
      ],
    };
  }

  destroyPlot() {
    if (this.plot) this.plot.destroy();
    this.plot = null;
  }

  destroy() {
    this.resize.disconnect();
    this.destroyPlot();
  }
}
