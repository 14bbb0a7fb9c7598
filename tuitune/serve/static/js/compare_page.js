// The compare page (#/compare/1,2,3): the runs' curves overlaid (training and eval loss, and the
// key curves of their objectives), x by step or by epoch, smoothed like TensorBoard, on a linear
// or a log axis; their figures side by side; the settings that differ, and where the runs came from
// when that differs (their data's versions, weights, versions, git). What GET /compare answers
// (`tuitune compare --json`). Each run keeps one colour on every chart and table.

import { board } from "./board_api.js";
import { banner, el, fill } from "./dom.js";
import * as format from "./format.js";
import { OverlayChart, smooth } from "./overlay_chart.js";
import { colourOf, swatch } from "./palette.js";

const EVAL_PREFIX = "eval_"; // an evaluation's key curve: eval_rewards/margins (tuitune/runs/metrics.py)

/** The smallest training loss a run logged (its curve holds every logged point). */
function lowest(points) {
  const losses = points.map((point) => point.loss).filter((loss) => loss !== null && loss !== undefined);
  return losses.length ? Math.min(...losses) : null;
}

function shownValue(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

export class ComparePage {
  constructor(root, params, onError) {
    this.root = root;
    this.ids = params.ids;
    this.onError = onError;
    this.charts = [];
    this.view = { x: "step", smoothing: 0, log: false };
    this.gone = false;
  }

  async mount() {
    document.title = "tuitune · compare";
    fill(this.root, el("p", { class: "muted", text: "Reading the runs…" }));
    let comparison;
    try {
      comparison = await board.compare(this.ids);
    } catch (error) {
      if (this.gone) return;
      this.onError(error);
      fill(this.root, el("p", {}, el("a", { href: "#/", text: "← All runs" })));
      return;
    }
    if (this.gone) return;
    banner(null);
    this.comparison = comparison;
    this.render();
  }

  unmount() {
    this.gone = true;
    for (const chart of this.charts) chart.destroy();
    this.charts = [];
  }

  render() {
    const { runs } = this.comparison;
    document.title = `tuitune · compare ${runs.map((run) => run.run_id).join(", ")}`;
    const legend = el("ul", { class: "compare-legend", id: "compare-runs" }, runs.map((run, place) =>
      el("li", { "data-run-id": run.run_id }, swatch(place),
        el("a", { href: `#/runs/${Number(run.run_id)}`, text: `#${run.run_id} ${run.name}` }),
        el("span", { class: "muted", text: ` ${run.method} · ${run.objective} · ${run.status}` }))));

    const x = el("select", { id: "compare-x", "aria-label": "x axis" },
      el("option", { value: "step", text: "x: step" }), el("option", { value: "epoch", text: "x: epoch" }));
    x.addEventListener("change", () => { this.view.x = x.value; this.draw(); });
    const smoothing = el("input", { type: "range", id: "compare-smoothing", min: 0, max: 0.99, step: 0.01, value: 0, "aria-label": "Smoothing" });
    const smoothingValue = el("output", { id: "compare-smoothing-value", for: "compare-smoothing", text: "0.00" });
    smoothing.addEventListener("input", () => {
      this.view.smoothing = Number(smoothing.value);
      smoothingValue.textContent = this.view.smoothing.toFixed(2);
      this.draw();
    });
    const log = el("input", { type: "checkbox", id: "compare-log" });
    log.addEventListener("change", () => { this.view.log = log.checked; this.draw(); });
    const controls = el("div", { class: "toolbar compare-controls" },
      x,
      el("label", { class: "inline", for: "compare-smoothing" }, "Smoothing ", smoothing, " ", smoothingValue),
      el("label", { class: "inline" }, log, " log scale (losses)"));

    const lossChart = el("div", { class: "chart", id: "compare-loss" });
    const evalChart = el("div", { class: "chart", id: "compare-eval" });
    this.lossChart = new OverlayChart(lossChart, { format: format.loss, empty: "No training loss logged." });
    this.evalChart = new OverlayChart(evalChart, { format: format.loss, empty: "No evaluation loss logged." });
    this.keyCharts = this.comparison.key_curves.map((curve, index) => {
      const node = el("div", { class: "chart", id: `compare-key-${index}`, "data-key": curve.key });
      const chart = new OverlayChart(node, { format: curve.share ? format.share : format.measure, empty: `No ${curve.label} logged.` });
      return { curve, node, chart };
    });
    this.charts = [this.lossChart, this.evalChart, ...this.keyCharts.map(({ chart }) => chart)];

    fill(this.root,
      el("p", {}, el("a", { href: "#/", text: "← All runs" })),
      el("h1", { text: `Comparing ${runs.length} runs` }),
      legend,
      controls,
      el("div", { class: "grid2" },
        el("section", { class: "panel" }, el("h2", { text: "Training loss" }), lossChart),
        el("section", { class: "panel" }, el("h2", { text: "Eval loss" }), evalChart)),
      this.keyCharts.length ? el("div", { class: "grid2", id: "compare-key-charts" }, this.keyCharts.map(({ curve, node }) =>
        el("section", { class: "panel" }, el("h2", { text: curve.label[0].toUpperCase() + curve.label.slice(1) }),
          curve.run_ids.length < runs.length ? el("p", { class: "muted", text: `only ${curve.run_ids.map((id) => `#${id}`).join(", ")}` }) : null,
          node))) : null,
      el("section", { class: "panel compare-section" }, el("h2", { text: "Figures" }), this.metricsTable()),
      el("section", { class: "panel compare-section" }, el("h2", { text: "Settings that differ" }), this.differencesTable()),
      this.lineageList());
    this.draw();
  }

  /** Each run's points against the chosen x (points without an epoch drop out by epoch). */
  lines(valueOf, runIds = null) {
    const { runs, curves } = this.comparison;
    return runs.map((run, place) => {
      if (runIds && !runIds.includes(run.run_id)) return null;
      const points = (curves[String(run.run_id)] || [])
        .filter((point) => valueOf(point) !== null && valueOf(point) !== undefined)
        .filter((point) => this.view.x === "step" || (point.epoch !== null && point.epoch !== undefined));
      const xs = points.map((point) => (this.view.x === "step" ? point.step : point.epoch));
      return { label: `#${run.run_id} ${run.name}`, stroke: colourOf(place), xs, ys: smooth(points.map(valueOf), this.view.smoothing) };
    }).filter(Boolean);
  }

  draw() {
    const xLabel = this.view.x;
    this.lossChart.set(this.lines((point) => point.loss), { xLabel, log: this.view.log });
    this.evalChart.set(this.lines((point) => point.eval_loss), { xLabel, log: this.view.log });
    for (const { curve, chart } of this.keyCharts) {
      // A key curve's training values and its evaluations' are one line per run: trained where logged.
      const valueOf = (point) => point.extra?.[curve.key] ?? point.extra?.[EVAL_PREFIX + curve.key] ?? null;
      chart.set(this.lines(valueOf, curve.run_ids), { xLabel });
    }
  }

  /** A table with one column per run, each headed by its colour; `rows` are [label, cells…]. */
  table(id, rows) {
    const { runs } = this.comparison;
    const label = (run) => `#${run.run_id} ${run.name}`;
    return el("div", { class: "compare-scroll" }, el("table", { class: "runs compare-table", id },
      el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "" }),
        runs.map((run, place) => el("th", { scope: "col", "data-run-id": run.run_id }, swatch(place), label(run))))),
      el("tbody", {}, rows.map(([name, attrs, values]) => el("tr", attrs,
        el("th", { scope: "row", text: name }),
        values.map((value, place) => el("td", { "data-label": label(runs[place]), "data-run-id": runs[place].run_id, class: "num", text: value })))))));
  }

  metricsTable() {
    const { runs, curves, metrics, key_curves: keyCurves } = this.comparison;
    const row = (name, key, valueOf) => [name, { "data-metric": key }, runs.map(valueOf)];
    const rows = [
      row("Status", "status", (run) => run.status),
      row("Steps", "steps", (run) => format.count(run.steps)),
      row("Final loss", "train_loss", (run) => format.loss(run.train_loss)),
      row("Lowest loss", "min_loss", (run) => format.loss(lowest(curves[String(run.run_id)] || []))),
      row("Last eval loss", "eval_loss", (run) => format.loss(run.eval_loss)),
      row("Best eval loss", "best_eval_loss", (run) => format.loss(run.best_eval_loss)),
      row("Tokens/s", "tokens_per_second", (run) => format.count(run.tokens_per_second)),
      row("Duration", "duration", (run) => format.duration(run.duration_seconds)),
      ...keyCurves.map((curve) => row(curve.label, curve.key, (run) => {
        const value = run.key_values?.[curve.key];
        return curve.share ? format.share(value) : format.measure(value);
      })),
      // An evaluation's score: the base model's, then the fine-tuned one's.
      ...metrics.map((name) => row(`${name} (base → fine-tuned)`, `score-${name}`, (run) => {
        const tuned = run.scores?.[name];
        const base = run.base_scores?.[name];
        if (tuned === undefined) return "—";
        return base === undefined ? format.measure(tuned) : `${format.measure(base)} → ${format.measure(tuned)}`;
      })),
    ];
    return this.table("compare-metrics", rows);
  }

  /** Where the runs came from, where it differs (data versions, weights, versions, git): words, as text. */
  lineageList() {
    const lines = this.comparison.lineage_differences || [];
    if (!lines.length) return null;
    return el("section", { class: "panel compare-section" }, el("h2", { text: "Where they came from differs" }),
      el("ul", { id: "compare-lineage" }, lines.map((line) => el("li", { text: line }))));
  }

  differencesTable() {
    const entries = Object.entries(this.comparison.differences);
    if (!entries.length) return el("p", { class: "muted", id: "compare-differences", text: "The runs were trained with the same settings." });
    return this.table("compare-differences",
      entries.map(([key, values]) => [key, { "data-key": key }, values.map(shownValue)]));
  }
}
