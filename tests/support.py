"""Small helpers every kind of test uses."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest


def eventually(check: Callable[[], Any], timeout: float = 30, every: float = 0.1, what: str = "") -> Any:
    """Polls ``check`` until it answers something true and returns that; fails the test, naming
    ``what`` (or the check), after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            pytest.fail(f"not within {timeout}s: {what or check.__doc__ or check}")
        time.sleep(every)
