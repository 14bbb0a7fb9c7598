// The calls the runs list, compare, sweep and queue pages make (through api.js's `call`, which
// carries the token and the client header and turns a refusal into the server's words).

import { call } from "./api.js";

export const board = {
  compare: (ids) => call("GET", `/compare?runs=${ids.map(Number).join(",")}`),
  sweeps: () => call("GET", "/sweeps"),
  sweep: (id, by) => call("GET", `/sweeps/${Number(id)}?${new URLSearchParams({ by })}`),
  queue: () => call("GET", "/queue"),
  move: (id, to) => call("POST", `/queue/${Number(id)}/move`, { to }),
  slots: (count) => call("POST", "/queue/slots", { count }),
  pause: (paused) => call("POST", "/queue/pause", { paused }),
};
