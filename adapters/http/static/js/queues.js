// The operators' panel: GET /api/v1/ops/queues (queues, projections' lag and set-aside events,
// parked messages) and GET /api/v1/ops/dead-letters, with a re-drive button per letter and a
// re-drive of every open letter a filter matches (./bulk.js; GET /api/v1/ops/dead-letters/codes
// for the codes to choose from).
//
// A re-drive asks for confirmation (the messages and their count), posts
// POST /api/v1/ops/dead-letters/requeue, then follows the re-drive it answers
// (GET /api/v1/ops/redrives/{redrive_id}) until the consumer has taken each message, and says
// what really happened to each: applied, duplicate, dead-lettered again (code and detail), or
// parked again; still pending after FOLLOW_MS, it says so.

import { api, withQuery } from "./api.js";
import { createBulk } from "./bulk.js";
import { confirmAction } from "./confirm.js";
import { clear, fact, h, instant, number } from "./dom.js";
import { Panel } from "./panel.js";

const LETTERS_PAGE = 50;
const FOLLOW_MS = 60000;
const FOLLOW_EVERY_MS = 1000;

/** An outcome of a re-driven letter as a short text and a tone. */
export function outcomeText(outcome) {
  switch (outcome.state) {
    case "applied": return ["good", "applied"];
    case "duplicate": return ["muted", "duplicate (already applied; nothing changed)"];
    case "dead_lettered_again": return ["bad", `dead-lettered again: ${outcome.code} ${outcome.detail || ""}`.trim()];
    case "parked": return ["warn", `parked again (${outcome.code}): waits for its predecessor`];
    case "pending": return ["info", "re-driven; not taken by the consumer yet"];
    default: return ["muted", outcome.detail || outcome.state];
  }
}

