// The runs page: every run in the store, newest first or sorted by a column (a click on its
// header; again: the other way), filtered by words, status, model, method, objective and sweep,
// with queued runs' place in line. Runs ticked here are compared (#/compare/1,2,3).
// It re-reads one page of runs every few seconds (GET /runs and GET /queue); the server sorts and
// filters, with the same sort keys as the app's history (tuitune/runs/listing.py).

import { api } from "./api.js";
import { board } from "./board_api.js";
import { banner, el, fill } from "./dom.js";
import * as format from "./format.js";

const PAGE = 50;
const REFRESH_MS = 3000;
const MOST_COMPARED = 8; // GET /compare's limit
const STATUSES = ["queued", "running", "completed", "failed", "cancelled", "crashed"];

/** [label, sort key (GET /runs?sort=) or null]: the table's columns after the tick box. */
const COLUMNS = [
  ["#", "id"],
  ["Name", "name"],
  ["Status", "status"],
  ["Steps", "steps"],
  ["Loss", "loss"],
  ["Eval loss", "eval_loss"],
  ["Model", "model"],
  ["Method", "method"],
  ["Objective", "objective"],
  ["Dataset", "dataset"],
  ["Created", "created"],
  ["Duration", "duration"],
  ["Sweep", null],
];

/** The filters that are selects: [id, query parameter, label of "any"]. */
const SELECTS = [
  ["model-filter", "model", "every model"],
  ["method-filter", "method", "every method"],
  ["objective-filter", "objective", "every objective"],
];

export class RunsPage {
  constructor(root, onError) {
    this.root = root;
    this.onError = onError;
    this.filter = { text: "", status: "", model: "", method: "", objective: "", sweep: "" };
    this.sort = { key: null, descending: false };
    this.offset = 0;
    this.selected = new Set(); // run ids ticked to compare, kept across refreshes and pages
    this.shown = ""; // what was last drawn, so a refresh that changes nothing redraws nothing
    this.gone = false;
  }

  mount() {
    document.title = "tuitune · runs";
    const search = el("input", { type: "search", id: "run-filter", placeholder: "Filter: name, model, dataset, tag:NAME, note", "aria-label": "Filter runs", maxlength: 200 });
    const status = el("select", { id: "status-filter", "aria-label": "Status" },
      el("option", { value: "", text: "every status" }), STATUSES.map((name) => el("option", { value: name, text: name })));
    let typing = null;
    search.addEventListener("input", () => {
      clearTimeout(typing);
      typing = setTimeout(() => this.setFilter({ text: search.value.trim() }), 300);
    });
    status.addEventListener("change", () => this.setFilter({ status: status.value }));
    this.selects = {};
    for (const [id, key, any] of SELECTS) {
      const select = el("select", { id, "aria-label": key }, el("option", { value: "", text: any }));
      select.addEventListener("change", () => this.setFilter({ [key]: select.value }));
      this.selects[key] = { select, any };
    }
    const sweep = el("select", { id: "sweep-filter", "aria-label": "Sweep" }, el("option", { value: "", text: "every sweep" }));
    sweep.addEventListener("change", () => this.setFilter({ sweep: sweep.value }));
    this.sweepSelect = sweep;
    this.compareButton = el("button", { type: "button", id: "compare-selected", class: "primary", disabled: true, text: "Compare 0 selected" });
    this.compareButton.addEventListener("click", () => {
      location.hash = `#/compare/${[...this.selected].join(",")}`;
    });
    const newRun = el("a", { class: "button", id: "new-run", href: "#/new", text: "New run" });
    this.summary = el("span", { class: "summary", id: "runs-summary" });
    this.queueLine = el("p", { class: "muted", id: "queue-line" });
    this.table = el("div", { id: "runs" });
    this.pager = el("div", { class: "pager" });
    fill(this.root,
      el("div", { class: "toolbar" }, search, status, Object.values(this.selects).map(({ select }) => select), sweep),
      el("div", { class: "toolbar" }, newRun, this.compareButton, this.summary),
      this.queueLine, this.table, this.pager);
    this.refresh();
    this.loadSweeps();
    this.timer = setInterval(() => this.refresh(), REFRESH_MS);
  }

  unmount() {
    this.gone = true;
    clearInterval(this.timer);
  }

  setFilter(change) {
    Object.assign(this.filter, change);
    this.offset = 0;
    this.refresh();
  }

  sortBy(key) {
    // A new column starts ascending; the same one again reverses.
    this.sort = { key, descending: this.sort.key === key ? !this.sort.descending : false };
    this.offset = 0;
    this.refresh();
  }

  query() {
    const { text, status, model, method, objective, sweep } = this.filter;
    return {
      limit: PAGE, offset: this.offset, text, status, model, method, objective, sweep,
      sort: this.sort.key, order: this.sort.key ? (this.sort.descending ? "desc" : "asc") : null,
    };
  }

  async loadSweeps() {
    try {
      const sweeps = await board.sweeps();
      if (this.gone) return;
      const chosen = this.sweepSelect.value;
      fill(this.sweepSelect, el("option", { value: "", text: "every sweep" }),
        sweeps.map((sweep) => el("option", { value: sweep.id, text: `sweep ${sweep.id}: ${sweep.name}` })));
      this.sweepSelect.value = chosen;
      this.sweepSelect.hidden = !sweeps.length;
    } catch (error) {
      if (!this.gone) this.onError(error);
    }
  }

