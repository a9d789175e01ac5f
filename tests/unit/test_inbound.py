"""``adapters.amqp.inbound.Inbound`` with plain ``Delivery`` values on the in-memory store: group
commit, dead letters, parking and retry-on-change, expiry after the reorder window, and the
principal of a re-driven message. No broker: what it would publish is what ``apply`` answers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from adapters.amqp import topology as t
from adapters.amqp.inbound import Delivery, Inbound
from adapters.store.inbound_records import InboundRecords
from domain.applications import application_id
from domain.inbox import InboxMessage, inbox_id
from tests.factories import CALL, encode, envelope

WINDOW = 60
SERVICE = "towns-service"


@pytest.fixture
def inbound(memory_towns, config) -> Inbound:
    return Inbound(memory_towns, config, InboundRecords(memory_towns), WINDOW, service_user=SERVICE)


def delivery(value: dict | bytes, user: str | None, tag: int = 0, **headers) -> Delivery:
    body = value if isinstance(value, bytes) else encode(value)
    message_id = None if isinstance(value, bytes) else value["message_id"]
    routing_key = "unknown" if isinstance(value, bytes) else value["type"]
    return Delivery(body, message_id, user, routing_key, dict(headers), "application/json", tag)


def submitted(ref: str = "SD-2017-001", mid: str | None = None) -> Delivery:
    return delivery(envelope("application.submitted", ref, message_id=mid), "shunde-applicant")


def city(type_: str, ref: str = "SD-2017-001", mid: str | None = None) -> Delivery:
    return delivery(envelope(type_, ref, message_id=mid), "shunde-city")


def province(type_: str, ref: str = "SD-2017-001", mid: str | None = None) -> Delivery:
    return delivery(envelope(type_, ref, message_id=mid), "province")


def history(inbound: Inbound, ref: str = "SD-2017-001") -> list[str]:
    records = inbound.towns.recorder.select_events(application_id(CALL, ref))
    return [inbound.towns.mapper.to_domain_event(r).EVENT_TYPE for r in records]


def counting_saves(inbound: Inbound) -> list[int]:
    """Records how many aggregates each write of the service (one transaction) carried."""
    saves: list[int] = []
    record = inbound.towns._record

    def counted(processing_event):
        saves.append(len(processing_event.aggregates))
        return record(processing_event)

    inbound.towns._record = counted
    return saves


# -- group commit ---------------------------------------------------------------------------


def test_a_batch_is_applied_in_order_and_saved_in_one_transaction(inbound):
    # Given the whole path to recommendation of two applications, in one batch
    batch = [submitted("SD-2017-001"), submitted("SD-2017-002"),
             city("application.city_verified", "SD-2017-001"),
             city("application.city_verified", "SD-2017-002"),
             city("application.recommended", "SD-2017-001")]
    saves = counting_saves(inbound)
    # When it is applied
    letters = inbound.apply(batch)
    # Then nothing is dead-lettered, and one save carried two applications and five markers
    assert letters == []
    assert saves == [7]
    assert inbound.applied == 5
    assert history(inbound, "SD-2017-001") == [
        "application.submitted", "application.city_verified", "application.recommended"]
    assert history(inbound, "SD-2017-002") == ["application.submitted", "application.city_verified"]


def test_saving_is_called_once_every_message_is_decided_and_before_anything_is_stored(inbound):
    # Given a batch whose second half was prepared ahead (as the consumer does during a commit)
    batch = [submitted(), city("application.city_verified"),
             inbound.prepare(city("application.recommended"))]
    assert batch[-1].prepared is not None and batch[0].prepared is None
    stored_when_called: list[int] = []

    def saving() -> None:
        stored_when_called.append(inbound.towns.recorder.max_notification_id() or 0)

    # When it is applied with a ``saving`` callback
    letters = inbound.apply(batch, saving)
    # Then the callback ran once, before the save, and the batch was applied in order
    assert letters == []
    assert stored_when_called == [0]
    assert history(inbound) == [
        "application.submitted", "application.city_verified", "application.recommended"]


def test_a_refused_message_is_dead_lettered_alone_and_the_rest_commit(inbound):
    foreign = delivery(envelope("application.city_verified", city="foshan", message_id="m-foreign"),
                       "foshan-city")
    letters = inbound.apply([submitted(mid="m-1"), foreign, city("application.city_verified")])
    assert [(x.message_id, x.headers[t.ERROR]) for x in letters] == [("m-foreign", "forbidden")]
    assert history(inbound) == ["application.submitted", "application.city_verified"]
    [record] = inbound.records.dead_letters()
    assert (record.message_id, record.code, record.user_id) == ("m-foreign", "forbidden", "foshan-city")


def test_a_poison_message_fails_alone_and_does_not_stop_the_batch(inbound):
    # Given a body Python's JSON parser cannot decode without blowing its stack
    poison = delivery(b"[" * 100_000 + b"]" * 100_000, "shunde-applicant")
    # When it sits between two good messages
    letters = inbound.apply([submitted(), poison, city("application.city_verified")])
    # Then only it is dead-lettered, and the good ones are applied in order
    assert [x.body for x in letters] == [poison.body]
    # (the contract's code would be `malformed`: see adapters/inbound/ingest.py, decode)
    assert letters[0].headers[t.ERROR] in ("internal_error", "malformed")
    assert history(inbound) == ["application.submitted", "application.city_verified"]


def test_duplicates_in_a_batch_and_across_batches_record_once(inbound):
    first = submitted(mid="m-1")
    # the same envelope with keys in another order is the same message
    shuffled = delivery(dict(reversed(list(envelope("application.submitted", message_id="m-1").items()))),
                        "shunde-applicant")
    assert inbound.apply([first, first, shuffled]) == []
    assert inbound.apply([first]) == []
    assert inbound.applied == 1
    assert history(inbound) == ["application.submitted"]


def test_another_body_under_an_applied_id_is_a_conflict_kept_as_evidence(inbound):
    original = envelope("application.submitted", message_id="m-1")
    inbound.apply([delivery(original, "shunde-applicant")])
    other = {**original, "payload": {**original["payload"], "town_name": "Lecong Town"}}
    [letter] = inbound.apply([delivery(other, "shunde-applicant")])
    assert (letter.message_id, letter.headers[t.ERROR]) == ("m-1", "idempotency_conflict")
    marker = inbound.towns.repository.get(inbox_id("m-1"))
    assert marker.conflicts == 1
    events = [inbound.towns.mapper.to_domain_event(r)
              for r in inbound.towns.recorder.select_events(inbox_id("m-1"))]
    assert isinstance(events[-1], InboxMessage.ConflictSeen)
    assert events[-1].body["payload"]["town_name"] == "Lecong Town"
    assert inbound.towns.application(CALL, "SD-2017-001").town_name == original["payload"]["town_name"]


# -- parking ----------------------------------------------------------------------------------


def test_an_early_message_is_parked_and_applied_when_its_application_changes(inbound):
    inbound.apply([submitted()])
    # Given a recommendation that arrives before the city's verification
    assert inbound.apply([city("application.recommended", mid="m-rec")]) == []
    [parked] = inbound.records.open_parked()
    assert (parked.key, parked.code) == ("m-rec", "invalid_transition")
    assert inbound.parked_count == 1
    # When the verification arrives
    assert inbound.apply([city("application.city_verified")]) == []
    # Then the recommendation follows it, and the parked record is released as applied
    assert history(inbound) == [
        "application.submitted", "application.city_verified", "application.recommended"]
    assert inbound.parked_count == 0 and inbound.records.open_parked() == []
    assert inbound.towns.repository.get(parked.id).released_as == "applied"


def test_messages_parked_in_any_order_are_applied_in_life_cycle_order(inbound):
    # Given a recommendation and a verification, both before their submission
    inbound.apply([city("application.recommended")])
    inbound.apply([city("application.city_verified")])
    assert {p.code for p in inbound.records.open_parked()} == {"unknown_application"}
    # When the submission arrives, Then both follow in the order the life cycle allows
    inbound.apply([submitted()])
    assert history(inbound) == [
        "application.submitted", "application.city_verified", "application.recommended"]
    assert inbound.applied == 3


def test_an_early_message_in_the_same_batch_as_its_predecessor_is_applied_after_it(inbound):
    letters = inbound.apply([submitted(), city("application.recommended"),
                             city("application.city_verified")])
    assert letters == []
    assert history(inbound) == [
        "application.submitted", "application.city_verified", "application.recommended"]


def test_parked_messages_survive_a_restart(inbound, memory_towns, config):
    inbound.apply([city("application.city_verified")])
    restarted = Inbound(memory_towns, config, InboundRecords(memory_towns), WINDOW, SERVICE)
    assert restarted.parked_count == 1
    restarted.apply([submitted()])
    assert history(restarted) == ["application.submitted", "application.city_verified"]


# -- expiry -------------------------------------------------------------------------------------


def test_a_parked_message_is_dead_lettered_with_its_last_code_after_the_window(inbound):
    inbound.apply([city("application.city_verified", mid="m-early")])
    [parked] = inbound.records.open_parked()
    # Before the window has passed nothing happens
    assert inbound.expire(now=parked.first_seen + timedelta(seconds=WINDOW - 1)) == []
    assert inbound.parked_count == 1
    # Its application appears meanwhile, in a state that still refuses it
    inbound.apply([submitted(), delivery(envelope("application.withdrawn"), "shunde-applicant")])
    # After the window it is dead-lettered with the code of its last try
    [letter] = inbound.expire(now=parked.first_seen + timedelta(seconds=WINDOW))
    assert (letter.message_id, letter.headers[t.ERROR]) == ("m-early", "invalid_transition")
    assert "withdrawn" in letter.headers[t.DETAIL]
    assert letter.headers[t.USER_ID] == "shunde-city"
    assert letter.headers[t.ROUTING_KEY] == "application.city_verified"
    assert datetime.fromisoformat(letter.headers[t.FIRST_SEEN]) == parked.first_seen
    [record] = inbound.records.dead_letters()
    assert (record.key, record.code, record.attempts) == ("m-early", "invalid_transition", 1)
    assert inbound.parked_count == 0


def test_an_expired_message_stays_parked_in_the_records_until_the_broker_has_its_letter(
    inbound, memory_towns, config
):
    inbound.apply([city("application.city_verified", mid="m-early")])
    [parked] = inbound.records.open_parked()
    later = parked.first_seen + timedelta(seconds=WINDOW + 1)
    [letter] = inbound.expire(now=later)
    # Given the letter was not confirmed (a lost connection, a crash): it is still owed
    assert list(inbound.unsent.values()) == [letter]
    assert [p.key for p in inbound.records.open_parked()] == ["m-early"]
    # a restart dead-letters it again, without counting another attempt
    restarted = Inbound(memory_towns, config, InboundRecords(memory_towns), WINDOW, SERVICE)
    [again] = restarted.expire(now=later)
    assert (again.body, again.headers) == (letter.body, letter.headers)
    # When the broker confirms it, Then the parked record is released as dead-lettered
    restarted.sent([again])
    assert restarted.unsent == {} and inbound.records.open_parked() == []
    assert memory_towns.repository.get(parked.id).released_as == "dead_lettered"
    [record] = inbound.records.dead_letters()
    assert record.attempts == 1


def test_an_expired_message_that_now_fits_is_applied_not_dead_lettered(inbound):
    inbound.apply([city("application.city_verified")])
    [parked] = inbound.records.open_parked()
    # the submission was recorded by another path (HTTP), so no delivery told the consumer
    from adapters.inbound.ingest import ingest
    ingest(inbound.towns, submitted().body, inbound.config.principals["shunde-applicant"])
    assert inbound.expire(now=parked.first_seen + timedelta(seconds=WINDOW)) == []
    assert history(inbound) == ["application.submitted", "application.city_verified"]


def test_two_early_messages_under_one_id_are_both_kept(inbound):
    """The second is another message, not a redelivery: it is parked on its own record, and
    refused as idempotency_conflict once the first has been applied."""
    first = envelope("application.city_verified", "SD-2017-001", message_id="dup")
    second = {**first, "payload": {**first["payload"], "notes": "B"}}
    third = envelope("application.city_verified", "SD-2017-002", message_id="dup")
    assert inbound.apply([delivery(first, "shunde-city"), delivery(second, "shunde-city"),
                          delivery(third, "shunde-city")]) == []
    assert sorted(p.key.partition("\n")[0] for p in inbound.records.open_parked()) == ["dup"] * 3
    assert inbound.parked_count == 3
    # When the applications appear, the first is applied and the others are conflicts
    letters = inbound.apply([submitted("SD-2017-001"), submitted("SD-2017-002")])
    assert history(inbound) == ["application.submitted", "application.city_verified"]
    assert sorted(letter.headers[t.ERROR] for letter in letters) == ["idempotency_conflict"] * 2
    assert {letter.body for letter in letters} == {encode(second), encode(third)}
    assert all(letter.message_id == "dup" for letter in letters)
    assert inbound.towns.repository.get(inbox_id("dup")).conflicts == 2
    inbound.sent(letters)
    assert inbound.records.open_parked() == [] and len(inbound.records.dead_letters()) == 2


def test_two_dead_letters_under_one_id_are_both_recorded(inbound):
    bad_call = {**envelope("application.submitted", message_id="dd-1"), "call_id": "GD-NOPE"}
    bad_type = {**envelope("application.submitted", message_id="dd-1"), "type": "application.zzz"}
    codes = [letter.headers[t.ERROR] for letter in
             inbound.apply([delivery(bad_call, "shunde-applicant"), delivery(bad_type, "shunde-applicant")])]
    assert codes == ["unknown_call", "unknown_type"]
    records = inbound.records.dead_letters()
    assert [(r.message_id, r.code, r.attempts) for r in records] == [
        ("dd-1", "unknown_call", 1), ("dd-1", "unknown_type", 1)]
    assert {r.body for r in records} == {encode(bad_call).decode(), encode(bad_type).decode()}
    # and a redelivery of either, or a republish with its keys in another order, counts nothing
    inbound.apply([delivery(bad_type, "shunde-applicant"),
                   delivery(dict(reversed(list(bad_call.items()))), "shunde-applicant")])
    assert [r.attempts for r in inbound.records.dead_letters()] == [1, 1]


def test_a_refused_message_with_properties_that_cannot_be_sent_again_is_still_dead_lettered(inbound):
    import pika

    refused = {**envelope("application.submitted", message_id="m-big"), "call_id": "GD-NOPE"}
    base = delivery(refused, "shunde-applicant")
    odd = pika.BasicProperties(message_id="m-big", timestamp=2**63, headers={"big": 10**30})
    [letter] = inbound.apply([Delivery(base.body, base.message_id, base.user_id, base.routing_key,
                                       {"big": 10**30}, "application/json", amqp=odd)])
    assert letter.headers[t.ERROR] == "unknown_call" and "timestamp" not in letter.kept
    letter.properties().encode()


def test_a_parked_message_keeps_an_id_that_looks_like_a_hash(inbound):
    inbound.apply([city("application.city_verified", mid="sha256:abc")])
    [parked] = inbound.records.open_parked()
    [letter] = inbound.expire(now=parked.first_seen + timedelta(seconds=WINDOW))
    assert letter.message_id == "sha256:abc"
    assert inbound.records.dead_letters()[0].message_id == "sha256:abc"


# -- who sent it --------------------------------------------------------------------------------


def test_a_redrive_by_the_service_user_acts_as_the_original_user(inbound):
    first_seen = "2017-03-10T09:30:00+08:00"
    redriven = delivery(envelope("application.submitted", message_id="m-1"), SERVICE,
                        **{t.USER_ID: "shunde-applicant", t.ROUTING_KEY: "application.submitted",
                           t.FIRST_SEEN: first_seen})
    assert inbound.apply([redriven]) == []
    assert inbound.towns.application(CALL, "SD-2017-001").owner == "shunde-applicant"
    # and a re-driven message refused again keeps its original user and first-seen time
    bad = delivery(envelope("application.city_verified", city="foshan", message_id="m-2"), SERVICE,
                   **{t.USER_ID: "foshan-city", t.FIRST_SEEN: first_seen})
    [letter] = inbound.apply([bad])
    assert letter.headers[t.ERROR] == "forbidden"
    assert (letter.headers[t.USER_ID], letter.headers[t.FIRST_SEEN]) == ("foshan-city", first_seen)


def test_a_redrive_of_a_message_without_a_sender_keeps_its_first_sight(inbound):
    first_seen = "2017-03-10T09:30:00+08:00"
    redriven = delivery(envelope("application.submitted", message_id="m-nouser"), SERVICE,
                        **{t.FIRST_SEEN: first_seen, t.ROUTING_KEY: "application.submitted",
                           t.REQUEUED_AT: "2017-03-11T09:30:00+08:00"})
    [letter] = inbound.apply([redriven])
    assert letter.headers[t.ERROR] == "unauthenticated" and t.USER_ID not in letter.headers
    assert letter.headers[t.FIRST_SEEN] == first_seen
    assert history(inbound) == []


def test_only_the_service_user_may_name_another_user_in_the_header(inbound):
    # a city's user claiming to re-drive as the applicant is still the city
    forged = delivery(envelope("application.submitted", message_id="m-1"), "shunde-city",
                      **{t.USER_ID: "shunde-applicant"})
    [letter] = inbound.apply([forged])
    assert letter.headers[t.ERROR] == "forbidden"
    assert letter.headers[t.USER_ID] == "shunde-city"
    # the service user without the header is no principal at all
    [letter] = inbound.apply([delivery(envelope("application.submitted", message_id="m-2"), SERVICE)])
    assert letter.headers[t.ERROR] == "unauthenticated"
    assert history(inbound) == []


def test_a_first_seen_header_without_an_offset_is_not_trusted(inbound):
    # Given an early message whose publisher set a naive first-seen time
    naive = city("application.city_verified", mid="m-naive")
    naive = Delivery(naive.body, naive.message_id, naive.user_id, naive.routing_key,
                     {t.FIRST_SEEN: "2017-03-10T09:30:00"}, naive.content_type)
    inbound.apply([naive])
    # Then it is parked as first seen now, and the sweep can still compare it with the window
    [parked] = inbound.records.open_parked()
    assert parked.first_seen.utcoffset() is not None
    assert abs(parked.first_seen - datetime.now(timezone.utc)) < timedelta(minutes=1)
    assert inbound.expire() == []
    [letter] = inbound.expire(now=parked.first_seen + timedelta(seconds=WINDOW))
    assert datetime.fromisoformat(letter.headers[t.FIRST_SEEN]).utcoffset() is not None


# -- re-drives ------------------------------------------------------------------------------------


def redriven(value: dict, user: str, first_seen: str, requeued_at: datetime) -> Delivery:
    return delivery(value, SERVICE, **{t.USER_ID: user, t.FIRST_SEEN: first_seen,
                                       t.REQUEUED_AT: requeued_at.isoformat()})


def test_a_redriven_early_message_waits_a_whole_window_from_its_redrive(inbound):
    long_ago = "2017-03-10T09:30:00+08:00"
    requeued = datetime.now(timezone.utc)
    early = envelope("application.city_verified", message_id="m-late")
    assert inbound.apply([redriven(early, "shunde-city", long_ago, requeued)]) == []
    [parked] = inbound.records.open_parked()
    assert parked.first_seen == datetime.fromisoformat(long_ago) and parked.window_from == requeued
    assert inbound.expire(now=requeued + timedelta(seconds=WINDOW - 1)) == []
    # its predecessor arrives within the new window: applied in order
    inbound.apply([submitted()])
    assert history(inbound) == ["application.submitted", "application.city_verified"]


def test_a_redriven_message_that_still_does_not_fit_keeps_its_first_sight(inbound):
    long_ago = "2017-03-10T09:30:00+08:00"
    requeued = datetime.now(timezone.utc)
    early = envelope("application.city_verified", message_id="m-late")
    inbound.apply([redriven(early, "shunde-city", long_ago, requeued)])
    [letter] = inbound.expire(now=requeued + timedelta(seconds=WINDOW))
    assert letter.headers[t.ERROR] == "unknown_application"
    assert letter.headers[t.FIRST_SEEN] == long_ago


def test_a_message_dead_lettered_then_redriven_is_parked_again_with_a_new_window(inbound):
    inbound.apply([city("application.city_verified", mid="m-early")])
    [parked] = inbound.records.open_parked()
    [letter] = inbound.expire(now=parked.first_seen + timedelta(seconds=WINDOW))
    inbound.sent([letter])
    assert inbound.records.open_parked() == []
    requeued = parked.first_seen + timedelta(hours=1)
    again = envelope("application.city_verified", message_id="m-early")
    assert inbound.apply([redriven(again, "shunde-city", letter.headers[t.FIRST_SEEN], requeued)]) == []
    [reparked] = inbound.records.open_parked()
    assert (reparked.first_seen, reparked.window_from) == (parked.first_seen, requeued)
    assert inbound.expire(now=requeued + timedelta(seconds=WINDOW - 1)) == []


def test_a_redrive_header_from_another_user_than_the_service_names_no_sender(inbound):
    """Only the service's own user re-drives: a message claiming to be a re-drive from any other
    user (a re-drive run with other credentials, or a forged header) is nobody's, and its
    window is not restarted."""
    forged = delivery(envelope("application.city_verified", message_id="m-f"), "shunde-city",
                      **{t.REQUEUED_AT: (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()})
    [letter] = inbound.apply([forged])
    assert letter.headers[t.ERROR] == "unauthenticated" and t.USER_ID not in letter.headers
    assert inbound.records.open_parked() == []


def test_a_parked_record_from_before_redrive_windows_waits_from_its_first_sight(memory_towns):
    """Events recorded before ``window_from`` existed decode, and their window is first sight."""
    import json as _json

    from eventsourcing.persistence import StoredEvent

    from domain.inbound import ParkedMessage

    first_seen = datetime(2017, 3, 10, 9, 30, tzinfo=timezone.utc)
    parked = ParkedMessage.park("m-old", application_id="a", body="{}", body_encoding="utf-8",
                                user_id="shunde-city", routing_key="k", first_seen=first_seen,
                                code="unknown_application", detail="d")
    stored = memory_towns.mapper.to_stored_event(parked.collect_events()[0])
    state = _json.loads(stored.state)
    assert "window_from" in state
    del state["window_from"]
    old = StoredEvent(stored.originator_id, stored.originator_version, stored.topic,
                      _json.dumps(state).encode())
    decoded = memory_towns.mapper.to_domain_event(old).mutate(None)
    assert (decoded.first_seen, decoded.window_from) == (first_seen, first_seen)


@pytest.mark.parametrize("key, message_id", [("m-old", "m-old"), ("sha256:ab12", None)])
def test_a_parked_record_from_before_message_ids_were_kept_names_its_id_by_its_key(
    memory_towns, key, message_id
):
    import json as _json

    from eventsourcing.persistence import StoredEvent

    from domain.inbound import ParkedMessage

    parked = ParkedMessage.park(key, message_id="ignored", application_id="a", body="{}",
                                body_encoding="utf-8", user_id=None, routing_key="k",
                                first_seen=datetime(2017, 3, 10, tzinfo=timezone.utc),
                                code="unknown_application", detail="d")
    stored = memory_towns.mapper.to_stored_event(parked.collect_events()[0])
    state = _json.loads(stored.state)
    del state["message_id"], state["properties"]
    old = StoredEvent(stored.originator_id, stored.originator_version, stored.topic,
                      _json.dumps(state).encode())
    decoded = memory_towns.mapper.to_domain_event(old).mutate(None)
    assert (decoded.message_id, decoded.properties) == (message_id, None)


# -- prepared ahead of the batch ---------------------------------------------------------------


def test_deliveries_prepared_ahead_give_the_answers_of_unprepared_ones(inbound):
    from domain.commands import Command

    batch = [submitted(mid="m-1"), delivery(b"{not json", "shunde-applicant", 2),
             city("application.city_verified", mid="m-3"), delivery(envelope("application.submitted", "SD-2017-009", message_id="m-4"), None, 4)]
    ready = [inbound.prepare(d) for d in batch]
    assert [isinstance(d.prepared, Command) for d in ready] == [True, False, True, False]
    assert [d.prepared.code for d in ready[1::2]] == ["malformed", "unauthenticated"]
    letters = inbound.apply(ready)
    assert sorted(letter.headers[t.ERROR] for letter in letters) == ["malformed", "unauthenticated"]
    assert history(inbound) == ["application.submitted", "application.city_verified"]


def test_a_delivery_that_fails_to_prepare_unexpectedly_is_left_to_the_batch(inbound, monkeypatch):
    import adapters.amqp.inbound as module

    def broken(body, principal):
        raise RuntimeError("a bug")

    monkeypatch.setattr(module, "prepared", broken)
    d = submitted(mid="m-1")
    assert inbound.prepare(d) is d and d.prepared is None
