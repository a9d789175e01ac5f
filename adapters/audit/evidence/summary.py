"""What ``towns audit verify`` and the demo print of the witnessed evidence (the ``evidence``
of a verification, ``adapters.audit.evidence.verify.Evidence.as_dict``)."""

from __future__ import annotations

from adapters.audit.evidence.restores import restore_lines


def summary_lines(evidence: dict) -> list[str]:
    """What ``towns audit verify`` prints of the witnessed evidence."""
    lines = []
    latest = evidence["latest_head"]
    read = ", ".join(f"{w['name']} ({w['heads']} heads)" for w in evidence["witnesses"]) or "none"
    lines.append(f"witnesses read: {read}" + "".join(f"; {m}" for m in evidence["missing_witnesses"]))
    if latest is None:
        lines.append("witnessed tree heads: none yet: the log is not checked against any")
    else:
        state = "signed" if evidence["signed"] else "UNSIGNED (no TOWNS_SIGNING_KEY)"
        lines.append(f"witnessed tree heads: {evidence['heads_checked']}, {state}; the latest "
                     f"covers {latest['size']} records (signed at {latest['time']}); "
                     f"{evidence['unwitnessed_records']} records since")
    lines += restore_lines(evidence)
    for finding in evidence["findings"]:
        lines.append(f"  {finding['kind']}: {finding['message']}")
    if not evidence["ok"]:
        lines.append("evidence: DOES NOT AGREE with the witnesses")
    elif latest is None:
        lines.append("evidence: nothing witnessed to check the log against")
    else:
        lines.append(f"evidence: the log's first {latest['size']} records agree with the "
                     "witnessed heads")
    return lines
