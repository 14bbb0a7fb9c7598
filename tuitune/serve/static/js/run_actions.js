// The run page's buttons: cancel an active run; resume a stopped one, or train a finished one
// further, to a number of steps.

import { api } from "./api.js";
import { banner, el, fill } from "./dom.js";

export const ACTIVE = ["queued", "running"];
const RESUMABLE = ["cancelled", "failed", "crashed"];

export class RunActions {
  /** `onResumed(answer)` gets the server's answer to a resume; `onError(error)` any refusal. */
  constructor(container, { onResumed, onError }) {
    this.container = container;
    this.onResumed = onResumed;
    this.onError = onError;
  }

  render(run) {
    // Redrawn only when the choice changes, so a number being typed is not wiped out.
    const shown = ACTIVE.includes(run.status) ? `${run.status} ${run.cancel_requested}` : `${run.status} ${run.steps_done}`;
    if (shown === this.shown) return;
    this.shown = shown;
    const buttons = [];
    if (ACTIVE.includes(run.status)) {
      buttons.push(el("button", {
        type: "button", id: "cancel", class: "danger", disabled: run.cancel_requested,
        text: run.cancel_requested ? "Cancelling…" : "Cancel", onclick: () => this.cancel(run),
      }));
    } else if (RESUMABLE.includes(run.status) || run.status === "completed") {
      const further = run.status === "completed";
      const steps = el("input", {
        type: "number", id: "resume-steps", min: (run.steps_done || 0) + 1, step: 1,
        placeholder: further ? "to step…" : "to step (optional)", "aria-label": "Train to this many steps in all",
      });
      buttons.push(steps, el("button", {
        type: "button", id: "resume", class: "primary", text: further ? "Train further" : "Resume",
        onclick: () => this.resume(run, steps.value),
      }));
    }
    fill(this.container, buttons);
  }

  async cancel(run) {
    const what = run.status === "queued"
      ? "It has not started: it leaves the queue, nothing is trained (Resume starts it later)."
      : "It finishes its current step, saves a checkpoint and stops; you can resume it later.";
    if (!window.confirm(`Cancel run ${run.id} (${run.name})? ${what}`)) return;
    try {
      await api.cancel(run.id);
      run.cancel_requested = true;
      banner(null);
      this.render(run);
    } catch (error) {
      this.onError(error);
    }
  }

  async resume(run, stepsText) {
    if (run.status === "completed" && !stepsText) {
      banner("A completed run trains further to a number of steps: give the total to reach.");
      return;
    }
    try {
      const answer = await api.resume(run.id, stepsText ? { max_steps: Number(stepsText) } : {});
      banner(null);
      this.onResumed(answer);
    } catch (error) {
      this.onError(error);
    }
  }
}
