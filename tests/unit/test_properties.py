"""Properties of the application service over random sequences of commands (hypothesis).

Each example builds a fresh in-memory service and sends up to 40 random steps through the real
ingest path, on three applications (two of Shunde, one of Guangzhou whose owner is either
Guangzhou applicant): commands that fit the current state (by the table below), any row of the
table from its rightful sender, and fully random commands (any type, any of eight principals),
dated at random in February-April 2017 (the cutoff and a second past it included), with random
payload variants (partial materials, waivers, warnings, the other track's indicators);
interleaved with deadline checks (before and at cutoff + grace), repeats of earlier messages
(keys reordered or not) and conflicting re-uses of their ids.

A failing example is reported step by step (``note``); shrinking one can take a minute or two.

The expected transitions are written out here from DOMAIN.md, not imported from the code.
"""

from __future__ import annotations

import sqlite3
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from adapters.bootstrap import build_towns
from domain import errors
from domain.applications import application_id
from domain.commands import Outcome
from domain.history import ChainBreak
from tests.desk import Desk
from tests.factories import CALL, CST, indicators
from tests.unit.paths import (
    APPROVE,
    CUTOFF,
    EVALUATE,
    EVENT_TYPES,
    EVIDENCE,
    EXPECTED_TABLE,
    MATERIALS,
    OPEN,
    RECOMMEND,
    REJECT,
    RESUBMIT,
    RETURN,
    SUBMIT,
    UNCHANGED,
    VERIFY,
    WITHDRAW,
    max_notification_id,
    message,
)

PROPERTY = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# -- DOMAIN.md's table, written out independently ------------------------------------------

TABLE = {row: rule for row, rule in EXPECTED_TABLE.items() if row[0] != SUBMIT}  # submissions apart
NOT_CHECKED = {"rejected", "withdrawn", "lapsed"}  # the check leaves these alone
CHECK_DUE = CUTOFF + timedelta(days=1)

# Every (previous status -> new status) pair an accepted command or a check may produce
ALLOWED_PAIRS: set[tuple[str | None, str]] = {(None, "submitted"), (None, "lapsed")}
for (_type, _role), (_from, _to) in TABLE.items():
    for _state in _from:
        ALLOWED_PAIRS.add((_state, _state if _to == UNCHANGED else _to))
ALLOWED_PAIRS |= {(s, "lapsed") for s in OPEN | {"approved"}}  # the deadline check
ALLOWED_PAIRS.add(("lapsed", "lapsed"))  # timely evidence short of the condition
# reinstatement: to the state the evidence reached
ALLOWED_PAIRS |= {("lapsed", s) for s in ("city_verified", "recommended")}


def fits(prev: dict | None, type_: str, role: str, occurred_at: datetime) -> bool:
    """Whether the table (and the deadline's rule for lapsed applications) lets the event in."""
    if type_ == SUBMIT:
        return prev is None
    allowed, _ = TABLE[(type_, role)]
    if prev["status"] == "lapsed":
        return type_ in EVIDENCE and occurred_at <= CUTOFF and prev["under"] in allowed
    return prev["status"] in allowed


# -- random sequences -----------------------------------------------------------------------

REFS = {"SD-1": ("shunde", "industrial"), "SD-2": ("shunde", "industrial"),
        "GZ-1": ("guangzhou", "application")}
PRINCIPALS = ["shunde-applicant", "shunde-city", "foshan-city", "guangzhou-applicant",
              "guangzhou-applicant-2", "guangzhou-city", "province", "auditor"]
DAY0 = datetime(2017, 2, 1, tzinfo=CST)
BOUNDARIES = [CUTOFF, CUTOFF + timedelta(seconds=1), CUTOFF - timedelta(days=1)]
CHECK_TIMES = [datetime(2017, 3, 25, tzinfo=CST), CHECK_DUE - timedelta(seconds=1), CHECK_DUE,
               datetime(2017, 4, 10, tzinfo=CST)]


@dataclass(frozen=True)
class Cmd:
    type_: str
    ref: str
    principal: str | None  # None: the rightful sender
    occurred_at: datetime
    variant: int
    role: str | None = None  # the row wanted, for a rejection by the rightful sender


