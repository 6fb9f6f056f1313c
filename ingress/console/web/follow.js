// follow.js: placeholder until the page is built.
import { h } from "./dom.js";

export function render(main) {
  main.append(h("h1", null, "follow"), h("p", { class: "note" }, "Not built yet."));
}
