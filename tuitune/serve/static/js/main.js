// The dashboard: asks for the token when the server wants one, then shows the page the
// address names (ROUTES). Every page is a class: new Page(root, params, onError), mount(), unmount().

import { api, ApiError, AuthError, token } from "./api.js";
import { ChatPage } from "./chat_page.js";
import { ComparePage } from "./compare_page.js";
import { banner, fill } from "./dom.js";
import { NewRunPage } from "./new_run_page.js";
import { QueuePage } from "./queue_page.js";
import { RunPage } from "./run_page.js";
import { RunsPage } from "./runs_page.js";
import { SweepPage } from "./sweep_page.js";
import { forTheBrowser } from "./wording.js";

/** [address pattern, page]: the first match wins; the groups are the page's params. */
const ROUTES = [
  [/^#\/new(?:\?from=(\d+))?$/, (root, [from], onError) => new NewRunPage(root, { from: from ? Number(from) : null }, onError)],
  [/^#\/runs\/(\d+)\/chat$/, (root, [id], onError) => new ChatPage(root, { id: Number(id) }, onError)],
  [/^#\/runs\/(\d+)$/, (root, [id], onError) => new RunPage(root, Number(id), onError)],
  [/^#\/compare\/(\d+(?:,\d+)*)$/, (root, [ids], onError) => new ComparePage(root, { ids: ids.split(",").map(Number) }, onError)],
  [/^#\/sweeps\/(\d+)$/, (root, [id], onError) => new SweepPage(root, { id: Number(id) }, onError)],
  [/^#\/queue$/, (root, _, onError) => new QueuePage(root, {}, onError)],
];

const page = document.getElementById("page");
const prompt = document.getElementById("token-prompt");
const form = document.getElementById("token-form");
const input = document.getElementById("token-input");
const promptError = document.getElementById("token-error");
let current = null;

function leave() {
  if (current) current.unmount();
  current = null;
}

function route() {
  leave();
  banner(null);
  for (const link of document.querySelectorAll("header nav a[data-page]")) {
    link.classList.toggle("here", location.hash.startsWith(link.getAttribute("href")) && link.getAttribute("href") !== "#/"
      || link.getAttribute("href") === "#/" && (location.hash === "" || location.hash === "#/"));
  }
  for (const [pattern, make] of ROUTES) {
    const match = location.hash.match(pattern);
    if (match) {
      current = make(page, match.slice(1), onError);
      current.mount();
      return;
    }
  }
  current = new RunsPage(page, onError);
  current.mount();
}

function onError(error) {
  if (error instanceof AuthError) {
    token.clear();
    askForToken("The server refused the token: enter it again.");
  } else {
    banner(error instanceof ApiError ? forTheBrowser(error.message) : `Something went wrong: ${error.message}`);
  }
}

/** Show the token form instead of any data; nothing is read until the server accepts a token. */
function askForToken(message = "") {
  leave();
  fill(page);
  prompt.hidden = false;
  promptError.textContent = message;
  input.value = "";
  input.focus();
}

form.addEventListener("submit", async (submitted) => {
  submitted.preventDefault(); // the token must never travel in a URL or a form post
  const given = input.value.trim();
  if (!given) return;
  token.set(given);
  try {
    await api.runs({ limit: 1 });
  } catch (error) {
    token.clear();
    promptError.textContent = error instanceof AuthError ? "The server refused this token." : error.message;
    return;
  }
  input.value = "";
  prompt.hidden = true;
  route();
});

async function start() {
  let health;
  try {
    health = await api.health();
  } catch (error) {
    banner(error.message);
    return;
  }
  document.getElementById("footer").textContent = `tuitune ${health.version}`;
  window.addEventListener("hashchange", () => {
    if (prompt.hidden) route();
  });
  if (health.token_required && !token.get()) askForToken();
  else route();
}

start();
