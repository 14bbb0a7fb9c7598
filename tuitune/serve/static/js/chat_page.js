// Chat with a run: its fine-tuned model and its base answer the same prompt side by side, in turn,
// with the same settings and seed, as the terminal app's chat has it. Answers stream in as the
// models write them (POST /runs/ID/chat, read with chat_stream.js); a turn both answered is kept
// with the run, and the page opens on the kept conversation to go on with it. Prompts and answers
// are shown as text only: nothing a model writes is read as HTML.

import { call } from "./api.js";
import { postEventStream } from "./chat_stream.js";
import { SamplingForm } from "./chat_settings.js";
import { banner, el, fill } from "./dom.js";
import { forTheBrowser } from "./wording.js";

// How an answer ended, in words (the app's tuitune/tui/widgets/chat_pane.py ENDINGS).
const ENDINGS = {
  eos: "end of answer",
  max_tokens: "token limit reached",
  stop_string: "stop string",
  interrupted: "stopped: not kept",
};

/** `24 tokens · 31.2 tokens/s · first token 0.05 s · end of answer`, as the app says it. */
export function answerStats(answer) {
  const parts = [`${Number(answer.tokens || 0).toLocaleString("en")} tokens`];
  if (answer.tokens_per_second) parts.push(`${Number(answer.tokens_per_second).toFixed(1)} tokens/s`);
  if (answer.first_token_seconds !== null && answer.first_token_seconds !== undefined) {
    parts.push(`first token ${Number(answer.first_token_seconds).toFixed(2)} s`);
  }
  parts.push(ENDINGS[answer.stopped] || String(answer.stopped));
  if (answer.dropped_messages) parts.push(`the ${answer.dropped_messages} oldest messages were left out to fit`);
  return parts.join(" · ");
}

/** One side: what answers there, and the conversation as it streams. */
class Pane {
  constructor(model, label) {
    this.model = model;
    this.description = el("p", { class: "chat-model muted", id: `model-${model}`, text: "loads with the first message" });
    this.turns = el("ol", { class: "chat-turns", id: `turns-${model}` });
    this.node = el(
      "section",
      { class: "panel chat-pane", id: `pane-${model}`, "data-model": model },
      el("h2", { text: label }),
      this.description,
      this.turns,
    );
    this.current = null;
  }

  loaded(data) {
    this.description.textContent = `${data.description} · template ${data.template} · ${data.device}`;
    this.description.classList.remove("error");
  }

  failedToLoad(message) {
    this.description.textContent = `Could not load: ${forTheBrowser(message)}`;
    this.description.classList.add("error");
  }

  /** A turn: the prompt, and an answer that fills as text comes (or is given whole, when kept). */
  turn(prompt, answer = null) {
    const node = el("li", { class: "chat-turn" }, el("p", { class: "chat-prompt", text: prompt }));
    const text = el("p", { class: "chat-answer" });
    const stats = el("p", { class: "chat-stats muted" });
    node.append(text, stats);
    this.turns.append(node);
    const turn = { node, text, stats, done: false };
    if (answer) this.done(turn, answer);
    else {
      node.dataset.state = "writing";
      this.current = turn;
    }
    this.follow();
    return turn;
  }

  add(piece) {
    if (!this.current) return;
    this.current.text.append(document.createTextNode(piece));
    this.follow();
  }

  done(turn, answer) {
    turn.text.textContent = answer.text;
    turn.stats.textContent = answerStats(answer);
    turn.node.dataset.state = answer.stopped === "interrupted" ? "stopped" : "done";
    turn.done = true;
    if (turn === this.current) this.current = null;
  }

  finish(answer) {
    if (this.current) this.done(this.current, answer);
  }

  fail(message) {
    if (!this.current) return;
    this.current.stats.textContent = forTheBrowser(message);
    this.current.stats.className = "chat-stats error";
    this.current.node.dataset.state = "failed";
    this.current = null;
  }

  /** The turn ended before this side answered (stopped, or the other side failed). */
  abandon() {
    if (!this.current) return;
    this.current.stats.textContent = "not answered: the turn was stopped";
    this.current.node.dataset.state = "stopped";
    this.current = null;
  }

  /** Drop the turn being written (the server refused the prompt before anything was written). */
  drop() {
    if (this.current) this.current.node.remove();
    this.current = null;
  }

  clear() {
    fill(this.turns);
    this.current = null;
  }

  follow() {
    this.turns.scrollTop = this.turns.scrollHeight;
  }
}

