"""The history driven through one fresh store: every record type the service keeps there."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from adapters.audit.evidence.actions import record_start
from adapters.config import Config
from adapters.store.inbound_records import InboundRecords
from domain.applications import application_id
from domain.errors import DomainError
from domain.inbound import dead_letter_id, parked_id
from domain.operations import DEPLOYMENT_ID, REDRIVE, OperatorAction
from domain.service import Towns
from tests.desk import Desk
from tests.factories import CALL, CST, at, envelope

AS_OF = datetime(2017, 3, 31, 23, 59, 59, tzinfo=CST)  # cutoff + one day's grace
ACTION_ID = UUID("00000000-0000-4000-8000-000000000001")
SNAPSHOT_APP = "SD-2017-005"


class History:
    """Drives one store through every record type, with fixed message ids and business times."""

    def __init__(self, towns: Towns, config: Config) -> None:
        self.towns = towns
        self.config = config
        self.desk = Desk(towns, config)
        self.count = 0

    def mid(self) -> str:
        self.count += 1
        return f"freeze-{self.count:03d}"

    def send(self, kind: str, type_: str | None, ref: str, **kw: Any) -> Any:
        kw.setdefault("message_id", self.mid())
        if kind == "submit":
            return self.desk.submit(ref, **kw)
        return getattr(self.desk, kind)(type_, ref, **kw)

    def run(self) -> None:
        # 001: every step to approval, a return and resubmission on the way
        ref = "SD-2017-001"
        self.send("submit", None, ref, occurred_at=at(1))
        self.send("city", "application.returned", ref, occurred_at=at(2))
        self.send("applicant", "application.resubmitted", ref, occurred_at=at(3))
        self.send("city", "application.city_verified", ref, occurred_at=at(4))
        self.send("city", "application.recommended", ref, occurred_at=at(5))
        self.send("province", "materials.received", ref, occurred_at=at(6))
        self.send("province", "application.evaluated", ref, occurred_at=at(7))
        self.send("province", "application.approved", ref, occurred_at=at(8))
        # 002: withdrawn; 003: rejected by the city
        self.send("submit", None, "SD-2017-002", occurred_at=at(2))
        self.send("applicant", "application.withdrawn", "SD-2017-002", occurred_at=at(3))
        self.send("submit", None, "SD-2017-003", occurred_at=at(2))
        self.send("city", "application.rejected", "SD-2017-003", occurred_at=at(3))
        # 004: recommended without materials: lapses at the check, reinstated by timely evidence
        ref = "SD-2017-004"
        self.send("submit", None, ref, occurred_at=at(3))
        self.send("city", "application.city_verified", ref, occurred_at=at(4))
        self.send("city", "application.recommended", ref, occurred_at=at(5))
        # 005: fifty events, so the service writes a snapshot at version 50
        self.send("submit", None, SNAPSHOT_APP, occurred_at=at(3))
        self.send("city", "application.city_verified", SNAPSHOT_APP, occurred_at=at(4))
        self.send("city", "application.recommended", SNAPSHOT_APP, occurred_at=at(5))
        for n in range(47):
            self.send("province", "materials.received", SNAPSHOT_APP, occurred_at=at(6 + n % 20))
        # 006: submitted only: lapses and stays lapsed
        self.send("submit", None, "SD-2017-006", occurred_at=at(9))
        # a repeat (nothing recorded) and a repeat with another body (a conflict, kept)
        body = envelope("application.submitted", "SD-2017-007", "shunde",
                        message_id="freeze-repeat", occurred_at=at(9))
        self.desk.send("shunde-applicant", body)
        self.desk.send("shunde-applicant", body)
        try:
            changed = {**body, "payload": {**body["payload"], "town_name": "Lecong Town (乐从镇)"}}
            self.desk.send("shunde-applicant", changed)
        except DomainError:
            pass
        else:
            raise AssertionError("a repeat with another body must be refused")
        # the deadline check: 004 and 006 lapse; then 004's timely materials reinstate it
        run = self.towns.check_deadline(CALL, AS_OF)
        assert run.first_run and sorted(run.lapsed) == ["SD-2017-004", "SD-2017-006", "SD-2017-007"], run
        self.send("province", "materials.received", "SD-2017-004", occurred_at=at(20))
        self.inbound()
        self.operations()

    def inbound(self) -> None:
        records = InboundRecords(self.towns)
        seen = datetime(2017, 3, 10, 10, 0, 0, tzinfo=CST)
        app = application_id(CALL, "SD-2017-001")
        # a letter published, re-driven, dead-lettered again
        key = "freeze-dead-1"
        body = b'{"message_id": "freeze-dead-1", "type": "application.approved"}'
        letter = records.dead_letter(key, key, "invalid_transition", "not allowed while approved",
                                     body, "province", "towns.inbound", seen,
                                     properties='{"headers": {"x-freeze": "1"}}')
        records.sent([(letter.letter.id, letter.send)])
        records.requeued(letter.letter.id, "operator")
        records.dead_letter(key, key, "invalid_transition", "still not allowed", body,
                            "province", "towns.inbound", seen)
        # a letter (a body that is not UTF-8) whose copy fails, is resent, then given up
        key = "sha256:" + "ab" * 32
        raw = b"\xff\xfe not utf-8"
        first = records.dead_letter(key, None, "malformed", "the message is not UTF-8", raw,
                                    None, "towns.inbound", seen, headers_too_large=True)
        records.not_sent([(first.letter.id, first.send, "nack")])
        records.dead_letter(key, None, "malformed", "the message is not UTF-8", raw, None,
                            "towns.inbound", seen)
        records.dead_letter(key, None, "malformed", "the message is not UTF-8", raw, None,
                            "towns.inbound", seen)
        letter = records.letter(dead_letter_id(key))
        assert letter.published is False, "the third copy must be given up"
        # a parked message released, then parked again
        key = "freeze-parked-1"
        records.park(key, key, app, b'{"message_id": "freeze-parked-1"}', "shunde-city",
                     "towns.inbound", seen, "invalid_transition", "arrived early",
                     window_from=seen, properties='{"headers": {}}')
        records.release(parked_id(key), "applied")
        records.park(key, key, app, b'{"message_id": "freeze-parked-1"}', "shunde-city",
                     "towns.inbound", seen, "unknown_application", "arrived early again")

    def operations(self) -> None:
        self.towns.save(OperatorAction.take(REDRIVE, "operator", "freeze: a re-drive",
                                            {"letter": str(dead_letter_id("freeze-dead-1"))},
                                            id=ACTION_ID))
        record_start(self.towns, self.config, None, "freeze")
        deployment = self.towns.repository.get(DEPLOYMENT_ID)
        deployment.signing_key("freeze-key-1", "-----BEGIN PUBLIC KEY-----\nfreeze\n"
                               "-----END PUBLIC KEY-----\n", "operator")
        self.towns.save(deployment)
