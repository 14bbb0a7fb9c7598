// What a run has beyond its curves, as the app's detail screen shows it: evaluation scores base
// against fine-tuned with the kept samples side by side, artifacts and checkpoints, its saved
// chats and its configuration. Read when the page opens and again after anything changes them.

import { call } from "./api.js";
import { el, fill } from "./dom.js";
import * as format from "./format.js";

const KINDS = {
  adapter: "adapter", model: "model", checkpoint: "checkpoint", merged: "merged model", upload: "upload",
  gguf: "GGUF", modelfile: "Ollama Modelfile", "vllm-script": "vLLM script",
};

export class RunDetails {
  constructor(container, { onError }) {
    this.container = container;
    this.onError = onError;
    this.nodes = {
      scores: el("div", { id: "evaluation-scores" }),
      samples: el("div", { id: "evaluation-samples" }),
      artifacts: el("div", { id: "artifacts" }),
      chats: el("div", { id: "chats" }),
      config: el("div", { id: "run-config" }),
    };
    const n = this.nodes;
    const panel = (title, ...children) => el("section", { class: "panel" }, el("h2", { text: title }), ...children);
    fill(container,
      panel("Evaluation: base against fine-tuned", n.scores, n.samples),
      el("div", { class: "grid2" }, panel("Artifacts and checkpoints", n.artifacts), panel("Chats", n.chats)),
      panel("Configuration", n.config));
  }

  /** Read and draw everything for `run` (its report: artifacts come with it). */
  async load(run) {
    try {
      const [evaluations, config, conversations] = await Promise.all([
        call("GET", `/runs/${run.id}/evaluations`),
        call("GET", `/runs/${run.id}/config`),
        call("GET", `/runs/${run.id}/conversations`),
      ]);
      this.renderEvaluations(evaluations);
      this.renderArtifacts(run.artifacts || []);
      this.renderChats(run, conversations);
      this.renderConfig(run, config);
    } catch (error) {
      this.onError(error);
    }
  }

  renderEvaluations(evaluations) {
    const n = this.nodes;
    if (!evaluations.length) {
      fill(n.scores, el("p", { class: "muted", text: "No evaluations yet: Evaluate scores this run against its base model on held-out samples." }));
      fill(n.samples);
      return;
    }
    const latest = {};
    for (const evaluation of evaluations) latest[evaluation.label] ??= evaluation; // newest first
    const tuned = latest.finetuned;
    const base = latest.base;
    const names = [...new Set([...Object.keys(tuned?.metrics || {}), ...Object.keys(base?.metrics || {})])];
    const lower = new Set([...(tuned?.lower_is_better || []), ...(base?.lower_is_better || [])]);
    const when = (tuned || base).created_at;
    fill(n.scores,
      el("p", { class: "muted", text: `Latest evaluation ${format.when(when)} · ${(tuned || base).samples} samples scored` }),
      el("div", { class: "scroll" }, el("table", { class: "scores" },
        el("thead", {}, el("tr", {}, ["metric", "base", "fine-tuned", "change"].map((name) => el("th", { scope: "col", text: name })))),
        el("tbody", {}, names.map((name) => {
          const before = base?.metrics[name];
          const after = tuned?.metrics[name];
          return el("tr", { "data-metric": name },
            el("th", { scope: "row", text: name }),
            el("td", { class: "num", text: score(before) }),
            el("td", { class: "num finetuned", text: score(after) }),
            change(before, after, lower.has(name)));
        })))));
    const source = tuned || base;
    const kept = source.kept || [];
    const meaning = source.settings?.reward_meaning;
    fill(n.samples,
      typeof meaning === "string" ? el("p", { class: "muted", text: meaning }) : null,
      kept.length ? el("h3", { text: `Samples (${kept.length} kept of ${source.samples})` }) : null,
      kept.map((sample, index) => sampleView(index + 1, sample)));
  }

  renderArtifacts(artifacts) {
    if (!artifacts.length) {
      fill(this.nodes.artifacts, el("p", { class: "muted", text: "Nothing saved yet." }));
      return;
    }
    fill(this.nodes.artifacts, el("ul", { class: "artifacts" }, artifacts.map((artifact) =>
      el("li", { "data-kind": artifact.kind, class: artifact.gone ? "gone" : null },
        el("span", { class: "kind", text: KINDS[artifact.kind] ?? artifact.kind }),
        artifact.kind === "upload" && /^https:\/\//.test(artifact.path)
          ? el("a", { href: artifact.path, rel: "noopener noreferrer", target: "_blank", class: "mono", text: artifact.path })
          : el("code", { text: artifact.path }),
        artifactFacts(artifact),
        artifact.gone ? el("span", { class: "muted", text: " (no longer on disk)" }) : null))));
  }

