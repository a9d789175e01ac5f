// One application's timeline: GET …/{call_id}/{ref}/history (every event with both times, its
// actor, message id and hash link; chain_intact) and GET …/{call_id}/{ref}?as_of=&known_at=&version=
// for its state now or at a point: the three combine (an event counts when it passes each one
// given). Events that do not count at the point are dimmed; clicking an event stands just after
// it (its business time as as_of, its record time as known_at).
//
// The address bar follows: "#/app/CALL/REF?as_of=…&known_at=…" (route.js) opens that application
// at that point once the desk is shown, and every change of application or point rewrites it, so
// that it is always a link to what is on screen.

import { api, withQuery } from "./api.js";
import { $$, badge, cityName, clear, fact, h, instant, number, shortHash } from "./dom.js";
import { Panel } from "./panel.js";
import { clearRoute, parseRoute, routeHash, routeLink, showRoute } from "./route.js";
import { pointText, readPoint } from "./time.js";

const NO_POINT = Object.freeze({ as_of: "", known_at: "", version: "" });
const isPoint = (point) => Boolean(point && (point.as_of || point.known_at || point.version));

export function createTimeline(settings) {
  const panel = new Panel("panel-timeline");
  const refLabel = document.getElementById("timeline-ref");
  const chain = document.getElementById("chain-status");
  const stateBox = document.getElementById("timeline-state");
  const answerBox = document.getElementById("deadline-answer");
  const rows = document.getElementById("timeline-rows");
  const form = document.getElementById("asof-form");
  const inputs = {
    as_of: document.getElementById("asof-input"),
    known_at: document.getElementById("knownat-input"),
    version: document.getElementById("asof-version"),
  };
  const pointError = document.getElementById("asof-error");
  const result = document.getElementById("asof-result");
  const copyButton = document.getElementById("copy-link");
  const copyStatus = document.getElementById("copy-status");

  let current = null; // {callId, ref, events, point}
  let pointGeneration = 0;

  function path(callId, ref) {
    return `/api/v1/applications/${encodeURIComponent(callId)}/${encodeURIComponent(ref)}`;
  }

  /** Opens an application, at a point if one is given; ``errors`` are a link's mistakes. */
  async function open(callId, ref, point = NO_POINT, { fromRoute = false, errors = [] } = {}) {
    const latest = panel.begin();
    pointGeneration++;
    panel.section.hidden = false;
    refLabel.textContent = `${ref} · ${callId}`;
    current = null;
    clear(rows);
    clear(stateBox);
    answerBox.hidden = true;
    result.hidden = true;
    copyStatus.textContent = "";
    setChain(null);
    fillInputs(point, errors);
    if (!fromRoute) showRoute(routeHash(callId, ref, point), true);
    panel.section.scrollIntoView({ behavior: "smooth", block: "start" });
    let history;
    try {
      history = await api(`${path(callId, ref)}/history`);
    } catch (error) {
      if (!latest()) return;
      if (error.status === 404 && error.code === "unknown_application") {
        panel.setState("error", `No application “${ref}” in ${callId}: it was never submitted, or your role may not read it (404 unknown_application).`);
      } else {
        panel.fail(error);
      }
      return;
    }
    if (!latest()) return;
    current = { callId, ref, events: history.items, point: { ...NO_POINT } };
    setChain(history);
    renderEvents(history);
    panel.ready();
    await applyPoint(point, { keepHash: errors.length > 0 });
    if (errors.length) showPointError(`This link's point was not understood — ${errors.join("; ")}. The application is shown without that part.`);
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

  // -- the point -------------------------------------------------------------------------------

  function fillInputs(point, errors = []) {
    inputs.as_of.value = point.as_of ? pointText(point.as_of) : "";
    inputs.known_at.value = point.known_at ? pointText(point.known_at) : "";
    inputs.version.value = point.version || "";
    for (const input of Object.values(inputs)) input.removeAttribute("aria-invalid");
    pointError.hidden = !errors.length;
  }

  /** The point the form asks for, or throws the first thing wrong with it (in words). */
  function formPoint() {
    const point = { ...NO_POINT };
    const problems = [];
    for (const [name, label] of [["as_of", "As of"], ["known_at", "As known at"]]) {
      const read = readPoint(inputs[name].value);
      inputs[name].toggleAttribute("aria-invalid", Boolean(read.error));
      if (read.error) problems.push(`${label}: ${read.error}`);
      else point[name] = read.iso;
    }
    const version = inputs.version.value.trim();
    const versionOk = !version || /^[1-9]\d{0,8}$/.test(version);
    inputs.version.toggleAttribute("aria-invalid", !versionOk);
    if (!versionOk) problems.push(`After version: "${version}" is not a whole number from 1`);
    else point.version = version;
    if (problems.length) throw new Error(problems.join("; "));
    return point;
  }

  function showPointError(message) {
    pointError.hidden = !message;
    pointError.textContent = message || "";
  }

  /** Shows the state at a point (none: now), dims what does not count, rewrites the address. */
  async function applyPoint(point, { keepHash = false, markVersion = null } = {}) {
    if (!current) return;
    const generation = ++pointGeneration;
    const { callId, ref } = current;
    const wanted = { ...NO_POINT, ...point };
    current.point = wanted;
    fillInputs(wanted);
    showPointError("");
    copyStatus.textContent = "";
    if (!keepHash) showRoute(routeHash(callId, ref, wanted), false);
    markRow(markVersion);
    const pointed = isPoint(wanted);
    let state;
    try {
      state = await api(withQuery(path(callId, ref), pointed ? wanted : {}));
    } catch (error) {
      if (generation !== pointGeneration || !current || current.ref !== ref) return;
      if (error.status === 404 && error.code === "unknown_application" && pointed) {
        clear(stateBox);
        answerBox.hidden = true;
        showResult(wanted, null);
        dim([]);
      } else if (error.status === 422) {
        showPointError(`The service did not take this point: ${error.message} (422 ${error.code}).`);
      } else if (error.status !== 401) {
        showPointError(`Could not read the state: ${error.message} (${error.status} ${error.code}).`);
      }
      return;
    }
    if (generation !== pointGeneration || !current || current.ref !== ref) return;
    renderState(state, pointed);
    renderDeadline(state, pointed);
    if (pointed) {
      dim(state.counted_versions || []);
      showResult(wanted, state);
    } else {
      dim(null);
      result.hidden = true;
    }
  }

  function pointLabel(point) {
    const parts = [];
    if (point.as_of) parts.push(h("span", { "data-test": "point-as-of", dataset: { value: point.as_of } }, "as of ", instant(point.as_of)));
    if (point.known_at) parts.push(h("span", { "data-test": "point-known-at", dataset: { value: point.known_at } }, "as known at ", instant(point.known_at)));
    if (point.version) parts.push(h("span", { "data-test": "point-version" }, `after version ${point.version}`));
    const joined = [];
    parts.forEach((part, i) => { if (i) joined.push(" · "); joined.push(part); });
    return joined;
  }

  function showResult(point, state) {
    result.hidden = false;
    result.className = "asof-result note note--info";
    result.dataset.asOf = point.as_of || "";
    result.dataset.knownAt = point.known_at || "";
    const total = current ? current.events.length : 0;
    clear(result).append(
      h("span", {}, "At the point ", ...pointLabel(point), ": "),
      state
        ? h("span", {}, h("strong", { "data-test": "asof-status", dataset: { status: state.status } }, state.status.replace(/_/g, " ")),
          ` (version ${state.version}; ${(state.counted_versions || []).length} of ${total} events count)`)
        : h("strong", { "data-test": "asof-status", dataset: { status: "" } }, "not submitted yet"),
    );
  }

  // -- the state and the deadline answer --------------------------------------------------------

  function renderState(state, pointed) {
    const materials = state.materials || {};
    clear(stateBox).append(h("dl", { class: "facts" },
      fact("Town", state.town_name),
      fact("City", cityName(settings, state.city)),
      fact("Track", state.track),
      fact(pointed ? "Status at the point" : "Status now", badge(state.status), "state-status"),
      fact("Version", number(state.version), "state-version"),
      fact("Score", number(state.score)),
      fact("Materials complete", materials.received_at ? instant(materials.received_at)
        : h("span", { class: "muted" }, `not complete (${number(materials.paper_copies)} paper, ${number(materials.electronic_copies)} electronic)`), "state-materials"),
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

  /** "Was its deadline met?", answered in words from the deadline outcome at the point. */
  function renderDeadline(state, pointed) {
    const deadline = state.deadline || {};
    const call = settings.calls.find((c) => c.id === state.call_id);
    const where = pointed ? " at this point" : "";
    const answers = {
      on_time: ["good", "Yes", "the deadline was met", deadline.detail],
      reinstated: ["good", "Yes", "the deadline was met after all: reinstated after a lapse", deadline.detail || "timely evidence reached the service after the check"],
      lapsed: ["bad", "No", "the deadline was missed: the application lapsed", deadline.detail && `at the cutoff: ${deadline.detail}`],
      pending: ["info", "Not yet known", `the deadline check had not run${where}`, "it runs at the cutoff plus the grace period"],
      not_applicable: ["muted", "Not applicable", deadline.detail || "closed before the deadline check", null],
    };
    const [tone, word, sentence, detail] = answers[deadline.outcome] || ["info", "Unknown", deadline.outcome || "no deadline outcome", deadline.detail];
    answerBox.hidden = false;
    answerBox.className = `deadline-answer deadline-answer--${tone}`;
    answerBox.dataset.outcome = deadline.outcome || "";
    clear(answerBox).append(
      h("div", { class: "deadline-question" }, `Deadline met${where}?`),
      h("div", { class: "deadline-verdict" }, h("strong", { "data-test": "deadline-verdict" }, word), ` — ${sentence}.`),
      h("div", { class: "deadline-facts small" },
        detail ? h("span", { "data-test": "deadline-detail" }, detail) : "",
        call ? h("span", {}, detail ? " · " : "", "cutoff ", instant(call.cutoff)) : "",
        " · outcome ", badge(deadline.outcome, "outcome")),
    );
  }

  // -- the events ------------------------------------------------------------------------------

  function renderEvents(history) {
    clear(rows);
    const brokenAt = history.first_break ? history.first_break.version : null;
    let previous = null;
    for (const event of history.items) {
      const linked = previous === null || event.prev_hash === previous.hash;
      const broken = brokenAt !== null && event.version >= brokenAt;
      const actor = event.actor || {};
      const actorTitle = [actor.role, actor.id].filter(Boolean).join(" ") + (actor.organisation ? ` — ${actor.organisation}` : "")
        + (actor.city ? ` (${actor.city})` : "");
      const linkOk = linked && !broken;
      rows.append(h("tr", {
        "data-test": "timeline-event",
        class: `clickable${broken ? " broken" : ""}`,
        title: "Click to see the state just after this event (its business and record times)",
        dataset: { version: String(event.version), type: event.type, occurredAt: event.occurred_at, recordedAt: event.recorded_at },
        onclick: (e) => standAfter(event, e),
      },
      h("td", { class: "num" }, String(event.version)),
      h("td", { "data-test": "event-type", class: "cell-event" }, h("span", { class: "event-type", title: event.type }, event.type),
        h("details", { class: "event-data" }, h("summary", {}, "data"), h("pre", {}, JSON.stringify(event.data, null, 2)))),
      h("td", { "data-test": "event-occurred", class: "nowrap" }, instant(event.occurred_at)),
      h("td", { "data-test": "event-recorded", class: "nowrap" }, instant(event.recorded_at)),
      h("td", { "data-test": "event-actor", class: "ellipsis", title: actorTitle },
        h("span", { class: "actor-role" }, actor.role || ""), " ", actor.id || "",
        actor.organisation ? h("span", { class: "muted small" }, ` · ${actor.organisation}`) : ""),
      h("td", { "data-test": "event-message-id", class: "ellipsis", title: event.message_id }, h("code", {}, event.message_id)),
      h("td", { "data-test": "event-hash", class: "nowrap" }, shortHash(event.hash),
        h("button", { type: "button", class: "copy small", "data-test": "copy-hash", title: "Copy the whole hash", "aria-label": "Copy the whole hash",
          onclick: (e) => { e.stopPropagation(); copyText(event.hash).then((ok) => flash(e.target, ok)); } }, "copy"),
        h("span", { class: linkOk ? "link-ok" : "link-bad", title: linked ? "prev_hash matches the previous event's hash" : "prev_hash does not match the previous event's hash" },
          linkOk ? " ✓" : " ✗")),
      ));
      previous = event;
    }
  }

  /** A click on an event: the point just after it (its business time and its record time). */
  function standAfter(event, click) {
    if (click && (click.target.closest("details, button, a") || String(window.getSelection() || ""))) return;
    const as_of = readPoint(event.occurred_at).iso;
    const known_at = readPoint(event.recorded_at).iso;
    applyPoint({ as_of, known_at, version: "" }, { markVersion: event.version });
  }

  function markRow(version) {
    for (const row of $$('[data-test="timeline-event"]', rows)) {
      row.classList.toggle("at-point", version !== null && row.dataset.version === String(version));
    }
  }

  /** Dims the events that do not count at the point (the service says which do); null: none. */
  function dim(counted) {
    const counts = counted === null ? null : new Set(counted.map(String));
    for (const row of $$('[data-test="timeline-event"]', rows)) {
      row.classList.toggle("after-point", counts !== null && !counts.has(row.dataset.version));
    }
  }

  // -- the link ---------------------------------------------------------------------------------

  async function copyLink() {
    const hash = current ? routeHash(current.callId, current.ref, current.point) : window.location.hash;
    const link = routeLink(hash);
    const ok = await copyText(link);
    copyStatus.textContent = ok ? "Link copied" : "Copy refused by the browser: copy the address bar";
    copyStatus.dataset.link = link;
  }

  function flash(button, ok) {
    const text = button.textContent;
    button.textContent = ok ? "copied" : "failed";
    setTimeout(() => { button.textContent = text; }, 1500);
  }

  /** Route of the address bar, if it is one: the desk is shown and the hash names an application. */
  function route() {
    if (document.body.dataset.view !== "desk") return;
    const parsed = parseRoute(window.location.hash);
    if (!parsed) return;
    if (parsed.error) {
      showBadLink(parsed.error);
      return;
    }
    if (current && current.callId === parsed.callId && current.ref === parsed.ref && !parsed.errors.length) {
      applyPoint(parsed.point);
      return;
    }
    open(parsed.callId, parsed.ref, parsed.point, { fromRoute: true, errors: parsed.errors });
  }

  function showBadLink(message) {
    panel.begin();
    current = null;
    panel.section.hidden = false;
    refLabel.textContent = "";
    clear(rows);
    clear(stateBox);
    answerBox.hidden = true;
    result.hidden = true;
    setChain(null);
    fillInputs(NO_POINT);
    panel.setState("error", message);
    panel.section.scrollIntoView({ behavior: "smooth", block: "start" });
  }

  function close({ forget = false } = {}) {
    panel.reset();
    panel.section.hidden = true;
    current = null;
    pointGeneration++;
    if (forget) clearRoute();
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!current) return;
    let point;
    try {
      point = formPoint();
    } catch (error) {
      showPointError(`${error.message}.`);
      return;
    }
    applyPoint(point);
  });
  document.getElementById("asof-clear").addEventListener("click", () => applyPoint(NO_POINT));
  document.getElementById("timeline-close").addEventListener("click", () => close({ forget: true }));
  copyButton.addEventListener("click", copyLink);
  window.addEventListener("hashchange", route);
  // The link is followed once the desk is shown (after the sign-in, if it asks for one).
  new MutationObserver(route).observe(document.body, { attributes: true, attributeFilter: ["data-view"] });

  return { open: (callId, ref) => open(callId, ref), route, reset: () => close() };
}

/** Copies text to the clipboard; resolves to whether it did. */
export async function copyText(text) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // refused (no permission, no focus): the selection below may still work
  }
  const area = h("textarea", { readonly: true, class: "offscreen" }, text);
  document.body.append(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch {
    ok = false;
  }
  area.remove();
  return ok;
}
