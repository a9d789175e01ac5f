"""How a stored event changes: an upcaster (eventsourcing's ``class_version`` and
``upcast_v1_v2``), shown on a test-only aggregate (README, "Changing a stored event").

Stored rows are never rewritten. When an event's payload grows a field, its class says it is
version 2 and says how a version-1 state becomes a version-2 one; the library's mapper
(``Mapper.to_domain_event``) runs the upcasters from the version a record was written in (its
state's ``class_version``, 1 when absent) up to the class's own, before it builds the event.
New records are written as version 2 (``Mapper.to_stored_event`` adds ``"class_version": 2``).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import StoredEvent


class Town(Aggregate):
    """Test-only. Version 1 of ``Registered`` had ``name``; version 2 adds ``county``."""

    TOPIC = "towns-example:Town"

    class Event(Aggregate.Event):
        TOPIC = "towns-example:Town.Event"

    class Registered(Event, Aggregate.Created):
        TOPIC = "towns-example:Town.Registered"  # unchanged: the topic is part of the data
        class_version = 2
        name: str
        county: str

        @staticmethod
        def upcast_v1_v2(state: dict) -> None:
            """A version-1 record knew no county."""
            state["county"] = "unknown"

    def __init__(self, name: str, county: str) -> None:
        self.name = name
        self.county = county


TOWN_ID = UUID("00000000-0000-4000-8000-00000000b1e1")
V1_RECORD = StoredEvent(
    # Written by version 1 of Town.Registered (no class_version, no county), frozen here.
    originator_id=TOWN_ID,
    originator_version=1,
    topic="towns-example:Town.Registered",
    state=b'{"timestamp":{"_type_":"datetime_iso","_data_":"2017-03-01T02:00:00+00:00"},'
    b'"originator_topic":"towns-example:Town",'
    b'"name":"Beijiao Town (\xe5\x8c\x97\xe6\xbb\x98\xe9\x95\x87)"}',
)


def test_a_version_1_record_decodes_to_the_version_2_event(memory_towns):
    event = memory_towns.mapper.to_domain_event(V1_RECORD)
    assert isinstance(event, Town.Registered)
    assert (event.name, event.county) == ("Beijiao Town (北滘镇)", "unknown")
    assert event.timestamp == datetime(2017, 3, 1, 2, tzinfo=timezone.utc)
    assert "class_version" not in vars(event)


def test_the_repository_loads_an_aggregate_from_version_1_records(memory_towns):
    memory_towns.recorder.insert_events([V1_RECORD])
    town = memory_towns.repository.get(TOWN_ID)
    assert (town.name, town.county, town.version) == ("Beijiao Town (北滘镇)", "unknown", 1)


def test_new_records_are_written_as_version_2_and_read_back_as_they_are(memory_towns):
    town = Town(name="Lecong Town (乐从镇)", county="Shunde")
    memory_towns.save(town)
    [record] = memory_towns.recorder.select_events(town.id)
    assert b'"class_version":2' in record.state and b'"county":"Shunde"' in record.state
    again = memory_towns.repository.get(town.id)
    assert (again.name, again.county) == ("Lecong Town (乐从镇)", "Shunde")
    # no upcast happened: encoding the event again gives back the stored bytes
    event = memory_towns.mapper.to_domain_event(record)
    assert memory_towns.mapper.to_stored_event(event).state == record.state


def test_encoding_an_upcast_event_again_does_not_give_the_stored_bytes(memory_towns):
    """Why the audit's check (``Towns.decode_stored``: encoding the decoded event again must
    give exactly the stored bytes) cannot stand as it is once an event is upcast: the version-2
    encoding holds the new field and ``class_version``."""
    event = memory_towns.mapper.to_domain_event(V1_RECORD)
    again = memory_towns.mapper.to_stored_event(event).state
    assert again != V1_RECORD.state
    assert b'"county":"unknown"' in again and b'"class_version":2' in again
    # What does hold for every record, upcast or not: the stored bytes are the transcoder's
    # own encoding of the state they decode to (before any upcaster runs).
    transcoder = memory_towns.mapper.transcoder
    assert transcoder.encode(transcoder.decode(V1_RECORD.state)) == V1_RECORD.state


def test_the_audit_does_not_call_an_upcast_record_tampered(memory_towns):
    assert not isinstance(memory_towns.decode_stored(V1_RECORD), Exception)


def test_an_upcast_record_whose_bytes_are_not_their_own_encoding_is_still_called_tampered(
        memory_towns):
    """Bytes the decoder forgives (a date's separator) are a changed record, upcast or not."""
    state = V1_RECORD.state.replace(b"T", b" ", 1)
    assert state != V1_RECORD.state
    changed = dataclasses.replace(V1_RECORD, state=state)
    found = memory_towns.decode_stored(changed)
    assert isinstance(found, ValueError) and "own encoding" in str(found)
