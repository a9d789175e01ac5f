"""The TOML configuration (CONTRACT.md §1): what loads, and a clear ConfigError for the rest."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from adapters.config import MAX_GRACE_SECONDS, SHIPPED_CONFIG, ConfigError, load_config

CALL = """
[[calls]]
id = "GD-ITOWN-2017-B2"
title = "second batch"
cutoff = "2017-03-30T23:59:59+08:00"
grace_seconds = 3600
"""

PRINCIPAL = """
[[principals]]
name = "gz-city"
role = "city"
organisation = "Guangzhou EIC"
city = "guangzhou"
token = "t-gz"
amqp_user = "gz-city"
"""


def load(tmp_path, text: str | bytes):
    path = tmp_path / "towns.toml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return load_config(path)


def refused(tmp_path, text: str | bytes, *words: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    message = str(caught.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message
    return message


def test_the_shipped_file_has_the_2017_call_and_a_principal_per_city_and_role():
    config = load_config(SHIPPED_CONFIG)
    call = config.calls["GD-ITOWN-2017-B2"]
    assert call.cutoff == datetime(2017, 3, 30, 23, 59, 59, tzinfo=timezone(timedelta(hours=8)))
    cities = {p.city for p in config.principals.values() if p.role == "city"}
    assert len(cities) == 22


def test_a_valid_file_loads_as_written(tmp_path, monkeypatch):
    monkeypatch.setenv("T_PROVINCE", "secret")
    config = load(tmp_path, CALL + PRINCIPAL + """
[[principals]]
name = "province"
role = "province"
token = "env:T_PROVINCE"
""")
    call = config.calls["GD-ITOWN-2017-B2"]
    assert (call.title, call.notice, call.grace_seconds) == ("second batch", "", 3600)
    city = config.principals["gz-city"]
    assert (city.role, city.city, city.organisation, city.token, city.amqp_user) == (
        "city", "guangzhou", "Guangzhou EIC", "t-gz", "gz-city")
    assert config.by_token("secret").name == "province"


def test_a_toml_datetime_cutoff_is_taken_as_written(tmp_path):
    config = load(tmp_path, CALL.replace('"2017-03-30T23:59:59+08:00"', "2017-03-30T23:59:59+08:00"))
    assert config.calls["GD-ITOWN-2017-B2"].cutoff.utcoffset() == timedelta(hours=8)


def test_a_province_principal_keeps_no_city(tmp_path):
    config = load(tmp_path, '[[principals]]\nname = "p"\nrole = "province"\ncity = "guangzhou"\n')
    assert config.principals["p"].city is None


@pytest.mark.parametrize(
    "text, words",
    [
        pytest.param('calls = "x"', ("calls must be an array of tables",), id="calls-string"),
        pytest.param('calls = ["x"]', ("calls must be an array of tables",), id="calls-array"),
        pytest.param('[calls]\nid = "x"', ("calls must be an array of tables",), id="calls-table"),
        pytest.param('principals = ["x"]', ("principals must be an array",), id="principals-array"),
        pytest.param('[principals]\nname = "x"', ("principals must be an array",), id="principals-table"),
        pytest.param(CALL.replace('id = "GD-ITOWN-2017-B2"', "id = 5"), ("id must be",), id="id-int"),
        pytest.param(CALL.replace('id = "GD-ITOWN-2017-B2"', 'id = ""'), ("id must be",), id="id-empty"),
        pytest.param(CALL.replace('title = "second batch"', "title = 1"), ("title must be",), id="title-int"),
        pytest.param(CALL.replace("2017-03-30T23:59:59+08:00", "tomorrow"), ("not an ISO 8601",), id="cutoff-text"),
        pytest.param(CALL.replace("2017-03-30T23:59:59+08:00", "2017-03-30T23:59:59"), ("needs an offset",), id="cutoff-naive"),
        pytest.param(CALL.replace('"2017-03-30T23:59:59+08:00"', "2017-03-30"), ("cutoff must be",), id="cutoff-date"),
        pytest.param(CALL.replace("grace_seconds = 3600", "grace_seconds = inf"), ("grace_seconds",), id="grace-inf"),
        pytest.param(CALL.replace("grace_seconds = 3600", "grace_seconds = 1.9"), ("grace_seconds",), id="grace-float"),
        pytest.param(CALL.replace("grace_seconds = 3600", "grace_seconds = -1"), ("grace_seconds",), id="grace-negative"),
        pytest.param(CALL.replace("grace_seconds = 3600", "grace_seconds = 9223372036854775807"), ("grace_seconds",), id="grace-huge"),
        pytest.param(CALL.replace("grace_seconds = 3600", 'grace_seconds = "3600"'), ("grace_seconds",), id="grace-text"),
        pytest.param(CALL + CALL, ("defined twice",), id="call-twice"),
        pytest.param(PRINCIPAL + PRINCIPAL, ("defined twice",), id="principal-twice"),
        pytest.param(PRINCIPAL.replace('name = "gz-city"', "name = 5"), ("name must be",), id="name-int"),
        pytest.param(PRINCIPAL.replace('role = "city"', 'role = "mayor"'), ("role among",), id="role-unknown"),
        pytest.param(PRINCIPAL.replace('city = "guangzhou"', 'city = ["guangzhou"]'), ("known city",), id="city-list"),
        pytest.param(PRINCIPAL.replace('city = "guangzhou"', 'city = "atlantis"'), ("known city",), id="city-unknown"),
        pytest.param(PRINCIPAL.replace('city = "guangzhou"\n', ""), ("known city",), id="city-missing"),
        pytest.param(PRINCIPAL.replace('token = "t-gz"', "token = 5"), ("token must be",), id="token-int"),
        pytest.param(PRINCIPAL.replace('amqp_user = "gz-city"', "amqp_user = true"), ("amqp_user must be",), id="amqp-user-bool"),
        pytest.param(PRINCIPAL + PRINCIPAL.replace('name = "gz-city"', 'name = "gz-2"').replace('amqp_user = "gz-city"', ""),
                     ("share one token",), id="token-shared"),
        pytest.param(PRINCIPAL + PRINCIPAL.replace('name = "gz-city"', 'name = "gz-2"').replace('token = "t-gz"', ""),
                     ("share one amqp_user",), id="amqp-user-shared"),
        pytest.param("calls = [", ("cannot read configuration",), id="not-toml"),
        pytest.param("\ufeffx".encode("utf-16"), ("cannot read configuration",), id="not-utf8"),
    ],
)
def test_a_file_that_cannot_be_used_is_a_one_line_config_error(tmp_path, text, words):
    refused(tmp_path, text, str(tmp_path / "towns.toml"), *words)


def test_a_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read configuration"):
        load_config(tmp_path / "absent.toml")


def test_the_longest_grace_still_gives_a_check_time(tmp_path):
    config = load(tmp_path, CALL.replace("grace_seconds = 3600", f"grace_seconds = {MAX_GRACE_SECONDS}"))
    assert config.calls["GD-ITOWN-2017-B2"].check_due_at.year == 2018
