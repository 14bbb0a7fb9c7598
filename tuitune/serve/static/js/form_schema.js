// The new-run form's fields, read from the run configuration's JSON schema (GET /config/schema:
// the pydantic models the CLI and the wizard read), so every choice, limit and help line is the
// configuration's own. What is declared here is presentation only: the order of the sections
// (the wizard's: model, dataset, method and objective first), a few labels in the wizard's words,
// and which fields show before "More settings".

/** Sections in the wizard's order: [schema section or "" for top-level keys, title, keys shown first]. */
export const SECTIONS = [
  ["model", "Model", ["name_or_path"]],
  ["data", "Dataset", ["source", "max_length"]],
  ["", "Method and objective", ["method", "objective"], ["method", "objective"]],
  ["preference", "Preference settings", ["beta", "loss_type", "simpo_gamma", "desirable_weight", "undesirable_weight", "reference", "chosen_only"]],
  ["grpo", "GRPO settings", ["rewards", "num_generations", "max_completion_length", "temperature", "beta"]],
  ["training", "Training", ["epochs", "max_steps", "learning_rate", "batch_size"]],
  ["lora", "LoRA", ["r"]],
  ["evaluation", "Evaluation", []],
  ["distributed", "Several GPUs or machines", []],
  ["", "Run", ["name", "merge_after_training"], ["name", "merge_after_training"]],
];

// The wizard's labels where they differ from the key's own words (tuitune/tui/screens/wizard_steps).
const LABELS = {
  "model.name_or_path": "Model",
  "data.source": "Dataset",
  "data.max_length": "Max length",
  "lora.r": "LoRA rank",
  "lora.alpha": "LoRA alpha",
  "lora.dropout": "LoRA dropout",
  "training.gradient_accumulation_steps": "Grad accumulation",
  "training.lr_scheduler": "LR schedule",
  "training.bf16": "bf16",
  "training.fp16": "fp16",
  "data.train_on_responses_only": "Loss on responses only",
  "evaluation.samples": "Eval samples",
  "preference.loss_type": "DPO loss",
  "preference.simpo_gamma": "SimPO gamma",
  "preference.desirable_weight": "Good weight",
  "preference.undesirable_weight": "Bad weight",
  "preference.chosen_only": "Chosen answers only",
  "grpo.beta": "KL beta",
  "grpo.num_generations": "Generations",
  "grpo.max_completion_length": "Completion length",
  name: "Run name",
};

function label(key, name) {
  if (LABELS[key]) return LABELS[key];
  const words = name.replace(/_/g, " ");
  return words[0].toUpperCase() + words.slice(1);
}

// Names a help line keeps as written when it starts with one (dpo's loss), as the wizard does.
let keptNames = [];

/** A description (lower case, no stop) as a help line. */
function sentence(text) {
  if (!text) return "";
  const first = text.split(" ", 1)[0].replace(/'s$/, "");
  const start = keptNames.includes(first) ? text : text[0].toUpperCase() + text.slice(1);
  return start.endsWith(".") ? start : `${start}.`;
}

function resolve(schema, node) {
  if (node && node.$ref) return schema.$defs[node.$ref.split("/").pop()];
  return node;
}

/** One property of the schema as a form field: what input it takes and its limits. */
export function fieldOf(key, name, property, defaultValue) {
  const arms = property.anyOf || [property];
  const nullable = arms.some((arm) => arm.type === "null");
  const real = arms.filter((arm) => arm.type !== "null");
  const field = {
    key,
    name,
    label: label(key, name),
    help: sentence(property.description),
    default: defaultValue,
    nullable,
    kind: "text",
  };
  const constant = real.find((arm) => arm.const !== undefined);
  const types = new Set(real.map((arm) => arm.type));
  const list = real.find((arm) => arm.type === "array");
  const number = real.find((arm) => arm.type === "integer" || arm.type === "number");
  if (real.length === 1 && real[0].enum) {
    field.kind = "choice";
    field.options = real[0].enum.map((value) => ({ value, text: value }));
  } else if (types.has("boolean") && (constant || nullable)) {
    // A switch that may also be "auto" (packing), or automatic when unset (fp16).
    field.kind = "choice";
    field.options = [
      constant ? { value: constant.const, text: constant.const } : { value: null, text: "automatic" },
      { value: true, text: "true" },
      { value: false, text: "false" },
    ];
  } else if (types.has("boolean")) {
    field.kind = "bool";
  } else if (list && list.items && list.items.enum) {
    field.kind = "checks";
    field.options = list.items.enum;
  } else if (list) {
    field.kind = "list";
    field.numbers = list.items && list.items.type === "number";
    field.word = constant ? constant.const : null; // target_modules: "auto" or a list
    field.single = types.has("string") && !constant; // data_files: one path, or several
  } else if (number) {
    field.kind = number.type === "integer" ? "int" : "float";
    field.minimum = number.minimum ?? number.exclusiveMinimum ?? null;
    field.maximum = number.maximum ?? number.exclusiveMaximum ?? null;
    field.exclusiveMinimum = number.exclusiveMinimum !== undefined;
    field.exclusiveMaximum = number.exclusiveMaximum !== undefined;
  } else {
    field.maxLength = real[0] && real[0].maxLength;
  }
  return field;
}

export function getPath(data, key) {
  let node = data;
  for (const part of key.split(".")) {
    if (node === null || typeof node !== "object") return undefined;
    node = node[part];
  }
  return node;
}

export function setPath(data, key, value) {
  const parts = key.split(".");
  let node = data;
  for (const part of parts.slice(0, -1)) node = node[part] ??= {};
  node[parts[parts.length - 1]] = value;
}

/** The form's sections: [{key, title, description, fields, first}] from the schema, in SECTIONS' order;
 *  `defaults` is the default configuration (every key, as the server fills it in). */
export function formSections(schema, defaults) {
  keptNames = schema.properties.objective.enum;
  const sections = [];
  for (const [section, title, first, only] of SECTIONS) {
    const model = section ? resolve(schema, schema.properties[section]) : schema;
    const names = only || Object.keys(model.properties);
    const fields = names.map((name) => {
      const key = section ? `${section}.${name}` : name;
      return fieldOf(key, name, model.properties[name], getPath(defaults, key));
    });
    sections.push({ key: section, title, description: section ? sentence(model.description) : "", fields, first: new Set(first) });
  }
  return sections;
}

/** Whether a run of `method` and `objective` reads `key` (the server's unused_by_* tables). */
export function isUsed(form, key, method, objective) {
  const unused = [...(form.unused_by_method[method] || []), ...(form.unused_by_objective[objective] || [])];
  return !unused.some((name) => key === name || key.startsWith(`${name}.`));
}