timely = st.integers(0, 57 * 24).map(lambda h: DAY0 + timedelta(hours=h))  # Feb 1 - Mar 29
dates = st.one_of(
    timely,
    timely,
    st.sampled_from(BOUNDARIES),
    st.integers(0, 89 * 24).map(lambda h: DAY0 + timedelta(hours=h)),  # Feb 1 - Apr 30
)
random_cmds = st.builds(
    Cmd,
    type_=st.sampled_from(EVENT_TYPES),
    ref=st.sampled_from(sorted(REFS)),
    principal=st.one_of(st.none(), st.sampled_from(PRINCIPALS)),
    occurred_at=dates,
    variant=st.integers(0, 3),
)
KINDS = ["fitting"] * 5 + ["row"] * 3 + ["random"] * 2 + ["check", "resend", "conflict"]
ALL_ROWS = sorted([*TABLE, (SUBMIT, "applicant")])


def fitting_rows(prev: dict | None) -> list[tuple[str, str]]:
    """The (type, role) rows of the table that fit an application's state, by DOMAIN.md."""
    if prev is None:
        return [(SUBMIT, "applicant")]
    if prev["status"] == "lapsed":
        return [(t, r) for (t, r), (allowed, _) in TABLE.items()
                if t in EVIDENCE and prev["under"] in allowed]
    return [(t, r) for (t, r), (allowed, _) in TABLE.items() if prev["status"] in allowed]


def draw_step(data, towns) -> tuple:
    """One step, biased towards commands that fit the state (else most would be refused) and
    towards rightful senders (so that the table, not authorisation, decides)."""
    kind = data.draw(st.sampled_from(KINDS), label="kind")
    if kind == "check":
        return ("check", data.draw(st.sampled_from(CHECK_TIMES), label="as_of"))
    if kind == "resend":
        return ("resend", data.draw(st.integers(0, 50)), data.draw(st.booleans()))
    if kind == "conflict":
        return ("conflict", data.draw(st.integers(0, 50)))
    if kind == "random":
        return ("cmd", data.draw(random_cmds, label="cmd"))
    ref = data.draw(st.sampled_from(sorted(REFS)), label="ref")
    # "row": any row of the table, from its rightful sender, whatever the state
    rows = ALL_ROWS if kind == "row" else fitting_rows(states(towns)[ref])
    if not rows:
        return ("cmd", data.draw(random_cmds, label="cmd"))
    # moving forward is three times as likely as closing (withdraw, reject) or going back
    weighted = [r for r in rows for _ in range(1 if r[0] in (WITHDRAW, REJECT, RETURN) else 3)]
    type_, role = data.draw(st.sampled_from(weighted), label="row")
    return ("cmd", Cmd(type_, ref, None, data.draw(dates, label="date"),
                       data.draw(st.integers(0, 3), label="variant"), role))


def payload_overrides(type_: str, track: str, variant: int) -> dict:
    if type_ == MATERIALS:
        # 0: complete at once; 1: one bound copy and the electronic one (twice completes);
        # 2: unbound paper only; 3: bound paper, unlabelled electronic copy
        return {"paper_copies": 1 if variant == 1 else 2, "a4_bound": variant != 2,
                "electronic_copies": 0 if variant == 2 else 1, "electronic_labelled": variant != 3}
    if type_ == EVALUATE and variant == 1:
        return {"waivers": [{"criterion": "1(2)" if track == "industrial" else "2(2)",
                             "reason": "hillside site"}]}
    if type_ == EVALUATE and variant == 2:
        return {"waivers": [{"criterion": "1(3)", "reason": "not a warning"}]}
    if type_ in (SUBMIT, RESUBMIT) and variant == 1:
        return {"indicators": indicators(track, planned_area_mu=250)}  # a warning on (2)
    if type_ == RESUBMIT and variant == 2:
        other = "application" if track == "industrial" else "industrial"
        return {"indicators": indicators(other)}  # the other track's fields
    return {}


def rightful(type_: str, ref: str, variant: int, role: str | None = None) -> str:
    city, _ = REFS[ref]
    if role == "province":
        return "province"
    if role == "city":
        return f"{city}-city"
    if type_ in (SUBMIT, RESUBMIT, WITHDRAW):
        if city == "guangzhou" and variant == 3:
            return "guangzhou-applicant-2"
        return f"{city}-applicant"
    if type_ == REJECT:
        return "province" if variant % 2 else f"{city}-city"
    if type_ in (RETURN, VERIFY, RECOMMEND):
        return f"{city}-city"
    return "province"


