// #/new[?from=ID]: start a run from a form generated from the configuration's own schema, with
// the wizard's checks of the model and the data beside their boxes. Launch and Add to queue post
// the same configuration `tuitune train` would take; Save config downloads it as YAML, and Upload
// reads a config file into the form. A refusal that names a key is shown beside its field.

import { ApiError, AuthError, call, headers } from "./api.js";
import { banner, el, fill } from "./dom.js";
import { FieldError, FormField } from "./form_fields.js";
import { formSections, getPath, isUsed, setPath } from "./form_schema.js";
import { DataPanel, ModelPanel, recommendedValues } from "./new_run_preflight.js";
import { forTheBrowser } from "./wording.js";

// The boxes that always show their value (a placeholder there would read as a mere example).
const SHOWN = new Set(["model.name_or_path", "data.source"]);
// What the data preview depends on: a change to any of these reads the data again.
const DATA_KEYS = ["model.name_or_path", "data.source", "method", "objective", "data.max_length", "preference.chosen_only"];

export class NewRunPage {
  constructor(root, params, onError) {
    this.root = root;
    this.from = params && params.from;
    this.onError = onError;
    this.fields = new Map(); // dotted key -> FormField
    this.sections = []; // [{node, fields}]
    this.gone = false;
  }

  mount() {
    fill(this.root, el("p", { class: "muted", text: "Loading the form…" }));
    this.load().catch((error) => this.fail(error));
  }

  unmount() {
    this.gone = true;
  }

  fail(error) {
    if (this.gone) return;
    this.onError(error);
  }

  async load() {
    const [form, defaults, models, datasets, start] = await Promise.all([
      call("GET", "/config/schema"),
      call("POST", "/config/check", {}),
      call("GET", "/files?kind=model"),
      call("GET", "/files?kind=data"),
      this.from ? call("GET", `/runs/${this.from}/config`).catch((error) => (this.fail(error), null)) : null,
    ]);
    if (this.gone) return;
    this.form = form;
    this.defaults = defaults.config;
    this.render(models, datasets);
    this.write(start || this.defaults);
    if (start) this.say(`Started from run ${this.from}'s configuration.`);
    this.readModel();
    this.readData();
  }

  // --- building the form ---------------------------------------------------------------------
  render(models, datasets) {
    const sections = formSections(this.form.schema, this.defaults).map((section) => this.section(section));
    this.status = el("p", { class: "form-status", id: "form-status", role: "status" });
    this.upload = el("input", { type: "file", id: "upload-config", accept: ".yaml,.yml,.json,application/json,application/yaml,text/yaml", onchange: () => this.uploaded() });
    const actions = el(
      "div",
      { class: "form-actions" },
      // The first submit button is what Enter in any box presses.
      el("button", { type: "submit", class: "primary", id: "launch", text: "Launch" }),
      el("button", { type: "submit", id: "enqueue", text: "Add to queue" }),
      el("button", { type: "button", id: "check-config", onclick: () => this.check().catch((error) => this.fail(error)), text: "Check" }),
      el("button", { type: "button", id: "save-config", onclick: () => this.save().catch((error) => this.fail(error)), text: "Save config" }),
      el("label", { class: "upload", for: "upload-config" }, "Upload a config file ", this.upload),
    );
    this.formNode = el("form", { id: "new-run-form", class: "new-run", novalidate: true, onsubmit: (event) => this.submitted(event) }, sections, actions, this.status);
    fill(
      this.root,
      el("div", { class: "new-run-head" }, el("h1", { text: "New run" }), el("p", { class: "muted", text: "Pick a model and a dataset, then change what you need: empty boxes keep the default shown in them." })),
      el("datalist", { id: "model-choices" }, choices(models)),
      el("datalist", { id: "data-choices" }, choices(datasets)),
      this.formNode,
    );
    this.modelPanel = new ModelPanel(document.getElementById("model-preflight"), (recommendation) => this.recommend(recommendation));
    this.dataPanel = new DataPanel(document.getElementById("data-preflight"));
    this.field("model.name_or_path").input.setAttribute("list", "model-choices");
    this.field("data.source").input.setAttribute("list", "data-choices");
    for (const key of DATA_KEYS) {
      const field = this.field(key);
      field.input.addEventListener("change", () => {
        if (key === "objective") this.objectiveChanged();
        if (key === "method" || key === "objective") this.showUsed();
        if (key === "model.name_or_path") this.readModel();
        this.readData();
      });
    }
    this.showUsed();
  }

