// One run, live: status, progress and ETA, loss and learning-rate charts, its objective's key
// curves (reward margin and accuracy for a preference run, mean reward for GRPO; the run document's
// key_curves), memory, events, log; and what it has and can do once it ends: evaluation scores
// and samples, artifacts, chats, configuration (run_details.js), and the app's actions
// (run_actions.js) with their background tasks (tasks.js). Points, events and status arrive on
// the run's stream; the log is re-read every few seconds while the run is active.

import { api } from "./api.js";
import { ACTIVE, RunActions } from "./run_actions.js";
import { StepChart } from "./charts.js";
import { banner, connection, el, fill } from "./dom.js";
import * as format from "./format.js";
import { RunData } from "./run_data.js";
import { RunDetails } from "./run_details.js";
import { RunLabels } from "./labels.js";
import { LiveStream } from "./sse.js";
import { TaskList } from "./tasks.js";
import { forTheBrowser } from "./wording.js";

const TICK_MS = 3000;
const RECHECK_TICKS = 10;
const LOG_LINES = 80;
const LEVELS = ["info", "warning", "error"];

export class RunPage {
  constructor(root, id, onError) {
    this.root = root;
    this.id = id;
    this.onError = onError;
    this.gone = false;
    this.ticks = 0;
    this.logAfterEnd = 0;
  }

