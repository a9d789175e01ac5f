"""What a read model is: its tables, and what a batch of recorded events does to them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from projections.store import Tx


@dataclass(frozen=True)
class Recorded:
    """One notification of the log: its position, the decoded event, and its stored bytes."""

    position: int
    topic: str
    event: Any  # None for a projection that reads the stored bytes itself (``decodes``)
    state: bytes
    originator_id: Any = None
    originator_version: int = 0


class Projection:
    """A read model. ``tables`` maps each logical table to its CREATE TABLE statement with
    ``{name}`` for the physical name, so that a rebuild can build beside the live tables."""

    name: ClassVar[str]
    tables: ClassVar[dict[str, str]]
    indexes: ClassVar[dict[str, list[str]]] = {}
    topics: ClassVar[tuple[str, ...]] = ()  # the topics it reads; empty: all
    decodes: ClassVar[bool] = True
    """False: it reads the stored JSON itself, cheaper than decoding every event into objects
    (used only where the store neither compresses nor encrypts)."""

    def create(self, tx: Tx, names: dict[str, str]) -> None:
        for table, ddl in self.tables.items():
            tx.execute(ddl.format(name=names[table]))
            for i, columns in enumerate(self.indexes.get(table, [])):
                tx.execute(
                    f"CREATE INDEX IF NOT EXISTS {names[table]}_i{i} ON {names[table]} ({columns})"
                )

    def drop(self, tx: Tx, names: dict[str, str]) -> None:
        for table in self.tables:
            tx.execute(f"DROP TABLE IF EXISTS {names[table]}")

    def apply(self, tx: Tx, names: dict[str, str], batch: Sequence[Recorded]) -> None:
        raise NotImplementedError

    def live_names(self) -> dict[str, str]:
        return {table: table for table in self.tables}

    def next_names(self) -> dict[str, str]:
        return {table: f"{table}__next" for table in self.tables}
