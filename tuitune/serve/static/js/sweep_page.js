// A sweep's page (#/sweeps/ID): its grid, its runs ranked by a chosen measure (GET /sweeps/ID?by=,
// as `tuitune sweep show --json` ranks them), each linking to its page, and "Compare the top N".
// It re-reads the ranking every few seconds while runs of the sweep train.

import { board } from "./board_api.js";
import { banner, el, fill } from "./dom.js";
import * as format from "./format.js";

const REFRESH_MS = 5000;
const MOST_COMPARED = 8; // GET /compare's limit

function shownValue(value) {
  if (value === null || value === undefined) return "—";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

export class SweepPage {
  constructor(root, params, onError) {
    this.root = root;
    this.id = params.id;
    this.onError = onError;
    this.by = "eval_loss";
    this.shown = "";
    this.gone = false;
  }

  mount() {
    document.title = `tuitune · sweep ${this.id}`;
    this.title = el("h1", { id: "sweep-name", text: `Sweep ${this.id}` });
    this.facts = el("p", { class: "facts", id: "sweep-facts" });
    this.grid = el("dl", { class: "sweep-grid", id: "sweep-grid" });
    this.rankBy = el("select", { id: "rank-by", "aria-label": "Rank by" }, el("option", { value: this.by, text: `rank by ${this.by}` }));
    this.rankBy.addEventListener("change", () => { this.by = this.rankBy.value; this.refresh(); });
    this.top = el("input", { type: "number", id: "top-n", min: 2, max: MOST_COMPARED, value: 3, "aria-label": "How many of the best runs to compare" });
    this.compareButton = el("button", { type: "button", class: "primary", id: "compare-top", text: "Compare the top 3" });
    this.top.addEventListener("input", () => this.updateCompare());
    this.compareButton.addEventListener("click", () => {
      const ids = this.topIds();
      if (ids.length >= 2) location.hash = `#/compare/${ids.join(",")}`;
    });
    this.table = el("div", { id: "sweep-runs" });
    fill(this.root,
      el("p", {}, el("a", { href: "#/", text: "← All runs" })),
      this.title, this.facts,
      el("section", { class: "panel compare-section" }, el("h2", { text: "Grid" }), this.grid),
      el("div", { class: "toolbar" }, this.rankBy, el("label", { class: "inline", for: "top-n" }, "Top "), this.top, this.compareButton),
      this.table);
    this.refresh();
    this.timer = setInterval(() => this.refresh(), REFRESH_MS);
  }

  unmount() {
    this.gone = true;
    clearInterval(this.timer);
  }

  async refresh() {
    if (this.loading) return;
    this.loading = true;
    try {
      const by = this.by;
      const ranking = await board.sweep(this.id, by);
      if (this.gone || by !== this.by) return;
      banner(null);
      this.render(ranking);
    } catch (error) {
      if (this.gone) return;
      this.onError(error);
      if (error.status === 404) clearInterval(this.timer); // no such sweep: asking again will not find it
    } finally {
      this.loading = false;
    }
  }

  render(ranking) {
    const drawn = JSON.stringify(ranking);
    if (drawn === this.shown) return;
    this.shown = drawn;
    this.ranking = ranking;
    const { sweep } = ranking;
    document.title = `tuitune · sweep ${sweep.id}: ${sweep.name}`;
    this.title.textContent = `Sweep ${sweep.id}: ${sweep.name}`;
    const statuses = {};
    for (const run of ranking.runs) statuses[run.status] = (statuses[run.status] || 0) + 1;
    this.facts.textContent = `${ranking.runs.length} runs (${Object.entries(statuses).map(([status, n]) => `${n} ${status}`).join(", ")}) · created ${format.when(sweep.created_at)}`;
    fill(this.grid, Object.entries(sweep.grid).map(([key, values]) =>
      [el("dt", { text: key }), el("dd", { text: values.map(shownValue).join(", ") })]).flat());
    const measure = ranking.measures.find((entry) => entry.key === ranking.by);
    if (this.rankBy.options.length !== ranking.measures.length) {
      fill(this.rankBy, ranking.measures.map((entry) =>
        el("option", { value: entry.key, text: `rank by ${entry.key} (${entry.lower_is_better ? "lower" : "higher"} is better)` })));
      this.rankBy.value = this.by;
    }
    const keys = Object.keys(sweep.grid);
    const valueLabel = `${ranking.by}${measure ? (measure.lower_is_better ? " ↓" : " ↑") : ""}`;
    const cell = (label, text, cls) => el("td", { "data-label": label, class: cls, text });
    fill(this.table, el("table", { class: "runs" },
      el("thead", {}, el("tr", {}, ["Rank", "#", "Name", ...keys, valueLabel, "Status", "Steps"].map((name) => el("th", { scope: "col", text: name })))),
      el("tbody", {}, ranking.runs.map((run) => el("tr", { "data-run-id": run.id },
        cell("Rank", run.rank ?? "—", "num"),
        cell("#", run.id, "num"),
        el("td", { "data-label": "Name", class: "name" }, el("a", { href: `#/runs/${Number(run.id)}`, text: run.name })),
        keys.map((key) => cell(key.split(".").pop(), shownValue(run.settings[key]), "num")),
        cell(ranking.by, run.value === null ? "—" : format.measure(run.value), "num value"),
        el("td", { "data-label": "Status" }, el("span", { class: `status ${run.status}`, text: run.status })),
        cell("Steps", format.count(run.steps), "num"))))));
    this.updateCompare();
  }

  /** The best `N` runs by the measure; runs not measured yet come after, in the ranking's order. */
  topIds() {
    const wanted = Math.min(Math.max(Math.round(Number(this.top.value) || 0), 0), MOST_COMPARED);
    return (this.ranking?.runs || []).slice(0, wanted).map((run) => run.id);
  }

  updateCompare() {
    const ids = this.topIds();
    this.compareButton.textContent = `Compare the top ${ids.length}`;
    this.compareButton.disabled = ids.length < 2;
  }
}
