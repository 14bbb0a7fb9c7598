// The run page's buttons, as the app's actions: cancel an active run; resume a stopped one, or
// train a finished one further, to a number of steps; and for a completed run evaluate, merge,
// export, upload and chat; delete any run that is not active. Each asks what the app asks
// before doing it, and a refusal shows the server's words.

import { api, call } from "./api.js";
import { ask } from "./dialogs.js";
import { banner, el, fill } from "./dom.js";

export const ACTIVE = ["queued", "running"];
const RESUMABLE = ["cancelled", "failed", "crashed"];

export class RunActions {
  /** `onResumed(answer)` gets the server's answer to a resume, `onTask(task)` a background task it
   *  accepted, `onDeleted()` follows a delete; `onError(error)` any refusal. */
  constructor(container, { onResumed, onTask, onDeleted, onError }) {
    this.container = container;
    this.onResumed = onResumed;
    this.onTask = onTask;
    this.onDeleted = onDeleted;
    this.onError = onError;
  }

  render(run) {
    // Redrawn only when the choice changes, so a number being typed is not wiped out.
    const shown = ACTIVE.includes(run.status) ? `${run.status} ${run.cancel_requested}` : `${run.status} ${run.steps_done}`;
    if (shown === this.shown) return;
    this.shown = shown;
    const buttons = [];
    const button = (id, text, onclick, cls) => el("button", { type: "button", id, class: cls, text, onclick });
    if (ACTIVE.includes(run.status)) {
      buttons.push(el("button", {
        type: "button", id: "cancel", class: "danger", disabled: run.cancel_requested,
        text: run.cancel_requested ? "Cancelling…" : "Cancel", onclick: () => this.cancel(run),
      }));
      fill(this.container, buttons);
      return;
    }
    if (RESUMABLE.includes(run.status) || run.status === "completed") {
      const further = run.status === "completed";
      const steps = el("input", {
        type: "number", id: "resume-steps", min: (run.steps_done || 0) + 1, step: 1,
        placeholder: further ? "to step…" : "to step (optional)", "aria-label": "Train to this many steps in all",
      });
      buttons.push(el("span", { class: "resume" }, steps, button("resume", further ? "Train further" : "Resume", () => this.resume(run, steps.value), "primary")));
    }
    if (run.status === "completed") {
      buttons.push(
        button("evaluate", "Evaluate", () => this.evaluate(run)),
        run.method === "full_finetuning" ? null : button("merge", "Merge", () => this.merge(run)),
        button("export", "Export", () => this.export(run)),
        button("upload", "Upload", () => this.upload(run)),
        el("a", { href: `#/runs/${Number(run.id)}/chat`, id: "chat", class: "button", text: "Chat" }));
    }
    buttons.push(button("delete", "Delete", () => this.delete(run), "danger"));
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

  async evaluate(run) {
    const answer = await ask({
      title: `Evaluate ${run.name}`,
      body: "Scores the fine-tuned model on held-out samples (ROUGE, BLEU, perplexity) and keeps a few answers to read.",
      fields: [
        { name: "samples", label: "Samples", type: "number", min: 1, placeholder: "the run's own setting", help: "How many held-out samples to score." },
        { name: "compare_base", label: "Also score the base model, for the before/after comparison", type: "checkbox", value: true },
      ],
      confirm: "Evaluate",
    });
    if (!answer) return;
    await this.task(() => call("POST", `/runs/${run.id}/evaluate`, {
      samples: answer.samples ? Number(answer.samples) : null, compare_base: answer.compare_base,
    }));
  }

  async merge(run) {
    const target = run.output_dir ? `${run.output_dir}/merged` : "the run's folder (merged/)";
    const answer = await ask({
      title: `Merge ${run.name}?`,
      body: `Loads the base model in full precision, merges the adapter into it and saves a standalone model in ${target}.`,
      confirm: "Merge it",
    });
    if (answer) await this.task(() => call("POST", `/runs/${run.id}/merge`, {}));
  }

  async export(run) {
    let choices;
    try {
      choices = await call("GET", "/export/choices");
    } catch (error) {
      this.onError(error);
      return;
    }
    const answer = await ask({
      title: `Export ${run.name} for serving`,
      body: "Written into the run's folder (export/); every GGUF is checked against the model before it is kept.",
      fields: [
        { name: "to", label: "Where to", type: "select", options: choices.targets.map((c) => [c.value, c.label]), value: "ollama" },
        { name: "quant", label: "Weights (GGUF)", type: "select", options: choices.quants.map((c) => [c.value, c.label]), value: choices.default_quant },
        run.method === "full_finetuning" ? null : { name: "merge", label: "vLLM: serve the merged model instead of base + adapter", type: "checkbox" },
      ].filter(Boolean),
      confirm: "Export",
    });
    if (!answer) return;
    await this.task(() => call("POST", `/runs/${run.id}/export`, { to: answer.to, quant: answer.quant, merge: Boolean(answer.merge) }));
  }

  async upload(run) {
    const answer = await ask({
      title: `Upload ${run.name} to the Hugging Face Hub`,
      body: "The adapter (or model) with a model card. The token is sent once for this upload and kept nowhere: not in this page, the server's store or its logs.",
      fields: [
        { name: "repo_id", label: "Repository (owner/name)", value: run.name.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^-+|-+$/g, ""), required: true },
        { name: "private", label: "Private repository", type: "checkbox", value: true },
        { name: "gguf", label: "Upload the exported GGUF and its Modelfile instead (export first)", type: "checkbox" },
        { name: "token", label: "Hugging Face token (blank: the server's own login)", type: "password", autocomplete: "off" },
      ],
      confirm: "Upload",
    });
    if (!answer) return;
    await this.task(() => call("POST", `/runs/${run.id}/upload`, {
      repo_id: answer.repo_id, private: answer.private, gguf: answer.gguf, token: answer.token || null,
    }));
  }

  async delete(run) {
    const answer = await ask({
      title: `Delete ${run.name}?`,
      body: ["The run leaves the store: its metrics, evaluations and history.", run.output_dir ? `Its folder: ${run.output_dir}` : null].filter(Boolean),
      fields: [{ name: "files", label: "Also delete its folder", type: "checkbox", value: false }],
      confirm: "Delete the run",
      cancel: "Keep it",
      danger: true,
    });
    if (!answer) return;
    try {
      await call("DELETE", `/runs/${run.id}?files=${answer.files ? "true" : "false"}`);
      banner(null);
      this.onDeleted(run, answer.files);
    } catch (error) {
      this.onError(error);
    }
  }

  async task(start) {
    try {
      const task = await start();
      banner(null);
      this.onTask(task);
    } catch (error) {
      this.onError(error);
    }
  }
}
