// The dashboard: asks for the token when the server wants one, then shows the runs page
// (#/) or a run's page (#/runs/ID).

import { api, ApiError, AuthError, token } from "./api.js";
import { banner, fill } from "./dom.js";
import { RunPage } from "./run_page.js";
import { RunsPage } from "./runs_page.js";
import { forTheBrowser } from "./wording.js";

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
  const match = location.hash.match(/^#\/runs\/(\d+)$/);
  current = match ? new RunPage(page, Number(match[1]), onError) : new RunsPage(page, onError);
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
