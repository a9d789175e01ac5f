"""Progress of long commands where stderr is no terminal: occasional plain lines, never stdout."""

from __future__ import annotations

import io

import pytest

import adapters.cli.progress as progress_module
from adapters.cli.progress import EVERY_SECONDS, PlainLines, phases, polled, progress


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def lines(out: io.StringIO) -> list[str]:
    return out.getvalue().splitlines()


def test_work_done_before_a_line_was_due_writes_nothing():
    clock, out = Clock(), io.StringIO()
    report = PlainLines("towns audit verify", "records", out, clock)
    for done in range(0, 10_001, 1000):
        clock.now += EVERY_SECONDS / 20
        report(done, 10_000)
    report.close()
    assert out.getvalue() == ""


def test_the_first_line_comes_after_a_while_then_one_per_tenth_and_a_last_one():
    clock, out = Clock(), io.StringIO()
    report = PlainLines("towns audit verify", "records", out, clock)
    report(1000, 10_000)
    clock.now += EVERY_SECONDS
    report(2000, 10_000)
    assert lines(out) == ["towns audit verify: 2,000 of 10,000 records (20%), 400/s, "
                          "about 20s left"]
    for done in range(2100, 3000, 100):  # within the same tenth, soon after: nothing
        clock.now += 0.1
        report(done, 10_000)
    assert len(lines(out)) == 1
    clock.now += 0.1
    report(3000, 10_000)  # the next tenth
    assert lines(out)[-1].startswith("towns audit verify: 3,000 of 10,000 records (30%), ")
    report(10_000, 10_000)
    report.close()
    assert lines(out)[-1] == "towns audit verify: 10,000 of 10,000 records (100%) in 6s"
    assert len(lines(out)) == 3


def test_a_slow_stretch_within_a_tenth_still_gets_a_line_every_few_seconds():
    clock, out = Clock(), io.StringIO()
    report = PlainLines("towns publish", "messages confirmed", out, clock)
    for done in (10, 20, 30):
        clock.now += EVERY_SECONDS
        report(done, 10_000)
    assert [line.split(" (")[0] for line in lines(out)] == [
        "towns publish: 10 of 10,000 messages confirmed",
        "towns publish: 20 of 10,000 messages confirmed",
        "towns publish: 30 of 10,000 messages confirmed"]


def test_an_unknown_total_is_a_count_with_the_time_so_far_and_the_rate():
    clock, out = Clock(), io.StringIO()
    report = PlainLines("towns backup pg_dump", "bytes written", out, clock)
    clock.now += EVERY_SECONDS
    report(5_000_000, 0)
    clock.now += EVERY_SECONDS
    report(12_000_000, 0)
    report.close()
    assert lines(out) == ["towns backup pg_dump: 5,000,000 bytes written in 5s (1,000,000/s)",
                          "towns backup pg_dump: 12,000,000 bytes written in 10s (1,200,000/s)",
                          "towns backup pg_dump: 12,000,000 bytes written in 10s (1,200,000/s)"]


def test_off_a_terminal_the_lines_go_to_stderr_and_nothing_to_stdout(capsys):
    with progress("towns audit export GD-ITOWN-2017-B2", "events") as report:
        assert isinstance(report, PlainLines)  # pytest's captured stderr is no terminal
        report.started = report.last = report.started - EVERY_SECONDS  # it ran a while
        report(1, 4)
        report(4, 4)
    captured = capsys.readouterr()
    assert captured.out == ""
    written = captured.err.splitlines()
    assert len(written) == 2
    assert written[0].startswith("towns audit export GD-ITOWN-2017-B2: 1 of 4 events (25%), ")
    assert written[1] == "towns audit export GD-ITOWN-2017-B2: 4 of 4 events (100%) in 5s"


def test_a_count_without_a_hook_is_read_and_reported_at_the_end_too():
    seen = []
    with polled(lambda: 7, 10, lambda done, total: seen.append((done, total)),
                every=60):
        pass
    assert seen == [(7, 10)]


def test_work_in_steps_has_a_reporter_per_step_each_closed_as_the_next_begins(
        capsys, monkeypatch):
    monkeypatch.setattr(progress_module, "EVERY_SECONDS", 0)  # a line at every report
    with phases("towns migrate-queues", "messages") as on_progress:
        on_progress("a -> b", 1, 2)
        on_progress("a -> b", 2, 2)
        on_progress("b -> c", 1, 3)
        on_progress.end()  # as before a line of stdout
        print("a: moved")
        on_progress("c -> d", 0, 0)
    captured = capsys.readouterr()
    assert captured.out == "a: moved\n"
    assert [line.split(", ")[0] for line in captured.err.splitlines()] == [
        "towns migrate-queues a -> b: 1 of 2 messages (50%)",
        "towns migrate-queues a -> b: 2 of 2 messages (100%) in 0s",
        "towns migrate-queues b -> c: 1 of 3 messages (33%)",
        "towns migrate-queues b -> c: 1 of 3 messages (33%)",
        "towns migrate-queues c -> d: 0 messages in 0s",
        "towns migrate-queues c -> d: 0 messages in 0s"]


def test_a_step_that_fails_writes_no_last_line(capsys, monkeypatch):
    monkeypatch.setattr(progress_module, "EVERY_SECONDS", 0)
    with pytest.raises(RuntimeError), phases("towns restore", "bytes of the backup") as report:
        report("pg_restore", 10, 100)
        raise RuntimeError("pg_restore failed")
    assert [line.split(", ")[0] for line in capsys.readouterr().err.splitlines()] == [
        "towns restore pg_restore: 10 of 100 bytes of the backup (10%)"]