  async mount() {
    fill(this.root, el("p", { class: "muted", text: `Loading run ${this.id}…` }));
    let run;
    try {
      run = await api.run(this.id);
    } catch (error) {
      if (!this.gone) this.onError(error);
      if (!this.gone) fill(this.root, el("p", {}, el("a", { href: "#/", text: "← All runs" })));
      return;
    }
    if (this.gone) return;
    this.data = new RunData(run);
    this.build();
    this.renderStatus();
    this.openStream();
    this.loadLog();
    this.details.load(this.data.run);
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  unmount() {
    this.gone = true;
    clearInterval(this.timer);
    if (this.stream) this.stream.stop();
    if (this.tasks) this.tasks.stop();
    for (const chart of [this.lossChart, this.rateChart, ...(this.keyCharts || []).map((entry) => entry.chart)]) {
      if (chart) chart.destroy();
    }
    connection("");
  }

  build() {
    const run = this.data.run;
    document.title = `tuitune · ${run.name}`;
    const node = (tag, id, cls) => el(tag, { id, class: cls });
    this.nodes = {
      status: node("span", "status", "status"),
      actions: node("div", null, "actions"),
      bar: el("div"),
      progress: node("p", "progress-line", "muted"),
      error: node("p", "run-error", "run-error error"),
      loss: node("div", "card-loss", "value"),
      evalLoss: node("div", "card-eval-loss", "value"),
      memory: node("div", "card-memory", "value"),
      speed: node("div", "card-speed", "value"),
      events: node("ol", "events", "events mono"),
      log: node("pre", "log", "lines"),
      tasks: node("ol", "tasks", "tasks"),
      details: node("div", "run-details", "details"),
    };
    const n = this.nodes;
    this.actions = new RunActions(n.actions, {
      onResumed: (answer) => this.resumed(answer),
      onTask: (task) => this.tasks.follow(task),
      onDeleted: (deleted, files) => this.deleted(deleted, files),
      onError: this.onError,
    });
    this.tasks = new TaskList(n.tasks, { onDone: () => this.reload(), onError: this.onError });
    this.details = new RunDetails(n.details, { onError: this.onError });
    this.labels = new RunLabels(run.id, this.onError);
    this.labels.show(run);
    n.tasks.hidden = true;
    const card = (label, value) => el("div", { class: "panel card" }, el("div", { class: "label", text: label }), value);
    const lossBox = el("div", { id: "loss-chart", class: "chart" });
    // A chart per key curve of the run's objective, beside the loss (none for sft).
    const keyBoxes = (run.key_curves || []).map((curve, index) => ({
      curve,
      box: el("div", { id: `key-chart-${index}`, class: "chart key-chart", "data-key": curve.key }),
    }));
    const keyPanels = keyBoxes.map(({ curve, box }) =>
      el("section", { class: "panel" }, el("h2", { text: curve.label[0].toUpperCase() + curve.label.slice(1) }), box));
    const rateBox = el("div", { id: "lr-chart", class: "chart" });
    fill(this.root,
      el("p", {}, el("a", { href: "#/", text: "← All runs" })),
      el("div", { class: "run-head" },
        el("h1", { id: "run-name", text: run.name }), el("span", { class: "muted", text: `#${run.id}` }), n.status, n.actions),
      el("p", { class: "facts", id: "run-facts", text: [run.model, run.method, `objective ${run.objective}`, run.dataset, `created ${format.when(run.created_at)}`].join(" · ") }),
      this.labels.node,
      el("div", { class: "progress" }, n.bar),
      n.progress,
      n.error,
      n.tasks,
      el("div", { class: "cards" }, card("Loss", n.loss), card("Eval loss (best)", n.evalLoss), card("GPU memory", n.memory), card("Tokens/s", n.speed)),
      el("div", { class: "grid2" },
        el("section", { class: "panel" }, el("h2", { text: "Loss and eval loss" }), lossBox),
        el("section", { class: "panel" }, el("h2", { text: "Learning rate" }), rateBox)),
      keyPanels.length ? el("div", { class: "grid2", id: "key-charts" }, keyPanels) : null,
      n.details,
      el("div", { class: "grid2" },
        el("section", { class: "panel" }, el("h2", { text: "Recent events" }), n.events),
        el("section", { class: "panel" }, el("h2", { text: "Log (worker.log, last lines)" }), n.log)));
    this.lossChart = new StepChart(lossBox, {
      series: [{ label: "loss", stroke: "#2f6fdb" }, { label: "eval loss", stroke: "#c2362b", sparse: true }],
      format: (value) => Number(value).toFixed(3),
      empty: "Waiting for the first logged step…",
    });
    this.rateChart = new StepChart(rateBox, {
      series: [{ label: "learning rate", stroke: "#1f8a4c" }],
      format: format.rate,
      empty: "Waiting for the first logged step…",
    });
    this.keyCharts = keyBoxes.map(({ curve, box }) => ({
      key: curve.key,
      chart: new StepChart(box, {
        series: [{ label: curve.label, stroke: "#7b4fc9" }, { label: `eval ${curve.label}`, stroke: "#c2362b", sparse: true }],
        format: curve.share ? format.share : format.measure,
        empty: "Waiting for the first logged step…",
      }),
    }));
  }

  get active() {
    return ACTIVE.includes(this.data.run.status);
  }

  openStream() {
    if (this.stream) this.stream.stop();
    this.stream = new LiveStream(`/runs/${this.id}/stream`, {
      lastEventId: this.data.resumeId(),
      onMessage: (message) => this.receive(message),
      onState: (state, error) => this.streamState(state, error),
    }).start();
  }

  receive(message) {
    const changed = this.data.apply(message);
    if (changed === "points") this.schedule();
    else if (changed === "events") this.renderEvents();
    else if (changed === "status") this.renderStatus();
    if (message.event === "end") {
      this.loadLog();
      this.reload();
    }
  }

  streamState(state, error) {
    const words = { live: "live", reconnecting: "reconnecting…", ended: "", refused: "" };
    connection(words[state] ?? "");
    if (state === "refused" && error) this.onError(error);
  }

  // Points arrive in bursts (a late page gets the whole history at once): draw once per frame.
  schedule() {
    if (this.drawing) return;
    this.drawing = true;
    requestAnimationFrame(() => {
      this.drawing = false;
      if (this.gone) return;
      const { steps, loss, evalLoss, learningRate } = this.data.columns();
      this.lossChart.set(steps, loss, evalLoss);
      this.rateChart.set(steps, learningRate);
      for (const { key, chart } of this.keyCharts) {
        const columns = this.data.keyColumns(key);
        chart.set(columns.steps, columns.values, columns.evaluated);
      }
      this.renderMemory();
      this.renderProgress();
    });
  }

  renderStatus() {
    const run = this.data.run;
    const n = this.nodes;
    n.status.className = `status ${run.status}`;
    n.status.textContent = run.in_queue && this.place ? `queued ${this.place}` : run.status;
    n.status.dataset.status = run.status;
    n.loss.textContent = format.loss(run.last_loss);
    n.evalLoss.textContent = format.loss(run.best_eval_loss ?? run.last_eval_loss);
    n.speed.textContent = format.count(run.tokens_per_second);
    n.error.textContent = run.error ? `Error: ${forTheBrowser(run.error)}` : "";
    n.error.hidden = !run.error;
    this.renderProgress();
    this.renderMemory();
    this.actions.render(this.data.run);
  }

  renderProgress() {
    const run = this.data.run;
    const share = run.steps_total ? Math.min(1, run.steps_done / run.steps_total) : 0;
    this.nodes.bar.style.width = `${(share * 100).toFixed(1)}%`;
    const parts = [`step ${format.steps(run.steps_done, run.steps_total)}`];
    if (run.epoch !== null && run.epoch !== undefined) parts.push(`epoch ${Number(run.epoch).toFixed(2)}`);
    parts.push(`elapsed ${format.duration(this.data.elapsed())}`);
    if (run.status === "running") parts.push(`ETA ${format.duration(this.data.eta())}`);
    if (run.in_queue) parts.push("waiting for a free slot");
    // A SLURM run: its job, where it runs, or why SLURM keeps it waiting.
    if (run.slurm_words) parts.unshift(`SLURM ${run.slurm_words}`);
    this.nodes.progress.textContent = parts.join(" · ");
  }

  renderMemory() {
    const { gpu, cpu, lastPoint } = this.data;
    let text = "—";
    if (gpu) text = `${format.gigabytes(gpu.now)} (peak ${format.gigabytes(gpu.peak)})`;
    else if (lastPoint) text = cpu ? `CPU run · ${format.gigabytes(cpu)} RAM` : "CPU run";
    this.nodes.memory.textContent = text;
  }

  renderEvents() {
    const list = this.nodes.events;
    const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
    fill(list, this.data.events.map((event) => el("li", {},
      el("span", { class: "when", text: format.when(event.time) }),
      el("span", { class: LEVELS.includes(event.level) ? event.level : null, text: forTheBrowser(event.message) }))));
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  /** The run is gone from the store: back to the list, saying so. */
  deleted(run, files) {
    location.hash = "#/";
    // After the route change, which clears the banner.
    setTimeout(() => banner(`Deleted run ${run.id} (${run.name})${files ? " and its folder" : ""}.`), 0);
  }

  /** A resume was accepted: show its status at once and follow the stream again. */
  resumed(answer) {
    const { status, in_queue } = answer;
    this.data.apply({ event: "status", data: { status, in_queue, error: null, cancel_requested: false, finished_at: null } });
    this.renderStatus();
    this.openStream();
  }

  async loadLog() {
    try {
      const text = await api.log(this.id, LOG_LINES);
      if (this.gone) return;
      const log = this.nodes.log;
      const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
      log.textContent = text || "(nothing logged yet)";
      if (atBottom) log.scrollTop = log.scrollHeight;
    } catch (error) {
      if (!this.gone) this.onError(error);
    }
  }

  /** Re-read the run (final figures at its end; a resume from another face starts the stream again). */
  async reload() {
    try {
      const run = await api.run(this.id);
      if (this.gone) return;
      const wasActive = this.active;
      Object.assign(this.data.run, run);
      this.renderStatus();
      if (!wasActive && this.active) this.openStream();
      this.details.load(this.data.run);
    } catch (error) {
      if (!this.gone) this.onError(error);
    }
  }

  async tick() {
    this.ticks += 1;
    if (!this.active) {
      // The worker writes its last log lines just after the run's status changes.
      if (this.logAfterEnd > 0) {
        this.logAfterEnd -= 1;
        this.loadLog();
      }
      // Now and then: was it resumed from another face? (GET /runs/{id} reads every point.)
      if (this.ticks % RECHECK_TICKS === 0) this.reload();
      return;
    }
    this.logAfterEnd = 2;
    this.loadLog();
    if (this.data.run.in_queue) {
      try {
        const queue = await api.queue();
        const entry = queue.queued.find((item) => item.id === this.id);
        this.place = entry ? `${entry.position}/${queue.queued.length}` : null;
        this.renderStatus();
      } catch (error) {
        if (!this.gone) this.onError(error);
      }
    } else {
      this.place = null;
    }
    this.renderProgress();
  }
}
