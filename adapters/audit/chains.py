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

import json
from datetime import datetime
from typing import Any

from eventsourcing.utils import resolve_topic

from adapters.audit.log_chain import breach
from domain.applications import Application, application_id, event_content
from domain.hashing import GENESIS, chain
from domain.history import link_break
from domain.service import Towns
from projections.audit import SUBMITTED, TYPES
from projections.base import parse


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

    def record(self, n: Any, vouched: bool, row: tuple | None, quick: Any = False) -> None:
        """Checks notification ``n`` (a ``projections.base.Recorded``); ``vouched``: the
        trail's chain row matches its bytes; ``row``: the trail's ``audit_events`` row at its
        position (app_id, version, hash); ``quick``: ``whole_event`` of it where already
        computed (False: not yet)."""
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
        reason = self._problem(n, app_id, vouched, row, quick)
        if reason:
            self.broken.add(app_id)
            self.heads.pop(app_id, None)
            self.breaks.append(breach("application", self.names, n, reason))

    def _problem(self, n: Any, app_id: str, vouched: bool, row: tuple | None,
                 quick: Any) -> str | None:
        version, head = self.heads.get(app_id, (0, GENESIS))
        if quick is False:
            quick = whole_event(n.topic, n.state, n.originator_id, n.originator_version)
        if quick is not None:  # most records: their bytes and hash hold, read without decoding
            kind, data, previous, own = quick
            self._name(app_id, kind, data)
        else:
            event = self.towns.decode_stored(n)
            if isinstance(event, Exception):
                return _undecodable(event)
            self._name(app_id, getattr(event, "EVENT_TYPE", None), getattr(event, "data", None))
            try:
                reason = link_break(head, event)
            except Exception as error:  # noqa: BLE001 - a record that decodes to a broken event
                return f"event {n.originator_version} is not a whole event: {error}"
            if reason:
                return reason
            previous, own = event.prev_hash, event.hash
        if previous != head:
            return "link to the previous event does not match"
        if n.originator_version != version + 1:
            return f"version {n.originator_version} follows version {version}"
        if row is not None and (row[0], row[1]) != (app_id, n.originator_version):
            return "the audit trail recorded another event at this position"
        if row is not None and row[2] != own:
            return "hash differs from the audit trail's"
        if row is None and vouched:
            return "in the audit chain, missing from the audit trail's events"
        self.heads[app_id] = (n.originator_version, own)
        return None

    def _name(self, app_id: str, kind: Any, data: Any) -> None:
        """The call and ref a submission names, when its application id is theirs (even if
        the record is broken otherwise: it names the break)."""
        if app_id in self.names or kind != SUBMITTED:
            return
        call_id, ref = (data.get("call_id"), data.get("application_ref")) if isinstance(
            data, dict) else (None, None)
        if isinstance(call_id, str) and isinstance(ref, str) and str(
                application_id(call_id, ref)) == app_id:
            self.names[app_id] = (call_id, ref)


def _undecodable(error: Exception) -> str:
    said = " ".join(str(error).split())
    return f"stored bytes cannot be decoded ({type(error).__name__}: {said})"


def whole_events(records: list[tuple[str, bytes, str, int]]) -> list[tuple | None]:
    """``whole_event`` of each (topic, state, originator id, version): a page's worth, for a
    second process; the data of a submission only (the chains read no other's)."""
    found = [whole_event(*record) for record in records]
    return [q if q is None or q[0] == SUBMITTED else (q[0], None, q[2], q[3]) for q in found]


_PLAIN = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
"""The library's transcoder's encoder (eventsourcing 9.5.6, ``JSONTranscoder``), for values
that hold no object of a registered type."""
_STAMPS = ("timestamp", "occurred_at")


def whole_event(topic: str, state: bytes, originator_id: Any,
                version: int) -> tuple[str, dict, str, str] | None:
    """An application event's (type, data, previous hash, own hash), read from its stored
    bytes without building the event, when they plainly hold: the bytes are exactly what the
    library writes for the event they decode to (its two record times the only objects of a
    registered type, each in its one ISO form), and its hash is that of its content. None
    whenever anything is not so (the event is then decoded and checked in full, which says
    what): this never vouches for a record that ``Towns.decode_stored`` and
    ``domain.history.link_break`` would refuse."""
    try:
        cls = resolve_topic(topic)
        if not issubclass(cls, Application.Event) or getattr(cls, "class_version", 1) != 1:
            return None
        if state.count(b'"_type_"') != len(_STAMPS):
            return None
        fields = parse(state)  # the bytes must then be exactly its encoding: no other form
        if _PLAIN.encode(fields).encode("utf-8") != state:
            return None
        stamps = [fields[name] for name in _STAMPS]
        for stamp in stamps:
            if (list(stamp) != ["_type_", "_data_"] or stamp["_type_"] != "datetime_iso"
                    or datetime.fromisoformat(stamp["_data_"]).isoformat() != stamp["_data_"]):
                return None
        content = event_content(cls, str(originator_id), version, stamps[0]["_data_"],
                                stamps[1]["_data_"], fields["actor"], fields["message_id"],
                                fields["data"], fields.get("originator_topic"))
        own, previous = fields["hash"], fields["prev_hash"]
        if chain(previous, content) != own:
            return None
        return cls.EVENT_TYPE, fields["data"], previous, own
    except Exception:  # noqa: BLE001 - anything amiss: the full decode says what
        return None
