"""``settle_memory``, run by the long-running commands once started: start-up objects frozen
out of the cyclic collector, young collections made rarer."""

from __future__ import annotations

import gc

from adapters.cli.common import GC_THRESHOLDS, settle_memory


def test_settle_memory_freezes_what_start_up_built_and_collects_less_often():
    before = gc.get_threshold()
    try:
        settle_memory()
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
