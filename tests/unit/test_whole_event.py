"""``adapters.audit.chains.whole_event``: the quick reading of an application event's stored bytes
that ``audit verify`` uses. It may decline a record it could vouch for (the full decode then
checks it), but it must never vouch for one that the full decode and the chain's link check
refuse, and where it vouches it must give the same type, data and hashes."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.audit.chains import whole_event, whole_events
from domain.history import link_break
from tests.desk import Desk
from tests.factories import CALL


@pytest.fixture
def stored(memory_towns, config):
    desk = Desk(memory_towns, config)
    desk.to_evaluated("SD-2017-001")
    desk.province("application.approved", "SD-2017-001")
    desk.submit("FS-2017-001", "foshan")
    desk.applicant("application.withdrawn", "FS-2017-001", "foshan")
    notes = memory_towns.recorder.select_notifications(start=0, limit=1000)
    return memory_towns, [n for n in notes if n.topic.startswith("towns:Application")]


def full(towns, n):
    """What the full check says: None (refused) or (type, data, prev, hash)."""
    event = towns.decode_stored(n)
    if isinstance(event, Exception):
        return None
    try:
        if link_break(event.prev_hash, event):
            return None
    except Exception:  # noqa: BLE001
        return None
    return event.EVENT_TYPE, event.data, event.prev_hash, event.hash


def quick(n, state=None):
    return whole_event(n.topic, n.state if state is None else state, n.originator_id,
                       n.originator_version)


def changed(n, state: bytes):
    return dataclasses.replace(n, state=state)


def test_every_stored_event_is_read_quickly_and_as_the_full_check_reads_it(stored):
    towns, notes = stored
    assert len(notes) >= 8
    for n in notes:
        assert quick(n) is not None, n.topic
        assert quick(n) == full(towns, n)


def test_a_page_for_a_second_process_keeps_the_data_of_submissions_only(stored):
    _, notes = stored
    found = whole_events([(n.topic, n.state, str(n.originator_id), n.originator_version)
                          for n in notes])
    for n, (kind, data, previous, own) in zip(notes, found):
        assert (kind, previous, own) == quick(n)[:1] + quick(n)[2:]
        assert (data is not None) == (kind == "application.submitted")
        if data is not None:
            assert data["call_id"] == CALL


@pytest.mark.parametrize("old, new", [
    (b'"_type_":"datetime_iso","_data_":"2017-', None),  # the record time's separator below
    (b"T", b" "),  # a date's separator: decodes to the same time, not its own encoding
    (b'":"', b'": "'),  # white space: same value, other bytes
    (b'"message_id":"', b'"message_id": "'),
    (b"+08:00", b"+08:00:00"),  # an offset in another ISO form
])
def test_bytes_that_decode_to_the_same_event_but_are_not_its_encoding_are_declined(
        stored, old, new):
    towns, notes = stored
    n = notes[0]
    if new is None:  # the two keys of the record time in the other order
        text = json.loads(n.state)
        text["timestamp"] = {"_data_": text["timestamp"]["_data_"], "_type_": "datetime_iso"}
        state = json.dumps(text, separators=(",", ":"), ensure_ascii=False).encode()
    else:
        assert old in n.state
        state = n.state.replace(old, new, 1)
    assert quick(n, state) is None
    assert full(towns, changed(n, state)) is None


def test_a_changed_value_with_its_hash_left_is_declined_and_the_full_check_refuses_it(stored):
    towns, notes = stored
    n = next(n for n in notes if b"zone map" in n.state or b"SD-2017-001" in n.state)
    state = n.state.replace(b"SD-2017-001", b"SD-2017-009", 1)
    assert quick(n, state) is None and full(towns, changed(n, state)) is None


def test_an_event_whose_data_holds_a_typed_object_is_left_to_the_full_decode(stored):
    _, notes = stored
    n = notes[1]
    text = json.loads(n.state)
    text["data"]["note"] = {"_type_": "datetime_iso", "_data_": "2017-03-01T00:00:00+08:00"}
    state = json.dumps(text, separators=(",", ":"), ensure_ascii=False).encode()
    assert quick(n, state) is None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_changed_byte_is_never_vouched_for_where_the_full_check_refuses_it(stored, data):
    towns, notes = stored
    n = data.draw(st.sampled_from(notes))
    at = data.draw(st.integers(0, len(n.state) - 1))
    byte = data.draw(st.integers(0, 255))
    state = n.state[:at] + bytes([byte]) + n.state[at + 1:]
    found = quick(n, state)
    if found is not None:
        assert found == full(towns, changed(n, state))