export class ChatPage {
  constructor(root, params, onError) {
    this.root = root;
    this.id = params.id;
    this.onError = onError;
    this.gone = false;
    this.conversationId = null;
    this.controller = null;
    this.writing = false;
  }

  async mount() {
    fill(this.root, el("p", { class: "muted", text: `Loading the chat with run ${this.id}…` }));
    let run, settings, kept;
    try {
      [run, settings, kept] = await Promise.all([
        call("GET", `/runs/${this.id}`),
        call("GET", "/chat/settings"),
        call("GET", `/runs/${this.id}/conversations`),
      ]);
    } catch (error) {
      if (this.gone) return;
      this.onError(error);
      fill(this.root, el("p", {}, el("a", { href: this.id ? `#/runs/${this.id}` : "#/", text: "← Back" })));
      return;
    }
    if (this.gone) return;
    document.title = `tuitune · chat · ${run.name}`;
    this.models = settings.side_by_side;
    this.panes = new Map(this.models.map((model) => [model, new Pane(model, settings.models[model] || model)]));
    this.sampling = new SamplingForm(settings.sampling);
    this.maxCharacters = settings.max_message_characters;
    this.greedyBelow = settings.greedy_below;
    this.build(run);
    if (kept.length) this.showKept(kept[0]);
    this.nodes.prompt.focus();
  }

  unmount() {
    this.gone = true;
    // The server stops the answer when its reader goes away (the turn is not kept).
    if (this.controller) this.controller.abort();
  }

