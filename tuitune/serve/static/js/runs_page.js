// The runs page: every run in the store, newest first, with queued runs' place in line.
// It re-reads one page of runs every few seconds (the API's GET /runs and GET /queue).

import { api } from "./api.js";
import { banner, el, fill } from "./dom.js";
import * as format from "./format.js";

const PAGE = 50;
const REFRESH_MS = 3000;
const STATUSES = ["queued", "running", "completed", "failed", "cancelled", "crashed"];
const COLUMNS = ["#", "Name", "Status", "Steps", "Loss", "Eval loss", "Model", "Method", "Objective", "Dataset", "Created"];

export class RunsPage {
  constructor(root, onError) {
    this.root = root;
    this.onError = onError;
    this.filter = { text: "", status: "" };
    this.offset = 0;
    this.gone = false;
  }

  mount() {
    document.title = "tuitune · runs";
    const search = el("input", { type: "search", id: "run-filter", placeholder: "Filter: name, model, method, dataset", "aria-label": "Filter runs", maxlength: 200 });
    const status = el("select", { id: "status-filter", "aria-label": "Status" },
      el("option", { value: "", text: "every status" }), STATUSES.map((name) => el("option", { value: name, text: name })));
    let typing = null;
    search.addEventListener("input", () => {
      clearTimeout(typing);
      typing = setTimeout(() => this.setFilter({ text: search.value.trim() }), 300);
    });
    status.addEventListener("change", () => this.setFilter({ status: status.value }));
    this.summary = el("span", { class: "summary", id: "runs-summary" });
    this.queueLine = el("p", { class: "muted", id: "queue-line" });
    this.table = el("div", { id: "runs" });
    this.pager = el("div", { class: "pager" });
    fill(this.root, el("div", { class: "toolbar" }, search, status, this.summary), this.queueLine, this.table, this.pager);
    this.refresh();
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

  async refresh() {
    if (this.loading) return;
    this.loading = true;
    try {
      const [page, queue] = await Promise.all([
        api.runs({ limit: PAGE, offset: this.offset, text: this.filter.text, status: this.filter.status }),
        api.queue(),
      ]);
      if (this.gone) return;
      banner(null); // the server answers again
      this.render(page, queue);
    } catch (error) {
      if (!this.gone) this.onError(error);
    } finally {
      this.loading = false;
    }
  }

  render(page, queue) {
    const places = new Map(queue.queued.map((entry) => [entry.id, entry.position]));
    const waiting = queue.queued.length;
    this.summary.textContent = `${page.total.toLocaleString("en")} run${page.total === 1 ? "" : "s"}`;
    this.queueLine.textContent =
      `Queue: ${waiting} waiting · ${queue.running.length} running · ${queue.slots_in_use}/${queue.slots} slots in use` +
      (queue.paused ? " · paused (nothing new starts)" : "");
    if (!page.runs.length) {
      const filtered = this.filter.text || this.filter.status;
      fill(this.table, el("div", { class: "empty panel" }, filtered
        ? "No run matches this filter."
        : "No runs yet. Runs started from the app, the command line or the API appear here as they start."));
    } else {
      fill(this.table, el("table", { class: "runs" },
        el("thead", {}, el("tr", {}, COLUMNS.map((name) => el("th", { scope: "col", text: name })))),
        el("tbody", {}, page.runs.map((run) => this.row(run, places.get(run.id), waiting)))));
    }
    this.renderPager(page);
  }

  row(run, place, waiting) {
    const cell = (label, text, cls) => el("td", { "data-label": label, class: cls, text });
    const status = place ? `queued ${place}/${waiting}` : run.status;
    return el("tr", { "data-run-id": run.id },
      cell("#", run.id, "num"),
      el("td", { "data-label": "Name", class: "name" }, el("a", { href: `#/runs/${Number(run.id)}`, text: run.name })),
      el("td", { "data-label": "Status" }, el("span", { class: `status ${run.status}`, text: status })),
      cell("Steps", format.steps(run.steps_done, run.steps_total), "num"),
      cell("Loss", format.loss(run.last_loss), "num"),
      cell("Eval loss", format.loss(run.best_eval_loss ?? run.last_eval_loss), "num"),
      cell("Model", run.model, "wrap"),
      cell("Method", run.method),
      cell("Objective", run.objective),
      cell("Dataset", run.dataset, "wrap"),
      cell("Created", format.when(run.created_at)));
  }

  renderPager(page) {
    const newer = el("button", { type: "button", text: "← Newer", disabled: page.offset === 0 });
    const older = el("button", { type: "button", text: "Older →", disabled: page.offset + page.limit >= page.total });
    newer.addEventListener("click", () => { this.offset = Math.max(0, this.offset - PAGE); this.refresh(); });
    older.addEventListener("click", () => { this.offset += PAGE; this.refresh(); });
    fill(this.pager, page.total > page.limit ? [newer, older] : []);
  }
}
