"""Calls for applications, each with its own cutoff and grace (DOMAIN.md, "The deadline")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Call:
    id: str
    title: str
    notice: str
    cutoff: datetime  # materials must be received by then (inclusive), business time
    grace_seconds: int = 86400

    @property
    def check_due_at(self) -> datetime:
        """When the deadline check runs: cutoff + grace."""
        return self.cutoff + timedelta(seconds=self.grace_seconds)
