"""``bench/cpu.py``: the CPU a window of a run used, by process group, read from ``/proc``."""

from __future__ import annotations

import time

from bench.cpu import GROUPS, CpuSampler


def test_the_cpu_a_process_spends_in_a_window_is_counted_in_its_group():
    with CpuSampler(interval=0.05) as cpu:
        start, spent_before = time.time(), time.process_time()
        while time.process_time() - spent_before < 0.3:  # busy: CPU time, whatever the load
            pass
        spent = time.process_time() - spent_before
        end = time.time()
    usage = cpu.usage(start, end)
    assert set(usage.by_group) == set(GROUPS)
    # The window is widened to the samples around it, and /proc counts in clock ticks.
    assert usage.by_group["bench"] >= spent - 0.02
    assert usage.seconds >= end - start - 0.02
    assert 0 < usage.busy <= 1
    assert usage.per_item(1000, "bench") == usage.by_group["bench"] / 1000 * 1e6


def test_a_window_before_any_work_counts_none_of_it():
    with CpuSampler(interval=0.05) as cpu:
        time.sleep(0.2)
        quiet_end = time.time()
        time.sleep(0.3)  # the sample after the window is taken while this thread sleeps
        spent_before = time.process_time()
        while time.process_time() - spent_before < 0.2:
            pass
    quiet = cpu.usage(quiet_end - 0.15, quiet_end)
    assert quiet.by_group["bench"] < 0.1
