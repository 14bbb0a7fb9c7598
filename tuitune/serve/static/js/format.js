// Numbers and times as the terminal app shows them.

const DASH = "—";

export function loss(value) {
  return value === null || value === undefined ? DASH : Number(value).toFixed(4);
}

export function rate(value) {
  if (value === null || value === undefined) return DASH;
  return Number(value) === 0 ? "0" : Number(value).toExponential(1);
}

/** A fraction of pairs or groups (0 to 1) as a percentage: "75%". */
export function share(value) {
  return value === null || value === undefined ? DASH : `${Math.round(Number(value) * 100)}%`;
}

/** A key curve's value (a reward margin, a mean reward) to four significant digits. */
export function measure(value) {
  return value === null || value === undefined ? DASH : String(Number(Number(value).toPrecision(4)));
}

export function count(value) {
  return value === null || value === undefined ? DASH : Math.round(value).toLocaleString("en");
}

export function gigabytes(value) {
  return `${Number(value).toFixed(2)} GB`;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return DASH;
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/** "14:02:33" today, "Mar 3 14:02" on another day. */
export function when(iso) {
  if (!iso) return DASH;
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return DASH;
  const today = new Date().toDateString() === date.toDateString();
  return today
    ? date.toLocaleTimeString("en-GB")
    : date.toLocaleString("en-GB", { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

/** Steps as "12 / 40" (or "12" while the total is unknown). */
export function steps(done, total) {
  return total ? `${count(done)} / ${count(total)}` : count(done);
}
