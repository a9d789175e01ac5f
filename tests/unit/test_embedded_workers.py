"""The embedded default (no TOWNS_AMQP_URL) on SQLite: the in-process broker and worker thread
run the very actors RabbitMQ's workers run. Projections catch up from nudges and equal a
rebuild; the deadline actor checks and marks its row done; a message that fails for good is
recorded in worker_failures, whether retrying could not help, retries ran out or the time
limit struck."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import dramatiq
import pytest

from adapters.inbound.batch import SHIPPED_BATCH
from adapters.bootstrap import build_runtime
from adapters.inbound.demo import run_batch
from adapters.inbound.ingest import ingest
from tests.factories import CALL, encode, envelope
from tests.views import assert_caught_up, assert_equal_to_rebuild, rows
from workers import failures
from workers.broker import PROJECTIONS_QUEUE
from workers.deadlines import DONE


@pytest.fixture
def runtime(config, tmp_path):
    runtime = build_runtime(config, f"sqlite:///{tmp_path}/towns.db")
    yield runtime
    runtime.close()


def test_the_demo_batch_is_projected_by_the_in_process_worker_and_equals_a_rebuild(runtime, config):
    # Given the demo batch sent through the ingest path, each commit nudging the projections
    run_batch(runtime.towns, config, SHIPPED_BATCH)
    # when the in-process worker has done everything it was asked
    runtime.drain()
    # then every projection is at the head of the log and equals a rebuild from zero
    live = assert_equal_to_rebuild(runtime.runner)
    outcomes = {row[5] for row in live["deadline_report"]["deadline_report"]}
    assert {"lapsed", "reinstated", "on_time", "not_applicable"} <= outcomes
    assert failures.failures(runtime.store) == []


def test_a_commit_alone_brings_the_views_up_to_date(runtime, config):
    # Given a submission ingested, and no explicit nudge
    ingest(runtime.towns, encode(envelope("application.submitted", "SD-NUDGE-001")),
           config.principals["shunde-applicant"])
    # then the commit's own nudge brings the summaries to it
    deadline = time.monotonic() + 10
    while not rows(runtime.store, "application_summaries"):
        assert time.monotonic() < deadline, "the commit did not nudge the projections"
        time.sleep(0.05)
    runtime.drain()
    assert_caught_up(runtime.runner)


def test_the_deadline_actor_lapses_what_falls_short_and_marks_its_check_done(runtime, config):
    # Given an application submitted and never recommended
    ingest(runtime.towns, encode(envelope("application.submitted", "SD-LATE-001")),
           config.principals["shunde-applicant"])
    call = config.calls[CALL]
    # when the scheduler ticks at cutoff + grace and the worker has run the check
    assert runtime.schedule.tick(call.check_due_at) == [(CALL, call.cutoff.isoformat())]
    runtime.drain()
    # then the application lapsed, the views show it, and the check is done
    assert runtime.towns.application(CALL, "SD-LATE-001").status == "lapsed"
    report = rows(runtime.store, "deadline_report")
    assert [(r[2], r[4], r[5]) for r in report] == [("SD-LATE-001", "lapsed", "lapsed")]
    assert [r.state for r in runtime.schedule.rows()] == [DONE]
    # and a later tick sends nothing
    assert runtime.schedule.tick(datetime.now(timezone.utc) + timedelta(days=1)) == []


def test_an_error_no_retry_can_fix_is_recorded_at_once(runtime):
    from workers.actors import project  # only once a broker is set (see workers.broker)

    # When a projection nobody has is asked to catch up
    message = project.send("no-such-view")
    runtime.drain()
    # then its failure is recorded for operators, without retries
    [failure] = failures.failures(runtime.store)
    assert (failure.message_id, failure.actor, failure.args) == (message.message_id, "project", ["no-such-view"])
    assert failure.retries == 0 and "UnknownProjection" in failure.error


def test_a_message_whose_retries_run_out_is_recorded(runtime):
    # Given an actor that always fails, allowed one retry
    def flaky() -> None:
        raise RuntimeError("the database is down")

    actor = dramatiq.actor(flaky, broker=runtime.broker, actor_name="towns_test_flaky",
                           queue_name=PROJECTIONS_QUEUE, max_retries=1, min_backoff=10,
                           max_backoff=10)
    # when it is sent and the worker has given up on it
    message = actor.send()
    runtime.drain()
    # then the failure is recorded once, after its one retry
    [failure] = failures.failures(runtime.store)
    assert (failure.message_id, failure.actor, failure.retries) == (message.message_id, "towns_test_flaky", 1)
    assert failure.error == "RuntimeError: the database is down"


def test_the_time_limit_is_enforced_in_our_own_worker(runtime):
    # Given an actor that runs past its time limit (dramatiq only starts the limit's timer
    # on process_boot, which our worker emits itself)
    def slow() -> None:
        end = time.monotonic() + 10
        while time.monotonic() < end:
            time.sleep(0.01)

    actor = dramatiq.actor(slow, broker=runtime.broker, actor_name="towns_test_slow",
                           queue_name=PROJECTIONS_QUEUE, max_retries=0, time_limit=300)
    started = time.monotonic()
    actor.send()
    runtime.drain()
    # then it was interrupted well before it finished, and the failure recorded
    assert time.monotonic() - started < 5
    [failure] = failures.failures(runtime.store)
    assert failure.actor == "towns_test_slow" and "TimeLimitExceeded" in failure.error


def test_dramatiq_s_own_metrics_are_served_with_ours(tmp_path):
    """The embedded worker processes a message; /metrics then shows dramatiq's counters."""
    from prometheus_client import REGISTRY, generate_latest

    from adapters.bootstrap import build_runtime
    from adapters.config import load_config

    runtime = build_runtime(load_config(), f"sqlite:///{tmp_path}/towns.db", None)
    try:
        runtime.nudge()
        runtime.drain()
        text = generate_latest(REGISTRY).decode()
    finally:
        runtime.close()
    assert "dramatiq_messages_total{" in text
    assert 'actor_name="project_all"' in text
