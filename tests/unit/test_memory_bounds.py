"""What a long-running process keeps per message or per application is bounded: a soak of a
million messages must level off (``bench/soak.py``), not grow with every application seen.
Counts only, never timings."""

from __future__ import annotations

from domain.applications import APPLICATION_ID_CACHE, NAMESPACE, application_id
from domain.ids import Namespace


def test_application_ids_kept_are_bounded_and_few():
    application_id.cache_clear()
    try:
        for i in range(3 * APPLICATION_ID_CACHE):
            application_id("GD-2017-TOWNS", f"R{i:08d}")
        info = application_id.cache_info()
        assert info.currsize == APPLICATION_ID_CACHE == info.maxsize
        # a few thousand: about a megabyte, filled within the first seconds of a stream
        assert APPLICATION_ID_CACHE <= 8192
    finally:
        application_id.cache_clear()


def test_application_ids_are_the_same_past_the_cache():
    application_id.cache_clear()
    try:
        first = application_id("GD-2017-TOWNS", "R0")
        for i in range(1, APPLICATION_ID_CACHE + 10):  # R0 pushed out
            application_id("GD-2017-TOWNS", f"R{i}")
        assert application_id("GD-2017-TOWNS", "R0") == first == NAMESPACE.uuid5("GD-2017-TOWNS\nR0")
        assert isinstance(NAMESPACE, Namespace)
    finally:
        application_id.cache_clear()
