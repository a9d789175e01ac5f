"""Fixtures for every store. PostgreSQL is the real server on loopback: locally a missing server
skips its tests; with CI=true it fails them, so a broken service can never pass as green."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from adapters.bootstrap import build_towns
from adapters.config import Config, load_config
from domain.service import Towns

IN_CI = os.environ.get("CI") == "true"
POSTGRES_URL = os.environ.get("TOWNS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def service_missing(what: str, error: Exception) -> None:
    message = f"{what} is not reachable: {error}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: a missing service fails the run)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    import psycopg

    try:
        with psycopg.connect(_libpq(POSTGRES_URL), connect_timeout=3):
            pass
    except psycopg.Error as error:
        service_missing("PostgreSQL", error)
    return POSTGRES_URL


def _libpq(url: str) -> str:
    return url.split("?", 1)[0]


@pytest.fixture
def postgres_schema_url(postgres_url: str) -> Iterator[str]:
    """A database URL whose tables live in a fresh schema, dropped afterwards."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(postgres_url), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    yield f"{postgres_url}?schema={schema}"
    with psycopg.connect(_libpq(postgres_url), autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


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
