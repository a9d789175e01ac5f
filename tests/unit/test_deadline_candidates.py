"""``projections.applications.deadline_candidates`` reads a row's JSON only where its status
column leaves it subject to the check, and by orjson: it must name exactly the applications
the reading of every row by ``json.loads`` named, and the check run on them must lapse the
same applications as the check over every application of the call."""

from __future__ import annotations

import json
from datetime import datetime
from uuid import UUID

from domain import deadline as dl
from projections.applications import deadline_candidates, receipts
from projections.registry import projections
from projections.runner import ProjectionRunner
from projections.store import ViewStore
from tests.desk import Desk
from tests.factories import CALL, at


def reference_candidates(tx, call_id: str, cutoff: datetime) -> list[UUID]:
    """The candidates as they were chosen before: every row's JSON read by ``json.loads``."""
    found = []
    for (text,) in tx.all("SELECT state FROM deadline_report WHERE call_id = ?", (call_id,)):
        state = json.loads(text)
        if not dl.subject_to_check(state["status"]):
            continue
        recommended = state["recommended_at"]
        recommended_at = datetime.fromisoformat(recommended) if recommended else None
        if dl.shortfalls(recommended_at, receipts(state), cutoff):
            found.append(UUID(state["app_id"]))
    return found


def history(desk: Desk) -> None:
    desk.to_recommended("SD-2017-001", submitted_at=at(5), verified_at=at(8), recommended_at=at(12))
    desk.province("materials.received", "SD-2017-001", occurred_at=at(20))  # complete in time
    desk.to_recommended("SD-2017-002", recommended_at=at(12))  # short of materials
    desk.province("materials.received", "SD-2017-002", paper_copies=1, occurred_at=at(20))
    desk.submit("SD-2017-003")  # never recommended
    desk.submit("FS-2017-001", "foshan")
    desk.applicant("application.withdrawn", "FS-2017-001", "foshan")  # closed by a decision
    desk.submit("GZ-2017-001", "guangzhou")
    desk.city("application.rejected", "GZ-2017-001", "guangzhou")
    desk.to_evaluated("ZH-2017-001", "zhuhai")  # complete, evaluated
    desk.to_recommended("ST-2017-001", "shantou", town_name="Chéng\u0000x")  # a NUL upstream


def test_the_candidates_are_those_every_rows_json_names(memory_towns, config, tmp_path):
    desk = Desk(memory_towns, config)
    history(desk)
    store = ViewStore(f"sqlite:///{tmp_path}/views.db")
    runner = ProjectionRunner(memory_towns, store, projections())
    runner.setup()
    runner.catch_up("deadline_report")
    cutoff = memory_towns.call(CALL).cutoff
    with store.transaction() as tx:
        found = deadline_candidates(tx, CALL, cutoff)
        assert found == reference_candidates(tx, CALL, cutoff)
        assert len(found) >= 2
    # The check over the candidates lapses what the check over every application lapses.
    as_of = datetime.fromisoformat("2017-04-01T00:00:00+08:00")
    run = memory_towns.check_deadline(CALL, as_of, found)
    again = memory_towns.check_deadline(CALL, as_of)
    assert run.lapsed and not again.lapsed  # nothing left that the full check would lapse
    runner.catch_up("deadline_report")
    with store.transaction() as tx:
        assert deadline_candidates(tx, CALL, cutoff) == reference_candidates(tx, CALL, cutoff) == []
    store.close()


def test_reading_the_next_chunk_ahead_lapses_what_chunk_by_chunk_lapses(config, monkeypatch):
    """With a store that reads in other threads, the check reads each chunk's events while the
    chunk before is decided: the same lapses, the same events, as reading them in turn."""
    import domain.deadline_checks as checks
    from domain.service import Towns
    from tests.conftest import MEMORY_STORE

    monkeypatch.setattr(checks, "CHECK_CHUNK", 2)
    runs = []
    for ahead in (False, True):
        towns = Towns(config.calls, env=MEMORY_STORE)
        desk = Desk(towns, config)
        for n in range(1, 8):
            ref = f"SD-2017-{n:03d}"
            if n % 3:
                desk.to_recommended(ref)
            else:
                desk.submit(ref)
        towns.store.reads_ahead = ahead
        run = towns.check_deadline(CALL, datetime.fromisoformat("2017-04-01T00:00:00+08:00"))
        notes = towns.recorder.select_notifications(start=0, limit=1000)
        lapses = [(n.originator_id, n.originator_version, json.loads(n.state)["data"])
                  for n in notes if n.topic.endswith("Application.Lapsed")]
        runs.append((run.checked, run.lapsed, lapses))
        towns.close()
    assert runs[0] == runs[1] and len(runs[0][1]) == 7