  build(run) {
    const prompt = el("textarea", {
      id: "chat-prompt",
      rows: 3,
      placeholder: "Ask something (Enter sends, Shift+Enter starts a new line)",
      "aria-label": "Message",
    });
    prompt.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.send();
      }
    });
    this.nodes = {
      prompt,
      send: el("button", { id: "chat-send", class: "primary", type: "submit", text: "Send" }),
      stop: el("button", { id: "chat-stop", type: "button", text: "Stop", disabled: true, onclick: () => this.stop() }),
      fresh: el("button", { id: "chat-new", type: "button", text: "New chat", onclick: () => this.newChat() }),
      status: el("p", { id: "chat-status", class: "muted chat-status", "aria-live": "polite" }),
      promptError: el("p", { id: "chat-prompt-error", class: "error", role: "alert" }),
    };
    const form = el(
      "form",
      { class: "chat-ask", id: "chat-form", autocomplete: "off" },
      prompt,
      el("div", { class: "chat-buttons" }, this.nodes.send, this.nodes.stop, this.nodes.fresh),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
    this.nodes.summary = el("summary", { id: "chat-settings-summary" });
    this.nodes.settings = el(
      "details",
      { class: "panel chat-settings", id: "chat-settings" },
      this.nodes.summary,
      el("div", { class: "chat-setting-grid" }, this.sampling.build()),
    );
    this.nodes.settings.addEventListener("input", () => this.summarize());
    this.summarize();
    fill(
      this.root,
      el(
        "div",
        { class: "run-head" },
        el("h1", {}, "Chat with ", el("a", { href: `#/runs/${run.id}`, text: `#${run.id} ${run.name}` })),
        el("span", { class: `status ${run.status}`, text: run.status }),
      ),
      el("p", { class: "facts", text: "Both models answer each message in turn, with the same settings and seed. A turn both answered is kept with the run." }),
      this.nodes.settings,
      el("div", { class: "chat-panes" }, [...this.panes.values()].map((pane) => pane.node)),
      form,
      this.nodes.promptError,
      this.nodes.status,
    );
  }

  /** The kept conversation: its turns in each pane, its settings in the form; the next message goes on with it. */
  showKept(conversation) {
    this.conversationId = conversation.id;
    this.sampling.show(conversation.settings || {});
    this.summarize();
    for (const turn of conversation.turns || []) {
      for (const [model, pane] of this.panes) {
        const answer = (turn.answers || {})[model];
        if (answer) pane.turn(turn.prompt, answer);
      }
    }
    this.status(`The kept conversation (${conversation.turns.length} turn${conversation.turns.length === 1 ? "" : "s"}): a message goes on with it; New chat starts another.`);
  }

  /** The settings in one line, as the app's status line says them: `Settings · greedy · max 256 tokens · seed 0`. */
  summarize() {
    const values = this.sampling.values();
    const parts = ["Settings"];
    if (values.temperature !== undefined && values.temperature < this.greedyBelow) parts.push("greedy");
    else if (values.temperature !== undefined) parts.push(`temperature ${values.temperature} · top p ${values.top_p ?? "—"}`);
    if (values.max_new_tokens !== undefined) parts.push(`max ${Number(values.max_new_tokens).toLocaleString("en")} tokens`);
    if (values.seed !== undefined) parts.push(`seed ${values.seed}`);
    if (values.system_prompt) parts.push("system prompt set");
    if (values.stop && values.stop.length) parts.push(`${values.stop.length} stop string${values.stop.length > 1 ? "s" : ""}`);
    this.nodes.summary.textContent = parts.join(" · ");
  }

  status(text) {
    this.nodes.status.textContent = text || "";
  }

  setWriting(writing) {
    this.writing = writing;
    this.nodes.send.disabled = writing;
    this.nodes.fresh.disabled = writing;
    this.nodes.stop.disabled = !writing;
    this.root.querySelector(".chat-panes").dataset.writing = writing ? "true" : "false";
  }

  async send() {
    const prompt = this.nodes.prompt.value.trim();
    if (!prompt || this.writing || this.gone) return;
    this.nodes.promptError.textContent = "";
    this.sampling.clear();
    banner(null);
    if (prompt.length > this.maxCharacters) {
      this.nodes.promptError.textContent = `This message is ${prompt.length.toLocaleString("en")} characters, longer than any model reads (at most ${this.maxCharacters.toLocaleString("en")}): shorten it.`;
      return;
    }
    const typed = this.nodes.prompt.value;
    this.nodes.prompt.value = "";
    for (const pane of this.panes.values()) pane.turn(prompt);
    this.setWriting(true);
    this.status("writing…");
    this.controller = new AbortController();
    this.loadedNow = new Set();
    let opened = false;
    let end = null;
    try {
      await postEventStream(
        `/runs/${this.id}/chat`,
        { prompt, conversation_id: this.conversationId, models: this.models, sampling: this.sampling.values() },
        {
          signal: this.controller.signal,
          onMessage: ({ event, data }) => {
            opened = true;
            if (this.gone) return;
            this.receive(event, data);
            if (event === "end") end = data;
          },
        },
      );
    } catch (error) {
      if (this.gone || error.name === "AbortError") return;
      if (!opened) {
        // Refused before anything was written: the prompt goes back to the box, the turn away.
        for (const pane of this.panes.values()) pane.drop();
        this.nodes.prompt.value = typed;
        if (!this.sampling.fail(error.field, forTheBrowser(error.message))) {
          if (error.field === "prompt") this.nodes.promptError.textContent = forTheBrowser(error.message);
          else this.onError(error);
        } else this.nodes.settings.open = true;
        this.status("");
      } else {
        this.onError(error);
      }
    } finally {
      if (!this.gone) {
        for (const pane of this.panes.values()) pane.abandon();
        this.setWriting(false);
        this.controller = null;
        if (end) this.ended(end);
        else if (opened) this.status("The answer was cut off (the connection ended): it is not kept.");
      }
    }
  }

  receive(event, data) {
    const pane = data.model ? this.panes.get(data.model) : null;
    if (event === "loaded" && pane) pane.loaded(data);
    else if (event === "chunk" && pane) pane.add(data.text);
    else if (event === "done" && pane) pane.finish(data.answer);
    if (event === "loaded" && pane) this.loadedNow.add(data.model);
    else if (event === "error") {
      // Before its `loaded`, a model's error is why it could not load.
      if (pane && !this.loadedNow.has(data.model)) pane.failedToLoad(data.message);
      if (pane) pane.fail(data.message);
      else banner(forTheBrowser(data.message));
    }
  }

  ended(end) {
    if (end.kept) {
      this.conversationId = end.conversation_id;
      this.status("Kept with the run.");
    } else {
      this.status("This turn is not kept (it was stopped, or a model failed): the next message goes on from the turn before.");
    }
  }

  async stop() {
    if (!this.writing) return;
    this.nodes.stop.disabled = true;
    this.status("stopping…");
    try {
      await call("POST", `/runs/${this.id}/chat/stop`, {});
    } catch (error) {
      if (!this.gone) this.onError(error);
    }
  }

  newChat() {
    if (this.writing) return;
    this.conversationId = null;
    for (const pane of this.panes.values()) pane.clear();
    this.status("A new conversation: the next message starts it.");
    this.nodes.prompt.focus();
  }
}
