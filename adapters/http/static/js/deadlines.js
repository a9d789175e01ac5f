// The deadline report of a call: GET /api/v1/calls/{call_id}/deadline-report.

import { api } from "./api.js";
import { badge, cityName, clear, fact, h, instant } from "./dom.js";
import { Panel } from "./panel.js";

const OUTCOMES = ["pending", "on_time", "lapsed", "reinstated", "not_applicable"];

export function createDeadlines(settings, { onOpen }) {
  const panel = new Panel("panel-deadlines");
  const callSelect = document.getElementById("deadline-call");
  const outcomeSelect = document.getElementById("deadline-outcome");
  const summary = document.getElementById("deadline-summary");
  const rows = document.getElementById("deadline-rows");
  let report = null;

  async function load() {
    const current = panel.begin();
    const callId = callSelect.value;
    clear(rows);
    clear(summary);
    if (!callId) {
      panel.setState("error", "No call is configured.");
      return;
    }
    try {
      report = await api(`/api/v1/calls/${encodeURIComponent(callId)}/deadline-report`);
      if (!current()) return;
      render();
      panel.ready();
    } catch (error) {
      if (current()) panel.fail(error);
    }
  }

  function render() {
    const counts = Object.fromEntries(OUTCOMES.map((o) => [o, 0]));
    for (const row of report.items) counts[row.outcome] = (counts[row.outcome] || 0) + 1;
    clear(summary).append(h("dl", { class: "facts" },
      fact("Cutoff", instant(report.cutoff)),
      report.check_due_at && fact("Check due", instant(report.check_due_at)),
      report.checked !== undefined && fact("Checked", report.checked ? "yes" : "not yet"),
      fact("Applications", String(report.items.length), "deadline-count"),
      OUTCOMES.map((o) => fact(o.replace(/_/g, " "), String(counts[o] || 0), `deadline-count-${o}`)),
    ));
    const wanted = outcomeSelect.value;
    clear(rows);
    const shown = report.items.filter((row) => !wanted || row.outcome === wanted);
    if (!shown.length) {
      rows.append(h("tr", {}, h("td", { colspan: 6, class: "muted" }, "No application in this report.")));
    }
    for (const row of shown) {
      rows.append(h("tr", { "data-test": "deadline-row", dataset: { ref: row.application_ref, outcome: row.outcome } },
        h("td", {}, h("button", { type: "button", class: "link", onclick: () => onOpen(report.call_id, row.application_ref) }, row.application_ref)),
        h("td", {}, row.city ? cityName(settings, row.city) : ""),
        h("td", {}, badge(row.status)),
        h("td", { "data-test": "deadline-outcome-cell" }, badge(row.outcome, "outcome")),
        h("td", {}, instant(row.materials_received_at)),
        h("td", { class: "detail" }, row.detail),
      ));
    }
  }

  callSelect.addEventListener("change", load);
  outcomeSelect.addEventListener("change", () => report && render());
  document.getElementById("deadline-refresh").addEventListener("click", load);
  return { load, reset: () => { panel.reset(); clear(rows); clear(summary); report = null; } };
}
