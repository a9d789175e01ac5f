"""Events a read model could not take, set aside so that the read model goes on past them
(CONTRACT.md §2; ARCHITECTURE.md, "Poison is set aside").

``projection_set_aside`` keeps one row per (projection, log position): where the event is (its
position, topic, application id and version), why the view could not take it (the error, in
one bounded line free of NUL), when it was first set aside, how many times it failed, and when
it was taken after all (``retried_at``; NULL while it stays set aside: an *open* record). The
runner writes a record in the same transaction that moves the projection past the event, so
the two never part. Only where an event is and why: never its data, which operators do not
read.

A rebuild records what it sets aside under the key it builds under (``NAME__next``); at the
switch those records become the live name's (``adopt``): what the rebuilt view lacks is open,
and an open record of the old view that the rebuilt one took is marked taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from projections.store import Tx

TABLE = """
CREATE TABLE IF NOT EXISTS projection_set_aside (
    name TEXT NOT NULL,
    position BIGINT NOT NULL,
    topic TEXT NOT NULL,
    originator_id TEXT,
    originator_version BIGINT,
    reason TEXT NOT NULL,
    set_aside_at TEXT NOT NULL,
    retried_at TEXT,
    attempts INTEGER NOT NULL,
    PRIMARY KEY (name, position)
)
"""
COLUMNS = ("name", "position", "topic", "originator_id", "originator_version", "reason",
           "set_aside_at", "retried_at", "attempts")
REASON_CHARS = 500
TEXT_CHARS = 200


@dataclass(frozen=True)
class SetAside:
    """One event a projection set aside."""

    name: str
    position: int
    topic: str
    originator_id: str | None
    originator_version: int | None
    reason: str
    set_aside_at: str
    retried_at: str | None
    attempts: int

    @property
    def open(self) -> bool:
        """Still set aside: not taken by the view since."""
        return self.retried_at is None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "open": self.open}


def storable(text: str, limit: int) -> str:
    """``text`` as one line any store can keep: NUL as U+FFFD, what UTF-8 cannot carry (a
    lone surrogate) as ``?``, runs of white space as one space, at most ``limit`` characters."""
    line = " ".join(text.split()).replace("\x00", "\ufffd")
    line = line.encode("utf-8", "replace").decode("utf-8")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def reason_of(error: BaseException) -> str:
    """Why an event was set aside: the error's type and message, bounded."""
    return storable(f"{type(error).__name__}: {error}", REASON_CHARS)


def record(tx: Tx, name: str, recorded: Any, reason: str, now: str) -> None:
    """Sets aside the event of ``recorded`` (a ``projections.base.Recorded``) for ``name``."""
    originator = recorded.originator_id
    tx.execute(
        f"INSERT INTO projection_set_aside ({', '.join(COLUMNS)}) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, NULL, 1) ON CONFLICT (name, position) DO UPDATE SET "
        "reason = excluded.reason, retried_at = NULL, "
        "attempts = projection_set_aside.attempts + 1",
        (name, recorded.position, storable(str(recorded.topic), TEXT_CHARS),
         None if originator is None else storable(str(originator), TEXT_CHARS),
         recorded.originator_version, reason, now),
    )


def open_counts(tx: Tx) -> dict[str, int]:
    """Open records by projection key."""
    return dict(tx.all("SELECT name, COUNT(*) FROM projection_set_aside "
                       "WHERE retried_at IS NULL GROUP BY name"))


def listed(tx: Tx, names: Sequence[str] = (), open_only: bool = True,
           after: tuple[str, int] | None = None, limit: int | None = None) -> list[SetAside]:
    """Records in (name, position) order: of ``names`` (all when empty), open ones only unless
    ``open_only`` is false, after the key ``after``, at most ``limit``."""
    clauses: list[str] = []
    params: list[Any] = []
    if names:
        clauses.append(f"name IN ({', '.join('?' for _ in names)})")
        params += list(names)
    if open_only:
        clauses.append("retried_at IS NULL")
    if after is not None:
        clauses.append("(name, position) > (?, ?)")  # a range the primary key seeks to
        params += [after[0], after[1]]
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    sql = f"SELECT {', '.join(COLUMNS)} FROM projection_set_aside{where} ORDER BY name, position"
    if limit is not None:
        sql, params = sql + " LIMIT ?", [*params, limit]
    return [SetAside(*row) for row in tx.all(sql, params)]


def failed_again(tx: Tx, name: str, position: int, reason: str) -> None:
    """A retried event that still fails: one attempt more, the latest reason."""
    tx.execute("UPDATE projection_set_aside SET attempts = attempts + 1, reason = ? "
               "WHERE name = ? AND position = ?", (reason, name, position))


def forget(tx: Tx, name: str) -> None:
    """Drops every record of ``name`` (a rebuild's key, as the rebuild starts from zero)."""
    tx.execute("DELETE FROM projection_set_aside WHERE name = ?", (name,))


def adopt(tx: Tx, built: str, live: str, now: str) -> None:
    """At a rebuild's switch, the records of the rebuilt view (key ``built``) become ``live``'s:
    an open record of ``live`` that the rebuild took is marked taken now; one the rebuild set
    aside again stays (or is again) open with one attempt more and the latest reason; one the
    live view never had is moved over as it is."""
    tx.execute("UPDATE projection_set_aside SET retried_at = ? WHERE name = ? AND "
               "retried_at IS NULL AND position NOT IN "
               "(SELECT position FROM projection_set_aside WHERE name = ?)", (now, live, built))
    rest = ", ".join(COLUMNS[1:])
    tx.execute(
        f"INSERT INTO projection_set_aside ({', '.join(COLUMNS)}) SELECT ?, {rest} "
        "FROM projection_set_aside WHERE name = ? ON CONFLICT (name, position) DO UPDATE SET "
        "reason = excluded.reason, retried_at = NULL, "
        "attempts = projection_set_aside.attempts + 1",
        (live, built),
    )
    forget(tx, built)
