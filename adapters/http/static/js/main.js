// The desk: asks for a token first (kept in sessionStorage), then loads every panel with it. Each
// panel shows what the token's role may see: a 403 closes that panel with a note. A 401 anywhere
// signs out and asks again.

import { clearToken, getToken, setToken } from "./api.js";
import { createApplications, fillSelect } from "./applications.js";
import { createAudit } from "./audit.js";
import { createDeadlines } from "./deadlines.js";
import { $$ } from "./dom.js";
import { createPipeline } from "./pipeline.js";
import { createQueues } from "./queues.js";
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
const queues = createQueues();
const panels = [audit, pipeline, applications, timeline, deadlines, queues];

function showSignin(message = "") {
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

function showDesk() {
  const token = getToken();
  signin.hidden = true;
  signinMessage.hidden = true;
  desk.hidden = false;
  session.hidden = false;
  sessionLabel.textContent = `Signed in with token ••••${token.slice(-4)}`;
  document.body.dataset.view = "desk";
  audit.load();
  pipeline.load();
  applications.load();
  deadlines.load();
  queues.load();
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
