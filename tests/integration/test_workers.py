"""The workers on the real RabbitMQ and PostgreSQL: ``towns worker`` processes project the log
exactly once — through a kill -9 in the middle of a projection, with two workers at once and
fifty duplicate nudges — into the same rows a rebuild from zero gives, and the same views as
the embedded default; the deadline check runs exactly at cutoff + grace, catches up after a
downtime, changes nothing when repeated, and a late timely receipt reinstates."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from adapters.inbound.batch import SHIPPED_BATCH
from adapters.bootstrap import build_runtime, build_towns
from adapters.inbound.demo import run_batch
from adapters.inbound.ingest import ingest, ingest_many
from tests.factories import CALL, at, encode, envelope
from tests.integration.worker_processes import (  # noqa: F401 - fixtures
    Views,
    eventually,
    rabbitmq,
    schemas,
    vhost,
    workers,
)
from tests.views import assert_equal_to_rebuild, business_rows, rows
from workers import failures
from workers.broker import DEADLINES_QUEUE, PROJECTIONS_QUEUE, setup_broker

pytestmark = pytest.mark.postgres

CITIES = ("guangzhou", "shunde", "meizhou", "shantou", "foshan", "zhanjiang")
LIFE = ("application.submitted", "application.city_verified", "application.recommended",
        "materials.received", "application.evaluated", "application.approved")


@pytest.fixture
def views(config):
    opened: list[Views] = []

    def open_(url: str) -> Views:
        opened.append(Views(config, url))
        return opened[-1]

    yield open_
    for v in opened:
        v.close()


def send_demo_batch(config, url: str) -> None:
    """The demo batch through the ingest path into ``url``; no worker, no nudge."""
    towns = build_towns(config, url)
    try:
        run_batch(towns, config, SHIPPED_BATCH)
    finally:
        towns.close()


def send_life_cycles(config, url: str, events: int, prefix: str = "K") -> None:
    """``events`` events: whole life cycles of applications over six cities, group-committed."""
    towns = build_towns(config, url)
    apps = events // len(LIFE)
    try:
        for step, type_ in enumerate(LIFE):
            messages = []
            for i in range(apps):
                city = CITIES[i % len(CITIES)]
                role = {"application.submitted": "applicant"}.get(type_, "city")
                who = "province" if step >= 3 else f"{city}-{role}"
                body = encode(envelope(type_, f"{prefix}-{i:06d}", city, occurred_at=at(10 + step)))
                messages.append((body, config.principals[who]))
            for start in range(0, len(messages), 1000):
                results = ingest_many(towns, messages[start : start + 1000])
                assert all(not isinstance(r, Exception) for r in results), results[:3]
    finally:
        towns.close()


def test_towns_worker_projects_the_demo_batch_as_the_embedded_default_does(
    config, vhost, workers, schemas, views
):
    rabbit_url, embedded_url = schemas(), schemas()
    # Given the demo batch recorded in PostgreSQL before any worker ran
    send_demo_batch(config, rabbit_url)
    # when `towns worker` runs on RabbitMQ
    worker = workers.start(vhost, rabbit_url)
    store = views(rabbit_url)
    # then its first tick runs the 2017 check that was overdue (and marks it done), and
    # every projection catches up
    eventually(lambda: settled(store), what="the worker catches every projection up")
    assert worker.stop() == 0, worker.log()
    assert "towns worker: stopped" in worker.log()
    # and every projection equals a rebuild from zero, row for row
    assert_equal_to_rebuild(store.runner)
    assert failures.failures(store.store) == []
    # and the embedded default, given the same batch, ends with the same views
    runtime = build_runtime(config, embedded_url)
    try:
        run_batch(runtime.towns, config, SHIPPED_BATCH)
        runtime.drain()
    finally:
        runtime.close()
    embedded = views(embedded_url)
    for table in ("application_summaries", "deadline_report", "pipeline_counts"):
        assert business_rows(store.store, table) == business_rows(embedded.store, table), table
    assert len(business_rows(store.store, "application_summaries")) == 78


def test_a_worker_killed_in_the_middle_of_a_projection_neither_doubles_nor_skips(
    config, vhost, workers, schemas, views
):
    url = schemas()
    # Given a log of 20,000 events
    send_life_cycles(config, url, 20_000)
    store = views(url)
    # when a worker is killed with SIGKILL while projections are half way
    first = workers.start(vhost, url)

    def half_way() -> bool:
        """a projection part of the way through the log"""
        return any(0 < position < head for position, head in store.positions().values())

    eventually(half_way, every=0.02)
    first.kill()
    caught = store.positions()
    assert any(0 < p < h for p, h in caught.values()), caught
    # and a new worker is started
    second = workers.start(vhost, url)
    eventually(lambda: settled(store), timeout=180, what="the restarted worker catches up")
    assert second.stop() == 0, second.log()
    # then every projection equals a rebuild from zero: no event doubled or skipped
    live = assert_equal_to_rebuild(store.runner)
    apps = 20_000 // len(LIFE)
    assert len(live["summaries"]["application_summaries"]) == apps
    assert sum(row[3] for row in live["pipeline"]["pipeline_counts"]) == apps
    assert len(live["audit"]["audit_chain"]) == store.towns.recorder.max_notification_id()


def test_two_workers_and_fifty_duplicate_nudges_project_each_event_once(
    config, vhost, workers, schemas, views
):
    url = schemas()
    send_life_cycles(config, url, 6_000, prefix="D")
    store = views(url)
    # Given two workers at once
    pair = [workers.start(vhost, url, tick=5), workers.start(vhost, url, tick=5)]
    # when fifty duplicate nudges arrive while they work
    broker = setup_broker(vhost)
    try:
        from workers.actors import project_all

        for _ in range(50):
            project_all.send()
    finally:
        broker.close()
    eventually(lambda: settled(store), timeout=120, what="the two workers catch up")
    for worker in pair:
        assert worker.stop() == 0, worker.log()
    # then each projection equals a rebuild from zero, and no message failed
    live = assert_equal_to_rebuild(store.runner)
    assert len(live["summaries"]["application_summaries"]) == 1_000
    counts = {(city, status): n for _, city, status, n in live["pipeline"]["pipeline_counts"]}
    assert sum(counts.values()) == 1_000 and {s for _, s in counts} == {"approved"}
    assert failures.failures(store.store) == []


def test_the_check_comes_due_exactly_at_cutoff_plus_grace_and_a_repeat_changes_nothing(
    config, vhost, schemas
):
    url = schemas()
    runtime = build_runtime(config, url, vhost, consume=True, threads=2)
    try:
        towns, schedule, store = runtime.towns, runtime.schedule, runtime.store

        def send(type_: str, ref: str, who: str, day: int) -> None:
            body = encode(envelope(type_, ref, "shunde", occurred_at=at(day)))
            ingest(towns, body, config.principals[who])

        # Given one application ready by the cutoff, one never recommended, and one
        # recommended with its materials yet to arrive
        for ref in ("SD-READY", "SD-SHORT", "SD-LATE-PAPER"):
            send("application.submitted", ref, "shunde-applicant", 10)
        for ref in ("SD-READY", "SD-LATE-PAPER"):
            send("application.city_verified", ref, "shunde-city", 11)
            send("application.recommended", ref, "shunde-city", 12)
        send("materials.received", "SD-READY", "province", 13)
        call = config.calls[CALL]
        due = call.check_due_at
        # when the scheduler ticks a second before cutoff + grace, nothing is sent
        assert schedule.tick(due - timedelta(seconds=1)) == []
        assert towns.application(CALL, "SD-SHORT").status == "submitted"
        # at cutoff + grace the check is sent, runs, and its row is done
        assert schedule.tick(due) == [(CALL, call.cutoff.isoformat())]
        eventually(lambda: schedule.rows()[0].state == "done", what="the check ran")
        statuses = {ref: towns.application(CALL, ref).status
                    for ref in ("SD-READY", "SD-SHORT", "SD-LATE-PAPER")}
        assert statuses == {"SD-READY": "recommended", "SD-SHORT": "lapsed", "SD-LATE-PAPER": "lapsed"}

        def outcomes() -> dict:
            return {r[2]: r[5] for r in rows(store, "deadline_report")}

        eventually(lambda: outcomes() == {"SD-READY": "on_time", "SD-SHORT": "lapsed",
                                          "SD-LATE-PAPER": "lapsed"}, what="the report shows it")
        # when the check runs twice more (the actor, and by hand), nothing changes
        head = towns.recorder.max_notification_id()
        from workers.actors import check_deadline

        check_deadline.send(CALL, call.cutoff.isoformat())
        runtime.broker.join(DEADLINES_QUEUE, min_successes=5)
        runtime.worker.join()
        again = towns.check_deadline(CALL, due + timedelta(days=400))
        assert again.due and again.lapsed == [] and not again.first_run
        assert towns.recorder.max_notification_id() == head
        # when a timely receipt arrives late, the lapsed application is reinstated
        send("materials.received", "SD-LATE-PAPER", "province", 29)
        eventually(lambda: outcomes()["SD-LATE-PAPER"] == "reinstated", what="reinstated in the report")
        [row] = [r for r in rows(store, "deadline_report") if r[2] == "SD-LATE-PAPER"]
        assert row[4] == "recommended" and json.loads(row[9])["reinstated"]["evidence"].startswith("test-")
        runtime.broker.join(PROJECTIONS_QUEUE, min_successes=5)
        assert failures.failures(store) == []
    finally:
        runtime.close()


def test_a_check_that_came_due_while_nothing_ran_runs_when_the_worker_starts(
    config, vhost, workers, schemas, views
):
    url = schemas()
    # Given an application submitted in 2017 and never recommended, and no check ever run
    towns = build_towns(config, url)
    ingest(towns, encode(envelope("application.submitted", "SD-IDLE")), config.principals["shunde-applicant"])
    towns.close()
    # when `towns worker` starts, years after cutoff + grace
    worker = workers.start(vhost, url)
    store = views(url)
    # then its first tick runs the overdue check, and the views show the lapse
    eventually(lambda: [r[5] for r in rows(store.store, "deadline_report")] == ["lapsed"],
               what="the overdue check ran and was projected")
    assert store.towns.application(CALL, "SD-IDLE").status == "lapsed"
    # (the schedule's row is marked done just after the check's events are recorded)
    eventually(lambda: [r.state for r in store_schedule(store)] == ["done"],
               what="the check marked done")
    assert worker.stop() == 0, worker.log()


def settled(store: Views) -> bool:
    """the deadline check done (its events recorded), and every projection at the head"""
    return all(row.state == "done" for row in store_schedule(store)) and store.caught_up()


def store_schedule(store: Views):
    return store.schedule.rows()