  async refresh() {
    if (this.loading) {
      this.again = true; // a filter changed while a read was under way: read once more after it
      return;
    }
    this.loading = true;
    try {
      const asked = JSON.stringify(this.query());
      const [page, queue] = await Promise.all([api.runs(this.query()), api.queue()]);
      if (this.gone) return;
      banner(null); // the server answers again
      if (asked === JSON.stringify(this.query())) this.render(page, queue, asked);
      else this.again = true;
    } catch (error) {
      if (!this.gone) this.onError(error);
    } finally {
      this.loading = false;
      if (this.again && !this.gone) {
        this.again = false;
        this.refresh();
      }
    }
  }

  render(page, queue, asked) {
    const drawn = JSON.stringify([asked, page, queue]);
    if (drawn === this.shown) return; // nothing changed: keep the focus and the hover where they are
    this.shown = drawn;
    this.fillChoices(page.choices || {});
    const places = new Map(queue.queued.map((entry) => [entry.id, entry.position]));
    const waiting = queue.queued.length;
    this.summary.textContent = `${page.total.toLocaleString("en")} run${page.total === 1 ? "" : "s"}`;
    fill(this.queueLine,
      `Queue: ${waiting} waiting · ${queue.running.length} running · ${queue.slots_in_use}/${queue.slots} slots in use` +
      (queue.paused ? " · paused (nothing new starts)" : "") + " · ",
      el("a", { href: "#/queue", text: "manage the queue" }));
    if (!page.runs.length) {
      const filtered = Object.values(this.filter).some(Boolean);
      fill(this.table, el("div", { class: "empty panel" }, filtered
        ? "No run matches this filter."
        : "No runs yet. Runs started from the app, the command line or the API appear here as they start."));
    } else {
      fill(this.table, el("table", { class: "runs" },
        el("thead", {}, el("tr", {}, el("th", { scope: "col", class: "tick", text: "" }), COLUMNS.map(([label, key]) => this.header(label, key)))),
        el("tbody", {}, page.runs.map((run) => this.row(run, places.get(run.id), waiting)))));
    }
    this.renderPager(page);
    this.updateCompare();
  }

  fillChoices(choices) {
    for (const [key, { select, any }] of Object.entries(this.selects)) {
      const values = choices[key] || [];
      const chosen = this.filter[key];
      const known = [...select.options].slice(1).map((option) => option.value);
      if (JSON.stringify(known) === JSON.stringify(values)) continue;
      fill(select, el("option", { value: "", text: any }), values.map((value) => el("option", { value, text: value })));
      select.value = values.includes(chosen) ? chosen : "";
    }
  }

  header(label, key) {
    if (!key) return el("th", { scope: "col", text: label });
    const here = this.sort.key === key;
    const arrow = here ? (this.sort.descending ? " ▼" : " ▲") : "";
    const button = el("button", { type: "button", class: "sort", "data-sort": key, text: `${label}${arrow}`,
      title: here ? "Sorted by this column: click to reverse" : `Sort by ${label.toLowerCase()}` });
    button.addEventListener("click", () => this.sortBy(key));
    return el("th", { scope: "col", "aria-sort": here ? (this.sort.descending ? "descending" : "ascending") : null }, button);
  }

  row(run, place, waiting) {
    const cell = (label, text, cls, title) => el("td", { "data-label": label, class: cls, text, title });
    const status = place ? `queued ${place}/${waiting}` : run.status;
    const tick = el("input", { type: "checkbox", class: "pick", "aria-label": `Compare run ${run.id}`, checked: this.selected.has(run.id) });
    tick.addEventListener("change", () => {
      if (tick.checked) this.selected.add(run.id);
      else this.selected.delete(run.id);
      this.updateCompare();
    });
    return el("tr", { "data-run-id": run.id },
      el("td", { "data-label": "Compare", class: "tick" }, tick),
      cell("#", run.id, "num"),
      el("td", { "data-label": "Name", class: "name" }, el("a", { href: `#/runs/${Number(run.id)}`, text: run.name }),
        (run.tags || []).map((tag) => el("span", { class: "tag", text: tag }))),
      el("td", { "data-label": "Status" }, el("span", { class: `status ${run.status}`, text: status })),
      cell("Steps", format.steps(run.steps_done, run.steps_total), "num"),
      cell("Loss", format.loss(run.last_loss), "num"),
      cell("Eval loss", format.loss(run.best_eval_loss ?? run.last_eval_loss), "num"),
      cell("Model", run.model, "wrap"),
      cell("Method", run.method),
      cell("Objective", run.objective),
      cell("Dataset", run.dataset, "wrap"),
      cell("Created", format.when(run.created_at), null, run.created_at),
      cell("Duration", format.duration(run.duration_seconds), "num",
        run.started_at ? `started ${run.started_at}${run.finished_at ? `, finished ${run.finished_at}` : ""}` : "not started"),
      el("td", { "data-label": "Sweep" }, run.sweep_id === null || run.sweep_id === undefined
        ? "—" : el("a", { href: `#/sweeps/${Number(run.sweep_id)}`, class: "sweep-link", text: `sweep ${run.sweep_id}` })));
  }

  updateCompare() {
    const count = this.selected.size;
    this.compareButton.textContent = `Compare ${count} selected`;
    this.compareButton.disabled = count < 2 || count > MOST_COMPARED;
    this.compareButton.title = count > MOST_COMPARED ? `Compare at most ${MOST_COMPARED} runs at once.` : (count < 2 ? "Tick two runs or more." : "");
  }

  renderPager(page) {
    const newer = el("button", { type: "button", text: "← Previous", disabled: page.offset === 0 });
    const older = el("button", { type: "button", text: "Next →", disabled: page.offset + page.limit >= page.total });
    newer.addEventListener("click", () => { this.offset = Math.max(0, this.offset - PAGE); this.refresh(); });
    older.addEventListener("click", () => { this.offset += PAGE; this.refresh(); });
    fill(this.pager, page.total > page.limit ? [newer, older] : []);
  }
}
