// A panel of the desk: a <section data-panel> with a note (<p data-test="panel-note">) and a body.
//
// data-state on the section says where it stands: loading, ready, forbidden (403: the role may
// not see it; the body is hidden and the note says why), missing (404: the server does not offer
// the endpoint) or error. A 401 is the page's business (it asks for a token again).

import { $ } from "./dom.js";

export class Panel {
  constructor(id) {
    this.section = document.getElementById(id);
    this.note = $('[data-test="panel-note"]', this.section);
    this.generation = 0;
  }

  /** Starts a load; returns a function telling whether that load is still the latest. */
  begin() {
    const generation = ++this.generation;
    this.setState("loading");
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

  reset() {
    this.generation++;
    this.section.removeAttribute("data-state");
    this.section.classList.remove("panel--closed");
    this.note.hidden = true;
    this.note.textContent = "";
  }
}
