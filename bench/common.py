"""Shared by the benchmarks: stores, generated envelopes, timing, and the figures table."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tests.factories import envelope, encode
from tests.support import fresh_schema

POSTGRES_URL = os.environ.get("TOWNS_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
LIFE = (
    ("application.submitted", "applicant"),
    ("application.city_verified", "city"),
    ("application.recommended", "city"),
    ("materials.received", "province"),
    ("application.evaluated", "province"),
    ("application.approved", "province"),
)
CITIES = ("guangzhou", "shunde", "meizhou", "shantou", "foshan", "zhanjiang")


def life_cycles(n: int, prefix: str = "B") -> list[tuple[str, bytes]]:
    """n messages: whole life cycles (six events each) of applications over several cities,
    interleaved as feeds deliver them; each item is (principal name, body)."""
    apps = (n + len(LIFE) - 1) // len(LIFE)
    out = []
    for step, (type_, role) in enumerate(LIFE):
        for i in range(apps):
            city = CITIES[i % len(CITIES)]
            ref = f"{prefix}-{i:06d}"
            principal = {"applicant": f"{city}-applicant", "city": f"{city}-city"}.get(role, "province")
            out.append((principal, encode(envelope(type_, ref, city, occurred_at=f"2017-03-{10 + step:02d}T10:00:00+08:00"))))
    return out[:n]


@contextmanager
def sqlite_url() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as folder:
        yield f"sqlite:///{folder}/bench.db"


@contextmanager
def postgres_url() -> Iterator[str]:
    with fresh_schema(POSTGRES_URL, prefix="bench") as url:
        yield url


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def timed(fn: Callable[[], int]) -> tuple[int, float]:
    start = time.perf_counter()
    count = fn()
    return count, time.perf_counter() - start


def best_of(runs: int, fn: Callable[[], float]) -> float:
    """The median of several runs: the machine is shared and noisy."""
    return statistics.median(fn() for _ in range(runs))


def table(rows: list[tuple], headers: tuple[str, ...]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    line = lambda cells: "  ".join(str(c).rjust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])
