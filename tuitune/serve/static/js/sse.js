// A run's live stream. EventSource cannot send an Authorization header, so the stream is read
// with fetch() and parsed here, following the event-stream format of the HTML standard
// (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation).

import { AuthError, headers } from "./api.js";

/** Turns chunks of an event stream into {event, data, id} messages. */
export class EventStreamParser {
  constructor(onMessage) {
    this.onMessage = onMessage;
    this.pending = "";
    this.lastId = "";
    this.reset();
  }

  reset() {
    this.event = "";
    this.data = [];
  }

  feed(chunk) {
    let text = this.pending + chunk;
    // A chunk may end between the "\r" and "\n" of one line ending: keep the "\r" for the next.
    let carry = "";
    if (text.endsWith("\r")) {
      carry = "\r";
      text = text.slice(0, -1);
    }
    const lines = text.split(/\r\n|\r|\n/);
    this.pending = lines.pop() + carry;
    for (const line of lines) this.line(line);
  }

  line(line) {
    if (line === "") {
      if (this.data.length) this.onMessage({ event: this.event || "message", data: this.data.join("\n"), id: this.lastId });
      this.reset();
      return;
    }
    if (line.startsWith(":")) return; // a comment: the server's keep-alive ping
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.event = value;
    else if (field === "data") this.data.push(value);
    else if (field === "id" && !value.includes("\0")) this.lastId = value;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
// The server pings every 15 s; this long without a byte means the connection is dead.
const SILENCE_MS = 45_000;

/**
 * Follows `url` until an `end` message, reconnecting (with Last-Event-ID) after any break.
 * onMessage({event, data, id}) gets each message with `data` parsed as JSON;
 * onState("live" | "reconnecting" | "ended" | "refused", detail) says how the stream is doing.
 */
export class LiveStream {
  constructor(url, { onMessage, onState, lastEventId = "" }) {
    this.url = url;
    this.onMessage = onMessage;
    this.onState = onState || (() => {});
    this.lastEventId = lastEventId;
    this.stopped = false;
    this.controller = null;
  }

  start() {
    this.loop();
    return this;
  }

  stop() {
    this.stopped = true;
    if (this.controller) this.controller.abort();
  }

  async loop() {
    let delay = 500;
    while (!this.stopped) {
      try {
        if (await this.readOnce()) {
          this.onState("ended");
          return;
        }
        delay = 500; // it was connected: the next try is quick
      } catch (error) {
        if (this.stopped) return;
        if (error instanceof AuthError) {
          this.onState("refused", error);
          return;
        }
        if (error.status === 404) {
          this.onState("refused", error);
          return;
        }
      }
      if (this.stopped) return;
      this.onState("reconnecting");
      await sleep(delay);
      delay = Math.min(delay * 2, 10_000);
    }
  }

  /** One connection; true when the stream ended with `end`. */
  async readOnce() {
    this.controller = new AbortController();
    const extra = { Accept: "text/event-stream" };
    if (this.lastEventId) extra["Last-Event-ID"] = this.lastEventId;
    const response = await fetch(this.url, { headers: headers(extra), signal: this.controller.signal, cache: "no-store" });
    if (response.status === 401) throw new AuthError("The server refused the token.");
    if (!response.ok) {
      const error = new Error(`The stream answered HTTP ${response.status}.`);
      error.status = response.status;
      throw error;
    }
    this.onState("live");
    let ended = false;
    const parser = new EventStreamParser((message) => {
      if (message.id) this.lastEventId = message.id;
      let data = null;
      try {
        data = JSON.parse(message.data);
      } catch {
        return; // not ours
      }
      if (message.event === "end") ended = true;
      this.onMessage({ event: message.event, data, id: message.id });
    });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let watchdog = null;
    const arm = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => this.controller.abort(), SILENCE_MS);
    };
    try {
      arm();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        arm();
        parser.feed(value);
        if (ended) break;
      }
    } finally {
      clearTimeout(watchdog);
      reader.cancel().catch(() => {});
    }
    return ended;
  }
}
