"""The cyclic garbage collector's settings for the ``towns`` commands: one place for them.

A command allocates a great many short-lived objects per message (envelopes, events,
encodings), acyclic and freed by reference counting as soon as they are dropped, beside many
long-lived ones (compiled schemas, the aggregates decided on, the library's registries). With
Python's default thresholds (700, 10, 10) the young generation is collected every 700 net
allocations, walking the survivors each time and promoting them into generations whose
collections walk everything: measured over 28,000 life-cycle messages through the ingest path
in group commits on PostgreSQL, 107–109 µs of CPU a message against 78–80 µs with young
collections 15 to 70 times rarer.

- ``tune()``, for every command (``adapters.cli.main``): young collections every 50,000 net
  allocations; a full one after 2,000 of them (for the consumer about every 100,000
  messages), so that cyclic garbage that lived long enough to be promoted (an exception's
  traceback, say) is still reclaimed.
- ``settle()``, for a long-running command once it has started (consume, worker, serve): what
  start-up built is collected once and frozen out of the collector's walks as well, and a
  full collection runs every ``FULL_EVERY`` seconds from a thread of its own. With young
  collections this rare, the oldest generation would otherwise be collected only after 2,000
  of them and when it has grown by a quarter: a process that allocates little (the worker)
  could keep cyclic garbage (a closed connection, an exception's traceback) for hours.
"""

from __future__ import annotations

import gc
import threading

THRESHOLDS = (50_000, 20, 100)
FULL_EVERY = 60.0  # seconds between full collections in a long-running process


def tune() -> None:
    """The collector's thresholds for this process (``THRESHOLDS``)."""
    gc.set_threshold(*THRESHOLDS)


def settle(every: float = FULL_EVERY, stop: threading.Event | None = None) -> threading.Thread:
    """Once a long-running process has started: start-up's objects frozen, the thresholds set,
    and a daemon thread (returned) that runs a full collection every ``every`` seconds until
    ``stop`` is set (never, by default: it ends with the process)."""
    gc.collect()
    gc.freeze()
    tune()
    thread = threading.Thread(target=_collect_every, args=(every, stop or threading.Event()),
                              name="towns-gc", daemon=True)
    thread.start()
    return thread


def _collect_every(every: float, stop: threading.Event) -> None:
    while not stop.wait(every):
        gc.collect()
