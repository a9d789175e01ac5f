"""Every read model of the service, in the order runners set them up and catch them up."""

from __future__ import annotations

from projections.applications import DeadlineReport, Summaries
from projections.audit import AuditTrail
from projections.base import Projection
from projections.pipeline import PipelineCounts

ALL = (Summaries, DeadlineReport, AuditTrail, PipelineCounts)


def projections() -> list[Projection]:
    """Fresh instances of every projection, in the order of ``ALL``."""
    return [cls() for cls in ALL]
