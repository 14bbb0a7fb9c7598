// The wizard's checks beside the model and dataset boxes: the server's warm probe reads the model's
// config (architecture, size, the recommendation for this machine's GPUs) and the data as training
// will (format, rows, token lengths, samples rendered with the trained part marked). Every string
// from the model or the data becomes a text node.

import { AuthError, call } from "./api.js";
import { el, fill } from "./dom.js";
import { count, gigabytes } from "./format.js";
import { forTheBrowser } from "./wording.js";

/** 819840 -> "820K", 1.5e9 -> "1.5B" (as the app shows a size). */
export function parameters(value) {
  if (typeof value !== "number") return "?";
  for (const [size, unit] of [[1e9, "B"], [1e6, "M"], [1e3, "K"]]) {
    if (value >= size) return `${Number((value / size).toPrecision(value >= size * 100 ? 3 : 2))}${unit}`;
  }
  return String(value);
}

/** Asks one probe at a time per panel; an answer to an older question is dropped. */
class Panel {
  constructor(node) {
    this.node = node;
    this.asked = 0;
  }

  async ask(path, body, reading, show) {
    const mine = ++this.asked;
    fill(this.node, el("p", { class: "muted reading", text: reading }));
    this.node.dataset.state = "reading";
    try {
      const answer = await call("POST", path, body);
      if (mine !== this.asked) return null;
      fill(this.node, show(answer));
      this.node.dataset.state = "ready";
      return answer;
    } catch (error) {
      if (mine !== this.asked) return null;
      fill(this.node, el("p", { class: "error", text: `✗ ${forTheBrowser(error.message)}` }));
      this.node.dataset.state = "failed";
      if (error instanceof AuthError) throw error;
      return null;
    }
  }
}

export class ModelPanel extends Panel {
  /** `apply(recommendation)` puts a recommendation's settings into the form. */
  constructor(node, apply) {
    super(node);
    this.apply = apply;
  }

  read(name) {
    return this.ask("/preflight/model", { name }, `Reading ${name}'s config…`, (document) => this.describe(document));
  }

  describe(document) {
    const info = document.model || {};
    const details = [
      [info.num_layers, "layers"],
      [info.hidden_size, "hidden"],
      [info.vocab_size, "vocabulary"],
      [info.max_position_embeddings, "context"],
    ]
      .filter(([value]) => typeof value === "number")
      .map(([value, what]) => (what === "layers" ? `${count(value)} layers` : `${what} ${count(value)}`));
    const parts = [
      el("p", { class: "good", id: "model-architecture" }, `✓ ${info.architecture || info.model_type || "unknown architecture"}`, info.model_type ? ` (${info.model_type})` : "", ` · ${parameters(info.parameters)} parameters`),
      details.length ? el("p", { class: "muted", text: details.join(" · ") }) : null,
      info.lora_targets && info.lora_targets.length ? el("p", {}, el("b", { text: "LoRA targets: " }), info.lora_targets.join(", ")) : null,
    ];
    const gpus = document.gpus || [];
    parts.push(el("p", { class: "muted", text: gpus.length ? `GPUs here: ${gpus.join(", ")}` : "No GPU here: runs train on the CPU." }));
    const recommendation = document.recommendation;
    if (recommendation) {
      const memory = recommendation.estimated_memory_gb?.[recommendation.method];
      parts.push(
        el(
          "div",
          { class: "recommendation", id: "recommendation" },
          el("p", {}, el("b", { text: "Recommended: " }), recommendation.reason || recommendation.method),
          el("p", { class: "muted", text: recommendedSettings(recommendation) + (memory ? ` · about ${gigabytes(memory)}` : "") }),
          el("button", { type: "button", id: "apply-recommendation", onclick: () => this.apply(recommendation), text: "Use these settings" }),
        ),
      );
    } else {
      parts.push(el("p", { class: "muted", text: document.recommendation_error ? `No recommendation: ${document.recommendation_error}` : "No recommendation for this model." }));
    }
    return parts;
  }
}

/** The settings a recommendation fills in, as dotted keys (the wizard's RECOMMENDED, plus the method and length). */
export function recommendedValues(recommendation) {
  const values = {
    method: recommendation.method,
    "training.batch_size": recommendation.batch_size,
    "training.gradient_checkpointing": recommendation.gradient_checkpointing,
    "data.max_length": recommendation.max_length,
  };
  if (recommendation.lora_r) values["lora.r"] = recommendation.lora_r;
  if (recommendation.gpus > 1 && recommendation.strategy) values["distributed.strategy"] = recommendation.strategy;
  return values;
}

function recommendedSettings(recommendation) {
  return Object.entries(recommendedValues(recommendation))
    .map(([key, value]) => `${key.split(".").pop()} ${value}`)
    .join(" · ");
}

export class DataPanel extends Panel {
  read(question) {
    return this.ask("/preflight/data", question, `Reading ${question.source}…`, (document) => describeData(document));
  }
}

function tokens(stats) {
  if (!stats || !stats.count) return null;
  return `median ${count(stats.p50)} · 95% under ${count(stats.p95)} · longest ${count(stats.max)}`;
}

export function describeData(document) {
  const rows = [
    ["Format", `${document.format}${document.objective ? ` (read for ${document.objective}${document.suggested_objective && document.suggested_objective !== document.objective ? `; the data suggests ${document.suggested_objective}` : ""})` : ""}`],
    ["Rows", `${count(document.rows)} · ${count(document.train_rows)} train, ${count(document.validation_rows)} held out`],
    ["Tokens", tokens(document.tokens)],
    ["Prompt tokens", tokens(document.prompt_tokens)],
    ["Answer tokens", tokens(document.answer_tokens)],
    ["Template", document.template_description || document.template],
    ["Corpus", document.corpus],
  ].filter(([, value]) => value);
  const facts = el("dl", { class: "facts-list", id: "data-facts" }, rows.flatMap(([name, value]) => [el("dt", { text: name }), el("dd", { text: value })]));
  const warnings = (document.warnings || []).map((warning) => el("li", { class: "warning", text: forTheBrowser(warning) }));
  const samples = (document.previews || []).map((sample, index) => renderSample(sample, index));
  return [
    facts,
    warnings.length ? el("ul", { class: "warnings" }, warnings) : null,
    samples.length ? el("h3", { text: "Samples as the model sees them (trained part marked)" }) : null,
    ...samples,
  ];
}

function renderSample(sample, index) {
  const text = el(
    "pre",
    { class: "sample", "aria-label": `Sample ${index + 1}` },
    sample.segments.map((segment) => (segment.trained ? el("mark", { class: "trained", text: segment.text }) : el("span", { class: "prompt", text: segment.text }))),
  );
  const said = [`${count(sample.tokens)} tokens, ${count(sample.trained_tokens)} trained`];
  if (sample.truncated) said.push("cut at max length");
  if (sample.windows > 1) said.push(`${sample.windows} windows`);
  if (sample.dropped) said.push(`dropped: ${sample.dropped}`);
  const pair = sample.pair;
  const rejected = pair && pair.rejected !== undefined ? el("pre", { class: "sample rejected", "aria-label": "Rejected answer", text: pair.rejected }) : null;
  return el(
    "figure",
    { class: "preview" },
    text,
    rejected ? el("p", { class: "muted", text: "Rejected answer:" }) : null,
    rejected,
    el("figcaption", { class: "muted", text: said.join(" · ") }),
  );
}