  section(section) {
    const made = section.fields.map((spec) => {
      if (SHOWN.has(spec.key)) spec.always = true;
      const field = new FormField(spec);
      this.fields.set(spec.key, field);
      return field;
    });
    const first = made.filter((field) => section.first.has(field.field.name));
    const rest = made.filter((field) => !section.first.has(field.field.name));
    const id = `section-${section.key || section.title.toLowerCase().replace(/\W+/g, "-")}`;
    const preflight = section.key === "model" ? "model-preflight" : section.key === "data" ? "data-preflight" : null;
    const body = el("div", { class: "fields" }, first.map((field) => field.node));
    const node = el(
      "section",
      { class: "panel form-section", id, "aria-labelledby": `${id}-title` },
      el("h2", { id: `${id}-title`, text: section.title }),
      section.description ? el("p", { class: "muted section-help", text: section.description }) : null,
      preflight ? el("div", { class: "with-preflight" }, body, el("aside", { class: "preflight", id: preflight, "aria-live": "polite", "aria-label": `${section.title} check` })) : body,
      rest.length ? el("details", { class: "more" }, el("summary", { text: "More settings" }), el("div", { class: "fields" }, rest.map((field) => field.node))) : null,
    );
    this.sections.push({ node, fields: made });
    return node;
  }

  field(key) {
    return this.fields.get(key);
  }

  /** Show only what the chosen method and objective read (as the wizard does). */
  showUsed() {
    const method = this.value("method");
    const objective = this.value("objective");
    for (const { node, fields } of this.sections) {
      let any = false;
      for (const field of fields) {
        // As in the wizard: sft on anything but a preference set has no rejected answers to leave out.
        const pairs = field.field.key !== "preference.chosen_only" || this.dataFormat === "preference" || field.read().set;
        const used = pairs && isUsed(this.form, field.field.key, method, objective);
        field.node.hidden = !used;
        any = any || used;
      }
      node.hidden = !any;
    }
  }

  /** A bundled sample follows the objective to the set its demo learns from. */
  objectiveChanged() {
    const source = this.field("data.source");
    const given = source.input.value.trim();
    if (this.form.samples.includes(given)) source.write(this.form.demo_datasets[this.value("objective")] || given);
  }

  value(key) {
    const read = this.field(key).read();
    return read.set ? read.value : this.field(key).field.default;
  }

  // --- values in and out ---------------------------------------------------------------------
  /** Show `config` (a whole configuration, or only the keys it gives). */
  write(config) {
    for (const [key, field] of this.fields) field.write(getPath(config, key));
    this.showUsed();
  }

  /** The configuration the form says: only what differs from the defaults. */
  config() {
    const data = {};
    for (const [key, field] of this.fields) {
      const read = field.read();
      if (read.set) setPath(data, key, read.value);
    }
    return data;
  }

  recommend(recommendation) {
    for (const [key, value] of Object.entries(recommendedValues(recommendation))) this.field(key)?.write(value);
    this.showUsed();
    this.say("The recommended settings are in the form.");
    this.readData();
  }

  // --- the checks beside the boxes -------------------------------------------------------------
  readModel() {
    const name = this.field("model.name_or_path").input.value.trim();
    if (!name) return;
    this.modelPanel.read(name).catch((error) => this.fail(error));
  }

  readData() {
    const source = this.field("data.source").input.value.trim();
    if (!source) return;
    let question;
    try {
      question = {
        source,
        model: this.field("model.name_or_path").input.value.trim() || null,
        method: this.value("method"),
        objective: this.value("objective"),
        max_length: this.value("data.max_length"),
        chosen_only: this.value("preference.chosen_only"),
      };
    } catch {
      return; // a number box that holds no number: Launch says so
    }
    this.dataPanel
      .read(question)
      .then((answer) => {
        if (answer && answer.format !== this.dataFormat) {
          this.dataFormat = answer.format;
          this.showUsed();
        }
      })
      .catch((error) => this.fail(error));
  }

  // --- the buttons ---------------------------------------------------------------------------
  clearRefusals() {
    banner(null);
    for (const field of this.fields.values()) field.refuse(null);
  }

  /** The form's configuration, or null when a box was refused before anything was sent. */
  checkedHere() {
    this.clearRefusals();
    try {
      return this.config();
    } catch (error) {
      if (error instanceof FieldError) {
        this.refuse(error);
        return null;
      }
      throw error;
    }
  }

