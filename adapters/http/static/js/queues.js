// The operators' panel: GET /api/v1/ops/queues (queues, projections' lag and set-aside events,
// parked messages) and GET /api/v1/ops/dead-letters, with a re-drive button per letter
// (POST /api/v1/ops/dead-letters/requeue {"ids": [id]}).

import { api, withQuery } from "./api.js";
import { clear, fact, h, instant, number } from "./dom.js";
import { Panel } from "./panel.js";

const LETTERS_PAGE = 50;

export function createQueues() {
  const panel = new Panel("panel-queues");
  const summary = document.getElementById("queues-summary");
  const sourceNote = document.getElementById("queues-source-note");
  const queueRows = document.getElementById("queues-rows");
  const projectionRows = document.getElementById("projections-rows");
  const letterRows = document.getElementById("deadletters-rows");
  const letterMessage = document.getElementById("deadletters-message");
  const more = document.getElementById("deadletters-more");
  let nextCursor = null;

  async function load() {
    const current = panel.begin();
    try {
      const [view, letters] = await Promise.all([
        api("/api/v1/ops/queues"),
        api(withQuery("/api/v1/ops/dead-letters", { limit: LETTERS_PAGE })),
      ]);
      if (!current()) return;
      renderView(view);
      clear(letterRows);
      renderLetters(letters);
      panel.ready();
    } catch (error) {
      if (current()) {
        clearAll();
        panel.fail(error);
      }
    }
  }

  function renderView(view) {
    clear(summary).append(h("dl", { class: "facts" },
      fact("Source", view.source === "management_api" ? "RabbitMQ management API" : "AMQP", "queues-source"),
      view.vhost && fact("Virtual host", view.vhost),
      fact("Parked messages", number(view.parked), "queues-parked"),
      view.dead_letters_open !== undefined && fact("Open dead letters", number(view.dead_letters_open), "queues-dead-open"),
    ));
    sourceNote.hidden = !view.note;
    sourceNote.textContent = view.note || "";
    clear(queueRows);
    if (!view.queues.length) {
      queueRows.append(h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No queue to show.")));
    }
    for (const q of view.queues) {
      queueRows.append(h("tr", { "data-test": "queue-row", dataset: { name: q.name } },
        h("td", {}, h("code", {}, q.name), q.exists === false ? h("span", { class: "muted small" }, " (missing)") : ""),
        h("td", { class: "num" }, number(q.ready)),
        h("td", { class: "num" }, number(q.unacknowledged)),
        h("td", { class: "num" }, number(q.consumers)),
        h("td", { class: "num" }, rate(q.publish_rate)),
        h("td", { class: "num" }, rate(q.deliver_rate)),
        h("td", { class: "num" }, rate(q.ack_rate)),
      ));
    }
    clear(projectionRows);
    for (const p of view.projections) {
      projectionRows.append(h("tr", { "data-test": "projection-row", dataset: { name: p.name }, class: p.lag ? "lagging" : "" },
        h("td", {}, p.name),
        h("td", { class: "num" }, number(p.position)),
        h("td", { class: "num" }, number(p.lag)),
        h("td", { class: "num", "data-test": "projection-set-aside", title: "events it could not take: towns projections set-aside" },
          p.set_aside ? h("span", { class: "badge badge--bad" }, number(p.set_aside)) : number(p.set_aside ?? 0)),
      ));
    }
    if (!view.projections.length) {
      projectionRows.append(h("tr", {}, h("td", { colspan: 4, class: "muted" }, "No read model to show.")));
    }
  }

  function renderLetters(page) {
    letterRows.querySelector(".empty-row")?.remove();
    for (const letter of page.items) letterRows.append(letterRow(letter));
    if (!letterRows.children.length) {
      letterRows.append(h("tr", { class: "empty-row" }, h("td", { colspan: 7, class: "muted", "data-test": "deadletters-empty" }, "No open dead letter.")));
    }
    nextCursor = page.next_cursor;
    more.hidden = !nextCursor;
  }

  function letterRow(letter) {
    const button = h("button", { type: "button", class: "small", "data-test": "requeue", dataset: { id: letter.id } }, "Re-drive");
    const row = h("tr", { "data-test": "deadletter-row", dataset: { id: letter.id } },
      h("td", {}, h("code", {}, letter.message_id ?? "—")),
      h("td", {}, h("span", { class: "badge badge--bad" }, letter.code)),
      h("td", { class: "detail" }, letter.detail),
      h("td", {}, instant(letter.first_seen)),
      h("td", { class: "num" }, number(letter.attempts)),
      h("td", {}, letter.body === null
        ? h("span", { class: "muted small", "data-test": "body-not-stored" },
          `not stored: ${number(letter.body_length)} bytes, SHA-256 ${letter.body_sha256}`)
        : h("details", {}, h("summary", {}, letter.body_encoding === "base64" ? "body (base64)" : "body"),
          h("pre", { class: "body" }, letter.body))),
      h("td", {}, button),
    );
    button.addEventListener("click", () => requeue(letter, button, row));
    return row;
  }

  async function requeue(letter, button, row) {
    button.disabled = true;
    button.textContent = "Re-driving…";
    try {
      const answer = await api("/api/v1/ops/dead-letters/requeue", { method: "POST", body: { ids: [letter.id] } });
      say("info", `Re-drove ${answer.requeued} letter${answer.requeued === 1 ? "" : "s"} (${letter.message_id ?? letter.id}).`);
      row.classList.add("requeued");
      button.textContent = "Re-driven";
    } catch (error) {
      button.disabled = false;
      button.textContent = "Re-drive";
      if (error.status !== 401) say("error", `Could not re-drive ${letter.message_id ?? letter.id}: ${error.message} (${error.status} ${error.code}).`);
    }
  }

  function say(tone, text) {
    letterMessage.hidden = false;
    letterMessage.className = `note ${tone === "error" ? "note--error" : "note--info"}`;
    letterMessage.textContent = text;
  }

  async function loadMore() {
    if (!nextCursor) return;
    more.disabled = true;
    try {
      renderLetters(await api(withQuery("/api/v1/ops/dead-letters", { limit: LETTERS_PAGE, cursor: nextCursor })));
    } catch (error) {
      if (error.status !== 401) say("error", `Could not load more dead letters: ${error.message}`);
    } finally {
      more.disabled = false;
    }
  }

  function clearAll() {
    clear(summary);
    clear(queueRows);
    clear(projectionRows);
    clear(letterRows);
    sourceNote.hidden = true;
    letterMessage.hidden = true;
    more.hidden = true;
  }

  more.addEventListener("click", loadMore);
  document.getElementById("queues-refresh").addEventListener("click", () => { letterMessage.hidden = true; load(); });
  return { load, reset: () => { panel.reset(); clearAll(); } };
}

function rate(value) {
  return value === null || value === undefined ? h("span", { class: "muted" }, "—") : Number(value).toFixed(1);
}
