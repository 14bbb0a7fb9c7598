// Every call to the server. The token lives in this tab's sessionStorage only (never a URL,
// never localStorage) and goes out as `Authorization: Bearer …` on every call and the stream.

const TOKEN_KEY = "tuitune.token";

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

/** The server refused the token (or none was given): the page asks for it again. */
export class AuthError extends Error {}

/** Any other refusal, with the server's one-line message, the HTTP status and, where the server
 *  named one, the dotted configuration key at fault (`training.learning_rate`). */
export class ApiError extends Error {
  constructor(message, status, field = null) {
    super(message);
    this.status = status;
    this.field = field;
  }
}

// X-Tuitune-Client: a header no other site's page can send here without the server's consent,
// which is how the server tells this page's writes from a cross-site form post.
export function headers(extra = {}) {
  const given = token.get();
  const ours = { ...extra, "X-Tuitune-Client": "1" };
  return given ? { ...ours, Authorization: `Bearer ${given}` } : ours;
}

/** The refusal's words and field, from the server's `{detail, field}` (or its plain text). */
async function refusal(response) {
  const text = await response.text();
  try {
    const body = JSON.parse(text);
    return { message: body.detail || text, field: body.field || null };
  } catch {
    return { message: text || `HTTP ${response.status}`, field: null };
  }
}

export async function call(method, path, body) {
  const json = body !== undefined;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: headers(json ? { "Content-Type": "application/json" } : {}),
      body: json ? JSON.stringify(body) : undefined,
      cache: "no-store",
    });
  } catch (error) {
    throw new ApiError(`Cannot reach the tuitune server (${error.message}): check that it is still running, then reload this page.`, 0);
  }
  if (response.status === 401) throw new AuthError((await refusal(response)).message);
  if (!response.ok) {
    const { message, field } = await refusal(response);
    throw new ApiError(message, response.status, field);
  }
  const type = response.headers.get("content-type") || "";
  return type.startsWith("application/json") ? response.json() : response.text();
}

function query(params) {
  const given = Object.entries(params).filter(([, value]) => value !== undefined && value !== null && value !== "");
  return given.length ? `?${new URLSearchParams(given)}` : "";
}

export const api = {
  /** Needs no token: says whether one is required. */
  health: () => call("GET", "/health"),
  runs: (params = {}) => call("GET", `/runs${query(params)}`),
  run: (id) => call("GET", `/runs/${id}`),
  label: (id, change) => call("PATCH", `/runs/${Number(id)}`, change),
  log: (id, tail) => call("GET", `/runs/${id}/log${query({ tail })}`),
  queue: () => call("GET", "/queue"),
  cancel: (id) => call("POST", `/runs/${id}/cancel`),
  resume: (id, body) => call("POST", `/runs/${id}/resume`, body),
};
