"""Fixtures for every store. PostgreSQL is the real server on loopback: locally a missing server
skips its tests; with CI=true it fails them, so a broken service can never pass as green."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest

from adapters.bootstrap import build_towns
from adapters.config import Config, load_config
from domain.service import Towns
from projections.database_url import conninfo
from tests.support import fresh_schema

IN_CI = os.environ.get("CI") == "true"

# The cluster tests (tests/cluster) start and break engines of their own and take minutes: they
# run with `make cluster-test`, which sets TOWNS_CLUSTER_TESTS=1.
collect_ignore = [] if os.environ.get("TOWNS_CLUSTER_TESTS") == "1" else ["cluster"]
POSTGRES_URL = os.environ.get("TOWNS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def service_missing(what: str, error: Exception) -> None:
    message = f"{what} is not reachable: {error}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: a missing service fails the run)")
    pytest.skip(message)


LIBRARY_LOGGERS = ("pika", "dramatiq", "towns")
"""Loggers whose levels a command run in the test's process sets for the whole process (the
commands quieten pika, for one): each test starts with them as the last one found them."""


@pytest.fixture(autouse=True)
def _library_log_levels() -> Iterator[None]:
    levels = {name: logging.getLogger(name).level for name in LIBRARY_LOGGERS}
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    import psycopg

    try:
        with psycopg.connect(conninfo(POSTGRES_URL), connect_timeout=3):
            pass
    except psycopg.Error as error:
        service_missing("PostgreSQL", error)
    return POSTGRES_URL


@pytest.fixture
def postgres_schema_url(postgres_url: str) -> Iterator[str]:
    """A database URL whose tables live in a fresh schema, dropped afterwards."""
    with fresh_schema(postgres_url) as url:
        yield url


@pytest.fixture(scope="session")
def config() -> Config:
    return load_config()


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """Each application-service test runs on both stores."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/towns.db"
    return request.getfixturevalue("postgres_schema_url")


@pytest.fixture
def towns(config: Config, store_url: str) -> Iterator[Towns]:
    app = build_towns(config, store_url)
    yield app
    app.close()


@pytest.fixture
def sqlite_towns(config: Config, tmp_path) -> Iterator[Towns]:
    app = build_towns(config, f"sqlite:///{tmp_path}/towns.db")
    yield app
    app.close()


MEMORY_STORE = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
"""eventsourcing's in-memory store (snapshots included): fast, for unit tests."""


@pytest.fixture
def memory_towns(config: Config) -> Iterator[Towns]:
    app = Towns(config.calls, env=MEMORY_STORE)
    yield app
    app.close()


@pytest.fixture
def memory_towns_factory(config: Config) -> Iterator:
    """Builds a fresh in-memory service on each call (one per hypothesis example)."""
    made: list[Towns] = []

    def make() -> Towns:
        app = Towns(config.calls, env=MEMORY_STORE)
        made.append(app)
        return app

    yield make
    for app in made:
        app.close()


@pytest.fixture
def http_app(towns: Towns, config: Config):
    """The HTTP app (``adapters.http.create_app``) on each store of ``towns``."""
    from adapters.http import create_app

    return create_app(towns, config)


@pytest.fixture
def http_client(http_app):
    """Flask's test client of ``http_app``."""
    return http_app.test_client()