  renderChats(run, conversations) {
    const link = el("a", { href: `#/runs/${Number(run.id)}/chat`, id: "chat-link", class: "button", text: "Chat with this run and its base" });
    const turns = conversations.reduce((sum, conversation) => sum + conversation.turns.length, 0);
    const list = conversations;
    fill(this.nodes.chats,
      el("p", { class: "muted", id: "chats-summary", text: list.length
        ? `${list.length} saved chat${list.length === 1 ? "" : "s"} · ${turns} turn${turns === 1 ? "" : "s"}`
        : "No saved chats yet." }),
      link);
  }

  renderConfig(run, config) {
    const rows = Object.entries(flatten(config));
    // Every setting is long (a hundred rows): folded, and kept open across re-reads once opened.
    const open = this.nodes.config.querySelector("details")?.open ?? false;
    fill(this.nodes.config,
      el("p", {}, el("a", { href: `#/new?from=${Number(run.id)}`, id: "new-from-run", class: "button", text: "New run from this configuration" })),
      el("details", { class: "config", open },
        el("summary", { text: `Every setting (${rows.length}), as the run trains them` }),
        el("table", { class: "config" }, el("tbody", {}, rows.map(([key, value]) =>
          el("tr", {}, el("th", { scope: "row", class: "mono", text: key }), el("td", { class: "mono", text: shown(value) })))))));
  }
}

function score(value) {
  return typeof value === "number" ? String(Number(value.toPrecision(4))) : "—";
}

/** "▼ 392.6 better": which way a score moved, by how much, and whether that is good. */
function change(before, after, lowerIsBetter) {
  if (typeof before !== "number" || typeof after !== "number") return el("td", { class: "num", text: "—" });
  const difference = after - before;
  if (difference === 0) return el("td", { class: "num muted", text: "same" });
  const better = lowerIsBetter ? difference < 0 : difference > 0;
  const arrow = difference < 0 ? "▼" : "▲";
  return el("td", { class: `num ${better ? "better" : "worse"}`, text: `${arrow} ${score(Math.abs(difference))} ${better ? "better" : "worse"}` });
}

function sampleView(number, sample) {
  const reward = (label, value) => (typeof value === "number" ? `${label} (reward ${score(value)})` : label);
  const column = (label, text, cls) => el("div", { class: `answer ${cls}` }, el("h4", { text: label }), el("p", { text: text ?? "—" }));
  return el("article", { class: "sample", "data-sample": number },
    el("h4", { text: `${number}. prompt` }),
    el("p", { class: "prompt" }, promptText(sample)),
    el("div", { class: "answers" },
      column("reference", sample.reference, "reference"),
      column(reward("base", sample.base_reward), sample.base, "base"),
      column(reward("fine-tuned", sample.finetuned_reward), sample.finetuned, "finetuned")));
}

/** The prompt as the user wrote it: its messages' contents, earlier turns named by their role. */
function promptText(sample) {
  const messages = (sample.messages || []).filter((message) => message && typeof message === "object");
  if (!messages.length) return sample.prompt ?? "";
  if (messages.length === 1 && messages[0].role === "user") return messages[0].content ?? "";
  return messages.map((message) => `${message.role}: ${message.content}`).join("\n");
}

function artifactFacts(artifact) {
  const meta = artifact.meta || {};
  const facts = [];
  if (meta.step !== undefined) facts.push(`step ${meta.step}`);
  if (meta.quant) facts.push(meta.quant);
  if (meta.size_bytes) facts.push(`${(meta.size_bytes / 1e6).toFixed(1)} MB`);
  const trip = meta.round_trip;
  if (trip && typeof trip === "object") {
    if (typeof trip.max_abs_logit_diff === "number") facts.push(`round trip: max logit difference ${trip.max_abs_logit_diff.toExponential(1)}`);
    if (typeof trip.greedy_agreement === "number") facts.push(`round trip: ${Math.round(trip.greedy_agreement * 100)}% greedy agreement`);
  }
  return facts.length ? el("span", { class: "muted", text: ` · ${facts.join(" · ")}` }) : null;
}

function flatten(value, prefix = "", into = {}) {
  if (value && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length) {
    for (const [key, inner] of Object.entries(value)) flatten(inner, prefix ? `${prefix}.${key}` : key, into);
  } else if (prefix) {
    into[prefix] = value;
  }
  return into;
}

function shown(value) {
  if (value === null || value === undefined) return "—";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}
