// One form field per configuration key (see form_schema.js): a labelled input, its help line, and
// where a refusal of that key is shown. A value left at its default is not sent, so the server
// fills it in; the default shows as the placeholder (or the selected choice, marked "default").

import { el } from "./dom.js";

const same = (a, b) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

export const fieldId = (key) => `f-${key.replace(/[._]/g, "-")}`;

function bound(value) {
  return Number.isInteger(value) ? value.toLocaleString("en-US") : String(value);
}

/** The limits as words: "≥ 1 and ≤ 65,536". */
function limits(field) {
  const words = [];
  if (field.minimum !== null && field.minimum !== undefined) words.push(`${field.exclusiveMinimum ? ">" : "≥"} ${bound(field.minimum)}`);
  if (field.maximum !== null && field.maximum !== undefined) words.push(`${field.exclusiveMaximum ? "<" : "≤"} ${bound(field.maximum)}`);
  return words.join(" and ");
}

function shown(value) {
  if (value === null || value === undefined) return "";
  if (Array.isArray(value)) return value.join(", ");
  return String(value);
}

/** A field's elements and how to read, write and refuse it. */
export class FormField {
  constructor(field) {
    this.field = field;
    this.id = fieldId(field.key);
    const helpId = `${this.id}-help`;
    const help = [field.help, field.kind === "int" || field.kind === "float" ? limits(field) : ""].filter(Boolean).join(" ");
    this.help = el("p", { class: "help", id: helpId, text: help });
    this.input = this._input(helpId);
    const caption = el("label", { for: this.id, text: field.label });
    this.node = el("div", { class: `field ${field.kind}`, "data-key": field.key }, caption, this.input, help ? this.help : null);
    if (field.kind === "checks") this.node = el("fieldset", { class: "field checks", "data-key": field.key }, el("legend", { text: field.label }), this.input, this.help);
  }

  _input(helpId) {
    const { field } = this;
    const common = { id: this.id, name: field.key, "aria-describedby": helpId };
    if (field.kind === "bool") return el("input", { ...common, type: "checkbox", checked: field.default === true });
    if (field.kind === "choice") {
      return el(
        "select",
        common,
        field.options.map((option) =>
          el("option", { value: JSON.stringify(option.value), selected: same(option.value, field.default), text: same(option.value, field.default) ? `${option.text} (default)` : option.text }),
        ),
      );
    }
    if (field.kind === "checks") {
      this.boxes = field.options.map((option, index) =>
        el("input", { type: "checkbox", id: index ? `${this.id}-${index}` : this.id, value: option, checked: (field.default || []).includes(option), "aria-describedby": helpId }),
      );
      return el("span", { class: "boxes" }, this.boxes.map((box) => el("label", { class: "box" }, box, ` ${box.value}`)));
    }
    const attrs = { ...common, type: "text", placeholder: shown(field.default), autocomplete: "off", spellcheck: "false" };
    if (field.kind === "int" || field.kind === "float") {
      attrs.type = "number";
      attrs.step = field.kind === "int" ? "1" : "any";
      attrs.inputmode = field.kind === "int" ? "numeric" : "decimal";
      if (field.minimum !== null && !field.exclusiveMinimum) attrs.min = field.minimum;
      if (field.maximum !== null && !field.exclusiveMaximum) attrs.max = field.maximum;
    }
    if (field.maxLength) attrs.maxlength = field.maxLength;
    return el("input", attrs);
  }

  /** The focusable element a refusal points at. */
  get target() {
    return this.boxes ? this.boxes[0] : this.input;
  }

  /** {set, value}: set false when the field is at its default (nothing to send). A number that is
   *  not one is refused here, in the page's words, since the browser keeps no text for it. */
  read() {
    const { field } = this;
    let value;
    if (field.kind === "bool") value = this.input.checked;
    else if (field.kind === "choice") value = JSON.parse(this.input.value);
    else if (field.kind === "checks") value = this.boxes.filter((box) => box.checked).map((box) => box.value);
    else {
      const text = this.input.value.trim();
      if (this.input.validity && this.input.validity.badInput) throw new FieldError(field.key, `${field.label} must be a number.`);
      if (!text) return { set: false };
      if (field.kind === "int" || field.kind === "float") value = Number(text);
      else if (field.kind === "list") {
        if (field.word && text === field.word) value = text;
        else {
          const items = text.split(",").map((item) => item.trim()).filter(Boolean);
          value = field.numbers ? items.map(Number) : items;
          if (field.single && value.length === 1) value = value[0];
        }
      } else value = text;
    }
    return same(value, field.default) ? { set: false } : { set: true, value };
  }

  /** Show `value` (undefined or the default: the placeholder). */
  write(value) {
    const { field } = this;
    const given = value === undefined ? field.default : value;
    if (field.kind === "bool") this.input.checked = given === true;
    else if (field.kind === "choice") {
      const known = field.options.some((option) => same(option.value, given));
      this.input.value = JSON.stringify(known ? given : field.default);
    } else if (field.kind === "checks") {
      for (const box of this.boxes) box.checked = (given || []).includes(box.value);
    } else this.input.value = same(given, field.default) && !field.always ? "" : shown(given);
  }

  /** The server's (or the page's) words beside the field; null clears them. */
  refuse(message) {
    this.node.querySelector(":scope > .field-error")?.remove();
    const describedBy = this.target.getAttribute("aria-describedby")?.split(" ").filter((id) => id !== `${this.id}-error`) || [];
    if (!message) {
      this.target.removeAttribute("aria-invalid");
      this.target.setAttribute("aria-describedby", describedBy.join(" "));
      return;
    }
    const error = el("p", { class: "field-error", id: `${this.id}-error`, role: "alert", text: message });
    this.node.append(error);
    this.target.setAttribute("aria-invalid", "true");
    this.target.setAttribute("aria-describedby", [...describedBy, error.id].join(" "));
  }
}

/** A field the page itself refuses before sending (a number box holding no number). */
export class FieldError extends Error {
  constructor(field, message) {
    super(message);
    this.field = field;
  }
}
