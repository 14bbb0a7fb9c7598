// The queue (#/queue): what trains now, the waiting runs in order with buttons to move them
// (Move up, Move down, To the top: plain buttons, reached with Tab), pause and unpause, and the
// number of slots. Through the run service the app and the CLI use (GET /queue, POST
// /queue/{id}/move, /queue/pause, /queue/slots). It re-reads the queue every few seconds and
// redraws only what changed, never the slots box while it is being typed in.

import { api, ApiError } from "./api.js";
import { board } from "./board_api.js";
import { banner, el, fill } from "./dom.js";
import * as format from "./format.js";
import { forTheBrowser } from "./wording.js";

const REFRESH_MS = 3000;

export class QueuePage {
  constructor(root, params, onError) {
    this.root = root;
    this.onError = onError;
    this.shown = "";
    this.gone = false;
  }

  mount() {
    document.title = "tuitune · queue";
    this.state = el("p", { id: "queue-state", class: "facts" });
    this.pauseButton = el("button", { type: "button", id: "queue-pause", text: "Pause" });
    this.pauseButton.addEventListener("click", () => this.act(() => board.pause(!this.queue.paused)));
    this.slots = el("input", { type: "number", id: "slots-input", min: 1, step: 1, "aria-label": "Slots", inputmode: "numeric" });
    this.slots.addEventListener("input", () => { this.slotsTyped = true; });
    const setSlots = el("button", { type: "button", id: "slots-set", text: "Set" });
    const slotsForm = el("form", { class: "inline-form", id: "slots-form" },
      el("label", { for: "slots-input", text: "Slots " }), this.slots, setSlots);
    slotsForm.addEventListener("submit", (event) => { event.preventDefault(); this.setSlots(); });
    setSlots.addEventListener("click", (event) => { event.preventDefault(); this.setSlots(); });
    const auto = el("button", { type: "button", id: "slots-auto", text: "One per GPU", title: "Back to the default: one slot per GPU (one without)." });
    auto.addEventListener("click", () => this.act(async () => {
      await board.slots(null);
      this.slotsTyped = false;
    }));
    this.slotsError = el("span", { class: "error", id: "slots-error", role: "alert" });
    this.running = el("div", { id: "queue-running" });
    this.waiting = el("div", { id: "queue-waiting" });
    fill(this.root,
      el("p", {}, el("a", { href: "#/", text: "← All runs" })),
      el("h1", { text: "Queue" }),
      this.state,
      el("div", { class: "toolbar" }, this.pauseButton, slotsForm, auto, this.slotsError),
      el("section", { class: "panel compare-section" }, el("h2", { text: "Training now" }), this.running),
      el("section", { class: "panel compare-section" }, el("h2", { text: "Waiting, in order" }), this.waiting));
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
      const queue = await board.queue();
      // The runs training now, by name (the queue document lists their ids).
      const running = queue.running.length ? (await api.runs({ status: "running", limit: 100 })).runs : [];
      if (this.gone) return;
      banner(null);
      this.render(queue, running);
    } catch (error) {
      if (!this.gone) this.onError(error);
    } finally {
      this.loading = false;
    }
  }

  /** Do `action`, show a refusal in the server's words, then read the queue again. */
  async act(action) {
    try {
      await action();
      banner(null);
    } catch (error) {
      this.onError(error);
    }
    this.shown = "";
    await this.refresh();
  }

  async setSlots() {
    const count = Number(this.slots.value);
    if (this.slots.value.trim() === "" || !Number.isInteger(count)) {
      this.slotsError.textContent = "Give a whole number of slots (or press One per GPU).";
      return;
    }
    this.slotsError.textContent = "";
    try {
      await board.slots(count);
      this.slotsTyped = false;
    } catch (error) {
      // A refusal names the limits (the engine's, declared there once): said beside the box.
      if (error instanceof ApiError) this.slotsError.textContent = forTheBrowser(error.message);
      else this.onError(error);
      return;
    }
    this.shown = "";
    this.refresh();
  }

  render(queue, running) {
    this.queue = queue;
    if (!this.slotsTyped && document.activeElement !== this.slots) this.slots.value = String(queue.slots);
    const drawn = JSON.stringify([queue, running.map((run) => [run.id, run.name, run.steps_done, run.steps_total])]);
    if (drawn === this.shown) return;
    this.shown = drawn;
    this.state.textContent = `${queue.queued.length} waiting · ${queue.slots_in_use} of ${queue.slots} slots in use` +
      (queue.paused ? " · paused: nothing new starts" : "");
    this.state.dataset.paused = String(queue.paused);
    this.pauseButton.textContent = queue.paused ? "Unpause" : "Pause";
    this.pauseButton.title = queue.paused ? "Start waiting runs again as slots free up." : "Start nothing new; running runs go on.";

    fill(this.running, running.length
      ? el("ul", { class: "plain" }, running.map((run) => el("li", { "data-run-id": run.id },
        el("a", { href: `#/runs/${Number(run.id)}`, text: `#${run.id} ${run.name}` }),
        el("span", { class: "muted", text: ` · step ${format.steps(run.steps_done, run.steps_total)} · ${run.method} · ${run.model}` }))))
      : el("p", { class: "muted", text: "Nothing trains now." }));

    const focused = document.activeElement?.closest?.("li[data-run-id]");
    const keep = focused ? [Number(focused.dataset.runId), document.activeElement.dataset.move] : null;
    const count = queue.queued.length;
    fill(this.waiting, count
      ? el("ol", { class: "queue-list", id: "queue-list" }, queue.queued.map((entry) => this.entry(entry, count)))
      : el("p", { class: "muted", text: "Nothing waits. Runs added with “Add to queue” (New run) wait here for a free slot." }));
    if (keep) this.refocus(...keep);
  }

  entry(entry, count) {
    const button = (move, text, to, disabled) => {
      const node = el("button", { type: "button", class: `move ${move}`, "data-move": move, text, disabled,
        "aria-label": `${text}: #${entry.id} ${entry.name}` });
      node.addEventListener("click", () => this.move(entry.id, to, move));
      return node;
    };
    return el("li", { "data-run-id": entry.id },
      el("span", { class: "place", text: `${entry.position}` }),
      el("span", { class: "what" },
        el("a", { href: `#/runs/${Number(entry.id)}`, text: `#${entry.id} ${entry.name}` }),
        el("span", { class: "muted", text: ` · ${entry.method} · ${entry.model}` +
          (entry.requested_gpus ? ` · GPUs ${entry.requested_gpus}` : "") +
          (entry.sweep_id !== null && entry.sweep_id !== undefined ? ` · sweep ${entry.sweep_id}` : "") +
          ` · queued ${format.when(entry.created_at)}` })),
      el("span", { class: "moves" },
        button("up", "Move up", entry.position - 1, entry.position === 1),
        button("down", "Move down", entry.position + 1, entry.position === count),
        button("top", "To the top", 1, entry.position === 1)));
  }

  async move(id, to, how) {
    await this.act(() => board.move(id, to));
    this.refocus(id, how);
  }

  /** Keep the keyboard where it was: on the moved run's same button (or another of its buttons). */
  refocus(id, how) {
    const row = this.waiting.querySelector(`li[data-run-id="${Number(id)}"]`);
    if (!row) return;
    const buttons = [...row.querySelectorAll("button")];
    const target = buttons.find((node) => node.dataset.move === how && !node.disabled) || buttons.find((node) => !node.disabled);
    if (target) target.focus();
  }
}
