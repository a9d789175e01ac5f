"""The composition root: reads configuration and builds the application service, and the
runtime around it (views, projection runner, broker, deadline schedule, workers).

The CLI, the servers, the workers and the tests all build through here; nothing connects to a
service when a module is imported.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from adapters.config import Config, load_config
from adapters.saving import StoreTowns
from domain.service import Towns

DEFAULT_DATABASE_URL = "sqlite:///./towns.db"


class DatabaseUrlError(ValueError):
    """``TOWNS_DATABASE_URL`` cannot be used; the message says why."""


def store_settings(url: str) -> dict[str, str]:
    """Maps ``TOWNS_DATABASE_URL`` onto eventsourcing's persistence settings, with the
    service's recorders (``adapters.recorders``: the library's rows, saved on condition) and,
    on PostgreSQL, pooled connections checked before use."""
    settings = library_settings(url)
    recorder = RECORDERS[settings["PERSISTENCE_MODULE"]]
    if settings["PERSISTENCE_MODULE"] == "eventsourcing.postgres":
        # Each pooled connection is checked as it is taken from the pool, so that the ones a
        # restart of PostgreSQL dropped are replaced instead of failing a request; the
        # service's recorder makes the check cheap (``adapters.recorders.loan_check``).
        settings["POSTGRES_PRE_PING"] = "y"
    return {**settings, "APPLICATION_RECORDER_TOPIC": recorder}


RECORDERS = {
    "eventsourcing.sqlite": "adapters.recorders:SQLiteRecorder",
    "eventsourcing.postgres": "adapters.recorders:PostgresRecorder",
}


def library_settings(url: str) -> dict[str, str]:
    """Maps ``TOWNS_DATABASE_URL`` onto eventsourcing's persistence settings, the library's
    own recorders (what the benchmarks measure us against)."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = unquote(url[len("sqlite:///") :]) if url.startswith("sqlite:///") else ""
        if not path:
            raise DatabaseUrlError(f"a SQLite URL names a file: sqlite:///path/to/file.db, not {url!r}")
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": path,
            "SQLITE_LOCK_TIMEOUT": "30",
        }
    if parts.scheme in ("postgresql", "postgres"):
        dbname = parts.path.lstrip("/")
        if not dbname:
            raise DatabaseUrlError(f"a PostgreSQL URL names a database: {url!r}")
        settings = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": unquote(dbname),
            "POSTGRES_HOST": parts.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
            # In 9.5.6 the database functions skip the table lock that keeps commit order equal
            # to notification order, and drop tracking records: keep them off.
            "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
            "POSTGRES_POOL_SIZE": "5",
            "POSTGRES_MAX_OVERFLOW": "10",
            "POSTGRES_CONNECT_TIMEOUT": "5",
        }
        for key, value in _query(parts.query).items():
            if key == "schema":
                settings["POSTGRES_SCHEMA"] = value
        return settings
    raise DatabaseUrlError(
        f"TOWNS_DATABASE_URL must start with sqlite:/// or postgresql://, not {url!r}"
    )


def _query(query: str) -> dict[str, str]:
    pairs = (item.split("=", 1) for item in query.split("&") if "=" in item)
    return {unquote(k): unquote(v) for k, v in pairs}


def database_url() -> str:
    return os.environ.get("TOWNS_DATABASE_URL") or DEFAULT_DATABASE_URL


def database_url_of(towns: Towns) -> str:
    """The database URL of a service built on ``store_settings`` (their inverse): where its read
    models live beside its events. ``DatabaseUrlError`` for a store without a URL (in memory)."""
    env = towns.env
    module = env.get("PERSISTENCE_MODULE")
    if module == "eventsourcing.sqlite":
        return f"sqlite:///{env['SQLITE_DBNAME']}"
    if module == "eventsourcing.postgres":
        user, password = quote(env["POSTGRES_USER"], safe=""), env.get("POSTGRES_PASSWORD", "")
        login = f"{user}:{quote(password, safe='')}" if password else user
        url = (f"postgresql://{login}@{env['POSTGRES_HOST']}:{env['POSTGRES_PORT']}/"
               f"{quote(env['POSTGRES_DBNAME'], safe='')}")
        schema = env.get("POSTGRES_SCHEMA")
        return f"{url}?schema={quote(schema, safe='')}" if schema else url
    raise DatabaseUrlError(f"the service's store ({module}) has no database URL")


def build_towns(
    config: Config | None = None, url: str | None = None, on_commit: Callable[[], object] | None = None
) -> Towns:
    """The application service on the configured store; ``on_commit`` is called after every
    transaction that recorded events (from whichever thread committed)."""
    config = config or load_config()
    settings = store_settings(url or database_url())
    if on_commit is None:
        return StoreTowns(config.calls, env=settings)
    towns = _ReportingTowns(config.calls, env=settings)
    towns.on_commit = on_commit
    return towns


class _ReportingTowns(StoreTowns):
    """``Towns`` that reports each commit, through eventsourcing's hook for subclasses
    (``_notify``, called after every save)."""

    name = Towns.name  # eventsourcing names tables and settings after the class otherwise
    on_commit: Callable[[], object]

    def _notify(self, recordings) -> None:
        super()._notify(recordings)
        self.on_commit()


def build_runtime(
    config: Config | None = None,
    url: str | None = None,
    amqp_url: str | None = None,
    *,
    consume: bool | None = None,
    threads: int = 1,
    process: str | None = None,
):
    """Everything a process needs to run the service with its workers: see ``adapters.runtime``.

    ``amqp_url`` None is the embedded default: an in-process broker, always consumed by a
    worker thread of this process. With RabbitMQ, this process consumes the actors' queues
    only when ``consume`` is true (``towns worker``); the others only send. ``process`` names
    the command starting: its configuration (and signing key) is recorded in the log when it
    differs from the last one recorded (``adapters.evidence.actions``).
    """
    from adapters.runtime import build

    config = config or load_config()
    return build(config, url or database_url(), amqp_url, consume, threads, process)