@dataclass
class Record:
    kind: str
    before: dict
    after: dict
    log_before: int
    log_after: int
    result: Outcome | errors.DomainError | None = None
    type_: str = ""
    role: str = ""
    ref: str = ""
    occurred_at: datetime | None = None
    check_ran: bool = False  # whether a due check had run before this step
    as_of: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def states(towns) -> dict:
    out = {}
    for ref in REFS:
        app = towns.application(CALL, ref)
        out[ref] = None if app is None else {
            "status": app.status, "version": app.version, "under": app.underlying_status}
    return out


def reorder(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: reorder(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [reorder(v) for v in value]
    return value


def run(towns, config, data) -> list[Record]:
    """Draws and applies a random sequence of steps, recording what each one did."""
    desk = Desk(towns, config)
    sent: list[tuple[str, dict]] = []  # messages applied, with their sender
    records: list[Record] = []
    check_ran = False
    counter = 0
    for _ in range(data.draw(st.integers(1, 40), label="steps")):
        step = draw_step(data, towns)
        note(repr(step))
        before, log_before = states(towns), max_notification_id(towns)
        rec = Record(step[0], before, {}, log_before, 0, check_ran=check_ran)
        if step[0] == "check":
            rec.as_of = step[1]
            towns.check_deadline(CALL, step[1])
            check_ran = check_ran or step[1] >= CHECK_DUE
        elif step[0] == "cmd":
            cmd: Cmd = step[1]
            city, track = REFS[cmd.ref]
            principal = cmd.principal or rightful(cmd.type_, cmd.ref, cmd.variant, cmd.role)
            p = config.principals[principal]
            counter += 1
            body = message(cmd.type_, cmd.ref, city, p.role, cmd.occurred_at.isoformat(),
                           actor_city=p.city, message_id=f"p-{counter}",
                           **payload_overrides(cmd.type_, track, cmd.variant))
            rec.type_, rec.role, rec.ref, rec.occurred_at = cmd.type_, p.role, cmd.ref, cmd.occurred_at
            rec.result = _send(desk, principal, body)
            if isinstance(rec.result, Outcome):
                sent.append((principal, body))
        elif step[0] in ("resend", "conflict"):
            if not sent:
                continue
            principal, body = sent[step[1] % len(sent)]
            rec.ref = body["application_ref"]
            if step[0] == "resend":
                again = reorder(body) if step[2] else dict(body)
            else:
                shifted = datetime.fromisoformat(body["occurred_at"]) + timedelta(minutes=1)
                again = {**body, "occurred_at": shifted.isoformat()}
            rec.extra["body"] = again
            rec.result = _send(desk, principal, again)
        rec.after, rec.log_after = states(towns), max_notification_id(towns)
        records.append(rec)
    return records


def _send(desk, principal, body):
    try:
        return desk.send(principal, body)
    except errors.DomainError as error:
        return error


# -- (a) transitions stay within DOMAIN.md's table ------------------------------------------


@PROPERTY
@given(data=st.data())
def test_a_every_accepted_change_is_allowed_by_the_table(memory_towns_factory, config, data):
    towns = memory_towns_factory()
    for rec in run(towns, config, data):
        for ref in REFS:
            prev, new = rec.before[ref], rec.after[ref]
            if prev != new:
                pair = (prev and prev["status"], new["status"])
                assert pair in ALLOWED_PAIRS, (rec.kind, rec.type_, ref, pair)
        if rec.kind == "check":
            for ref in REFS:
                prev, new = rec.before[ref], rec.after[ref]
                if prev == new:
                    continue
                assert rec.as_of >= CHECK_DUE, "a check before cutoff + grace changed something"
                assert prev["status"] not in NOT_CHECKED and new["status"] == "lapsed"
                assert new["version"] == prev["version"] + 1
        elif rec.kind == "cmd":
            _check_command(rec)


def _check_command(rec: Record) -> None:
    result, prev, new = rec.result, rec.before[rec.ref], rec.after[rec.ref]
    others = [r for r in REFS if r != rec.ref]
    assert all(rec.before[r] == rec.after[r] for r in others), "another application changed"
    sendable = rec.type_ == SUBMIT and rec.role == "applicant" or (rec.type_, rec.role) in TABLE
    if isinstance(result, errors.DomainError):
        assert prev == new
        if result.code == "invalid_transition":
            assert sendable and not fits(prev, rec.type_, rec.role, rec.occurred_at), result.message
        return
    assert sendable and fits(prev, rec.type_, rec.role, rec.occurred_at)
    assert (result.status, result.version, result.duplicate) == (new["status"], new["version"],
                                                               False)
    if rec.type_ == SUBMIT:
        # a timely submission first recorded after the check lapses at once (never recommended)
        assert (new["status"], new["version"]) == (
            ("lapsed", 2) if rec.check_ran else ("submitted", 1))
        return
    _, becomes = TABLE[(rec.type_, rec.role)]
    if prev["status"] == "lapsed":
        reached = prev["under"] if becomes == UNCHANGED else becomes
        if new["status"] == "lapsed":
            assert (new["under"], new["version"]) == (reached, prev["version"] + 1)
        else:  # reinstated in the same transaction
            assert (new["status"], new["version"]) == (reached, prev["version"] + 2)
        return
    reached = prev["status"] if becomes == UNCHANGED else becomes
    assert (new["status"], new["version"]) == (reached, prev["version"] + 1)


# -- (b) replay gives the live state --------------------------------------------------------


@PROPERTY
@given(data=st.data())
def test_b_replaying_the_stored_events_gives_the_live_state(memory_towns_factory, config, data):
    towns = memory_towns_factory()
    run(towns, config, data)
    for ref in REFS:
        live = towns.application(CALL, ref)
        if live is None:
            continue
        replayed = towns.replay(CALL, ref)
        state = replayed.state
        assert replayed.chain_break is None
        assert len(replayed.events) == live.version
        for name in ("status", "version", "receipts", "evaluation", "indicators", "lapsed_from",
                     "recommended_at", "reinstated", "lapse", "decision", "last_hash", "owner"):
            assert getattr(state, name) == getattr(live, name), name
        assert towns.deadline_outcome(state) == towns.deadline_outcome(live)


# -- (c) a refused command records nothing ----------------------------------------------------


@PROPERTY
@given(data=st.data())
def test_c_a_refused_command_records_nothing(memory_towns_factory, config, data):
    towns = memory_towns_factory()
    for rec in run(towns, config, data):
        if not isinstance(rec.result, errors.DomainError):
            continue
        assert rec.after == rec.before, rec.result.code  # no application changed
        if rec.result.code == "idempotency_conflict":
            # the conflicting body is kept as evidence on the inbox marker, nothing else
            assert rec.log_after == rec.log_before + 1
        else:
            assert rec.log_after == rec.log_before, rec.result.code


# -- (d) a repeated message changes nothing ----------------------------------------------------


@PROPERTY
@given(data=st.data())
def test_d_a_repeat_changes_nothing_and_answers_duplicate(memory_towns_factory, config, data):
    towns = memory_towns_factory()
    for rec in run(towns, config, data):
        if rec.kind == "resend" and rec.result is not None:
            assert isinstance(rec.result, Outcome), rec.result
            now = rec.after[rec.ref]
            assert (rec.result.duplicate, rec.result.status, rec.result.version) == (
                True, now["status"], now["version"])
            assert rec.after == rec.before and rec.log_after == rec.log_before
        if rec.kind == "conflict" and rec.result is not None:
            assert isinstance(rec.result, errors.IdempotencyConflict), rec.result
            assert rec.after == rec.before


# -- (e) the hash chain --------------------------------------------------------------------


@PROPERTY
@given(data=st.data())
def test_e_the_hash_chain_verifies_after_random_sequences(memory_towns_factory, config, data):
    towns = memory_towns_factory()
    run(towns, config, data)
    for ref in REFS:
        if towns.application(CALL, ref) is not None:
            assert towns.verify_application(CALL, ref) is None


# Tampering happens on SQLite, the store whose bytes we can reach. A template database with a
# varied history (a return and resubmission, partial materials, a waiver, an approval; a lapse
# and a reinstatement with system events) is built once and copied for each example.

TEMPLATE_REFS = ("SD-1", "GZ-1")
EVENTS_TABLE = "stored_events"  # eventsourcing.sqlite: "stored_" + purpose; state is a BLOB


def _template_history(towns, config) -> None:
    desk = Desk(towns, config)
    on = lambda day: datetime(2017, 3, day, 10, tzinfo=CST).isoformat()  # noqa: E731
    sd = [
        ("shunde-applicant", SUBMIT, "applicant", {"indicators": indicators(planned_area_mu=250)}),
        ("shunde-city", RETURN, "city", {}),
        ("shunde-applicant", RESUBMIT, "applicant", {"indicators": indicators(planned_area_mu=250)}),
        ("shunde-city", VERIFY, "city", {}),
        ("shunde-city", RECOMMEND, "city", {}),
        ("province", MATERIALS, "province", {"paper_copies": 1}),
        ("province", MATERIALS, "province", {"paper_copies": 1, "electronic_copies": 0}),
        ("province", EVALUATE, "province",
         {"waivers": [{"criterion": "1(2)", "reason": "hillside site"}]}),
        ("province", APPROVE, "province", {}),
    ]
    for day, (principal, type_, role, kw) in enumerate(sd, start=5):
        desk.send(principal, message(type_, "SD-1", "shunde", role, on(day), **kw))
    desk.send("guangzhou-applicant", message(SUBMIT, "GZ-1", "guangzhou", "applicant", on(6),
                                             track="application"))
    desk.send("guangzhou-city", message(VERIFY, "GZ-1", "guangzhou", "city", on(8)))
    assert towns.check_deadline(CALL, CHECK_DUE).lapsed == ["GZ-1"]
    desk.send("guangzhou-city", message(RECOMMEND, "GZ-1", "guangzhou", "city", on(28)))
    assert desk.send("province", message(MATERIALS, "GZ-1", "guangzhou", "province",
                                         on(29))).status == "recommended"  # reinstated


@pytest.fixture(scope="module")
def template_db(tmp_path_factory, config) -> str:
    path = tmp_path_factory.mktemp("template") / "towns.db"
    towns = build_towns(config, f"sqlite:///{path}")
    _template_history(towns, config)
    for ref in TEMPLATE_REFS:
        assert towns.verify_application(CALL, ref) is None
    towns.close()
    return str(path)


class TamperedCopy:
    """A fresh copy of the template, with helpers to alter one stored event of an application."""

    def __init__(self, template: str, directory) -> None:
        self.path = str(directory / f"copy-{uuid.uuid4().hex}.db")
        with sqlite3.connect(template) as src, sqlite3.connect(self.path) as dst:
            src.backup(dst)

    def versions(self, ref: str) -> list[int]:
        with sqlite3.connect(self.path) as con:
            rows = con.execute(
                f"SELECT originator_version FROM {EVENTS_TABLE} WHERE originator_id=? "
                "ORDER BY originator_version", (application_id(CALL, ref).hex,)).fetchall()
        return [v for (v,) in rows]

    def state(self, ref: str, version: int) -> bytes:
        with sqlite3.connect(self.path) as con:
            (state,) = con.execute(
                f"SELECT state FROM {EVENTS_TABLE} WHERE originator_id=? AND originator_version=?",
                (application_id(CALL, ref).hex, version)).fetchone()
        return bytes(state)

    def write(self, ref: str, version: int, state: bytes) -> None:
        con = sqlite3.connect(self.path)
        with con:
            cur = con.execute(
                f"UPDATE {EVENTS_TABLE} SET state=? WHERE originator_id=? AND originator_version=?",
                (state, application_id(CALL, ref).hex, version))
            assert cur.rowcount == 1
        con.close()

    def verify(self, config, ref: str):
        towns = build_towns(config, f"sqlite:///{self.path}")
        try:
            return towns.verify_application(CALL, ref)
        finally:
            towns.close()


def assert_breaks_at(found, version: int) -> None:
    assert isinstance(found, ChainBreak), f"the change to event {version} went unnoticed: {found}"
    assert found.version in (version, version + 1), found


@pytest.fixture
def copies(template_db, tmp_path):
    return lambda: TamperedCopy(template_db, tmp_path)


@PROPERTY
@given(data=st.data())
def test_e_changing_any_stored_byte_breaks_the_chain(copies, config, data):
    """domain/hashing.py's promise: changing any stored byte of any event breaks the chain at
    that event or the next (an undecodable record counts as a break at its position).

    FAILS at the time of writing: the tests at the end of this module pin the kinds of byte that
    go unnoticed (the first event's ``originator_topic``; instants re-encoded to the same value).
    """
    copy = copies()
    ref = data.draw(st.sampled_from(TEMPLATE_REFS), label="ref")
    version = data.draw(st.sampled_from(copy.versions(ref)), label="version")
    state = bytearray(copy.state(ref, version))
    offset = data.draw(st.integers(0, len(state) - 1), label="offset")
    new = data.draw(st.integers(0, 255).filter(lambda b: b != state[offset]), label="byte")
    note(f"byte {offset} {bytes(state[offset:offset + 1])!r} -> {bytes([new])!r} in "
              f"...{bytes(state[max(0, offset - 30):offset + 30])!r}...")
    state[offset] = new
    copy.write(ref, version, bytes(state))
    try:
        found = copy.verify(config, ref)
    except Exception as error:  # noqa: BLE001
        pytest.fail(f"verify_application raised {type(error).__name__}: {error}")
    assert_breaks_at(found, version)


def test_e_every_stored_byte_changed_breaks_the_chain_sweep(copies, config):
    """The same promise, exhaustively and deterministically: each byte of each stored event of
    the template (its lowest bit flipped), one at a time, through sqlite3 and verify_application.

    FAILS at the time of writing; the message lists what went unnoticed, by event and context.
    """
    copy = copies()
    towns = build_towns(config, f"sqlite:///{copy.path}")
    con = sqlite3.connect(copy.path, isolation_level=None)
    unnoticed: list[str] = []
    checked = 0
    try:
        for ref in TEMPLATE_REFS:
            for version in copy.versions(ref):
                state = copy.state(ref, version)
                for offset in range(len(state)):
                    changed = bytearray(state)
                    changed[offset] ^= 1
                    _update(con, ref, version, bytes(changed))
                    try:
                        found = towns.verify_application(CALL, ref)
                    except Exception as error:  # noqa: BLE001
                        found = error
                    checked += 1
                    if not isinstance(found, ChainBreak) or found.version not in (version,
                                                                                  version + 1):
                        context = state[max(0, offset - 24):offset + 8].decode("utf-8", "replace")
                        unnoticed.append(f"{ref} v{version} byte {offset} "
                                         f"{chr(state[offset])!r}->{chr(changed[offset])!r} in "
                                         f"...{context}...: {found!r}")
                _update(con, ref, version, state)
    finally:
        con.close()
        towns.close()
    assert checked > 5000
    assert not unnoticed, f"{len(unnoticed)} of {checked} changed bytes went unnoticed:\n" + \
        "\n".join(unnoticed)


def _update(con, ref: str, version: int, state: bytes) -> None:
    cur = con.execute(
        f"UPDATE {EVENTS_TABLE} SET state=? WHERE originator_id=? AND originator_version=?",
        (state, application_id(CALL, ref).hex, version))
    assert cur.rowcount == 1


def _replace_json_string(state: bytes, key: bytes, new_value: bytes) -> bytes:
    """Replaces the string value of the first ``"key":"..."`` in a stored state."""
    start = state.index(b'"' + key + b'":"') + len(key) + 4
    end = state.index(b'"', start)
    return state[:start] + new_value + state[end:]


@PROPERTY
@given(data=st.data())
def test_e_changing_a_stored_hash_breaks_the_chain_there(copies, config, data):
    copy = copies()
    ref = data.draw(st.sampled_from(TEMPLATE_REFS), label="ref")
    version = data.draw(st.sampled_from(copy.versions(ref)), label="version")
    state = copy.state(ref, version)
    old = state[state.index(b'"hash":"') + 8:][:64]
    forged = data.draw(st.text("0123456789abcdef", min_size=64, max_size=64)
                       .map(str.encode).filter(lambda h: h != old), label="hash")
    copy.write(ref, version, _replace_json_string(state, b"hash", forged))
    found = copy.verify(config, ref)
    assert_breaks_at(found, version)
    assert found.version == version  # its own content no longer matches


@PROPERTY
@given(data=st.data())
def test_e_changing_a_stored_occurred_at_breaks_the_chain_there(copies, config, data):
    copy = copies()
    ref = data.draw(st.sampled_from(TEMPLATE_REFS), label="ref")
    version = data.draw(st.sampled_from(copy.versions(ref)), label="version")
    state = copy.state(ref, version)
    marker = b'"occurred_at":{"_type_":"datetime_iso","_data_":"'
    start = state.index(marker) + len(marker)
    end = state.index(b'"', start)
    old = datetime.fromisoformat(state[start:end].decode())
    shift = data.draw(st.integers(-30 * 24 * 3600, 30 * 24 * 3600).filter(bool), label="seconds")
    new = (old + timedelta(seconds=shift)).isoformat().encode()
    copy.write(ref, version, state[:start] + new + state[end:])
    found = copy.verify(config, ref)
    assert_breaks_at(found, version)
    assert found.version == version


@pytest.mark.parametrize(
    "old, new, what",
    [
        (b'"prev_hash":"', b'"prev_hash":"f', "the link"),
        (b'"data":{', b'"data":{"x":1,', "the data"),
        (b'"timestamp":{"_type_":"datetime_iso","_data_":"20',
         b'"timestamp":{"_type_":"datetime_iso","_data_":"19', "the record time"),
        (b'"actor":{"role":"', b'"actor":{"role":"x', "the actor"),
        (b'"message_id":"', b'"message_id":"x', "the message id"),
        (b'{', b'[', "the JSON itself (undecodable)"),
    ],
)
@pytest.mark.parametrize("ref, version", [("SD-1", 1), ("SD-1", 6), ("GZ-1", 3), ("GZ-1", 6)])
def test_e_changed_fields_break_the_chain(copies, config, ref, version, old, new, what):
    copy = copies()
    state = copy.state(ref, version)
    assert old in state, what
    copy.write(ref, version, state.replace(old, new, 1))
    assert_breaks_at(copy.verify(config, ref), version)


# -- kinds of stored byte that went or go unnoticed -------------------------------------------


@pytest.mark.parametrize("key", [b"hash", b"prev_hash", b"occurred_at", b"data", b"actor",
                                 b"message_id", b"timestamp"])
def test_e_a_renamed_field_is_a_break_not_a_crash(copies, config, key):
    """Decoding does not check the fields, so a changed byte in a field's name gives an event
    without that attribute: verify must answer a ChainBreak, not raise (it raised
    AttributeError before commit cb493b4; passes since)."""
    copy = copies()
    state = copy.state("SD-1", 4)
    copy.write("SD-1", 4, state.replace(b'"' + key + b'":', b'"' + key[:-1] + b'_":', 1))
    try:
        found = copy.verify(config, "SD-1")
    except Exception as error:  # noqa: BLE001
        pytest.fail(f"verify_application raised {type(error).__name__}: {error}")
    assert_breaks_at(found, 4)


@pytest.mark.parametrize("old, new", [
    (b'"originator_topic":"towns:Application"', b'"originator_topic":"towns:Applicatioo"'),
    (b'"originator_topic":', b'"originator_topix":'),
])
def test_e_the_submitted_event_s_originator_topic_is_covered(copies, config, old, new):
    """BUG (fails): the hash does not cover ``originator_topic``, stored in the first event's
    state only (domain/applications.py ``_content``); changing it goes unnoticed by
    verify_application, while replaying or loading the application then fails."""
    copy = copies()
    state = copy.state("SD-1", 1)
    copy.write("SD-1", 1, state.replace(old, new, 1))
    assert_breaks_at(copy.verify(config, "SD-1"), 1)


@pytest.mark.parametrize("old, new, what", [
    (b'+00:00"}', b'-00:00"}', "the record time's offset +00:00 written -00:00"),
    (b'"_data_":"2017-03-08T', b'"_data_":"2017-03-08 ', "the business time's T separator"),
    (b'"_data_":"2017-03-08T', b'"_data_":"2017-03-08x', "the business time's T separator"),
])
def test_e_a_re_encoded_instant_is_noticed(copies, config, old, new, what):
    """BUG (fails): the hash covers decoded values, not the stored bytes, and
    ``datetime.fromisoformat`` reads any character as the date/time separator and -00:00 as
    +00:00, so such a byte changes the record unnoticed."""
    copy = copies()
    state = copy.state("SD-1", 4)  # city_verified, dated 2017-03-08
    assert old in state, what
    copy.write("SD-1", 4, state.replace(old, new, 1))
    assert_breaks_at(copy.verify(config, "SD-1"), 4)
