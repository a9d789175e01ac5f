// A panel of the desk: a <section data-panel> with a note (<p data-test="panel-note">) and a body.
//
// data-state on the section says where it stands: loading, ready, forbidden (403: the role may
// not see it; the body is hidden and the note says why), missing (404: the server does not offer
// the endpoint) or error. A 401 is the page's business (it asks for a token again).
//
// A live panel (one the desk refreshes on its own) has a stamp (<span data-test="stamp">): the
// time of its last good load at +08:00, its UTC in the title. A refresh that fails keeps what the
// panel shows and marks it stale (data-stale on the section, the stamp says since when and why).

import { $, h } from "./dom.js";
import { formatInstant } from "./time.js";

export class Panel {
  constructor(id) {
    this.section = document.getElementById(id);
    this.note = $('[data-test="panel-note"]', this.section);
    this.stamp = $('[data-test="stamp"]', this.section);
    this.generation = 0;
    this.updatedAt = null;
  }

  /** Starts a load; returns a function telling whether that load is still the latest. A quiet
   * load (a refresh) leaves the panel as it is until the answer comes. */
  begin(quiet = false) {
    const generation = ++this.generation;
    if (!quiet) this.setState("loading");
    return () => generation === this.generation;
  }

  setState(state, message = "") {
    this.section.dataset.state = state;
    this.section.classList.toggle("panel--closed", state === "forbidden" || state === "missing");
    this.note.hidden = !message;
    this.note.textContent = message;
    this.note.className = `note ${state === "error" ? "note--error" : state === "ready" ? "" : "note--info"}`;
  }

  ready(message = "") {
    this.setState("ready", message);
    this.updated();
  }

  /** The panel shows data as of now: the stamp says when. */
  updated(when = new Date()) {
    this.updatedAt = when;
    delete this.section.dataset.stale;
    if (!this.stamp) return;
    const shown = formatInstant(when.toISOString());
    this.stamp.dataset.at = when.toISOString();
    this.stamp.classList.remove("stamp--stale");
    this.stamp.title = `updated at ${shown.title}`;
    this.stamp.replaceChildren(`updated at ${shown.text.slice(11, 19)} ${shown.zone}`);
  }

  /** A refresh failed: what is shown stays, marked stale with the reason. */
  stale(error) {
    if (error && error.name === "AbortError") return;
    this.section.dataset.stale = "true";
    if (!this.stamp) return;
    const why = error && error.status ? `${error.status} ${error.code}` : (error && error.message) || "no answer";
    const since = this.updatedAt ? formatInstant(this.updatedAt.toISOString()) : null;
    this.stamp.classList.add("stamp--stale");
    this.stamp.title = `the last refresh failed (${why})${since ? `; shown as of ${since.title}` : ""}`;
    this.stamp.replaceChildren(h("span", { class: "badge badge--warn", "data-test": "stale" }, "stale"),
      since ? ` as of ${since.text.slice(11, 19)} ${since.zone}` : "", h("span", { class: "muted small" }, ` — refresh failed: ${why}`));
  }

  /** Shows an API failure on the panel; true when it is the panel's final word. */
  fail(error) {
    if (error && error.name === "AbortError") return false;
    const status = error && error.status;
    if (status === 403) {
      this.setState("forbidden", `Not available to your role — ${error.message} (403 ${error.code}).`);
    } else if (status === 404 && error.code === "not_found") {
      this.setState("missing", `This server does not offer ${error.path.split("?")[0]} yet (404).`);
    } else if (status === 401) {
      this.setState("error", "The token was refused (401).");
    } else {
      const code = error && error.code ? ` (${status || "no answer"} ${error.code})` : "";
      this.setState("error", `Could not load: ${(error && error.message) || error}${code}.`);
    }
    return true;
  }

  /** A failure of a load: on a panel already showing data (a refresh), it goes stale and keeps
   * it; otherwise the failure is the panel's word. True when the data was kept. */
  failOrStale(error, quiet) {
    if (quiet && this.updatedAt && this.section.dataset.state === "ready" && error && error.status !== 401) {
      this.stale(error);
      return true;
    }
    this.fail(error);
    return false;
  }

  reset() {
    this.generation++;
    this.updatedAt = null;
    this.section.removeAttribute("data-state");
    delete this.section.dataset.stale;
    this.section.classList.remove("panel--closed");
    this.note.hidden = true;
    this.note.textContent = "";
    if (this.stamp) this.stamp.replaceChildren();
  }
}
