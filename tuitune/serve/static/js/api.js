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

/** Any other refusal, with the server's one-line message and the HTTP status. */
export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

// X-Tuitune-Client: a header no other site's page can send here without the server's consent,
// which is how the server tells this page's writes from a cross-site form post.
export function headers(extra = {}) {
  const given = token.get();
  const ours = { ...extra, "X-Tuitune-Client": "1" };
  return given ? { ...ours, Authorization: `Bearer ${given}` } : ours;
}

async function detail(response) {
  const text = await response.text();
  try {
    return JSON.parse(text).detail || text;
  } catch {
    return text || `HTTP ${response.status}`;
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
  if (response.status === 401) throw new AuthError(await detail(response));
  if (!response.ok) throw new ApiError(await detail(response), response.status);
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
  log: (id, tail) => call("GET", `/runs/${id}/log${query({ tail })}`),
  queue: () => call("GET", "/queue"),
  cancel: (id) => call("POST", `/runs/${id}/cancel`),
  resume: (id, body) => call("POST", `/runs/${id}/resume`, body),
};
