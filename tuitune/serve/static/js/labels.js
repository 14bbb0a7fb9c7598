// A run's note and tags on its page: shown under its facts, changed in a small form (PATCH
// /runs/ID, whose refusal words appear beside the form). The server checks and normalises them
// (tuitune/runs/labels.py): what it answers is what the page shows.

import { api } from "./api.js";
import { el, fill } from "./dom.js";

export class RunLabels {
  constructor(runId, onError) {
    this.runId = runId;
    this.onError = onError;
    this.node = el("div", { class: "run-labels", id: "run-labels" });
  }

  show(run) {
    if (this.editing) return;  // a poll must not wipe what is being typed
    const tags = (run.tags || []).map((tag) => el("span", { class: "tag", text: tag }));
    fill(this.node,
      tags.length ? el("span", { class: "tags", id: "run-tags" }, tags) : null,
      run.notes ? el("p", { class: "note", id: "run-note", text: run.notes }) : null,
      el("button", { type: "button", id: "edit-labels", class: "link", text: "Note and tags…", onclick: () => this.edit(run) }));
  }

  edit(run) {
    this.editing = true;
    const note = el("textarea", { id: "label-note", rows: 2, maxlength: 2000, "aria-label": "Note", placeholder: "what this run tried, what came of it" });
    note.value = run.notes || "";
    const tags = el("input", { id: "label-tags", "aria-label": "Tags", placeholder: "tags, separated by spaces" });
    tags.value = (run.tags || []).join(" ");
    const error = el("p", { class: "field-error", id: "label-error" });
    const save = async (event) => {
      event.preventDefault();
      try {
        const kept = await api.label(this.runId, { notes: note.value, tags: tags.value.split(/\s+/).filter(Boolean) });
        this.editing = false;
        this.show({ ...run, notes: kept.notes, tags: kept.tags });
      } catch (refused) {
        error.textContent = refused.message;
      }
    };
    const cancel = () => { this.editing = false; this.show(run); };
    fill(this.node, el("form", { class: "label-form", onsubmit: save },
      el("label", { text: "Note" }, note),
      el("label", { text: "Tags" }, tags),
      error,
      el("div", { class: "buttons" },
        el("button", { type: "submit", id: "save-labels", text: "Save" }),
        el("button", { type: "button", text: "Cancel", onclick: cancel }))));
    note.focus();
  }
}
