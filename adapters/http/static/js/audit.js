// The audit panel: GET /api/v1/audit/verify (province and auditors).

import { api } from "./api.js";
import { clear, fact, h, number } from "./dom.js";
import { Panel } from "./panel.js";

export function createAudit() {
  const panel = new Panel("panel-audit");
  const body = document.getElementById("audit-body");

  async function load() {
    const current = panel.begin();
    clear(body).append(h("p", { class: "muted" }, "Verifying the hash chains…"));
    try {
      const verdict = await api("/api/v1/audit/verify");
      if (!current()) return;
      render(verdict);
      panel.ready();
    } catch (error) {
      if (current()) {
        clear(body);
        panel.fail(error);
      }
    }
  }

  function render(verdict) {
    const status = h(
      "span",
      { class: `badge ${verdict.ok ? "badge--good" : "badge--bad"}`, "data-test": "audit-status",
        dataset: { ok: String(verdict.ok) } },
      verdict.ok ? "chain intact" : "chain broken",
    );
    const facts = h("dl", { class: "facts" },
      fact("Verdict", status),
      fact("Log events checked", number(verdict.events_checked), "audit-events"),
      verdict.applications_checked !== undefined && fact("Applications checked", number(verdict.applications_checked)),
      verdict.application_events_checked !== undefined && fact("Application events", number(verdict.application_events_checked)),
      verdict.checkpoints_checked !== undefined && fact("Checkpoints", number(verdict.checkpoints_checked)),
    );
    clear(body).append(facts);
    const brk = verdict.first_break;
    if (brk) {
      const where = [brk.chain && `${brk.chain} chain`, brk.position != null && `log position ${brk.position}`,
        brk.application_ref && `${brk.call_id || ""} ${brk.application_ref}`.trim(),
        brk.version != null && `version ${brk.version}`].filter(Boolean).join(", ");
      body.append(h("p", { class: "note note--error", "data-test": "audit-first-break" },
        `First break: ${where} — ${brk.reason}`));
    }
  }

  document.getElementById("audit-verify").addEventListener("click", load);
  return { load, reset: () => { panel.reset(); clear(body); } };
}
