// (being written)
import { el, fill } from "./dom.js";

export class NewRunPage {
  constructor(root, params, onError) {
    this.root = root;
    this.params = params;
    this.onError = onError;
  }

  mount() {
    fill(this.root, el("p", { class: "muted", text: "This page is being written." }));
  }

  unmount() {}
}
