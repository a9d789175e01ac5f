"""The runner's pages (``ProjectionRunner`` with ``projections.log.ReadAhead``), on SQLite with
fake read models that read the stored bytes: the views that step from one position read the
log once, each takes its own topics from the page and moves past the others to the head; a
catch-up ends at a short page; a rebuild reads the log afresh."""

from __future__ import annotations

import sqlite3

import pytest

from domain.applications import Application
from projections.base import Projection
from projections.runner import ProjectionRunner
from projections.store import ViewStore
from tests.desk import Desk


class Lengths(Projection):
    """A row per event taken: its position and the length of its stored bytes."""

    decodes = False

    def __init__(self, name: str, topics: tuple[str, ...] = ()) -> None:
        self.name = name
        self.topics = topics
        self.table = f"{name}_taken"
        self.tables = {self.table: "CREATE TABLE IF NOT EXISTS {name} (position BIGINT PRIMARY "
                                   "KEY, length BIGINT NOT NULL)"}

    def apply(self, tx, names, batch) -> None:
        tx.insert_many(names[self.table], ("position", "length"),
                       [(r.position, len(r.state)) for r in batch])


@pytest.fixture
def views():
    return [Lengths("every"), Lengths("submitted", (Application.Submitted.TOPIC,))]


@pytest.fixture
def runner(sqlite_towns, config, tmp_path, views):
    desk = Desk(sqlite_towns, config)
    for i in range(5):
        desk.submit(f"PG-2017-{i:03d}")
    store = ViewStore(f"sqlite:///{tmp_path}/towns.db")
    runner = ProjectionRunner(sqlite_towns, store, views)
    runner.setup()
    reads = []
    after = runner.log.after
    runner.log.after = lambda *args, **kwargs: reads.append(args) or after(*args, **kwargs)
    runner.reads = reads
    yield runner
    store.close()


def taken(runner, view) -> list[int]:
    with runner.store.transaction() as tx:
        return [p for (p,) in tx.all(f"SELECT position FROM {view.live_names()[view.table]} "
                                     "ORDER BY position")]


def log(towns, topic: str | None = None) -> list[int]:
    return [n.id for n in towns.recorder.select_notifications(0, 1000)
            if topic is None or n.topic == topic]


def test_views_at_one_position_read_the_page_once_each_taking_its_topics(runner, views,
                                                                          sqlite_towns):
    every, submitted = views
    head = max(log(sqlite_towns))
    assert runner.run_once("every") == len(log(sqlite_towns)) and runner.at_head("every")
    assert runner.run_once("submitted") == len(log(sqlite_towns))
    assert runner.at_head("submitted")
    assert len(runner.reads) == 1  # the second view was given the first one's page
    assert taken(runner, every) == log(sqlite_towns)
    assert taken(runner, submitted) == log(sqlite_towns, Application.Submitted.TOPIC)
    assert len(taken(runner, submitted)) == 5 < len(taken(runner, every))
    assert [s.position for s in runner.status()] == [head, head]


def test_a_catch_up_ends_at_a_short_page_without_a_pass_finding_nothing(runner, sqlite_towns):
    assert runner.catch_up("every", batch=1000) == len(log(sqlite_towns))
    assert len(runner.reads) == 1


def test_a_catch_up_in_several_pages_takes_every_event_once(runner, views, sqlite_towns):
    every, submitted = views
    runner.catch_up("every", batch=2)
    runner.catch_up("submitted", batch=3)
    assert taken(runner, every) == log(sqlite_towns)
    assert taken(runner, submitted) == log(sqlite_towns, Application.Submitted.TOPIC)


def test_a_rebuild_reads_the_log_afresh_after_its_bytes_were_repaired(runner, views,
                                                                      sqlite_towns, tmp_path):
    every, _ = views
    runner.catch_up("every")
    first = log(sqlite_towns)[0]
    with sqlite3.connect(f"{tmp_path}/towns.db") as db:  # a repair of the stored bytes
        (table,) = db.execute("SELECT name FROM sqlite_master WHERE name LIKE '%events'").fetchone()
        db.execute(f"UPDATE {table} SET state = state || CAST(' ' AS BLOB) "
                   "WHERE rowid = ?", (first,))
    runner.rebuild("every")
    with runner.store.transaction() as tx:
        lengths = dict(tx.all("SELECT position, length FROM every_taken"))
    with sqlite3.connect(f"{tmp_path}/towns.db") as db:
        (stored,) = db.execute(f"SELECT length(state) FROM {table} WHERE rowid = ?",
                               (first,)).fetchone()
    assert lengths[first] == stored
