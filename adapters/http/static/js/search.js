// The search by reference in the top bar: an application reference (or "CALL/REF", or a link's
// "#/app/…") opens that application's timeline. The exact reference is read first (GET the
// application: its events, so it is found even before the lists have caught up); else the
// applications whose reference starts with the text (GET /api/v1/applications?ref_prefix=, at
// most a handful), as typed and then in capitals: one opens, several are offered, none is said.

import { api, withQuery } from "./api.js";
import { badge, clear, h } from "./dom.js";

const SHOWN = 10;

export function createSearch(settings, { onOpen }) {
  const form = document.getElementById("ref-search");
  const input = document.getElementById("ref-search-input");
  const callSelect = document.getElementById("ref-search-call");
  const box = document.getElementById("ref-search-result");
  let generation = 0;

  if (settings.calls.length > 1) {
    callSelect.append(h("option", { value: "" }, "any call"),
      ...settings.calls.map((c) => h("option", { value: c.id, title: c.title }, c.id)));
    callSelect.hidden = false;
  }

  function show(tone, ...content) {
    box.hidden = false;
    box.className = `ref-search-result note ${tone === "error" ? "note--error" : "note--info"}`;
    box.dataset.tone = tone;
    clear(box).append(...content);
  }

  function hide() {
    box.hidden = true;
    clear(box);
  }

  /** The call and the reference a text names. */
  function target(text) {
    for (const call of settings.calls) {
      for (const sep of ["/", " "]) {
        if (text.startsWith(call.id + sep) && text.length > call.id.length + 1) {
          return { callId: call.id, ref: text.slice(call.id.length + 1).trim() };
        }
      }
    }
    const chosen = callSelect.hidden ? (settings.calls.length === 1 ? settings.calls[0].id : "") : callSelect.value;
    return { callId: chosen, ref: text };
  }

  async function exact(callId, ref) {
    try {
      await api(`/api/v1/applications/${encodeURIComponent(callId)}/${encodeURIComponent(ref)}/history`);
      return true;
    } catch (error) {
      if (error.status === 404 && error.code === "unknown_application") return false;
      throw error;
    }
  }

  async function byPrefix(callId, prefix) {
    const page = await api(withQuery("/api/v1/applications", { ref_prefix: prefix, call_id: callId, limit: SHOWN + 1 }));
    return page.items;
  }

  function open(callId, ref) {
    hide();
    onOpen(callId, ref);
  }

  async function search(text) {
    const mine = ++generation;
    if (text.includes("#/app/")) {
      hide();
      window.location.hash = text.slice(text.indexOf("#/app/"));
      return;
    }
    const { callId, ref } = target(text);
    if (!ref) {
      show("info", "Type an application reference, e.g. GZ-2017-001.");
      return;
    }
    show("info", `Looking for “${ref}”…`);
    try {
      if (callId && await exact(callId, ref)) {
        if (mine === generation) open(callId, ref);
        return;
      }
      let items = await byPrefix(callId, ref);
      if (!items.length && ref.toUpperCase() !== ref) items = await byPrefix(callId, ref.toUpperCase());
      if (mine !== generation) return;
      const same = items.filter((i) => i.application_ref === ref || i.application_ref === ref.toUpperCase());
      if (same.length === 1) return open(same[0].call_id, same[0].application_ref);
      if (items.length === 1) return open(items[0].call_id, items[0].application_ref);
      if (!items.length) {
        show("error", h("span", { "data-test": "ref-search-none" },
          `No application “${ref}”${callId ? ` in ${callId}` : ""}: no reference is or starts with it among those your role may read.`));
        return;
      }
      show("info",
        h("div", {}, `References starting with “${ref}”${items.length > SHOWN ? ` (the first ${SHOWN})` : ""}:`),
        h("ul", { class: "ref-search-list" }, ...items.slice(0, SHOWN).map((item) => h("li", {},
          h("button", { type: "button", class: "link", "data-test": "ref-search-candidate", dataset: { ref: item.application_ref, call: item.call_id },
            onclick: () => open(item.call_id, item.application_ref) }, item.application_ref),
          " ", h("span", { class: "muted small" }, `${item.town_name} · `), badge(item.status),
          settings.calls.length > 1 ? h("span", { class: "muted small" }, ` · ${item.call_id}`) : ""))));
    } catch (error) {
      if (mine !== generation || error.status === 401) return;
      const why = error.status === 403 ? "your role may not read applications" : error.message;
      show("error", `Could not search: ${why} (${error.status || "no answer"} ${error.code}).`);
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    search(input.value.trim());
  });
  input.addEventListener("keydown", (event) => { if (event.key === "Escape") hide(); });
  document.addEventListener("click", (event) => { if (!form.contains(event.target)) hide(); });

  return {
    reset: () => { generation++; hide(); input.value = ""; },
  };
}
