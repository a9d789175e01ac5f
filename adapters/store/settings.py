"""Where the service keeps its events: ``TOWNS_DATABASE_URL`` mapped onto eventsourcing's
persistence settings (with the service's recorders), and back."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from domain.service import Towns
from projections.database_url import DatabaseUrlError, PostgresUrl

__all__ = ["DEFAULT_DATABASE_URL", "DatabaseUrlError", "database_url", "database_url_of",
           "library_settings", "store_probe", "store_settings"]

DEFAULT_DATABASE_URL = "sqlite:///./towns.db"
TARGET_SESSION_ATTRS = "POSTGRES_TARGET_SESSION_ATTRS"
PROBE_TIMEOUT = 2  # seconds (libpq's least): the consumer's check that the store answers


def store_settings(url: str) -> dict[str, str]:
    """Maps ``TOWNS_DATABASE_URL`` onto eventsourcing's persistence settings, with the
    service's recorders (``adapters.store.recorders``: the library's rows, saved on condition) and,
    on PostgreSQL, pooled connections checked before use."""
    settings = library_settings(url)
    recorder = RECORDERS[settings["PERSISTENCE_MODULE"]]
    if settings["PERSISTENCE_MODULE"] == "eventsourcing.postgres":
        # The library's factory with what it has no setting for
        # (``adapters.store.recorders.PostgresFactory``: target_session_attrs, and lost
        # connections given up sooner, so that the pool connects anew once the server is back).
        settings["PERSISTENCE_MODULE"] = POSTGRES_FACTORY
        # Each pooled connection is checked as it is taken from the pool, so that the ones a
        # restart of PostgreSQL dropped are replaced instead of failing a request; the
        # service's recorder makes the check cheap (``adapters.store.recorders.loan_check``).
        settings["POSTGRES_PRE_PING"] = "y"
    return {**settings, "APPLICATION_RECORDER_TOPIC": recorder}


POSTGRES_FACTORY = "adapters.store.recorders:PostgresFactory"
RECORDERS = {
    "eventsourcing.sqlite": "adapters.store.sqlite_recorder:SQLiteRecorder",
    "eventsourcing.postgres": "adapters.store.recorders:PostgresRecorder",
}


def library_settings(url: str) -> dict[str, str]:
    """Maps ``TOWNS_DATABASE_URL`` onto eventsourcing's persistence settings, the library's
    own recorders (what the benchmarks measure us against). Several hosts go to the library as
    libpq's comma-separated lists; ``target_session_attrs`` is not one of 9.5.6's settings and only
    the service's factory (``store_settings``) applies it."""
    try:
        parts = urlsplit(url)
    except ValueError as error:
        raise DatabaseUrlError(f"TOWNS_DATABASE_URL is not a URL: {error}") from None
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
        target = PostgresUrl.parse(url)
        libpq = target.libpq()
        settings = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": target.dbname,
            "POSTGRES_HOST": libpq["host"],  # several hosts: libpq's comma-separated lists
            "POSTGRES_PORT": libpq["port"],
            "POSTGRES_USER": target.user,
            "POSTGRES_PASSWORD": target.password,
            # In 9.5.6 the database functions skip the writers' lock that keeps commit order equal
            # to notification order, and drop tracking records: keep them off.
            "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
            "POSTGRES_POOL_SIZE": "5",
            "POSTGRES_MAX_OVERFLOW": "10",
            "POSTGRES_CONNECT_TIMEOUT": "5",
        }
        if target.schema:
            settings["POSTGRES_SCHEMA"] = target.schema
        if target.target_session_attrs:
            # Not one of 9.5.6's settings: the service's factory applies it (store_settings).
            settings[TARGET_SESSION_ATTRS] = target.target_session_attrs
        return settings
    raise DatabaseUrlError(
        f"TOWNS_DATABASE_URL must start with sqlite:/// or postgresql://, not {url!r}"
    )


def database_url() -> str:
    return os.environ.get("TOWNS_DATABASE_URL") or DEFAULT_DATABASE_URL


def database_url_of(towns: Towns) -> str:
    """The database URL of a service built on ``store_settings`` (their inverse): where its read
    models live beside its events. ``DatabaseUrlError`` for a store without a URL (in memory)."""
    env = towns.env
    module = env.get("PERSISTENCE_MODULE")
    if module == "eventsourcing.sqlite":
        return f"sqlite:///{env['SQLITE_DBNAME']}"
    if module in ("eventsourcing.postgres", POSTGRES_FACTORY):
        hosts, ports = env["POSTGRES_HOST"].split(","), env["POSTGRES_PORT"].split(",")
        return PostgresUrl(
            env["POSTGRES_DBNAME"], tuple(zip(hosts, map(int, ports))), env["POSTGRES_USER"],
            env.get("POSTGRES_PASSWORD", ""), env.get("POSTGRES_SCHEMA", ""),
            env.get(TARGET_SESSION_ATTRS, "")).url()
    raise DatabaseUrlError(f"the service's store ({module}) has no database URL")


def store_probe(url: str):
    """A check that the PostgreSQL store of ``url`` answers (through a connection of its own,
    to a server ``target_session_attrs`` accepts), for the consumer's store watch; None for
    another store (a file or memory, which cannot be away)."""
    if urlsplit(url).scheme not in ("postgresql", "postgres"):
        return None
    target = PostgresUrl.parse(url).conninfo()

    def probe() -> None:
        import psycopg

        with psycopg.connect(target, connect_timeout=PROBE_TIMEOUT, autocommit=True) as conn:
            conn.execute("SELECT 1")

    return probe

