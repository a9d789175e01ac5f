// The audit panel: GET /api/v1/audit/verify (province and auditors).
//
// The server answers at once with the last completed verification and runs new ones in the
// background. Until one has completed (state "pending", ok null) the panel keeps loading and
// asks again; while a newer one runs, it shows the last one and asks again until it is in.
// Only ok === true is shown as intact, and only up to checked_to.
//
// Beside it, the evidence (GET /api/v1/audit/evidence): the latest signed tree head and its
// age, whether the witnesses agree with the log (the verification's evidence), and the last
// operator actions, which are events of the log under the same tree.

import { api } from "./api.js";
import { clear, fact, h, instant, number } from "./dom.js";
import { Panel } from "./panel.js";

const POLL_MS = 1500;

export function createAudit() {
  const panel = new Panel("panel-audit");
  const body = document.getElementById("audit-body");

  async function load() {
    const current = panel.begin();
    clear(body).append(h("p", { class: "muted" }, "Verifying the hash chains…"));
    await poll(current);
  }

  async function poll(current) {
    try {
      // Both asked at once; where both fail, the verification's failure is the one said.
      const [asked, witnessed] = await Promise.allSettled([
        api("/api/v1/audit/verify"), api("/api/v1/audit/evidence")]);
      for (const answer of [asked, witnessed]) {
        if (answer.status === "rejected") throw answer.reason;
      }
      const [verdict, evidence] = [asked.value, witnessed.value];
      if (!current()) return;
      if (verdict.state === "pending") {
        clear(body).append(h("p", { class: "muted", "data-test": "audit-pending" },
          "Verifying the hash chains: no verification has completed yet…"));
      } else {
        render(verdict);
        renderEvidence(verdict.evidence, evidence);
        panel.ready(verdict.running ? "A newer verification is running; this is the last completed one." : "");
      }
      if (verdict.state === "pending" || verdict.running) {
        setTimeout(() => current() && poll(current), POLL_MS);
      }
    } catch (error) {
      if (current()) {
        clear(body);
        panel.fail(error);
      }
    }
  }

  function render(verdict) {
    const [kind, text] = verdict.ok === true ? ["badge--good", "chain intact"]
      : verdict.ok === false ? ["badge--bad", "chain broken"] : ["badge--warn", "not verified"];
    const status = h("span", { class: `badge ${kind}`, "data-test": "audit-status",
                               dataset: { ok: String(verdict.ok) } }, text);
    const facts = h("dl", { class: "facts" },
      fact("Verdict", status),
      fact("Checked up to", verdict.checked_to == null ? "—"
        : `position ${number(verdict.checked_to)} of ${number(verdict.head_at_start)}`, "audit-checked-to"),
      fact("Verified at", instant(verdict.verified_at), "audit-verified-at"),
      fact("Log events checked", number(verdict.events_checked), "audit-events"),
      verdict.applications_checked !== undefined && fact("Applications checked", number(verdict.applications_checked)),
      verdict.application_events_checked !== undefined && fact("Application events", number(verdict.application_events_checked)),
      verdict.checkpoints_checked !== undefined && fact("Checkpoints", number(verdict.checkpoints_checked)),
      verdict.outside_trail ? fact("Not vouched for by the audit trail (checked from stored bytes)", number(verdict.outside_trail)) : null,
    );
    clear(body).append(facts);
    if (verdict.incomplete) {
      body.append(h("p", { class: "note note--error", "data-test": "audit-incomplete" },
        `Not verified past position ${verdict.checked_to}: ${verdict.incomplete}`));
    }
    const brk = verdict.first_break;
    if (brk) {
      const where = [brk.chain && `${brk.chain} chain`, brk.position != null && `log position ${brk.position}`,
        brk.application_ref && `${brk.call_id || ""} ${brk.application_ref}`.trim(),
        brk.version != null && `version ${brk.version}`].filter(Boolean).join(", ");
      body.append(h("p", { class: "note note--error", "data-test": "audit-first-break" },
        `First break: ${where} — ${brk.reason}`));
    }
  }

  function renderEvidence(witnessed, evidence) {
    const head = evidence.latest_head;
    const agree = !witnessed ? ["badge--warn", "not checked"]
      : !witnessed.ok ? ["badge--bad", "witnesses disagree with the log"]
      : witnessed.latest_head ? ["badge--good", "witnesses agree"] : ["badge--warn", "nothing witnessed yet"];
    const headText = head == null ? "none yet"
      : `${number(head.size)} records · ${head.signed === false || head.signature == null
          ? "UNSIGNED" : `key ${head.key_id}`} · ${ageText(evidence.age_seconds)} ago`;
    const facts = h("dl", { class: "facts" },
      fact("Latest tree head", headText, "audit-latest-head"),
      fact("Witnesses", h("span", { class: `badge ${agree[0]}`, "data-test": "audit-witnesses",
                                    dataset: { ok: String(witnessed ? witnessed.ok : null) } }, agree[1])),
      witnessed && witnessed.missing_witnesses.length
        ? fact("Missing", witnessed.missing_witnesses.join("; ")) : null,
    );
    body.append(h("h3", {}, "Evidence outside the database"), facts);
    if (evidence.latest_head && !evidence.signed) {
      body.append(h("p", { class: "note note--error", "data-test": "audit-unsigned" },
        "Tree heads are unsigned: the service has no TOWNS_SIGNING_KEY."));
    }
    for (const finding of (witnessed ? witnessed.findings : []).slice(0, 5)) {
      body.append(h("p", { class: "note note--error", "data-test": "audit-finding" },
        `${finding.kind}: ${finding.message}`));
    }
    const rows = evidence.actions.map((a) => h("tr", {},
      h("td", {}, instant(a.at)), h("td", {}, a.action), h("td", {}, a.actor), h("td", {}, a.reason || "—")));
    body.append(h("h3", {}, "Last operator actions"), rows.length
      ? h("table", { class: "grid", "data-test": "audit-actions" },
          h("thead", {}, h("tr", {}, h("th", {}, "When"), h("th", {}, "Action"), h("th", {}, "Who"), h("th", {}, "Why"))),
          h("tbody", {}, ...rows))
      : h("p", { class: "muted" }, "None recorded."));
  }

  function ageText(seconds) {
    if (seconds == null) return "—";
    if (seconds < 120) return `${Math.round(seconds)} s`;
    if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
    return `${Math.round(seconds / 3600)} h`;
  }

  document.getElementById("audit-verify").addEventListener("click", load);
  return { load, reset: () => { panel.reset(); clear(body); } };
}
