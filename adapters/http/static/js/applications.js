// The applications table: GET /api/v1/applications with filters (call, status, city, track) and
// keyset paging (next_cursor). Clicking a row opens its timeline, and so does the search by
// reference of the top bar (search.js).

import { api, withQuery } from "./api.js";
import { $$, badge, cityName, clear, h, instant, number } from "./dom.js";
import { Panel } from "./panel.js";
import { createSearch } from "./search.js";

export function createApplications(settings, { onOpen }) {
  const panel = new Panel("panel-applications");
  const search = createSearch(settings, { onOpen });
  const form = document.getElementById("app-filters");
  const rows = document.getElementById("apps-rows");
  const pageLabel = document.getElementById("apps-page");
  const buttons = {
    first: document.getElementById("apps-first"),
    prev: document.getElementById("apps-prev"),
    next: document.getElementById("apps-next"),
  };
  fillSelect(form.elements.status, settings.statuses.map((s) => [s, s.replace(/_/g, " ")]), "all statuses");
  fillSelect(form.elements.city, settings.jurisdictions.map((j) => [j.code, `${j.name} ${j.chinese}`]), "all jurisdictions");
  fillSelect(form.elements.track, settings.tracks.map((t) => [t, t]), "both tracks");

  // The cursors of the pages visited: cursors[i] opens page i + 1 (null: the first page), all
  // with the filters and page size of the first (a change to the form waits for Apply).
  let cursors = [null];
  let nextCursor = null;
  let paged = null;
  let selected = null;

  function filters() {
    const data = new FormData(form);
    return {
      call_id: data.get("call_id"), status: data.get("status"), city: data.get("city"),
      track: data.get("track"), limit: data.get("limit"),
    };
  }

  async function load() {
    const current = panel.begin();
    const args = paged || (paged = filters());
    const cursor = cursors[cursors.length - 1];
    setPaging(false);
    try {
      const page = await api(withQuery("/api/v1/applications", { ...args, cursor }));
      if (!current()) return;
      nextCursor = page.next_cursor;
      render(page.items, Number(args.limit));
      panel.ready();
    } catch (error) {
      if (current()) {
        clear(rows);
        pageLabel.textContent = "";
        panel.fail(error);
      }
    }
  }

  function render(items, limit) {
    clear(rows);
    if (!items.length) {
      rows.append(h("tr", { class: "empty-row" }, h("td", { colspan: 8, class: "muted", "data-test": "apps-empty" },
        "No application matches these filters.")));
    }
    for (const item of items) {
      const open = () => select(item);
      const row = h("tr", {
        "data-test": "app-row", class: "clickable",
        dataset: { ref: item.application_ref, call: item.call_id, status: item.status },
        onclick: open,
      },
      h("td", {}, h("button", { type: "button", class: "link", "data-test": "app-open", dataset: { ref: item.application_ref },
        onclick: (event) => { event.stopPropagation(); open(); } }, item.application_ref)),
      h("td", {}, item.town_name),
      h("td", {}, cityName(settings, item.city)),
      h("td", {}, item.track),
      h("td", { "data-test": "app-status" }, badge(item.status)),
      h("td", { title: item.deadline && item.deadline.detail }, badge(item.deadline && item.deadline.outcome, "outcome")),
      h("td", { class: "num" }, number(item.score)),
      h("td", {}, instant(item.updated_at)),
      );
      if (selected && selected.ref === item.application_ref && selected.call === item.call_id) row.classList.add("selected");
      rows.append(row);
    }
    const pageNumber = cursors.length;
    const from = (pageNumber - 1) * limit + (items.length ? 1 : 0);
    const to = (pageNumber - 1) * limit + items.length;
    pageLabel.textContent = `Page ${pageNumber} · rows ${from}–${to}${nextCursor ? "" : " · last page"}`;
    setPaging(true);
  }

  function select(item) {
    selected = { ref: item.application_ref, call: item.call_id };
    for (const row of $$('[data-test="app-row"]', rows)) {
      row.classList.toggle("selected", row.dataset.ref === selected.ref && row.dataset.call === selected.call);
    }
    onOpen(item.call_id, item.application_ref);
  }

  function setPaging(enabled) {
    buttons.first.disabled = !enabled || cursors.length === 1;
    buttons.prev.disabled = !enabled || cursors.length === 1;
    buttons.next.disabled = !enabled || !nextCursor;
  }

  function restart() {
    cursors = [null];
    nextCursor = null;
    paged = null;
    return load();
  }

  /** Sets some filters (the others cleared) and shows their first page. */
  function show(values) {
    for (const name of ["status", "city", "track"]) form.elements[name].value = values[name] || "";
    if (values.callId !== undefined) form.elements.call_id.value = values.callId;
    panel.section.scrollIntoView({ behavior: "smooth", block: "start" });
    return restart();
  }

  form.addEventListener("submit", (event) => { event.preventDefault(); restart(); });
  form.addEventListener("reset", () => setTimeout(restart));
  buttons.next.addEventListener("click", () => { if (nextCursor) { cursors.push(nextCursor); load(); } });
  buttons.prev.addEventListener("click", () => { if (cursors.length > 1) { cursors.pop(); load(); } });
  buttons.first.addEventListener("click", restart);

  return {
    load: restart,
    show,
    reset: () => { panel.reset(); search.reset(); clear(rows); pageLabel.textContent = ""; selected = null; },
  };
}

export function fillSelect(select, options, allLabel) {
  clear(select);
  if (allLabel !== null) select.append(h("option", { value: "" }, allLabel));
  for (const [value, label] of options) select.append(h("option", { value }, label));
}
