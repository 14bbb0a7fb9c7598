// A POSTed event stream (the chat's answers). EventSource can neither POST nor send the
// Authorization header, so the stream is fetched and read here with sse.js's parser.

import { ApiError, AuthError, headers } from "./api.js";
import { EventStreamParser } from "./sse.js";

/** The refusal's words and field, from the server's `{detail, field}` (or its plain text). */
async function refusal(response) {
  const text = await response.text();
  try {
    const body = JSON.parse(text);
    return new ApiError(body.detail || text, response.status, body.field || null);
  } catch {
    return new ApiError(text || `HTTP ${response.status}`, response.status);
  }
}

/**
 * POST `body` to `path` and hand each server-sent event to onMessage({event, data}) (`data`
 * parsed as JSON) until the server closes the stream. A refusal before the stream opens throws
 * ApiError (with the field the server named) or AuthError; `signal` aborts the request.
 */
export async function postEventStream(path, body, { onMessage, signal }) {
  let response;
  try {
    response = await fetch(path, {
      method: "POST",
      headers: headers({ "Content-Type": "application/json", Accept: "text/event-stream" }),
      body: JSON.stringify(body),
      cache: "no-store",
      signal,
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(`Cannot reach the tuitune server (${error.message}): check that it is still running, then reload this page.`, 0);
  }
  if (response.status === 401) throw new AuthError((await refusal(response)).message);
  if (!response.ok) throw await refusal(response);
  const parser = new EventStreamParser((message) => {
    let data;
    try {
      data = JSON.parse(message.data);
    } catch {
      return; // not ours
    }
    onMessage({ event: message.event, data });
  });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      parser.feed(value);
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}
