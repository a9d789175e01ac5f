"""Freeze the rows this version of the service writes to its event store, as test fixtures.

Run once from the repository root, with PostgreSQL up (the tests' server by default)::

    .venv/bin/python scripts/freeze_stored_events.py --name gen-2    # tests/fixtures/stored/gen-2/

(it refuses to overwrite a generation that exists: ``gen-1`` is committed).

To freeze exactly what a commit writes, whatever the working tree holds, run it in an export of
that commit (this is how ``gen-1`` was made)::

    rm -rf /tmp/frozen && mkdir /tmp/frozen && git archive HEAD | tar -x -C /tmp/frozen
    cp -r scripts/freeze_stored_events.py scripts/freeze_stored /tmp/frozen/scripts/  # if lacking
    .venv/bin/python /tmp/frozen/scripts/freeze_stored_events.py --out tests/fixtures/stored \
        --name gen-2 --git-commit "$(git rev-parse HEAD)"

It drives a fresh store of each kind (a SQLite file, a fresh PostgreSQL schema, dropped
afterwards) through one history that writes every record type the service keeps in its event
store: every event of ``Application`` (submitted, resubmitted, withdrawn, returned,
city-verified, recommended, rejected, materials received, evaluated, approved, lapsed,
reinstated), an application's snapshot (at version 50), the inbox markers (applied, a conflict
seen), parked messages (parked, released, reparked), dead letters (recorded, published,
re-driven, dead-lettered again, send failed, resending, gave up), the deadline check, an
operator action and the deployment's records (started, configuration, signing key). It then
copies every row of the events and snapshots tables, every column as stored, into
``<out>/<name>/sqlite.jsonl`` and ``postgres.jsonl`` and writes ``manifest.json``: who wrote
them (library version, git commit) and what the current code must read back from them (each
aggregate's version and state, each application's last hash), which
``tests/integration/test_stored_fixtures.py`` checks. The work is done by the package
``scripts/freeze_stored/`` (its docstring lists the modules); this file is its command line.

A generation, once committed, is never written again: it stands for data that exists. A change
of the stored format adds a generation (``--name``) and keeps the old ones passing (an
upcaster, a registered old topic; see README "Changing a stored event").
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the package scripts/freeze_stored/
from freeze_stored.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