  async submitted(event) {
    event.preventDefault(); // nothing leaves as a form post
    const queue = event.submitter && event.submitter.id === "enqueue";
    const config = this.checkedHere();
    if (!config) return;
    this.busy(true, queue ? "Adding the run to the queue…" : "Starting the run…");
    try {
      const run = await call("POST", `/runs?queue=${queue ? "true" : "false"}`, config);
      if (!this.gone) location.hash = `#/runs/${run.id}`;
    } catch (error) {
      this.refused(error);
    } finally {
      this.busy(false);
    }
  }

  async check() {
    const config = this.checkedHere();
    if (!config) return;
    this.busy(true, "Checking everything a run does before its first step…");
    try {
      const checked = await call("POST", "/config/check", config);
      const result = await call("POST", "/preflight/check", { config });
      const notes = checked.notes.map(forTheBrowser).join(" ");
      this.say(`✓ Ready to train: ${result.train} training and ${result.validation} held-out rows, format ${result.format}, template ${result.template}.${notes ? ` ${notes}` : ""}`);
    } catch (error) {
      this.refused(error);
    } finally {
      this.busy(false);
    }
  }

  async save() {
    const config = this.checkedHere();
    if (!config) return;
    let response;
    try {
      response = await fetch("/config/yaml", { method: "POST", headers: headers({ "Content-Type": "application/json" }), body: JSON.stringify(config), cache: "no-store" });
    } catch (error) {
      throw new ApiError(`Cannot reach the tuitune server (${error.message}): check that it is still running, then reload this page.`, 0);
    }
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      const error = response.status === 401 ? new AuthError(body.detail || "") : new ApiError(body.detail || `HTTP ${response.status}`, response.status, body.field || null);
      this.refused(error);
      return;
    }
    const named = /filename="([^"]+)"/.exec(response.headers.get("content-disposition") || "");
    const filename = named ? named[1] : "run.yaml";
    const link = el("a", { href: URL.createObjectURL(new Blob([await response.text()], { type: "application/yaml" })), download: filename, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
    this.say(`Saved the configuration as ${filename}.`);
  }

  async uploaded() {
    const file = this.upload.files && this.upload.files[0];
    if (!file) return;
    this.clearRefusals();
    try {
      if (file.size > this.form.max_config_bytes) {
        banner(`${file.name} is ${file.size.toLocaleString("en")} bytes, too big for a run configuration (at most ${this.form.max_config_bytes.toLocaleString("en")}): check that it is the right file.`);
        return;
      }
      const parsed = await call("POST", "/config/parse", { text: await file.text(), filename: file.name });
      if (this.gone) return;
      this.write(parsed.config);
      this.say([`Read ${file.name}: the form shows its settings.`, ...parsed.notes.map(forTheBrowser)].join(" "));
      this.readModel();
      this.readData();
    } catch (error) {
      if (error instanceof AuthError) this.fail(error);
      else banner(forTheBrowser(error.message)); // the file's fault, not a box's
    } finally {
      this.upload.value = ""; // the same file can be read again
    }
  }

  // --- what the page says --------------------------------------------------------------------
  busy(on, message) {
    for (const button of this.formNode.querySelectorAll(".form-actions button")) button.disabled = on;
    if (message !== undefined) this.say(message);
  }

  say(message) {
    if (this.status) this.status.textContent = message || "";
  }

  refused(error) {
    if (error instanceof ApiError && error.field && this.refuse(error)) return;
    this.say(null);
    this.fail(error);
  }

  /** Show a refusal beside the field its key names (the longest key of the form it starts with);
   *  false when no visible field matches (the banner says it then). */
  refuse(error) {
    const parts = String(error.field).split(".");
    for (let end = parts.length; end > 0; end--) {
      const field = this.fields.get(parts.slice(0, end).join("."));
      if (!field || field.node.hidden || field.node.closest("section")?.hidden) continue;
      const fold = field.node.closest("details");
      if (fold) fold.open = true;
      field.refuse(forTheBrowser(error.message));
      field.target.scrollIntoView({ block: "center" });
      field.target.focus({ preventScroll: true });
      this.say("The form was refused: see the field marked in red.");
      return true;
    }
    return false;
  }
}

function choices(listing) {
  return (listing.choices || []).map((choice) => el("option", { value: choice.path, label: choice.label }));
}
