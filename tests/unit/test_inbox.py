"""Inbox markers are made as the library's ``Aggregate._create`` would make them: the same
event (so the same stored bytes) and the same marker."""

from __future__ import annotations

from datetime import datetime, timezone
from uuid import uuid4

import pytest
from eventsourcing.application import Application as Library
from eventsourcing.persistence import JSONTranscoder, Mapper

from domain.inbox import InboxMessage, inbox_id

AT = datetime(2017, 3, 30, 16, 0, 0, 123456, tzinfo=timezone.utc)


@pytest.fixture
def fixed_time(monkeypatch):
    monkeypatch.setattr(InboxMessage.Applied, "create_timestamp", staticmethod(lambda: AT))


def library_made(message_id: str, digest: str, application_id, principal: str) -> InboxMessage:
    return InboxMessage._create(
        InboxMessage.Applied, id=inbox_id(message_id), message_id=message_id, digest=digest,
        application_id=str(application_id), principal=principal,
    )


def stored_state(event) -> bytes:
    transcoder = JSONTranscoder()
    Library().register_transcodings(transcoder)
    return Mapper(transcoder=transcoder).to_stored_event(event).state


@pytest.mark.parametrize("message_id", ["m-1", "訊息-二", ""])
def test_a_marker_is_what_the_librarys_create_makes(fixed_time, message_id):
    application_id = uuid4()
    ours = InboxMessage.applied(message_id, "d" * 64, application_id, "shunde-applicant")
    theirs = library_made(message_id, "d" * 64, application_id, "shunde-applicant")
    [our_event], [their_event] = ours.pending_events, theirs.pending_events
    assert type(our_event) is type(their_event)
    assert list(vars(our_event).items()) == list(vars(their_event).items())
    assert stored_state(our_event) == stored_state(their_event)
    assert {k: v for k, v in vars(ours).items() if k != "_pending_events"} == {
        k: v for k, v in vars(theirs).items() if k != "_pending_events"}
    assert (ours.id, ours.version, ours.conflicts) == (inbox_id(message_id), 1, 0)


def test_a_given_marker_id_is_used(fixed_time):
    marker_id = inbox_id("m-7")
    assert InboxMessage.applied("m-7", "d", uuid4(), "p", marker_id).id == marker_id
