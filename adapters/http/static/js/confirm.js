// The operators' confirmation dialog (<dialog id="confirm-dialog">): says what an action will do
// and to what, and resolves true only when the operator confirms it.

import { clear, h } from "./dom.js";

const SHOWN = 20;

/** {title, text, items: [text], count} → Promise<boolean>. */
export function confirmAction({ title, text, items = [], count, confirmLabel = "Confirm" }) {
  const dialog = document.getElementById("confirm-dialog");
  const heading = document.getElementById("confirm-title");
  const body = document.getElementById("confirm-text");
  const list = document.getElementById("confirm-items");
  const countEl = document.getElementById("confirm-count");
  const ok = document.getElementById("confirm-ok");
  const cancel = document.getElementById("confirm-cancel");
  heading.textContent = title;
  body.textContent = text;
  countEl.textContent = String(count);
  clear(list);
  for (const item of items.slice(0, SHOWN)) list.append(h("li", { "data-test": "confirm-item" }, h("code", {}, item)));
  if (count > Math.min(items.length, SHOWN)) {
    list.append(h("li", { class: "muted" }, `… and ${count - Math.min(items.length, SHOWN)} more`));
  }
  ok.textContent = confirmLabel;
  return new Promise((resolve) => {
    const done = (answer) => {
      ok.removeEventListener("click", yes);
      cancel.removeEventListener("click", no);
      dialog.removeEventListener("cancel", no);
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    const yes = (event) => { event.preventDefault(); done(true); };
    const no = (event) => { event.preventDefault(); done(false); };
    ok.addEventListener("click", yes);
    cancel.addEventListener("click", no);
    dialog.addEventListener("cancel", no);
    dialog.showModal();
    cancel.focus();
  });
}
