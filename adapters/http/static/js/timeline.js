// One application's timeline: GET …/{call_id}/{ref}/history (every event with both times, its
// actor, message id and hash link; chain_intact) and GET …/{call_id}/{ref}[?as_of=|known_at=]
// for its state now or at a point. Events after the point are dimmed.

import { ApiError, api, withQuery } from "./api.js";
import { $$, badge, cityName, clear, fact, h, instant, localAt, number, offsetMinutes, shortHash } from "./dom.js";
import { Panel } from "./panel.js";

export function createTimeline(settings) {
  const panel = new Panel("panel-timeline");
  const refLabel = document.getElementById("timeline-ref");
  const chain = document.getElementById("chain-status");
  const stateBox = document.getElementById("timeline-state");
  const rows = document.getElementById("timeline-rows");
  const form = document.getElementById("asof-form");
  const kind = document.getElementById("asof-kind");
  const input = document.getElementById("asof-input");
  const versionInput = document.getElementById("asof-version");
  const offset = document.getElementById("asof-offset");
  const result = document.getElementById("asof-result");
  offset.value = settings.default_offset || "+08:00";

  let current = null; // {callId, ref, events}

  function path(callId, ref) {
    return `/api/v1/applications/${encodeURIComponent(callId)}/${encodeURIComponent(ref)}`;
  }

  async function open(callId, ref) {
    const latest = panel.begin();
    panel.section.hidden = false;
    refLabel.textContent = `${ref} · ${callId}`;
    clear(rows);
    clear(stateBox);
    result.hidden = true;
    setChain(null);
    panel.section.scrollIntoView({ behavior: "smooth", block: "start" });
    try {
      const [history, state] = await Promise.all([
        api(`${path(callId, ref)}/history`),
        api(path(callId, ref)),
      ]);
      if (!latest()) return;
      current = { callId, ref, events: history.items };
      setChain(history);
      renderState(state);
      renderEvents(history);
      presetPoint();
      panel.ready();
    } catch (error) {
      if (latest()) panel.fail(error);
    }
  }

  function setChain(history) {
    if (!history) {
      chain.textContent = "";
      chain.className = "badge";
      delete chain.dataset.intact;
      return;
    }
    const intact = history.chain_intact;
    chain.dataset.intact = String(intact);
    chain.className = `badge ${intact ? "badge--good" : "badge--bad"}`;
    const brk = history.first_break;
    chain.textContent = intact ? "hash chain intact" : `hash chain broken${brk ? ` at v${brk.version}: ${brk.reason}` : ""}`;
  }

  /** The state's facts and criteria; ``which`` (as_of, known_at or version) at a point. */
  function renderState(state, which = null) {
    const deadlineLabel = which ? "Deadline (at the point)" : "Deadline";
    const deadline = state.deadline || {};
    clear(stateBox).append(h("dl", { class: "facts" },
      fact("Town", state.town_name),
      fact("City", cityName(settings, state.city)),
      fact("Track", state.track),
      fact(which ? "Status at the point" : "Status now", badge(state.status), "state-status"),
      fact("Version", number(state.version), "state-version"),
      fact(deadlineLabel, h("span", {}, badge(deadline.outcome, "outcome"),
        deadline.detail ? h("div", { class: "muted small", "data-test": "state-deadline-detail" }, deadline.detail) : "")),
      fact("Score", number(state.score)),
      fact("Last event (business time)", instant(state.updated_at)),
    ), criteriaTable(state.criteria || []));
  }

  function criteriaTable(criteria) {
    if (!criteria.length) return h("p", { class: "muted small", "data-test": "state-criteria-none" }, "Not evaluated at this point.");
    return h("table", { class: "criteria", "data-test": "state-criteria" },
      h("thead", {}, h("tr", {}, h("th", {}, "Clause"), h("th", {}, "Outcome"), h("th", {}, "Detail"))),
      h("tbody", {}, ...criteria.map((c) => h("tr", { "data-test": "criterion", dataset: { clause: c.clause, outcome: c.outcome } },
        h("td", { class: "nowrap" }, c.clause), h("td", {}, badge(c.outcome, "outcome")), h("td", {}, c.detail || "")))));
  }

  function renderEvents(history) {
    clear(rows);
    const brokenAt = history.first_break ? history.first_break.version : null;
    let previous = null;
    for (const event of history.items) {
      const linked = previous === null || event.prev_hash === previous.hash;
      const broken = brokenAt !== null && event.version >= brokenAt;
      const actor = event.actor || {};
      rows.append(h("tr", {
        "data-test": "timeline-event",
        class: broken ? "broken" : "",
        dataset: { version: String(event.version), type: event.type, occurredAt: event.occurred_at, recordedAt: event.recorded_at },
      },
      h("td", { class: "num" }, String(event.version)),
      h("td", { "data-test": "event-type" }, h("span", { class: "event-type" }, event.type),
        h("details", { class: "event-data" }, h("summary", {}, "data"), h("pre", {}, JSON.stringify(event.data, null, 2)))),
      h("td", { "data-test": "event-occurred" }, instant(event.occurred_at)),
      h("td", { "data-test": "event-recorded" }, instant(event.recorded_at)),
      h("td", { "data-test": "event-actor" }, h("span", { class: "actor-role" }, actor.role || ""), " ", actor.id || "",
        actor.organisation ? h("div", { class: "muted small" }, actor.organisation) : ""),
      h("td", { "data-test": "event-message-id" }, h("code", {}, event.message_id)),
      h("td", { "data-test": "event-hash", class: "nowrap" }, shortHash(event.hash),
        h("span", { class: linked && !broken ? "link-ok" : "link-bad", title: linked ? "prev_hash matches the previous event's hash" : "prev_hash does not match the previous event's hash" },
          linked && !broken ? " ✓" : " ✗")),
      ));
      previous = event;
    }
  }

  /** Shows the control of the kind of point chosen, and puts the latest event's time (in the
   * chosen offset, to the millisecond: events are often recorded within one second) or the
   * last version in it, so that the point includes that event. */
  function presetPoint() {
    for (const label of $$("[data-point]", form)) label.hidden = label.dataset.point !== (kind.value === "version" ? "version" : "time");
    input.required = kind.value !== "version";
    if (!current || !current.events.length) return;
    if (kind.value === "version") {
      versionInput.value = String(current.events.length);
      return;
    }
    const field = kind.value === "known_at" ? "recorded_at" : "occurred_at";
    const latest = Math.max(...current.events.map((e) => millisecondAtOrAfter(e[field])));
    if (offsetMinutes(offset.value) === null) offset.value = settings.default_offset || "+08:00";
    input.value = localAt(new Date(latest).toISOString(), offset.value, true);
  }

  /** An instant's millisecond, rounded up when it has finer digits (record times have
   * microseconds): the point then still includes that event. */
  function millisecondAtOrAfter(iso) {
    const finer = /\.\d{3}(\d+)/.exec(iso);
    return Date.parse(iso) + (finer && /[1-9]/.test(finer[1]) ? 1 : 0);
  }

  function pointInstant() {
    if (kind.value === "version") {
      const version = Number(versionInput.value);
      if (!Number.isInteger(version) || version < 1) throw new ApiError(0, "invalid_point", "a version is a whole number from 1");
      return String(version);
    }
    const local = input.value;
    if (!local) throw new ApiError(0, "invalid_point", "choose a date and time");
    if (offsetMinutes(offset.value) === null) throw new ApiError(0, "invalid_point", "the offset must look like +08:00");
    const withSeconds = /T\d{2}:\d{2}$/.test(local) ? `${local}:00` : local;
    return `${withSeconds}${offset.value}`;
  }

  async function showPoint(event) {
    event.preventDefault();
    if (!current) return;
    const { callId, ref } = current;
    const which = kind.value;
    let point;
    try {
      point = pointInstant();
    } catch (error) {
      showResult("error", error.message);
      return;
    }
    const label = { known_at: "As known at", as_of: "As of", version: "After version" }[which];
    try {
      const state = await api(withQuery(path(callId, ref), { [which]: point }));
      if (!current || current.ref !== ref) return;
      renderState(state, which);
      dim(state.counted_versions || []);
      showResult("ok", h("span", {}, `${label} ${point}: `, h("strong", { "data-test": "asof-status", dataset: { status: state.status } }, state.status.replace(/_/g, " ")),
        ` (version ${state.version} of ${current.events.length})`));
    } catch (error) {
      if (error.status === 404 && error.code === "unknown_application") {
        clear(stateBox);
        showResult("info", h("span", {}, `${label} ${point}: `, h("strong", { "data-test": "asof-status", dataset: { status: "" } }, "not submitted yet")));
        dim([]);
      } else if (error.status !== 401) {
        showResult("error", `Could not read the state: ${error.message} (${error.status} ${error.code})`);
      }
    }
  }

  /** Dims the events that do not count at the point (the service says which do). */
  function dim(counted) {
    const counts = new Set(counted.map(String));
    for (const row of $$('[data-test="timeline-event"]', rows)) {
      row.classList.toggle("after-point", !counts.has(row.dataset.version));
    }
  }

  function showResult(tone, content) {
    result.hidden = false;
    result.className = `asof-result note ${tone === "error" ? "note--error" : "note--info"}`;
    clear(result).append(content);
  }

  async function now() {
    if (!current) return;
    const { callId, ref } = current;
    result.hidden = true;
    for (const row of $$('[data-test="timeline-event"]', rows)) row.classList.remove("after-point");
    presetPoint();
    try {
      const state = await api(path(callId, ref));
      if (current && current.ref === ref) renderState(state);
    } catch (error) {
      if (error.status !== 401) showResult("error", `Could not read the state: ${error.message}`);
    }
  }

  function close() {
    panel.reset();
    panel.section.hidden = true;
    current = null;
  }

  form.addEventListener("submit", showPoint);
  kind.addEventListener("change", presetPoint);
  document.getElementById("asof-clear").addEventListener("click", now);
  document.getElementById("timeline-close").addEventListener("click", close);
  return { open, reset: close };
}
