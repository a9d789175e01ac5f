"""Batch files: every line is read and checked before any is used; a bad one is named."""

from __future__ import annotations

import json

import pytest

from adapters.inbound.batch import BatchError, DeadlineCheckRequest, Message, read_batch

CHECK = '{"control": "deadline_check", '
GOOD = json.dumps({"control": "deadline_check", "call_id": "GD-ITOWN-2017-B2",
                   "as_of": "2017-03-31T23:59:59+08:00"})


def batch(tmp_path, *lines: str | bytes):
    path = tmp_path / "batch.jsonl"
    path.write_bytes(b"\n".join(l if isinstance(l, bytes) else l.encode("utf-8") for l in lines))
    return path


def test_lines_of_every_kind_are_read(tmp_path, config):
    items = read_batch(batch(tmp_path, GOOD, "",
                             json.dumps({"principal": "province", "raw": "{not json"}),
                             json.dumps({"principal": None, "envelope": [1]})), config)
    check, raw, envelope = items
    assert isinstance(check, DeadlineCheckRequest) and check.as_of.utcoffset().total_seconds() == 8 * 3600
    assert isinstance(raw, Message)
    assert (raw.line, raw.principal.name, raw.body) == (3, "province", b"{not json")
    assert (envelope.line, envelope.principal, envelope.body) == (4, None, b"[1]")


@pytest.mark.parametrize(
    "line, words",
    [
        pytest.param(CHECK + '"as_of": "2017-04-01T00:00:00+08:00"}', "names its call_id", id="no-call"),
        pytest.param(CHECK + '"call_id": 5, "as_of": "2017-04-01T00:00:00+08:00"}', "names its call_id", id="call-int"),
        pytest.param(CHECK + '"call_id": "C", "as_of": "tomorrow"}', "as_of is an ISO 8601", id="as-of-text"),
        pytest.param(CHECK + '"call_id": "C", "as_of": "2017-04-01T00:00:00"}', "as_of is an ISO 8601", id="as-of-naive"),
        pytest.param(CHECK + '"call_id": "C"}', "as_of is an ISO 8601", id="as-of-missing"),
        pytest.param('{"control": "restart"}', "the only control is deadline_check", id="unknown-control"),
        pytest.param('{"principal": "province", "raw": 5}', "raw is the text", id="raw-int"),
        pytest.param('{"principal": ["x"], "envelope": {}}', "principal is a name", id="principal-list"),
        pytest.param("{not json", "not JSON", id="not-json"),
        pytest.param("[1, 2]", "not an object", id="not-object"),
    ],
)
def test_a_line_that_cannot_be_used_is_named_before_anything_is_sent(tmp_path, config, line, words):
    with pytest.raises(BatchError) as caught:
        read_batch(batch(tmp_path, GOOD, line), config)
    assert str(caught.value).startswith(f"{tmp_path / 'batch.jsonl'}: line 2: ")
    assert words in str(caught.value)


def test_a_file_that_is_not_utf8_is_a_batch_error(tmp_path, config):
    path = batch(tmp_path, GOOD, '{"principal": "北滘"}'.encode("gb18030"))
    with pytest.raises(BatchError, match=r"line 2: not UTF-8"):
        read_batch(path, config)
