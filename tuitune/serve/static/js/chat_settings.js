// The chat's sampling settings, drawn from the server's own schema (tuitune.chats.settings.Sampling
// via GET /chat/settings): each setting's limits, default and help are declared once, there.

import { el } from "./dom.js";

const LONG_TEXT = new Set(["system_prompt"]);

/** The schema's type of a property: "number", "integer", "string" (nullable too) or "array". */
function kindOf(property) {
  if (property.type) return property.type;
  const types = (property.anyOf || []).map((option) => option.type).filter((type) => type && type !== "null");
  return types[0] || "string";
}

/** A form of every setting the schema has; values() reads it, show() fills it, fail() marks a field. */
export class SamplingForm {
  constructor(schema) {
    this.schema = schema;
    this.inputs = new Map();
    this.errors = new Map();
  }

  build() {
    const rows = [];
    for (const [name, property] of Object.entries(this.schema.properties || {})) {
      const kind = kindOf(property);
      const id = `sampling-${name}`;
      let input;
      if (kind === "array" || LONG_TEXT.has(name)) {
        input = el("textarea", { id, rows: kind === "array" ? 2 : 3, spellcheck: "false" });
        if (kind === "array") input.placeholder = "one per line";
      } else if (kind === "number" || kind === "integer") {
        input = el("input", { id, type: "number", inputmode: kind === "integer" ? "numeric" : "decimal" });
        input.step = kind === "integer" ? "1" : "any";
        const low = property.minimum ?? property.exclusiveMinimum;
        if (low !== undefined) input.min = String(low);
        if (property.maximum !== undefined) input.max = String(property.maximum);
      } else {
        input = el("input", { id, type: "text" });
      }
      input.dataset.kind = kind;
      const error = el("p", { class: "error chat-field-error", id: `error-sampling.${name}`, role: "alert" });
      this.inputs.set(name, input);
      this.errors.set(name, error);
      const help = property.description ? this.help(property) : this.limits(property);
      rows.push(
        el(
          "div",
          { class: `chat-setting${kind === "array" || LONG_TEXT.has(name) ? " wide" : ""}` },
          el("label", { for: id, text: name.replaceAll("_", " ") }),
          input,
          help ? el("small", { class: "muted", text: help }) : null,
          error,
        ),
      );
    }
    this.show(Object.fromEntries(Object.entries(this.schema.properties || {}).map(([name, property]) => [name, property.default])));
    return rows;
  }

  limits(property) {
    const low = property.minimum ?? property.exclusiveMinimum;
    if (low === undefined && property.maximum === undefined) return "";
    return `${low ?? "…"} to ${property.maximum ?? "…"}`;
  }

  help(property) {
    const limits = this.limits(property);
    return limits ? `${property.description} (${limits})` : property.description;
  }

  /** Fill the form from kept settings (those the schema does not know are left out). */
  show(values) {
    for (const [name, input] of this.inputs) {
      if (!(name in values)) continue;
      const value = values[name];
      if (input.dataset.kind === "array") input.value = (value || []).join("\n");
      else input.value = value === null || value === undefined ? "" : String(value);
    }
  }

  /** The settings as the server takes them; an empty number box is left to the server's default. */
  values() {
    const values = {};
    for (const [name, input] of this.inputs) {
      const kind = input.dataset.kind;
      if (kind === "array") values[name] = input.value.split("\n").filter((line) => line !== "");
      else if (kind === "number" || kind === "integer") {
        // A box the browser cannot read as a number goes as typed, for the server to say why.
        if (input.validity.badInput) values[name] = "not a number";
        else if (input.value !== "") values[name] = Number(input.value);
      } else values[name] = input.value === "" ? null : input.value;
    }
    return values;
  }

  /** Show `message` beside the setting the server named (`sampling.temperature`); false if none. */
  fail(field, message) {
    this.clear();
    const name = String(field || "").replace(/^sampling\./, "").split(".")[0];
    const error = this.errors.get(name);
    if (!error || !String(field).startsWith("sampling.")) return false;
    error.textContent = message;
    this.inputs.get(name).setAttribute("aria-invalid", "true");
    return true;
  }

  clear() {
    for (const [name, error] of this.errors) {
      error.textContent = "";
      this.inputs.get(name).removeAttribute("aria-invalid");
    }
  }
}
