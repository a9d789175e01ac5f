"""Progress of long commands where stderr is no terminal: occasional plain lines, never stdout."""

from __future__ import annotations

import io

from adapters.cli.progress import EVERY_SECONDS, PlainLines, polled, progress


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
    assert lines(out)[-1] == "towns audit verify: 10,000 of 10,000 records (100%)"
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


def test_an_unknown_total_is_a_count():
    clock, out = Clock(), io.StringIO()
    report = PlainLines("towns projections rebuild audit", "events", out, clock)
    clock.now += EVERY_SECONDS
    report(5, 0)
    assert lines(out) == ["towns projections rebuild audit: 5 events"]


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
    assert written[1] == "towns audit export GD-ITOWN-2017-B2: 4 of 4 events (100%)"


def test_a_count_without_a_hook_is_read_and_reported_at_the_end_too():
    seen = []
    with polled(lambda: 7, 10, lambda done, total: seen.append((done, total)),
                every=60):
        pass
    assert seen == [(7, 10)]
