// The desk: asks for a token first (kept in sessionStorage), then asks the server who that is
// (GET /api/v1/session) and shows only the panels, and their links, that the token's role may use;
// the API still refuses the others by itself. A server without that endpoint gets every panel,
// each closing with a note on a 403. A 401 anywhere signs out and asks again. The live panels
// refresh on their own (refresh.js).

import { api, clearToken, getToken, setToken } from "./api.js";
import { createApplications, fillSelect } from "./applications.js";
import { createAudit } from "./audit.js";
import { createCharts } from "./charts.js";
import { createDeadlines } from "./deadlines.js";
import { $$ } from "./dom.js";
import { createIncidents } from "./incidents.js";
import { createPipeline } from "./pipeline.js";
import { createQueues } from "./queues.js";
import { createRedrives } from "./redrives.js";
import { createRefresher } from "./refresh.js";
import { createTimeline } from "./timeline.js";

const settings = JSON.parse(document.getElementById("towns-settings").textContent);

const signin = document.getElementById("signin");
const signinMessage = document.getElementById("signin-message");
const tokenForm = document.getElementById("token-form");
const tokenInput = document.getElementById("token-input");
const desk = document.getElementById("desk");
const session = document.getElementById("session");
const sessionLabel = document.getElementById("session-label");

// The call selects: the pipeline and the applications may show every call, the report needs one.
const calls = settings.calls.map((c) => [c.id, `${c.id} — ${c.title}`]);
fillSelect(document.getElementById("pipeline-call"), calls, "all calls");
fillSelect(document.getElementById("filter-call"), calls, "all calls");
fillSelect(document.getElementById("deadline-call"), calls, null);
if (settings.calls.length === 1) {
  for (const select of $$(".call-select")) select.value = settings.calls[0].id;
}

const timeline = createTimeline(settings);
const applications = createApplications(settings, { onOpen: (callId, ref) => timeline.open(callId, ref) });
const pipeline = createPipeline(settings, {
  onCell: ({ city, status, callId }) => applications.show({ city, status, callId }),
});
const deadlines = createDeadlines(settings, { onOpen: (callId, ref) => timeline.open(callId, ref) });
const audit = createAudit();
const incidents = createIncidents();
const charts = createCharts();
const redrives = createRedrives();
const queues = createQueues({ onRedriven: () => { redrives.refresh(); incidents.refresh(); charts.refresh(); } });
const panels = [audit, pipeline, applications, timeline, deadlines, incidents, charts, queues, redrives];
// The panels loaded when the desk opens, by data-panel name (the timeline opens on demand).
const loaders = { audit, pipeline, applications, deadlines, incidents, charts, queues, redrives };
const deskRole = document.getElementById("desk-role");
let sessionGeneration = 0;

const refresher = createRefresher({
  toggle: document.getElementById("refresh-toggle"),
  state: document.getElementById("refresh-state"),
});
for (const [name, panel] of Object.entries({ pipeline, incidents, charts, queues, redrives })) {
  const section = document.getElementById(`panel-${name}`);
  refresher.register(name, () => panel.refresh(), () => !desk.hidden && !section.hidden
    && section.dataset.state === "ready");
}

/** Shows the panels (and nav links) named in ``allowed``; every panel when null. */
function showPanels(allowed) {
  for (const section of $$("section[data-panel]", desk)) {
    const name = section.dataset.panel;
    if (name === "timeline") continue; // opened from a list, by a role that has the list
    section.hidden = allowed !== null && !allowed.has(name);
  }
  for (const link of $$("[data-nav]", desk)) {
    link.hidden = allowed !== null && !allowed.has(link.dataset.nav);
  }
  const live = ["pipeline", "incidents", "charts", "queues", "redrives"];
  document.querySelector('[data-test="refresh-tools"]').hidden =
    allowed !== null && !live.some((name) => allowed.has(name));
}

function showSignin(message = "") {
  sessionGeneration++;
  refresher.stop();
  for (const panel of panels) panel.reset();
  desk.hidden = true;
  session.hidden = true;
  signin.hidden = false;
  signinMessage.hidden = !message;
  signinMessage.textContent = message;
  document.body.dataset.view = "signin";
  tokenInput.value = "";
  tokenInput.focus();
}

async function showDesk() {
  const token = getToken();
  const generation = ++sessionGeneration;
  signin.hidden = true;
  signinMessage.hidden = true;
  showPanels(new Set()); // nothing until the server says what this role may use
  desk.hidden = false;
  session.hidden = false;
  sessionLabel.textContent = `Signed in with token ••••${token.slice(-4)}`;
  document.body.dataset.view = "desk";
  let allowed = null;
  try {
    const who = await api("/api/v1/session");
    if (generation !== sessionGeneration) return;
    allowed = new Set(who.panels);
    sessionLabel.textContent = `${who.principal} (${who.role}) · token ••••${token.slice(-4)}`;
    deskRole.hidden = true;
    document.body.dataset.role = who.role;
  } catch (error) {
    if (generation !== sessionGeneration || error.status === 401) return;
    // An older server, or no answer: every panel, each saying what the API refuses.
    deskRole.hidden = false;
    deskRole.textContent = `Could not ask the server which panels your role may use (${error.status || "no answer"} ${error.code}); every panel is shown.`;
  }
  showPanels(allowed);
  for (const [name, panel] of Object.entries(loaders)) {
    if (allowed === null || allowed.has(name)) panel.load();
  }
  refresher.start();
}

tokenForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const token = tokenInput.value.trim();
  if (!token) return;
  if (!/^[\x21-\x7e]+$/.test(token)) {
    // A header carries only such characters: the browser would refuse to send any other.
    showSignin("A token is printable ASCII without spaces; this one cannot be sent.");
    return;
  }
  setToken(token);
  showDesk();
});

document.getElementById("sign-out").addEventListener("click", (event) => {
  event.preventDefault();
  clearToken();
  showSignin();
});

window.addEventListener("towns:unauthenticated", (event) => {
  // Once per token: the other panels' 401s for the same token, or late answers to a token
  // already replaced, change nothing.
  if (!getToken() || event.detail.token !== getToken()) return;
  clearToken();
  showSignin("That token was not accepted (401 unauthenticated). Enter a valid token.");
});

if (getToken()) showDesk();
else showSignin();
