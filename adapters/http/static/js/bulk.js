// The bulk re-drive of the operators' panel: a filter of the open dead letters (code, event type,
// application ref, call, publisher user, first seen since/until: all must hold; the server's one
// filter, as GET /api/v1/ops/dead-letters and `towns dead-letters requeue` take it), how many it
// matches (GET /api/v1/ops/dead-letters/count, redrawn as the filter changes), then, asked first
// with that count and the first letters it takes, POST /api/v1/ops/dead-letters/requeue with
// {"all": true, ...filter, limit}. A value the server refuses is said beside the count, never sent.

import { api, withQuery } from "./api.js";
import { confirmAction } from "./confirm.js";
import { h } from "./dom.js";

export const BULK_LIMIT = 500;
const SHOWN_ITEMS = 20;
const COUNT_DELAY_MS = 300;
const TEXT_FIELDS = ["type", "ref", "call", "user", "since", "until"];
const WORDS = { code: "code", type: "type", ref: "ref", call: "call", user: "user", since: "first seen since", until: "until" };

/** A filter as a short text: "code schema_invalid, type application.submitted, …". */
export function filterText(filter) {
  return Object.entries(filter || {}).filter(([, value]) => value)
    .map(([name, value]) => `${WORDS[name] || name} ${value}`).join(", ");
}

/** The details of a refused filter as a short text: "since: an ISO 8601 instant …". */
function refusal(error) {
  const details = Object.entries(error.details || {}).map(([name, text]) => `${name}: ${text}`);
  return details.length ? details.join("; ") : error.message;
}

export function createBulk({ say, follow, rowOf }) {
  const form = document.getElementById("bulk-form");
  const code = document.getElementById("bulk-code");
  const inputs = Object.fromEntries(TEXT_FIELDS.map((name) => [name, document.getElementById(`bulk-${name}`)]));
  const button = document.getElementById("bulk-redrive");
  const countNote = document.getElementById("bulk-count");
  let timer = null;
  let asked = 0; // the last count asked for: only its answer is shown
  let busy = false;

  /** The criteria set in the form, as typed: the server says what is wrong with them. */
  function criteria() {
    const found = {};
    if (code.value) found.code = code.value;
    for (const [name, input] of Object.entries(inputs)) if (input.value !== "") found[name] = input.value;
    return found;
  }

  function showCount(state, text) {
    countNote.textContent = text;
    countNote.dataset.state = state;
    countNote.className = `small bulk-count${state === "invalid" ? " bulk-count--bad" : ""}`;
  }

  async function updateCount() {
    const filter = criteria();
    const mine = ++asked;
    button.disabled = busy || !Object.keys(filter).length;
    if (!Object.keys(filter).length) {
      showCount("none", "choose a code or another criterion");
      return;
    }
    try {
      const found = await api(withQuery("/api/v1/ops/dead-letters/count", filter));
      if (mine !== asked) return;
      const open = `${found.open}${found.truncated ? "+" : ""}`;
      const kept = found.redrivable === found.open ? "" : ` (${found.redrivable} can be re-driven)`;
      showCount(found.open ? "counted" : "none", `${open} open letter${found.open === 1 ? "" : "s"} match${found.open === 1 ? "es" : ""}${kept}`);
      countNote.dataset.count = String(found.open);
    } catch (error) {
      if (mine !== asked || error.status === 401) return;
      showCount("invalid", error.status === 422 ? `not a valid filter: ${refusal(error)}` : `could not count: ${error.message}`);
    }
  }

  function changed() {
    button.disabled = busy || !Object.keys(criteria()).length;
    clearTimeout(timer);
    timer = setTimeout(updateCount, COUNT_DELAY_MS);
  }

  /** The open letters with a code (GET /api/v1/ops/dead-letters/codes), the choice kept. */
  function renderCodes(codes) {
    const chosen = code.value;
    code.replaceChildren();
    const entries = codes ? Object.entries(codes.codes) : [];
    code.append(h("option", { value: "" }, entries.length ? "any code" : "no open dead letter"));
    for (const [name, count] of entries) {
      code.append(h("option", { value: name, dataset: { count: String(count) } }, `${name} (${count} open)`));
    }
    if (entries.some(([name]) => name === chosen)) code.value = chosen;
    if (Object.keys(criteria()).length) updateCount();
    else button.disabled = true;
  }

  async function requeueMatching() {
    const filter = criteria();
    if (!Object.keys(filter).length || busy) return;
    const described = filterText(filter);
    let found;
    let first;
    try {
      [found, first] = await Promise.all([
        api(withQuery("/api/v1/ops/dead-letters/count", filter)),
        api(withQuery("/api/v1/ops/dead-letters", { ...filter, limit: SHOWN_ITEMS })),
      ]);
    } catch (error) {
      if (error.status === 422) say("error", `Not a valid filter: ${refusal(error)}.`, "invalid");
      else if (error.status !== 401) say("error", `Could not count the letters matching ${described}: ${error.message}.`);
      return;
    }
    if (!found.redrivable) {
      say("info", `No open dead letter that can be re-driven matches ${described}.`, "done");
      return;
    }
    const taken = Math.min(found.redrivable, BULK_LIMIT);
    const names = first.items.filter((l) => l.body !== null).map((l) => l.message_id ?? l.id);
    const confirmed = await confirmAction({
      title: `Re-drive every open dead letter with ${described}?`,
      text: found.redrivable > BULK_LIMIT
        ? `${found.redrivable}${found.truncated ? "+" : ""} open letters match; one re-drive takes at most ${BULK_LIMIT} (the first recorded): ${taken} now.`
        : `${found.redrivable} open letter${found.redrivable === 1 ? "" : "s"} matching go back to towns.inbound (at most ${BULK_LIMIT} per re-drive).`,
      items: names,
      count: taken,
      confirmLabel: `Re-drive ${taken} message${taken === 1 ? "" : "s"}`,
    });
    if (!confirmed) return;
    busy = true;
    button.disabled = true;
    try {
      const answer = await api("/api/v1/ops/dead-letters/requeue", { method: "POST", body: { all: true, ...filter, limit: BULK_LIMIT } });
      for (const id of answer.ids) rowOf(id)?.classList.add("requeued");
      const left = answer.remaining ? `; ${answer.remaining} more remain (over the limit of ${answer.limit})` : "";
      say("info", `Re-drove ${answer.requeued} letter${answer.requeued === 1 ? "" : "s"} with ${described}${left}; following them…`, "following");
      await follow(answer, null, left);
    } catch (error) {
      if (error.status === 422) say("error", `Not a valid filter: ${refusal(error)}.`, "invalid");
      else if (error.status !== 401) say("error", `Could not re-drive the letters with ${described}: ${error.message} (${error.status} ${error.code}).`);
    } finally {
      busy = false;
      updateCount();
    }
  }

  function clearFilter() {
    code.value = "";
    for (const input of Object.values(inputs)) input.value = "";
    updateCount();
  }

  code.addEventListener("change", changed);
  for (const input of Object.values(inputs)) input.addEventListener("input", changed);
  form.addEventListener("submit", (event) => { event.preventDefault(); updateCount(); });
  button.addEventListener("click", requeueMatching);
  document.getElementById("bulk-clear").addEventListener("click", clearFilter);
  return { renderCodes, refresh: () => (Object.keys(criteria()).length ? updateCount() : null) };
}
