// The pipeline: how many applications stand in each state, per jurisdiction.
// Counted from GET /api/v1/applications, paging through every item 500 at a time.

import { api, withQuery } from "./api.js";
import { clear, h } from "./dom.js";
import { Panel } from "./panel.js";

const PAGE = 500;
const REGIONS = { prd: "Pearl River Delta (珠三角)", ewn: "East, west and north (粤东西北)" };

export function createPipeline(settings, { onCell }) {
  const panel = new Panel("panel-pipeline");
  const table = document.getElementById("pipeline-table");
  const summary = document.getElementById("pipeline-summary");
  const callSelect = document.getElementById("pipeline-call");

  async function load({ quiet = false } = {}) {
    const current = panel.begin(quiet);
    const callId = callSelect.value;
    const counts = new Map(); // city → Map(status → n)
    let total = 0;
    let cursor = null;
    if (!quiet) summary.textContent = "Counting…";
    try {
      do {
        const page = await api(withQuery("/api/v1/applications", { call_id: callId, limit: PAGE, cursor }));
        if (!current()) return;
        for (const item of page.items) {
          if (!counts.has(item.city)) counts.set(item.city, new Map());
          const row = counts.get(item.city);
          row.set(item.status, (row.get(item.status) || 0) + 1);
          total += 1;
        }
        cursor = page.next_cursor;
        if (!quiet) summary.textContent = `Counting… ${total} so far`;
      } while (cursor);
      render(counts, total, callId);
      panel.ready();
    } catch (error) {
      if (current() && !panel.failOrStale(error, quiet)) {
        clear(table);
        summary.textContent = "";
      }
    }
  }

  function render(counts, total, callId) {
    const statuses = settings.statuses;
    const cities = settings.jurisdictions.slice();
    for (const city of counts.keys()) {
      if (!cities.some((j) => j.code === city)) cities.push({ code: city, name: city, chinese: "", region: "" });
    }
    const max = Math.max(1, ...Array.from(counts.values(), (row) => Math.max(0, ...row.values())));
    const columnTotals = new Map();

    const head = h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "Jurisdiction"),
      statuses.map((s) => h("th", { scope: "col", class: "num" }, s.replace(/_/g, " "))),
      h("th", { scope: "col", class: "num" }, "Total"),
    ));
    const body = h("tbody");
    let region = null;
    for (const city of cities) {
      if (city.region !== region) {
        region = city.region;
        body.append(h("tr", { class: "group" },
          h("th", { colspan: statuses.length + 2, scope: "rowgroup" }, REGIONS[region] || "Other")));
      }
      const row = counts.get(city.code) || new Map();
      let rowTotal = 0;
      const cells = statuses.map((status) => {
        const n = row.get(status) || 0;
        rowTotal += n;
        columnTotals.set(status, (columnTotals.get(status) || 0) + n);
        return cell(n, max, { city: city.code, status, callId });
      });
      body.append(h("tr", { "data-test": "pipeline-row", dataset: { city: city.code }, class: rowTotal ? "" : "empty" },
        h("th", { scope: "row" }, city.name, city.chinese ? h("span", { class: "muted" }, ` ${city.chinese}`) : ""),
        cells,
        h("td", { class: "num total", "data-test": "pipeline-row-total" }, String(rowTotal)),
      ));
    }
    const foot = h("tfoot", {}, h("tr", {},
      h("th", { scope: "row" }, "All jurisdictions"),
      statuses.map((s) => h("td", { class: "num total", dataset: { status: s } }, String(columnTotals.get(s) || 0))),
      h("td", { class: "num total", "data-test": "pipeline-total" }, String(total)),
    ));
    clear(table).append(head, body, foot);
    const call = callId ? `call ${callId}` : "all calls";
    summary.textContent = `${total} application${total === 1 ? "" : "s"} in ${call}, counted from the applications list. ` +
      "Click a count to list those applications.";
  }

  function cell(n, max, filter) {
    if (!n) return h("td", { class: "num zero", "data-test": "pipeline-cell", dataset: { city: filter.city, status: filter.status, count: "0" } }, "·");
    const level = Math.min(4, Math.ceil((n / max) * 4));
    return h("td", { class: `num level-${level}`, "data-test": "pipeline-cell", dataset: { city: filter.city, status: filter.status, count: String(n) } },
      h("button", { type: "button", class: "cell-link", title: `list ${n} ${filter.status.replace(/_/g, " ")} in ${filter.city}`,
        onclick: () => onCell(filter) }, String(n)));
  }

  document.getElementById("pipeline-refresh").addEventListener("click", () => load());
  callSelect.addEventListener("change", () => load());
  return { load, refresh: () => load({ quiet: true }), reset: () => { panel.reset(); clear(table); summary.textContent = ""; } };
}
