"""Each application's own chain, for ``adapters.audit.verify``, checked as the log is read: in
log order an application's events come in version order, so one pass over the log checks every
chain with the hash each application reached so far (as ``domain.history.first_break`` checks
one history).

Every application event is decoded from its stored bytes (a changed byte, even one that still
decodes, is a break: encoding it again must give the same bytes), must follow its predecessor's
hash and version, must match its own hash, and, where the audit trail recorded it
(``audit_events``), the hash the trail recorded. A record of another topic is decoded too when
the trail does not vouch for its bytes (it has no row for it, or a row that differs). One break
is reported per application; its later events are not checked again.
"""

from __future__ import annotations

from typing import Any

from adapters.audit_log import breach
from domain.applications import application_id
from domain.hashing import GENESIS
from domain.history import link_break
from domain.service import Towns
from projections.audit import SUBMITTED, TYPES


class ApplicationChains:
    def __init__(self, towns: Towns, names: dict) -> None:
        self.towns = towns
        self.names = names  # application id -> (call, ref): the trail's, and submissions read
        self.heads: dict[str, tuple[int, str]] = {}  # application id -> (version, hash)
        self.broken: set[str] = set()
        self.breaks: list[dict] = []
        self.events = 0

    @property
    def applications(self) -> int:
        return len(self.heads) + len(self.broken)

    def record(self, n: Any, vouched: bool, row: tuple | None) -> None:
        """Checks notification ``n``; ``vouched``: the trail's chain row matches its bytes;
        ``row``: the trail's ``audit_events`` row at its position (app_id, version, hash)."""
        if n.topic not in TYPES:
            if not vouched:
                decoded = self.towns.decode_stored(n)
                if isinstance(decoded, Exception):
                    self.breaks.append(breach("log", self.names, n, _undecodable(decoded)))
            return
        app_id = str(n.originator_id)
        self.events += 1
        if app_id in self.broken:
            return
        reason = self._problem(n, app_id, vouched, row)
        if reason:
            self.broken.add(app_id)
            self.heads.pop(app_id, None)
            self.breaks.append(breach("application", self.names, n, reason))

    def _problem(self, n: Any, app_id: str, vouched: bool, row: tuple | None) -> str | None:
        event = self.towns.decode_stored(n)
        if isinstance(event, Exception):
            return _undecodable(event)
        if app_id not in self.names and getattr(event, "EVENT_TYPE", None) == SUBMITTED:
            self._name(app_id, event)
        version, previous = self.heads.get(app_id, (0, GENESIS))
        try:
            reason = link_break(previous, event)
        except Exception as error:  # noqa: BLE001 - a record that decodes to a broken event
            return f"event {n.originator_version} is not a whole event: {error}"
        if reason:
            return reason
        if n.originator_version != version + 1:
            return f"version {n.originator_version} follows version {version}"
        if row is not None and (row[0], row[1]) != (app_id, n.originator_version):
            return "the audit trail recorded another event at this position"
        if row is not None and row[2] != event.hash:
            return "hash differs from the audit trail's"
        if row is None and vouched:
            return "in the audit chain, missing from the audit trail's events"
        self.heads[app_id] = (n.originator_version, event.hash)
        return None

    def _name(self, app_id: str, event: Any) -> None:
        """The call and ref a submission names, when its application id is theirs (even if
        the record is broken otherwise: it names the break)."""
        data = getattr(event, "data", None)
        call_id, ref = (data.get("call_id"), data.get("application_ref")) if isinstance(
            data, dict) else (None, None)
        if isinstance(call_id, str) and isinstance(ref, str) and str(
                application_id(call_id, ref)) == app_id:
            self.names[app_id] = (call_id, ref)


def _undecodable(error: Exception) -> str:
    said = " ".join(str(error).split())
    return f"stored bytes cannot be decoded ({type(error).__name__}: {said})"
