// Messages from the server, worded for a browser rather than for a shell.
//
// The engine and the service tell a user what to do next in command-line terms: `tuitune resume
// 4`, `give --max-steps above 12`, `List runs with tuitune runs`. On this page the same advice
// points at the button or the box that does it. One table, applied wherever the page shows such a
// message (a refusal in the banner, a run's error, its events); the app has its own
// (tuitune/tui/wording.py). The log is shown as written.

const RESUME = "`tuitune resume (?:\\d+|RUN)`";

/** [pattern, replacement], applied in order. */
const BROWSER_WORDS = [
  [new RegExp(`${RESUME} continues`, "g"), "Resume continues"],
  [new RegExp(`resume with ${RESUME}`, "g"), "press Resume to go on"],
  [new RegExp(`resumes with ${RESUME}`, "g"), "resumes with its Resume button"],
  [new RegExp(`then ${RESUME}`, "g"), "then press Resume"],
  [new RegExp(RESUME, "g"), "Resume"],
  [/give --epochs or --max-steps to train it further/g, "give a total of steps in the “to step” box and press Train further"],
  [/give --max-steps above (\d+)/g, "give a total of steps above $1 in the “to step” box"],
  [/give --epochs above that/g, "give a total of steps beyond that in the “to step” box"],
  [/ \(`tuitune show \d+` lists them\)/g, ""],
  [/List runs with `tuitune runs`\./g, "The list of runs (Runs, at the top) shows which there are."],
  [/List sweeps with `tuitune sweep list`\./g, "The runs list's sweep filter shows which there are."],
  [/retry with `tuitune merge \d+`/g, "retry the merge from the app or the command line"],
];

/** `message` with command-line advice turned into what to do on this page. */
export function forTheBrowser(message) {
  let text = String(message ?? "");
  for (const [pattern, replacement] of BROWSER_WORDS) text = text.replace(pattern, replacement);
  return text;
}
