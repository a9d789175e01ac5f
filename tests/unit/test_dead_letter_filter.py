"""The dead-letter filter (``adapters.store.dead_letter_filter``) on the in-memory store and on
SQLite: each criterion (code, type, ref, call, user, since/until) and their AND, the same for a
page, ``every``, ``count`` and the letters a bulk re-drive chooses; the criteria fixed at the
first record spare the reads of the letters they pass over; every bad value refused, over HTTP
(422 ``schema_invalid`` naming the field, before any broker is needed) and on the command line
(usage, exit 2)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from adapters.amqp.redrive import choose
from adapters.http import create_app
from adapters.ops import dead_letters
from adapters.store.dead_letter_filter import FilterError, LetterFilter
from adapters.store.inbound_records import InboundRecords
from domain.inbound import dead_letter_id

OPERATOR = {"Authorization": "Bearer demo-operator"}
DAY = datetime(2017, 3, 20, 9, 0, tzinfo=UTC)
LETTERS = [
    # key, code, type, ref, call, user, first seen (days after DAY)
    ("f-0", "unknown_call", "application.submitted", "SD-F-0", "NO-CALL", "shunde-applicant", 0),
    ("f-1", "unknown_call", "application.submitted", "SD-F-1", "NO-CALL", "shunde-applicant", 1),
    ("f-2", "unknown_call", "application.withdrawn", "SD-F-1", "NO-CALL", "shunde-applicant", 1),
    ("f-3", "forbidden", "application.submitted", "SD-F-1", "GD-ITOWN-2017-B2", "gz-city", 2),
    ("f-4", "unknown_call", "application.submitted", "SD-F-4", "NO-CALL", None, 3),
]


@pytest.fixture(params=["memory_towns", "sqlite_towns"])
def records(request) -> InboundRecords:
    found = InboundRecords(request.getfixturevalue(request.param))
    for key, code, kind, ref, call, user, days in LETTERS:
        body = {"message_id": key, "type": kind, "application_ref": ref, "call_id": call}
        found.dead_letter(key, key, code, "refused", json.dumps(body).encode(), user, kind,
                          DAY + timedelta(days=days))
    found.dead_letter("f-raw", "f-raw", "malformed", "not JSON", b"\xff\xfe", None, "unknown",
                      DAY + timedelta(days=1))
    return found


def keys(letters) -> list[str]:
    return [letter.key for letter in letters]


def where(**criteria: str) -> LetterFilter:
    return LetterFilter.parse(criteria)


@pytest.mark.parametrize("criteria, expected", [
    ({}, ["f-0", "f-1", "f-2", "f-3", "f-4", "f-raw"]),
    ({"code": "unknown_call"}, ["f-0", "f-1", "f-2", "f-4"]),
    ({"type": "application.submitted"}, ["f-0", "f-1", "f-3", "f-4"]),
    ({"ref": "SD-F-1"}, ["f-1", "f-2", "f-3"]),
    ({"call": "GD-ITOWN-2017-B2"}, ["f-3"]),
    ({"user": "shunde-applicant"}, ["f-0", "f-1", "f-2"]),
    ({"since": "2017-03-21T17:00:00+08:00"}, ["f-1", "f-2", "f-3", "f-4", "f-raw"]),
    ({"until": "2017-03-21T09:00:00Z"}, ["f-0"]),  # until excludes its own instant
    ({"since": "2017-03-21T09:00:00+00:00", "until": "2017-03-22T09:00:00+00:00"},
     ["f-1", "f-2", "f-raw"]),
    ({"code": "unknown_call", "type": "application.submitted", "ref": "SD-F-1",
      "since": "2017-03-21T00:00:00+08:00"}, ["f-1"]),
    ({"ref": "SD-F-1", "call": "NO-CALL", "user": "gz-city"}, []),
])
def test_each_criterion_and_their_and(records, criteria, expected):
    assert keys(records.dead_letters(True, None, None, where(**criteria))) == expected
    assert keys(dead_letters.every(records, True, 2, where(**criteria))) == expected
    counted = dead_letters.count(records, where(**criteria))
    assert (counted["open"], counted["truncated"]) == (len(expected), False)
    # a bulk re-drive takes the same, those whose body is stored
    assert keys(choose(records, None, True, where=where(**criteria))) == expected


def test_the_code_is_the_last_one_and_closed_letters_only_with_all(records):
    records.requeued(dead_letter_id("f-0"), "alice")
    records.dead_letter("f-0", "f-0", "forbidden", "refused again", json.dumps(
        {"message_id": "f-0", "type": "application.submitted", "application_ref": "SD-F-0",
         "call_id": "NO-CALL"}).encode(), "shunde-applicant", "application.submitted", DAY)
    records.requeued(dead_letter_id("f-1"), "alice")
    assert keys(records.dead_letters(True, None, None, where(code="forbidden"))) == ["f-0", "f-3"]
    assert keys(records.dead_letters(True, None, None, where(ref="SD-F-1"))) == ["f-2", "f-3"]
    assert keys(records.dead_letters(False, None, None, where(ref="SD-F-1"))) == ["f-1", "f-2", "f-3"]


def test_a_filtered_page_reads_only_the_letters_its_first_records_admit(records, monkeypatch):
    reads: list = []
    get = records.towns.repository.get
    monkeypatch.setattr(records.towns.repository, "get", lambda *a, **k: reads.append(a) or get(*a, **k))
    first = dead_letters.page(records, True, 1, None, where(type="application.submitted", ref="SD-F-1"))
    assert [i["message_id"] for i in first.items] == ["f-1"]
    assert first.next_cursor == str(dead_letter_id("f-1"))
    assert len(reads) <= 3  # f-1 and f-3, never the others
    rest = dead_letters.page(records, True, 5, first.next_cursor,
                             where(type="application.submitted", ref="SD-F-1"))
    assert [i["message_id"] for i in rest.items] == ["f-3"] and rest.next_cursor is None
    # the bulk re-drive's walk resumes after a letter
    assert keys(choose(records, None, True, where=where(code="unknown_call"), limit=2,
                       after=dead_letter_id("f-0"))) == ["f-1", "f-2"]


@pytest.mark.parametrize("criteria, field", [
    ({"code": ""}, "code"),
    ({"code": "x" * 101}, "code"),
    ({"code": 7}, "code"),
    ({"type": " application.submitted"}, "type"),
    ({"type": "t" * 256}, "type"),
    ({"ref": "SD\n1"}, "ref"),
    ({"ref": "r" * 129}, "ref"),
    ({"call": "\x7f"}, "call"),
    ({"user": ["gz-city"]}, "user"),
    ({"since": "2017-03-20"}, "since"),  # no offset
    ({"since": "2017-03-20T09:00:00"}, "since"),
    ({"until": "yesterday"}, "until"),
    ({"until": "2017-03-20T09:00:00+08:00" + " " * 60}, "until"),
    ({"since": "2017-03-21T00:00:00+08:00", "until": "2017-03-21T00:00:00+08:00"}, "until"),
])
def test_every_bad_value_is_refused_naming_its_field(criteria, field):
    with pytest.raises(FilterError) as refused:
        LetterFilter.parse(criteria)
    assert set(refused.value.details) == {field}


def test_a_filter_is_answered_and_recorded_as_given():
    found = where(code="unknown_call", since="2017-03-21T00:00:00+08:00")
    assert found.as_dict() == {"code": "unknown_call", "since": "2017-03-21T00:00:00+08:00"}
    assert not LetterFilter() and LetterFilter().with_code("x").as_dict() == {"code": "x"}


# -- bad input over HTTP and on the command line ------------------------------------------------


def test_bad_filter_values_are_schema_invalid_over_http(sqlite_towns, config, monkeypatch):
    monkeypatch.delenv("TOWNS_AMQP_URL", raising=False)  # refused before any broker is asked
    client = create_app(sqlite_towns, config).test_client()
    for path in ("/api/v1/ops/dead-letters", "/api/v1/ops/dead-letters/count"):
        for query, field in (("since=2017-03-20", "since"), ("code=", "code"),
                             ("ref=" + "r" * 129, "ref"), ("user=%20gz", "user"),
                             ("since=2017-03-22T00:00:00%2B08:00&until=2017-03-21T00:00:00%2B08:00",
                              "until")):
            answer = client.get(f"{path}?{query}", headers=OPERATOR)
            assert answer.status_code == 422, (path, query)
            error = answer.get_json()["error"]
            assert error["code"] == "schema_invalid" and field in error["details"], (path, error)
    for body, field in (({"all": True, "since": "soon"}, "since"),
                        ({"all": True, "type": 7}, "type"),
                        ({"all": True, "call": "c" * 129}, "call"),
                        ({"ids": [str(dead_letter_id("x"))], "ref": "SD-1"}, "ref"),
                        ({"all": True, "colour": "red"}, "colour")):
        answer = client.post("/api/v1/ops/dead-letters/requeue", json=body, headers=OPERATOR)
        assert answer.status_code == 422, body
        assert field in answer.get_json()["error"]["details"], body
    good = client.get("/api/v1/ops/dead-letters/count?code=unknown_call&since=2017-03-20T00:00:00Z",
                      headers=OPERATOR)
    assert good.status_code == 200 and good.get_json() == {
        "open": 0, "redrivable": 0, "truncated": False, "limit": 500,
        "filter": {"code": "unknown_call", "since": "2017-03-20T00:00:00+00:00"}}
    assert client.get("/api/v1/ops/dead-letters/count", headers={
        "Authorization": "Bearer demo-auditor"}).status_code == 403


def run(argv: list[str]) -> None:
    """The command as ``towns`` runs it, in this process."""
    from adapters.cli import parser

    args = parser().parse_args(argv)
    args.run(args)


@pytest.mark.parametrize("args", [
    ["--since", "2017-03-20"],
    ["--until", "tomorrow"],
    ["--code", ""],
    ["--ref", "r" * 129],
    ["--type", " x"],
    ["--since", "2017-03-22T00:00:00+08:00", "--until", "2017-03-21T00:00:00+08:00"],
    ["--id", "5f0e5e6e-1f1a-4c55-9d5a-6a4c0f8b8c11", "--code", "unknown_call"],
    ["--all", "--limit", "0"],
    [],
])
def test_bad_filter_options_are_bad_usage(args, capsys, monkeypatch):
    monkeypatch.delenv("TOWNS_AMQP_URL", raising=False)
    with pytest.raises(SystemExit) as stopped:
        run(["dead-letters", "requeue", *args])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "usage: towns dead-letters requeue" in err and "error:" in err


def test_the_listing_takes_the_same_options(capsys):
    with pytest.raises(SystemExit) as stopped:
        run(["dead-letters", "list", "--since", "2017-03-20T09:00:00"])
    assert stopped.value.code == 2 and "--since" in capsys.readouterr().err
