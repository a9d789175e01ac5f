"""What a backup holds and what a backup or restore did (``adapters.ops.backup``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why, in one line."""


@dataclass
class Point:
    """What a backup holds: the log up to ``position`` (its last notification id)."""

    records: int  # records in the log: the Merkle tree's size at this point
    position: int
    applied: int  # messages applied (inbox markers)
    views: dict[str, int] = field(default_factory=dict)  # read model → tracked position


@dataclass
class Outcome:
    """What ``backup`` wrote or ``restore`` put in place."""

    kind: str  # postgresql | sqlite
    file: Path
    size: int  # bytes of the backup file
    seconds: float
    point: Point
    tool: str = ""  # the program that did the work (pg_dump, pg_restore), where one did
