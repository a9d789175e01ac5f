"""``domain.decoding.StoredDecoder.plain`` and the one-read replay against the library's way.

``plain`` may decline a record (the mapper then decodes and checks it), but where it gives an
event it must be the very event the mapper gives, and only for bytes that are that event's own
encoding; ``event`` must give what the mapper gives, or raise as it raises. ``Reader.replay``
must give what it gave before, at every point asked for (it no longer reads the deadline check
where the point asked for is before the check was due)."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.applications import application_id
from domain.decoding import StoredDecoder, long_number
from domain.history import first_break, fold, select
from tests.desk import Desk
from tests.factories import CALL, at


def library_decode(towns, record):
    """``Reader.decode_stored`` as it was: the mapper, then its encoding compared."""
    try:
        event = towns.mapper.to_domain_event(record)
        if towns.mapper.to_stored_event(event).state != record.state:
            raise ValueError("the stored bytes are not the event's own encoding")
        return event
    except Exception as error:  # noqa: BLE001
        return error


def same(a, b) -> bool:
    if isinstance(a, Exception) or isinstance(b, Exception):
        return type(a) is type(b) and str(a) == str(b)
    return type(a) is type(b) and vars(a) == vars(b) and list(vars(a)) == list(vars(b))


@pytest.fixture
def history(memory_towns, config):
    desk = Desk(memory_towns, config)
    desk.to_recommended(submitted_at=at(5), verified_at=at(8), recommended_at=at(12))
    desk.submit("FS-2017-001", "foshan")
    desk.applicant("application.withdrawn", "FS-2017-001", "foshan")
    desk.submit("GZ-2017-001", "guangzhou", occurred_at=at(4))
    memory_towns.check_deadline(CALL, datetime.fromisoformat("2017-04-01T00:00:00+08:00"))
    desk.province("materials.received", occurred_at=at(29))  # reinstates the lapse
    notes = memory_towns.recorder.select_notifications(start=0, limit=1000)
    return memory_towns, [n for n in notes if n.topic.startswith("towns:Application")]


def changed(record, state: bytes):
    return dataclasses.replace(record, state=state)


def test_every_stored_event_is_decoded_plainly_as_the_mapper_decodes_it(history):
    towns, notes = history
    decoder = StoredDecoder(towns.mapper)
    assert decoder.fast and len(notes) >= 10
    for n in notes:
        event = decoder.plain(n)
        assert event is not None and decoder._read(n) is not None, n.topic
        assert same(decoder._read(n), event)
        assert same(event, library_decode(towns, n))
        assert same(towns.decode_stored(n), event)


@pytest.mark.parametrize("old, new", [
    (b"T", b" "),  # a date's separator: decodes to the same time, not its own encoding
    (b'":"', b'": "'),  # white space: same value, other bytes
    (b"+08:00", b"+08:00:00"),  # an offset in another ISO form
    (b'{"', b'{"class_version":1,"'),  # a key the mapper takes away
    (b'{"', b'{"originator_version":9,"'),  # a key the mapper sets
])
def test_bytes_that_are_not_the_events_own_encoding_are_declined(history, old, new):
    towns, notes = history
    n = notes[0]
    state = n.state.replace(old, new, 1)
    assert state != n.state
    assert StoredDecoder(towns.mapper).plain(changed(n, state)) is None
    assert same(towns.decode_stored(changed(n, state)), library_decode(towns, changed(n, state)))


def test_a_typed_object_in_the_data_is_left_to_the_mapper(history):
    towns, notes = history
    text = json.loads(notes[1].state)
    text["data"]["note"] = {"_type_": "datetime_iso", "_data_": "2017-03-01T00:00:00+08:00"}
    state = json.dumps(text, separators=(",", ":"), ensure_ascii=False).encode()
    record = changed(notes[1], state)
    assert StoredDecoder(towns.mapper).plain(record) is None
    decoded = towns.decode_stored(record)
    assert isinstance(decoded.data["note"], datetime)  # the mapper's reading, as before
    assert same(decoded, library_decode(towns, record))


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_changed_byte_gives_what_the_mapper_gives(history, data):
    towns, notes = history
    n = data.draw(st.sampled_from(notes))
    at_ = data.draw(st.integers(0, len(n.state) - 1))
    byte = data.draw(st.integers(0, 255))
    how = data.draw(st.sampled_from(["replace", "insert", "delete"]))
    tail = n.state[at_ + 1:] if how != "insert" else n.state[at_:]
    state = n.state[:at_] + (b"" if how == "delete" else bytes([byte])) + tail
    record = changed(n, state)
    plain = StoredDecoder(towns.mapper).plain(record)
    reference = library_decode(towns, record)
    if plain is not None:
        assert same(plain, reference)
        assert_hashed_as_computed(StoredDecoder(towns.mapper).plain_hashed(record))
    assert same(towns.decode_stored(record), reference)


def assert_hashed_as_computed(found):
    event, computed = found
    try:
        expected = event.computed_hash()
    except Exception:  # noqa: BLE001 - then it is left to computed_hash, in its place
        assert computed is None
    else:
        assert computed in (None, expected)


def test_plain_hashed_gives_each_events_computed_hash(history):
    towns, notes = history
    decoder = StoredDecoder(towns.mapper)
    for n in notes:
        event, computed = decoder.plain_hashed(n)
        assert computed is not None and computed == event.computed_hash() == event.hash


def library_replay(towns, call_id, ref, as_of=None, known_at=None, version=None):
    """``Reader.replay`` as it was: the events read alone, the check read by the outcome."""
    reader = towns.reader
    reader.check_log._checked_at.clear()
    stored = [library_decode(towns, r)
              for r in towns.store.select_events(application_id(call_id, ref))]
    chain_break = first_break(stored)
    events = [e for e in stored if not isinstance(e, Exception)]
    applied = select(events, as_of, known_at, version)
    state = fold(applied)
    recorded = next((e.timestamp for e in events if e.originator_version == version), None)
    if recorded is not None:
        known_at = recorded if known_at is None else min(known_at, recorded)
    outcome = reader.deadline_outcome(state, known_at, as_of) if state is not None else None
    return events, applied, state, outcome, chain_break


def test_replay_in_one_read_gives_what_reading_apart_gave(history):
    towns, _ = history
    due = towns.call(CALL).check_due_at
    times = [None, datetime.fromisoformat(at(1)), datetime.fromisoformat(at(10)),
             datetime.fromisoformat(at(30)), due - timedelta(seconds=1), due,
             due + timedelta(days=1)]
    recorded = [e.timestamp for e in towns.replay(CALL, "SD-2017-001").events]
    for ref in ("SD-2017-001", "FS-2017-001", "GZ-2017-001"):
        for as_of in times:
            for known_at in (None, recorded[0], recorded[3], recorded[-1]):
                for version in (None, 1, 3, 4, 5):
                    expected = library_replay(towns, CALL, ref, as_of, known_at, version)
                    for fresh in (True, False):  # the check not yet known, then remembered
                        if fresh:
                            towns.reader.check_log._checked_at.clear()
                        got = towns.replay(CALL, ref, as_of, known_at, version)
                        assert [vars(e) for e in got.events] == [vars(e) for e in expected[0]]
                        assert [e.originator_version for e in got.applied] == [
                            e.originator_version for e in expected[1]]
                        assert (got.state is None) == (expected[2] is None)
                        if got.state is not None:
                            assert vars(got.state) == vars(expected[2])
                        assert got.deadline == expected[3], (ref, as_of, known_at, version)
                        assert got.chain_break == expected[4]


def test_replay_before_the_check_has_run_reads_it_as_not_run(memory_towns, config):
    desk = Desk(memory_towns, config)
    desk.submit(occurred_at=at(5))
    got = memory_towns.replay(CALL, "SD-2017-001")
    assert got.deadline == library_replay(memory_towns, CALL, "SD-2017-001")[3]
    assert got.deadline.outcome == "pending"


def library_event(towns, record):
    try:
        return towns.mapper.to_domain_event(record)
    except Exception as error:  # noqa: BLE001
        return error


def fast_event(towns, record):
    try:
        return StoredDecoder(towns.mapper).event(record)
    except Exception as error:  # noqa: BLE001
        return error


@pytest.mark.parametrize("old, new", [
    (b'"message_id":"', b'"message_id":"\\u005f'),  # an escape: the mapper reads it
    (b'"data":{', b'"data":{"big":123456789012345678901234567890,'),  # past 64 bits
    (b'"data":{', b'"data":{"big": 18446744073709551616,'),
    (b'"data":{', b'"data":{"n":NaN,'),  # not JSON, read by json all the same
    (b'"data":{', b'"data":{"t":{"_data_":"2017-03-01T00:00:00+08:00","_type_":"datetime_iso"},'),
    (b'"data":{', b'"data":{"\\u005ftype_":"datetime_iso","_data_":"x",'),  # an escaped key
    (b'{"', b'{"class_version":1,"'),
    (b'"_type_":"datetime_iso","_data_":"', b'"_data_":"'),  # a record time not transcoded
])
def test_event_gives_what_the_mapper_gives_where_orjson_might_not(history, old, new):
    towns, notes = history
    for n in notes[:3]:
        assert old in n.state
        record = changed(n, n.state.replace(old, new, 1))
        assert same(fast_event(towns, record), library_event(towns, record))


def test_stamps_in_the_other_key_order_are_transcoded_as_the_mapper_does(history):
    towns, notes = history
    text = json.loads(notes[0].state)
    text["timestamp"] = {"_data_": text["timestamp"]["_data_"], "_type_": "datetime_iso"}
    record = changed(notes[0], json.dumps(text, separators=(",", ":")).encode())
    assert same(fast_event(towns, record), library_event(towns, record))


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_event_with_a_changed_byte_gives_what_the_mapper_gives(history, data):
    towns, notes = history
    n = data.draw(st.sampled_from(notes))
    at_ = data.draw(st.integers(0, len(n.state) - 1))
    byte = data.draw(st.sampled_from(list(b'0123456789"\\{}[],:eE.-+ntfu_') + [0xC3, 0x80]))
    state = n.state[:at_] + bytes([byte]) + n.state[at_ + 1:]
    record = changed(n, state)
    assert same(fast_event(towns, record), library_event(towns, record))


def test_read_many_folds_what_the_repository_folds(history):
    towns, notes = history
    ids = sorted({n.originator_id for n in notes}, key=str)
    folded = towns.reader.read_many(ids)
    for app_id in ids:
        assert vars(folded[app_id]) == vars(towns.repository.get(app_id))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_changed_history_breaks_where_it_broke(history, data):
    """The chain read with the hashes computed as the events are decoded breaks at the same
    event, for the same reason, as the chain of the library's decoding."""
    towns, notes = history
    ref = data.draw(st.sampled_from(sorted({n.originator_id for n in notes}, key=str)))
    records = [n for n in notes if n.originator_id == ref]
    i = data.draw(st.integers(0, len(records) - 1))
    state = records[i].state
    at_ = data.draw(st.integers(0, len(state) - 1))
    byte = data.draw(st.sampled_from(list(b'0123456789abcdef"\\{}[],:.-+ntTZ_ ')))
    records[i] = changed(records[i], state[:at_] + bytes([byte]) + state[at_ + 1:])
    expected = first_break([library_decode(towns, r) for r in records])
    assert first_break(*towns.reader._decoded(records)) == expected


