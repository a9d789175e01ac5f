"""The progress of `towns backup` and `towns restore` where stderr is no terminal: plain lines on
stderr whose bytes are the file's, and stdout as it is without them. A line is due at every
report (``EVERY_SECONDS`` 0) and the tools are looked at often, so that a small database gives
several lines."""

from __future__ import annotations

import re
from pathlib import Path

from adapters.cli import progress
from adapters.ops import backup, pg_backup
from tests.integration.test_backup import History, env, fresh_database, towns_cli  # noqa: F401

UNKNOWN = re.compile(r"^towns backup pg_dump: (?P<done>[\d,]+) bytes written in \d+s")
KNOWN = re.compile(r"^(?P<what>towns restore [a-z_]+): (?P<done>[\d,]+) of (?P<total>[\d,]+) "
                   r"bytes of the backup \(\d+%\)")


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def _as_before(out: str, file: Path) -> str:
    """The output without what differs from one run to the next: the file, its size, the time."""
    out = re.sub(r"towns_bk_\w+", "DATABASE", out.replace(str(file), "FILE"))
    out = re.sub(r"[\d.]+ (bytes|KiB|MiB|GiB)", "SIZE", out)
    return re.sub(r" in [\d.]+ s\b", " in TIME", out)


def _restored(err: str, what: str, size: int) -> None:
    """The lines of ``what``: bytes of the backup read, up to all of it."""
    found = [KNOWN.match(line) for line in err.splitlines()]
    assert found and all(m and m["what"] == what for m in found), err
    done = [_number(m["done"]) for m in found]
    assert done == sorted(done) and done[-1] == size
    assert {_number(m["total"]) for m in found} == {size}
    assert err.splitlines()[-1].startswith(f"{what}: {size:,} of {size:,} bytes of the backup "
                                           "(100%) in ")


def test_pg_dump_and_pg_restore_tell_their_bytes_on_stderr(
        config, env, fresh_database, monkeypatch, capsys, tmp_path):  # noqa: F811
    source = fresh_database()
    history = History(config, source, env["key"], env["witness"])
    try:
        history.grow("PR-A", 3)
    finally:
        history.close()
    before = tmp_path / "a.dump"  # the commands as before: no line due
    code, quiet_backup, err = towns_cli(monkeypatch, capsys, source, "backup", str(before))
    assert code == 0 and err == ""
    code, quiet_restore, err = towns_cli(monkeypatch, capsys, fresh_database(), "restore",
                                         str(before), "--no-witness")
    assert code == 0 and err == ""
    monkeypatch.setattr(progress, "EVERY_SECONDS", 0)
    monkeypatch.setattr(pg_backup, "POLL_SECONDS", 0.005)
    file = tmp_path / "b.dump"
    code, out, err = towns_cli(monkeypatch, capsys, source, "backup", str(file))
    assert code == 0, err
    assert _as_before(out, file) == _as_before(quiet_backup, before)
    size = file.stat().st_size
    *written, last = err.splitlines()
    done = [_number(UNKNOWN.match(line)["done"]) for line in written]  # the total comes last
    assert done and done == sorted(done) and done[-1] <= size
    assert last.startswith(f"towns backup pg_dump: {size:,} of {size:,} bytes written (100%) in ")

    code, out, err = towns_cli(monkeypatch, capsys, fresh_database(), "restore", str(file),
                               "--no-witness")
    assert code == 0, err
    assert _as_before(out, file) == _as_before(quiet_restore, before)
    _restored(err, "towns restore pg_restore", size)  # Linux: pg_restore's offset in the file

def test_a_sqlite_restore_tells_its_copy_on_stderr(
        config, env, monkeypatch, capsys, tmp_path):  # noqa: F811
    source = f"sqlite:///{tmp_path}/source.db"
    history = History(config, source, env["key"], env["witness"])
    try:
        history.grow("PR-S", 2)
    finally:
        history.close()
    file = tmp_path / "copy.db"
    assert towns_cli(monkeypatch, capsys, source, "backup", str(file))[0] == 0
    code, quiet, err = towns_cli(monkeypatch, capsys, f"sqlite:///{tmp_path}/a.db", "restore",
                                 str(file), "--no-witness")
    assert code == 0 and err == ""
    monkeypatch.setattr(progress, "EVERY_SECONDS", 0)
    monkeypatch.setattr(backup, "COPY_CHUNK", 4096)
    code, out, err = towns_cli(monkeypatch, capsys, f"sqlite:///{tmp_path}/b.db", "restore",
                               str(file), "--no-witness")
    assert code == 0, err
    assert out == quiet.replace(f"{tmp_path}/a.db", f"{tmp_path}/b.db")
    size = file.stat().st_size
    _restored(err, "towns restore copy", size)
    assert len(err.splitlines()) == size // 4096 + (size % 4096 > 0)  # a line a chunk, the last
