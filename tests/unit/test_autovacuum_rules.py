"""The soak's stand-in for a server's autovacuum asks for a vacuum or an analysis exactly where
PostgreSQL's own rules would (``bench.autovacuum.due``), with the server's default settings."""

from __future__ import annotations

import pytest

from bench.autovacuum import due

DEFAULTS = {
    "autovacuum_vacuum_threshold": 50, "autovacuum_vacuum_scale_factor": 0.2,
    "autovacuum_vacuum_insert_threshold": 1000, "autovacuum_vacuum_insert_scale_factor": 0.2,
    "autovacuum_analyze_threshold": 50, "autovacuum_analyze_scale_factor": 0.1,
}


@pytest.mark.parametrize("rows, dead, inserted, changed, expected", [
    (1000, 250, 0, 0, (False, False)),         # dead rows at the threshold: not yet
    (1000, 251, 0, 0, (True, False)),          # past 50 + 0.2 × 1000
    (1000, 0, 1200, 0, (False, False)),        # inserts at 1000 + 0.2 × 1000
    (1000, 0, 1201, 0, (True, False)),         # past it: an insert-only table is vacuumed too
    (1000, 0, 0, 150, (False, False)),         # changes at 50 + 0.1 × 1000
    (1000, 0, 0, 151, (False, True)),
    (1_000_000, 200_050, 0, 100_051, (False, True)),   # a big table waits longer
    (1_000_000, 200_051, 0, 100_051, (True, True)),
    (0, 51, 0, 51, (True, True)),              # a table never analysed counts as empty
])
def test_due_follows_postgresqls_thresholds_and_scale_factors(rows, dead, inserted, changed,
                                                              expected):
    assert due(DEFAULTS, rows, dead, inserted, changed) == expected