_REFERENCE_LONG = re.compile(rb"(?:\A|[:,\[])[ \t\n\r\x0b\x0c]*[0-9.eE+\-]*[0-9]{19}")
"""A run of 19 digits within what a number is made of, where a value may start."""


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.sampled_from([b"0", b"1234567", b"9" * 19, b":", b",", b"[", b'"', b" ",
                                 b"-", b".", b"e", b"E", b"+", b"a", b"c", b"\n", b"{"]),
                max_size=30))
def test_long_number_finds_every_run_of_19_digits_where_a_number_may_hold_it(parts):
    state = b"".join(parts)
    assert long_number(state) == (_REFERENCE_LONG.search(state) is not None)


@pytest.mark.parametrize("state, expected", [
    (b'{"hash":"0ce8674156204200163448d1"}', False),
    (b'{"hash":"73e8674156204200163448d1"}', False),
    (b'{"hash":"ab.1234567890123456789"}', False),
    (b'{"n":12345678901234567890}', True),
    (b'{"n": -1.5e+1234567890123456789}', True),
    (b'[1, 0.12345678901234567890]', True),
    (b'12345678901234567890', True),
])
def test_long_number_tells_a_number_from_the_digits_of_a_hex_hash(state, expected):
    """A hex hash's digits after its ``e`` (as in ``…ce8674156204200163448…``) are a string's,
    not a number's exponent: the plain decoding stays open to such events."""
    assert long_number(state) is expected
