// A question before an action, as the app asks it: a title, what will happen, the few choices
// the action takes, and two buttons. A native <dialog> (modal, Escape closes it, focus stays
// inside), built from text nodes only.

import { el } from "./dom.js";

/**
 * ask({title, body, fields, confirm, danger}) → the values typed (by field name), or null when
 * the user closed it. A field: {name, label, type: "text"|"password"|"number"|"checkbox"|"select",
 * value, options: [[value, label]], min, max, help, required, autocomplete}.
 */
export function ask({ title, body = [], fields = [], confirm = "OK", cancel = "Not now", danger = false, id = "action-dialog" }) {
  const inputs = new Map();
  const rows = fields.map((field) => {
    const input = control(field);
    inputs.set(field.name, input);
    const help = field.help ? el("small", { class: "muted", text: field.help }) : null;
    return field.type === "checkbox"
      ? el("label", { class: "check" }, input, el("span", { text: field.label }), help)
      : el("label", { class: "field" }, el("span", { text: field.label }), input, help);
  });
  const error = el("p", { class: "error", role: "alert", hidden: true });
  const ok = el("button", { type: "submit", class: danger ? "danger" : "primary", id: `${id}-confirm`, text: confirm });
  const no = el("button", { type: "button", id: `${id}-cancel`, text: cancel });
  const form = el("form", { method: "dialog" },
    el("h2", { text: title }),
    [body].flat().map((line) => el("p", { text: line })),
    rows,
    error,
    el("div", { class: "dialog-buttons" }, ok, no));
  const dialog = el("dialog", { id, class: "ask", "aria-label": title }, form);
  document.body.append(dialog);

  return new Promise((resolve) => {
    let answer = null;
    no.addEventListener("click", () => dialog.close());
    form.addEventListener("submit", (submitted) => {
      submitted.preventDefault();
      const values = {};
      for (const [name, input] of inputs) {
        values[name] = input.type === "checkbox" ? input.checked : input.value.trim();
      }
      const missing = fields.find((field) => field.required && !values[field.name]);
      if (missing) {
        error.textContent = `${missing.label}: this is needed.`;
        error.hidden = false;
        inputs.get(missing.name).focus();
        return;
      }
      answer = values;
      dialog.close();
    });
    dialog.addEventListener("close", () => {
      // Nothing typed (a token) outlives the dialog.
      dialog.remove();
      resolve(answer);
    });
    dialog.showModal();
    // A dangerous question starts on the safe button (as the app focuses "Keep it"), else the first field.
    (danger ? no : fields.length ? inputs.get(fields[0].name) : ok).focus();
  });
}

function control(field) {
  const common = { id: `ask-${field.name}`, name: field.name, autocomplete: field.autocomplete || "off" };
  if (field.type === "select") {
    const select = el("select", common,
      field.options.map(([value, label]) => el("option", { value, text: label ?? value })));
    if (field.value !== undefined) select.value = field.value;
    return select;
  }
  if (field.type === "checkbox") {
    return el("input", { ...common, type: "checkbox", checked: Boolean(field.value) });
  }
  return el("input", {
    ...common,
    type: field.type || "text",
    value: field.value ?? "",
    min: field.min,
    max: field.max,
    step: field.type === "number" ? 1 : undefined,
    placeholder: field.placeholder,
    spellcheck: "false",
  });
}
