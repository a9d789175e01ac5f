// The re-drive history: GET /api/v1/ops/redrives. Who re-drove which dead letters, when and why,
// and what became of each (applied, duplicate, dead-lettered again with its code, parked,
// pending), as the service recorded it.

import { api } from "./api.js";
import { filterText } from "./bulk.js";
import { clear, h, instant } from "./dom.js";
import { Panel } from "./panel.js";
import { outcomeText } from "./queues.js";

const TONE = { applied: "good", duplicate: "muted", dead_lettered_again: "bad", parked: "warn", pending: "info", not_redriven: "muted" };

export function createRedrives() {
  const panel = new Panel("panel-redrives");
  const rows = document.getElementById("redrives-rows");

  async function load({ quiet = false } = {}) {
    const current = panel.begin(quiet);
    try {
      const found = await api("/api/v1/ops/redrives?limit=20");
      if (!current()) return;
      render(found.items);
      panel.ready();
    } catch (error) {
      if (current() && !panel.failOrStale(error, quiet)) clear(rows);
    }
  }

  function render(items) {
    clear(rows);
    if (!items.length) {
      rows.append(h("tr", {}, h("td", { colspan: 5, class: "muted", "data-test": "redrives-none" }, "No re-drive recorded.")));
    }
    for (const item of items) {
      const criteria = filterText(item.filter);
      const what = criteria ? `all open with ${criteria}` : item.all ? "all open" : "chosen";
      const letters = h("ul", { class: "letters" }, item.letters.map((l) => {
        const [tone, text] = outcomeText(l.outcome);
        return h("li", { "data-test": "redrive-letter", dataset: { id: l.id, state: l.outcome.state } },
          h("code", {}, l.message_id ?? l.id), " ", h("span", { class: `badge badge--${tone}` }, l.outcome.state.replace(/_/g, " ")),
          l.outcome.state === "dead_lettered_again" ? h("span", { class: "small" }, ` ${text.replace(/^dead-lettered again: /, "")}`) : "");
      }), item.followed < item.count ? h("li", { class: "muted" }, `… and ${item.count - item.followed} more`) : "");
      rows.append(h("tr", { "data-test": "redrive-row", dataset: { id: item.id } },
        h("td", {}, instant(item.at)),
        h("td", { "data-test": "redrive-by" }, item.by),
        h("td", {}, `${item.count} (${what})`, item.reason ? h("div", { class: "small muted" }, item.reason) : ""),
        h("td", {}, Object.entries(item.outcomes).map(([state, n]) =>
          h("span", { class: `badge badge--${TONE[state] || "info"}`, dataset: { state } }, `${n} ${state.replace(/_/g, " ")}`))),
        h("td", {}, letters)));
    }
  }

  document.getElementById("redrives-refresh").addEventListener("click", () => load());
  return { load, refresh: () => load({ quiet: true }), reset: () => { panel.reset(); clear(rows); } };
}
