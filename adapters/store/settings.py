"""Where the service keeps its events: ``TOWNS_DATABASE_URL`` mapped onto eventsourcing's
persistence settings (with the service's recorders), and back."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from domain.service import Towns

DEFAULT_DATABASE_URL = "sqlite:///./towns.db"


class DatabaseUrlError(ValueError):
    """``TOWNS_DATABASE_URL`` cannot be used; the message says why."""


def store_settings(url: str) -> dict[str, str]:
    """Maps ``TOWNS_DATABASE_URL`` onto eventsourcing's persistence settings, with the
    service's recorders (``adapters.store.recorders``: the library's rows, saved on condition) and,
    on PostgreSQL, pooled connections checked before use."""
    settings = library_settings(url)
    recorder = RECORDERS[settings["PERSISTENCE_MODULE"]]
    if settings["PERSISTENCE_MODULE"] == "eventsourcing.postgres":
        # Each pooled connection is checked as it is taken from the pool, so that the ones a
        # restart of PostgreSQL dropped are replaced instead of failing a request; the
        # service's recorder makes the check cheap (``adapters.store.recorders.loan_check``).
        settings["POSTGRES_PRE_PING"] = "y"
    return {**settings, "APPLICATION_RECORDER_TOPIC": recorder}


RECORDERS = {
    "eventsourcing.sqlite": "adapters.store.recorders:SQLiteRecorder",
    "eventsourcing.postgres": "adapters.store.recorders:PostgresRecorder",
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