export function createQueues({ onRedriven = () => {} } = {}) {
  const panel = new Panel("panel-queues");
  const summary = document.getElementById("queues-summary");
  const sourceNote = document.getElementById("queues-source-note");
  const queueRows = document.getElementById("queues-rows");
  const projectionRows = document.getElementById("projections-rows");
  const letterRows = document.getElementById("deadletters-rows");
  const letterMessage = document.getElementById("deadletters-message");
  const more = document.getElementById("deadletters-more");
  const bulk = createBulk({ say, follow, rowOf });
  let nextCursor = null;
  const results = new Map(); // letter id → its last re-drive's outcome

  async function load({ quiet = false } = {}) {
    const current = panel.begin(quiet);
    try {
      const [view, letters, codes] = await Promise.all([
        api("/api/v1/ops/queues"),
        api(withQuery("/api/v1/ops/dead-letters", { limit: LETTERS_PAGE })),
        api("/api/v1/ops/dead-letters/codes").catch((error) => (error.status === 404 ? null : Promise.reject(error))),
      ]);
      if (!current()) return;
      renderView(view);
      clear(letterRows);
      renderLetters(letters);
      bulk.renderCodes(codes);
      panel.ready();
    } catch (error) {
      if (current() && !panel.failOrStale(error, quiet)) clearAll();
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
        h("td", { class: "num", "data-test": "projection-lag" }, number(p.lag)),
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
    for (const letter of page.items) {
      letterRows.append(letterRow(letter));
    }
    if (!letterRows.children.length) {
      letterRows.append(h("tr", { class: "empty-row" }, h("td", { colspan: 8, class: "muted", "data-test": "deadletters-empty" }, "No open dead letter.")));
    }
    nextCursor = page.next_cursor;
    more.hidden = !nextCursor;
  }

  function letterRow(letter) {
    const button = h("button", { type: "button", class: "small", "data-test": "requeue", dataset: { id: letter.id } }, "Re-drive");
    const result = h("td", { "data-test": "redrive-result", class: "redrive-result" });
    const row = h("tr", { "data-test": "deadletter-row", dataset: { id: letter.id, code: letter.code, messageId: letter.message_id ?? "" } },
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
      result,
    );
    // A letter re-driven and refused again comes back open: its row says what happened last
    // (followed on this page, else from its record: open after a re-drive is refused again).
    const last = (letter.requeues || [])[letter.requeues ? letter.requeues.length - 1 : 0];
    if (results.has(letter.id)) showResult(result, results.get(letter.id));
    else if (last && letter.open) {
      showResult(result, { state: "dead_lettered_again", code: letter.code, detail: `after the re-drive by ${last.by}` });
      result.title = `re-driven by ${last.by} at ${last.at}; dead-lettered again (attempt ${letter.attempts})`;
    }
    button.addEventListener("click", () => requeueOne(letter, button));
    return row;
  }

  function showResult(cell, outcome) {
    const [tone, text] = outcomeText(outcome);
    const said = outcome.state === "dead_lettered_again" ? text.replace(/^dead-lettered again: /, "") : text;
    cell.replaceChildren(h("span", { class: `badge badge--${tone}`, dataset: { state: outcome.state } }, outcome.state.replace(/_/g, " ")),
      " ", h("span", { class: "small" }, said));
    cell.dataset.state = outcome.state;
  }

  function rowOf(id) {
    return letterRows.querySelector(`tr[data-id="${CSS.escape(id)}"]`);
  }

  async function requeueOne(letter, button) {
    const name = letter.message_id ?? letter.id;
    const confirmed = await confirmAction({
      title: "Re-drive this dead letter?",
      text: `It goes back to towns.inbound as its sender's and is applied again (or refused again). Dead-lettered as ${letter.code}, ${letter.attempts} time${letter.attempts === 1 ? "" : "s"}.`,
      items: [name],
      count: 1,
      confirmLabel: "Re-drive 1 message",
    });
    if (!confirmed) return;
    button.disabled = true;
    button.textContent = "Re-driving…";
    try {
      const answer = await api("/api/v1/ops/dead-letters/requeue", { method: "POST", body: { ids: [letter.id] } });
      button.textContent = "Re-driven";
      rowOf(letter.id)?.classList.add("requeued");
      say("info", `Re-drove ${name}; following it…`, "following");
      await follow(answer, [name]);
    } catch (error) {
      button.disabled = false;
      button.textContent = "Re-drive";
      if (error.status !== 401) say("error", `Could not re-drive ${name}: ${error.message} (${error.status} ${error.code}).`);
    }
  }

  /** Follows a re-drive until no letter is pending (or FOLLOW_MS), showing each outcome. */
  async function follow(answer, names, suffix = "") {
    if (!answer.redrive_id) {
      say("info", "Nothing was re-driven: no open letter matched.", "done");
      return;
    }
    const until = Date.now() + FOLLOW_MS;
    let redrive = null;
    for (;;) {
      redrive = await api(`/api/v1/ops/redrives/${encodeURIComponent(answer.redrive_id)}`);
      for (const letter of redrive.letters) {
        results.set(letter.id, letter.outcome);
        const cell = rowOf(letter.id)?.querySelector('[data-test="redrive-result"]');
        if (cell) showResult(cell, letter.outcome);
      }
      const pending = redrive.letters.some((l) => l.outcome.state === "pending");
      if (!pending || Date.now() > until) break;
      await new Promise((resolve) => setTimeout(resolve, FOLLOW_EVERY_MS));
    }
    onRedriven();
    if (redrive.letters.length === 1 && names) {
      const [tone, text] = outcomeText(redrive.letters[0].outcome);
      say(tone === "bad" ? "error" : "info", `${names[0]}: ${text}.`, redrive.letters[0].outcome.state);
    } else {
      const parts = Object.entries(redrive.outcomes).map(([state, n]) => `${n} ${state.replace(/_/g, " ")}`);
      const again = redrive.letters.filter((l) => l.outcome.state === "dead_lettered_again")
        .map((l) => `${l.message_id ?? l.id}: ${l.outcome.code}`);
      say(again.length ? "error" : "info",
        `Re-drove ${redrive.count}: ${parts.join(", ")}${redrive.followed < redrive.count ? ` (of the first ${redrive.followed} followed)` : ""}` +
        `${again.length ? ` — dead-lettered again: ${again.slice(0, 5).join("; ")}` : ""}${suffix}.`, "done");
    }
    load({ quiet: true });
  }

  function say(tone, text, state = "") {
    letterMessage.hidden = false;
    letterMessage.className = `note ${tone === "error" ? "note--error" : "note--info"}`;
    letterMessage.textContent = text;
    letterMessage.dataset.state = state;
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
  return {
    load,
    refresh: () => load({ quiet: true }),
    reset: () => { panel.reset(); clearAll(); results.clear(); },
  };
}

function rate(value) {
  return value === null || value === undefined ? h("span", { class: "muted" }, "—") : Number(value).toFixed(1);
}
