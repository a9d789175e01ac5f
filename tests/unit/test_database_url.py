"""``TOWNS_DATABASE_URL``: one host or libpq's several, mapped onto eventsourcing's settings and
back (``library_settings``, ``store_settings`` and ``database_url_of`` are inverse), turned into
one libpq connection string for every connection the service opens, and refused with a
``DatabaseUrlError`` that says why when it cannot be used. Nothing here connects."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from psycopg.conninfo import conninfo_to_dict

from adapters.store.recorders import PostgresFactory
from adapters.store.settings import (DatabaseUrlError, database_url_of, library_settings,
                                     store_probe, store_settings)
from projections.database_url import PostgresUrl, conninfo
from projections.store import ViewStore

PAIR = "postgresql://towns@127.0.0.1:5442,127.0.0.1:5443/towns?target_session_attrs=read-write"

CANONICAL = [
    "postgresql://postgres@127.0.0.1:5432/test",
    "postgresql://postgres@127.0.0.1:5432/test?schema=t_1",
    PAIR,
    "postgresql://towns:s%40cr%3At%20x@db-a:5432,db-b:6432,db-c:7432/my%20db"
    "?schema=towns&target_session_attrs=primary",
    "postgresql://postgres@[::1]:5432,10.0.0.2:5433/towns?target_session_attrs=read-write",
]


def service_on(url: str) -> SimpleNamespace:
    """What ``database_url_of`` reads of a service built on ``store_settings(url)``."""
    return SimpleNamespace(env=store_settings(url))


@pytest.mark.parametrize("url", CANONICAL)
def test_a_url_maps_onto_the_settings_and_back_to_itself(url):
    assert database_url_of(service_on(url)) == url
    assert library_settings(database_url_of(service_on(url))) == library_settings(url)


@pytest.mark.parametrize("url, same", [
    ("postgres://127.0.0.1/test", "postgresql://postgres@127.0.0.1:5432/test"),
    ("postgresql://u@h1,h2:6000/db", "postgresql://u@h1:5432,h2:6000/db"),
    ("postgresql://u@h/db?target_session_attrs=read-write&schema=s",
     "postgresql://u@h:5432/db?schema=s&target_session_attrs=read-write"),
])
def test_a_url_with_defaults_comes_back_with_them_written_out(url, same):
    assert database_url_of(service_on(url)) == same
    assert library_settings(same) == library_settings(url)


def test_several_hosts_are_libpqs_lists_in_the_librarys_settings():
    settings = library_settings(PAIR)
    assert settings["POSTGRES_HOST"] == "127.0.0.1,127.0.0.1"
    assert settings["POSTGRES_PORT"] == "5442,5443"
    assert settings["POSTGRES_DBNAME"] == "towns"
    assert settings["POSTGRES_USER"] == "towns"
    assert settings["POSTGRES_TARGET_SESSION_ATTRS"] == "read-write"


def test_the_services_pool_connects_only_to_a_server_that_takes_writes():
    factory = PostgresFactory(store_settings(PAIR))  # the pool is made, not opened
    try:
        kwargs = factory.datastore.pool.kwargs
        assert kwargs["target_session_attrs"] == "read-write"
        assert (kwargs["host"], kwargs["port"]) == ("127.0.0.1,127.0.0.1", "5442,5443")
    finally:
        factory.close()


def test_without_the_parameter_the_pool_takes_libpqs_default():
    factory = PostgresFactory(store_settings("postgresql://postgres@127.0.0.1:5432/test"))
    try:
        assert "target_session_attrs" not in factory.datastore.pool.kwargs
    finally:
        factory.close()


def test_the_connection_string_carries_every_host_and_the_session_attrs_not_the_schema():
    found = conninfo_to_dict(conninfo(PAIR + "&schema=towns"))
    assert found == {"host": "127.0.0.1,127.0.0.1", "port": "5442,5443", "dbname": "towns",
                     "user": "towns", "target_session_attrs": "read-write"}


def test_values_with_spaces_and_quotes_survive_the_connection_string():
    url = "postgresql://o%27neil:a%20b%5C%27c@h:5432/my%20db"
    found = conninfo_to_dict(conninfo(url))
    assert (found["user"], found["password"], found["dbname"]) == ("o'neil", "a b\\'c", "my db")


def test_the_read_models_store_uses_the_same_connection_string():
    store = ViewStore(PAIR + "&schema=towns")
    assert store.conninfo == conninfo(PAIR)
    assert store.schema == "towns"
    assert ViewStore(PAIR).schema == "public"


def test_a_schema_is_added_to_a_url_of_several_hosts_without_losing_them():
    url = PostgresUrl.parse(PAIR).with_schema("t_2").url()
    assert url == PAIR.replace("?", "?schema=t_2&")


def test_the_store_probe_is_for_postgresql_only():
    assert store_probe("sqlite:///./towns.db") is None
    assert callable(store_probe(PAIR))


@pytest.mark.parametrize("url, says", [
    ("postgresql://u@h:5432/", "names a database"),
    ("postgresql://u@h:5432", "names a database"),
    ("postgresql://u@h:port/db", "not a port number"),
    ("postgresql://u@h:70000/db", "not a port number"),
    ("postgresql://u@h1,,h3/db", "an empty host"),
    ("postgresql://u@:5432,h2/db", "an empty host"),
    ("postgresql://u@h/db?sslmode=require", "parameters are schema and target_session_attrs"),
    ("postgresql://u@h/db?schema", "parameters are schema and target_session_attrs"),
    ("postgresql://u@h/db?target_session_attrs=writable", "target_session_attrs is one of"),
    ("mysql://u@h/db", "must start with sqlite:/// or postgresql://"),
    ("sqlite://towns.db", "names a file"),
    ("postgresql://u@[::1/db", "not a URL"),
])
def test_a_url_that_cannot_be_used_is_refused_saying_why(url, says):
    with pytest.raises(DatabaseUrlError, match=says):
        library_settings(url)


def test_a_refusal_never_shows_the_password():
    with pytest.raises(DatabaseUrlError) as refused:
        library_settings("postgresql://u:hunter2@h:99999/db")
    assert "hunter2" not in str(refused.value)
    assert "u:***@h:99999" in str(refused.value)


def test_every_connection_helper_refuses_the_same_way():
    for make in (conninfo, ViewStore, store_probe, PostgresUrl.parse):
        with pytest.raises(DatabaseUrlError, match="not a port number"):
            make("postgresql://u@h:x/db")
