"""The service as the composition root builds it: ``domain.service.Towns`` with a faster save.

This is the one place that overrides the library's saving, and it depends on the internals of
eventsourcing 9.5.6: ``Application.save`` is ``ProcessingEvent.collect_events`` then the
private ``_record``, ``_take_snapshots`` and ``_notify``. Check it again on any upgrade of the
library.
"""

from __future__ import annotations

from eventsourcing.application import ProcessingEvent

from domain.service import Towns
from domain.work import Work


class StoreTowns(Towns):
    name = Towns.name  # eventsourcing names tables and settings after the class otherwise

    def _save(self, work: Work) -> None:
        """``Towns._save`` for aggregates we know: the library's ``collect_events`` tells events
        from aggregates with runtime protocol checks that cost more than the rest of a small
        save, so the processing event is filled here and handed to the library's next steps."""
        changed = work.changed()
        if changed:
            processing = ProcessingEvent()
            for aggregate in changed:
                processing.events.extend(aggregate.collect_events())
                processing.aggregates[aggregate.id] = aggregate
            if work.absent:
                processing.saved_kwargs["absent"] = sorted(work.absent)
            recordings = self._record(processing)
            self._take_snapshots(processing)
            self._notify(recordings)
        work.saved()
