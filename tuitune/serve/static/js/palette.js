// One colour per compared run, the same on every chart, legend and table of a page: the run's
// place in the comparison picks it. Eight colours for at most eight runs (GET /compare's limit),
// told apart by most colour-blind readers too (Okabe and Ito's palette, darkened for white paper).

export const COLOURS = ["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#7a5c00", "#56b4e9", "#e69f00", "#3d3d3d"];

export function colourOf(place) {
  return COLOURS[place % COLOURS.length];
}

/** A small square of the run's colour, set from JS (the page's CSP allows no style attributes). */
export function swatch(place) {
  const node = document.createElement("span");
  node.className = "swatch";
  node.style.background = colourOf(place);
  node.setAttribute("aria-hidden", "true");
  return node;
}
