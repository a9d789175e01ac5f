"""Witnesses: places outside the database where each signed tree head is kept, so that whoever
can write the database cannot quietly rewrite the evidence.

* ``FileWitness``: ``tree-heads.jsonl`` in ``TOWNS_WITNESS_DIR``, one head a line, only ever
  appended to (``O_APPEND``, fsync'd), never rewritten;
* ``StreamWitness``: the RabbitMQ stream ``towns.checkpoints`` (``x-queue-type: stream``), an
  append-only log the broker replicates, published to with confirms and read from its start.

A witness holds heads only (and the marks of restores from a backup,
``adapters.audit.evidence.restores``), never application data. Each is optional; ``Witnesses`` says which
are missing, and reading one answers its heads with the problems found on the way (a line that
is not a head) instead of raising.
"""

from __future__ import annotations

import gc
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from adapters.audit.evidence.heads import MAX_HEAD_TEXT, TreeHead
from adapters.audit.evidence.restores import RestoreMark, parse_entry

log = logging.getLogger("towns.audit")
FILE_NAME = "tree-heads.jsonl"
STREAM = "towns.checkpoints"
DIR_ENV = "TOWNS_WITNESS_DIR"


@dataclass
class Reading:
    """What one witness holds: its heads in the order written, and the lines it could not read."""

    name: str
    heads: list[tuple[int, TreeHead]] = field(default_factory=list)  # (line or offset, head)
    marks: list[tuple[int, RestoreMark]] = field(default_factory=list)  # restores, likewise
    problems: list[str] = field(default_factory=list)
    available: bool = True

    def add(self, at: int, entry: TreeHead | RestoreMark) -> None:
        (self.marks if isinstance(entry, RestoreMark) else self.heads).append((at, entry))


class FileWitness:
    name = "file"

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.path = self.folder / FILE_NAME

    def __str__(self) -> str:
        return str(self.path)

    def append(self, head: TreeHead | RestoreMark) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (head.line() + "\n").encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self) -> Reading:
        reading = Reading(self.name)
        try:
            handle = open(self.path, "rb")
        except FileNotFoundError:
            return reading  # nothing witnessed yet
        except OSError as error:
            reading.available = False
            reading.problems.append(f"{self.path} cannot be read: {error.strerror}")
            return reading
        with handle:
            for number, line in enumerate(_lines(handle), start=1):
                try:
                    reading.add(number, parse_entry(line))
                except ValueError as error:
                    reading.problems.append(f"{self.path} line {number} is not a tree head: {error}")
        return reading


def _lines(handle):
    """The file's lines, each cut at ``MAX_HEAD_TEXT`` + 1 bytes so a huge line cannot be
    read whole (it then fails to parse as too long)."""
    while True:
        line = handle.readline(MAX_HEAD_TEXT + 1)
        if not line:
            return
        if len(line) > MAX_HEAD_TEXT and not line.endswith(b"\n"):
            while (rest := handle.readline(65536)) and not rest.endswith(b"\n"):
                pass
        yield line.rstrip(b"\n")


