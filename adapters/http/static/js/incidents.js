// The operators' incidents: GET /api/v1/ops/incidents. Read models behind or stalled, events set
// aside (poison), the worker's messages that failed for good (a deadline check, a projection
// actor), and the open dead letters by code. Each list is bounded by the server; totals beside.

import { api } from "./api.js";
import { clear, h, instant, number } from "./dom.js";
import { Panel } from "./panel.js";

const TONE = { ok: "good", lagging: "warn", set_aside: "bad", stalled: "bad" };

export function createIncidents() {
  const panel = new Panel("panel-incidents");
  const body = document.getElementById("incidents-body");
  const count = document.getElementById("incidents-count");

  async function load({ quiet = false } = {}) {
    const current = panel.begin(quiet);
    try {
      const found = await api("/api/v1/ops/incidents");
      if (!current()) return;
      render(found);
      panel.ready();
    } catch (error) {
      if (current() && !panel.failOrStale(error, quiet)) clear(body);
    }
  }

  function render(found) {
    count.textContent = found.count ? `${found.count} open` : "none open";
    count.className = `badge badge--${found.count ? "bad" : "good"}`;
    count.dataset.count = String(found.count);
    const views = h("table", { class: "grid", "data-test": "incidents-projections" },
      h("thead", {}, h("tr", {}, h("th", {}, "Read model"), h("th", {}, "State"), h("th", { class: "num" }, "Position"),
        h("th", { class: "num" }, "Head"), h("th", { class: "num" }, "Lag"), h("th", { class: "num" }, "Set aside"))),
      h("tbody", {}, found.projections.map((p) => h("tr", { "data-test": "incident-projection", dataset: { name: p.name, state: p.state } },
        h("td", {}, p.name), h("td", {}, h("span", { class: `badge badge--${TONE[p.state] || "info"}` }, p.state.replace(/_/g, " "))),
        h("td", { class: "num" }, number(p.position)), h("td", { class: "num" }, number(p.head)),
        h("td", { class: "num" }, number(p.lag)), h("td", { class: "num" }, number(p.set_aside))))));
    if (!found.projections.length) views.tBodies[0].append(h("tr", {}, h("td", { colspan: 6, class: "muted" }, "No read model to show.")));

    const aside = found.set_aside.length
      ? h("table", { class: "grid", "data-test": "incidents-set-aside" },
          h("thead", {}, h("tr", {}, h("th", {}, "Read model"), h("th", { class: "num" }, "Position"), h("th", {}, "Event"),
            h("th", {}, "Application (version)"), h("th", {}, "Why"), h("th", { class: "num" }, "Tries"), h("th", {}, "Set aside at"))),
          h("tbody", {}, found.set_aside.map((s) => h("tr", { "data-test": "incident-set-aside", dataset: { name: s.name, position: String(s.position) } },
            h("td", {}, s.name), h("td", { class: "num" }, number(s.position)), h("td", {}, h("code", {}, s.topic)),
            h("td", {}, s.originator_id ? h("code", { class: "hash", title: s.originator_id }, `${s.originator_id.slice(0, 8)}… v${s.originator_version ?? "?"}`) : "—"),
            h("td", { class: "detail" }, s.reason), h("td", { class: "num" }, number(s.attempts)), h("td", {}, instant(s.set_aside_at))))))
      : h("p", { class: "muted", "data-test": "incidents-set-aside-none" }, "No event set aside.");

    const failures = found.worker_failures.length
      ? h("table", { class: "grid", "data-test": "incidents-failures" },
          h("thead", {}, h("tr", {}, h("th", {}, "Failed at"), h("th", {}, "Actor"), h("th", {}, "Arguments"), h("th", { class: "num" }, "Retries"), h("th", {}, "Error"))),
          h("tbody", {}, found.worker_failures.map((f) => h("tr", { "data-test": "incident-failure", dataset: { actor: f.actor } },
            h("td", {}, instant(f.failed_at)), h("td", {}, h("code", {}, f.actor)), h("td", {}, h("code", {}, String(f.args))),
            h("td", { class: "num" }, number(f.retries)), h("td", { class: "detail" }, f.error)))))
      : h("p", { class: "muted", "data-test": "incidents-failures-none" }, "No worker failure recorded.");

    const letters = found.dead_letters;
    const codes = letters.by_code.length
      ? h("table", { class: "grid narrow", "data-test": "incidents-codes" },
          h("thead", {}, h("tr", {}, h("th", {}, "Code"), h("th", { class: "num" }, "Open"))),
          h("tbody", {}, letters.by_code.map((c) => h("tr", { "data-test": "incident-code", dataset: { code: c.code, count: String(c.count) } },
            h("td", {}, h("span", { class: "badge badge--bad" }, c.code)), h("td", { class: "num" }, number(c.count))))))
      : h("p", { class: "muted", "data-test": "incidents-codes-none" }, "No open dead letter.");

    clear(body).append(
      h("div", { class: "two-cols" },
        h("div", {}, h("h3", {}, "Read models"), views),
        h("div", {}, h("h3", {}, `Open dead letters by code (${letters.open}${letters.truncated ? "+" : ""})`), codes,
          found.parked ? h("p", { class: "small muted" }, `${found.parked} message${found.parked === 1 ? "" : "s"} parked, waiting for a predecessor.`) : "")),
      h("h3", {}, `Events set aside (${found.set_aside_open} open)`), h("div", { class: "scroll-x" }, aside),
      h("h3", {}, `Worker failures (${found.worker_failures_total})`), h("div", { class: "scroll-x" }, failures),
    );
  }

  document.getElementById("incidents-refresh").addEventListener("click", () => load());
  return { load, refresh: () => load({ quiet: true }), reset: () => { panel.reset(); clear(body); count.textContent = ""; } };
}
