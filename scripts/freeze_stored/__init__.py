"""The writer of the frozen stored-event fixtures (``scripts/freeze_stored_events.py``), by job.

``history``  the history driven through a fresh store: every record type the event store keeps
``rows``     the rows of each store's tables (SQLite, PostgreSQL), every column as stored
``expect``   what the current code must read back: each aggregate's version and state
``stores``   freezing each kind of store: its rows into ``<store>.jsonl`` and its expectations
``cli``      the command line: the generation's folder and ``manifest.json``
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The service (adapters, domain) and the tests' helpers are imported from the repository root.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