class StreamWitness:
    name = "stream"

    def __init__(self, amqp_url: str) -> None:
        self.url = amqp_url

    def __str__(self) -> str:
        return f"the RabbitMQ stream {STREAM}"

    def _connect(self):
        import pika

        from adapters.amqp.endpoints import Endpoints

        def configure(parameters: pika.URLParameters) -> None:
            parameters.connection_attempts = 1
            parameters.socket_timeout = 5
            parameters.blocked_connection_timeout = 10

        return Endpoints(self.url, configure).connect()

    @staticmethod
    def declare(channel) -> None:
        channel.queue_declare(STREAM, durable=True, arguments={"x-queue-type": "stream"})

    def append(self, head: TreeHead | RestoreMark) -> None:
        """Publishes the head on a connection of its own, then reclaims that connection.

        A closed pika connection is a knot of reference cycles (~65 objects, ~12 KiB) that only
        the cyclic collector frees, and the long-running commands make its collections rare
        (``adapters.collector``: young ones every 50,000 net allocations). The worker appends a
        head about every second under load, so the closed connections piled up between
        collections: its resident memory grew by ~15 MiB over a 17-minute soak. They were
        allocated during this call, so they are still in the young generations: collected here,
        at the cost of a walk of those generations only."""
        try:
            self._publish(head)
        finally:
            gc.collect(1)

    def _publish(self, head: TreeHead | RestoreMark) -> None:
        import pika

        connection = self._connect()
        try:
            channel = connection.channel()
            self.declare(channel)
            channel.confirm_delivery()
            channel.basic_publish("", STREAM, head.line().encode("ascii"),
                                  pika.BasicProperties(delivery_mode=2,
                                                       content_type="application/json"),
                                  mandatory=True)
        finally:
            if connection.is_open:
                connection.close()

    def read(self, idle: float = 1.0) -> Reading:
        """Every head in the stream from its first offset; reading stops once the broker has
        sent nothing for ``idle`` seconds."""
        from pika.exceptions import AMQPError

        reading = Reading(self.name)
        try:
            connection = self._connect()
        except (AMQPError, OSError) as error:
            reading.available = False
            reading.problems.append(f"{self} cannot be read: {type(error).__name__} {error}")
            return reading
        try:
            channel = connection.channel()
            self.declare(channel)
            channel.basic_qos(prefetch_count=500)
            last = [time.monotonic()]

            def take(ch, method, properties, body: bytes) -> None:
                offset = (properties.headers or {}).get("x-stream-offset", len(reading.heads))
                try:
                    reading.add(int(offset), parse_entry(body))
                except ValueError as error:
                    reading.problems.append(f"{self} offset {offset} is not a tree head: {error}")
                ch.basic_ack(method.delivery_tag)
                last[0] = time.monotonic()

            channel.basic_consume(STREAM, take, arguments={"x-stream-offset": "first"})
            while time.monotonic() - last[0] < idle:
                connection.process_data_events(time_limit=0.1)
        except (AMQPError, OSError) as error:
            reading.available = False
            reading.problems.append(f"{self} cannot be read: {type(error).__name__} {error}")
        finally:
            if connection.is_open:
                connection.close()
        return reading


class Witnesses:
    """The witnesses this deployment has: a file where ``TOWNS_WITNESS_DIR`` names a folder, the
    stream where RabbitMQ is configured."""

    def __init__(self, folder: str | None, amqp_url: str | None) -> None:
        self.file = FileWitness(folder) if folder else None
        self.stream = StreamWitness(amqp_url) if amqp_url else None

    @classmethod
    def from_env(cls, amqp_url: str | None) -> Witnesses:
        return cls(os.environ.get(DIR_ENV, "").strip() or None, amqp_url)

    @property
    def present(self) -> list:
        return [w for w in (self.file, self.stream) if w is not None]

    def missing(self) -> list[str]:
        """A sentence for each witness this deployment does not have."""
        out = []
        if self.file is None:
            out.append(f"no file witness ({DIR_ENV} is not set)")
        if self.stream is None:
            out.append(f"no stream witness (no RabbitMQ: {STREAM} is not written)")
        return out

    def append(self, head: TreeHead | RestoreMark) -> list[str]:
        """Writes the head (or a restore mark) to every witness; a sentence for each that failed (it is logged and
        the head stays in the database, to be written again with the next one)."""
        failed = []
        for witness in self.present:
            try:
                witness.append(head)
            except Exception as error:  # noqa: BLE001 - a witness down must not stop the log
                failed.append(f"{witness}: {type(error).__name__}: {error}")
                log.warning("the %s of size %d was not written to %s: %s",
                            "restore mark" if isinstance(head, RestoreMark) else "tree head",
                            head.size, witness, error)
        return failed

    def read(self) -> list[Reading]:
        return [w.read() for w in self.present]
