// What the run page knows about one run, built from the stream's messages. No drawing here.

const RECENT_EVENTS = 200;
// The ETA's pace is measured over this many logged steps: enough to average out evaluations,
// few enough to forget a pause (a cancel and a resume) soon.
const PACE_WINDOW = 50;

export class RunData {
  constructor(run) {
    this.run = run; // GET /runs/{id}, then kept current by `status` messages
    this.byStep = new Map(); // step -> {loss, eval_loss, learning_rate, extra: {name: value}}
    this.extraNames = new Set(); // every other metric the trainer logged (rewards/margins, reward, …)
    this.pace = []; // {step, time} of the latest training points, for the ETA
    this.events = [];
    this.lastPoint = 0;
    this.lastEvent = 0;
    this.pointsSeen = 0; // how many points the stream has given since the run's last restart
    this.gpu = null; // {now, peak} in GB, from the points' gpu_memory_gb
    this.cpu = null;
    this.lastTime = null;
  }

  /** Apply one stream message; returns what changed ("points", "events", "status") or null. */
  apply({ event, data }) {
    if (event === "point") return this.point(data, data.id) ? "points" : null;
    if (event === "event") return this.event(data, data.id) ? "events" : null;
    if (event === "restart") {
      // Resumed: the points after its checkpoint were replaced, and all of them follow again.
      this.byStep.clear();
      this.extraNames.clear();
      this.pace = [];
      this.lastPoint = 0;
      this.pointsSeen = 0;
      this.gpu = null;
      return "points";
    }
    if (event === "status" || event === "end") {
      if (data.status === "running" && this.run.status !== "running") this.pace = []; // the wait is not training time
      Object.assign(this.run, data);
      return "status";
    }
    return null;
  }

  // Points and events carry their store ids: anything seen already (a reconnect's overlap) is skipped.
  point(point, id) {
    if (id <= this.lastPoint) return false;
    this.lastPoint = id;
    this.pointsSeen += 1;
    const entry = this.byStep.get(point.step) || { loss: null, eval_loss: null, learning_rate: null, extra: {} };
    for (const key of ["loss", "eval_loss", "learning_rate"]) if (point[key] !== null && point[key] !== undefined) entry[key] = point[key];
    // A training point and its step's evaluation each bring their own names (`eval_` before the latter's).
    for (const [name, value] of Object.entries(point.extra || {})) {
      if (value === null || value === undefined) continue;
      entry.extra[name] = value;
      this.extraNames.add(name);
    }
    this.byStep.set(point.step, entry);
    if (point.loss !== null) {
      const last = this.pace[this.pace.length - 1];
      if (last && point.step <= last.step) this.pace = []; // resumed from an earlier checkpoint
      this.pace.push({ step: point.step, time: Date.parse(point.time) });
      if (this.pace.length > PACE_WINDOW) this.pace.shift();
    }
    if (point.gpu_memory_gb !== null && point.gpu_memory_gb !== undefined) {
      this.gpu = { now: point.gpu_memory_gb, peak: Math.max(point.gpu_memory_gb, this.gpu ? this.gpu.peak : 0) };
    }
    if (point.cpu_memory_gb !== null && point.cpu_memory_gb !== undefined) this.cpu = point.cpu_memory_gb;
    this.lastTime = Date.parse(point.time);
    return true;
  }

  event(event, id) {
    if (id <= this.lastEvent) return false;
    this.lastEvent = id;
    this.events.push(event);
    if (this.events.length > RECENT_EVENTS) this.events.shift();
    return true;
  }

  /** Columns for the charts: steps ascending, then loss, eval loss, learning rate, and `extra`:
   *  {name: column} for every other metric logged (null at the steps that did not log it). */
  columns() {
    const steps = [...this.byStep.keys()].sort((a, b) => a - b);
    const column = (key) => steps.map((step) => this.byStep.get(step)[key]);
    const extra = {};
    for (const name of [...this.extraNames].sort()) extra[name] = steps.map((step) => this.byStep.get(step).extra[name] ?? null);
    return { steps, loss: column("loss"), evalLoss: column("eval_loss"), learningRate: column("learning_rate"), extra };
  }

  /** One key curve's columns: the steps that logged it (in training or in an evaluation, under
   *  `eval_` + its name), its values there and the evaluation's (null where a step has none). */
  keyColumns(key) {
    const logged = (step) => this.byStep.get(step).extra;
    const steps = [...this.byStep.keys()]
      .sort((a, b) => a - b)
      .filter((step) => logged(step)[key] !== undefined || logged(step)[`eval_${key}`] !== undefined);
    return {
      steps,
      values: steps.map((step) => logged(step)[key] ?? null),
      evaluated: steps.map((step) => logged(step)[`eval_${key}`] ?? null),
    };
  }

  /** Seconds left at the recent pace, evaluations included (server clock only); null when unknown. */
  eta() {
    const { steps_done: done, steps_total: total, status } = this.run;
    if (status !== "running" || !total || this.pace.length < 2) return null;
    const first = this.pace[0];
    const last = this.pace[this.pace.length - 1];
    const perStep = (last.time - first.time) / 1000 / (last.step - first.step);
    return Number.isFinite(perStep) ? Math.max(0, (total - done) * perStep) : null;
  }

  /** Seconds since the run started: to its end, or to its latest point while it runs. */
  elapsed() {
    const started = Date.parse(this.run.started_at || "");
    if (Number.isNaN(started)) return null;
    const end = this.run.finished_at ? Date.parse(this.run.finished_at) : this.lastTime;
    return end ? Math.max(0, (end - started) / 1000) : null;
  }

  /** The id to reconnect after ("point.event.seen"), so nothing drawn already is sent again, and a
   *  resume that replaced points meanwhile is noticed (the server says `restart`). */
  resumeId() {
    return this.lastPoint || this.lastEvent ? `${this.lastPoint}.${this.lastEvent}.${this.pointsSeen}` : "";
  }
}
