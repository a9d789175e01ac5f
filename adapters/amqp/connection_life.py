"""The consumer's connection over time: reconnecting with capped, jittered backoff, and the
broker's cancel of our consumer."""

from __future__ import annotations

import random


class ConsumerCancelled(Exception):
    """The broker cancelled our consumer (the queue was deleted, or a failover)."""


class Backoff:
    """Capped exponential backoff with jitter, reset by a good connection."""

    def __init__(self, base: float = 0.5, cap: float = 30.0) -> None:
        self.base, self.cap, self.attempt = base, cap, 0

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * 2**self.attempt)
        self.attempt += 1
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempt = 0
