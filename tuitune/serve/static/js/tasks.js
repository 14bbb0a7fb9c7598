// Background tasks a page started (evaluate, merge, export, upload: `GET /tasks/{id}`), shown
// as one line each until they end, then handed to `onDone(task)`.

import { call } from "./api.js";
import { el, fill } from "./dom.js";
import { forTheBrowser } from "./wording.js";

const POLL_MS = 1000;
const WORDS = { running: "running…", completed: "done", failed: "failed" };

export class TaskList {
  constructor(container, { onDone, onError }) {
    this.container = container;
    this.onDone = onDone;
    this.onError = onError;
    this.tasks = new Map(); // id -> task
    this.timer = null;
  }

  /** Follow a task the server accepted (its answer to POST …/evaluate and the like). */
  follow(task) {
    this.tasks.set(task.id, task);
    this.render();
    if (!this.timer) this.timer = setInterval(() => this.poll(), POLL_MS);
  }

  get running() {
    return [...this.tasks.values()].filter((task) => task.status === "running");
  }

  async poll() {
    const running = this.running;
    if (!running.length) {
      clearInterval(this.timer);
      this.timer = null;
      return;
    }
    for (const task of running) {
      try {
        const now = await call("GET", `/tasks/${task.id}`);
        this.tasks.set(task.id, now);
        if (now.status !== "running") this.onDone(now);
      } catch (error) {
        this.onError(error);
      }
    }
    this.render();
  }

  render() {
    const tasks = [...this.tasks.values()].sort((a, b) => b.id - a.id);
    this.container.hidden = !tasks.length;
    fill(this.container, tasks.map((task) => el("li", { id: `task-${task.kind}`, "data-status": task.status },
      el("span", { class: `status ${task.status}`, text: `${task.kind} ${WORDS[task.status] ?? task.status}` }),
      task.error ? el("span", { class: "error", text: ` ${forTheBrowser(task.error)}` }) : null)));
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
  }
}
