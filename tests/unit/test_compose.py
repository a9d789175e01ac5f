"""The production topology, read rather than run (no Docker engine here): every service's
command is a real `towns` command, and every variable it sets is one the code reads."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

from adapters.cli import parser
from adapters.config import load_config

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
TOWNS_SERVICES = {n: s for n, s in COMPOSE["services"].items() if "command" in s}


def source_text() -> str:
    folders = ("adapters", "domain", "projections", "workers")
    return "\n".join(p.read_text(encoding="utf-8") for f in folders for p in (ROOT / f).rglob("*.py"))


def test_the_service_processes_are_serve_consume_and_worker():
    commands = {s["command"][0] for s in TOWNS_SERVICES.values()}
    assert commands == {"serve", "consume", "worker"}
    assert {"postgres", "rabbitmq"} <= set(COMPOSE["services"])
    assert "management" in COMPOSE["services"]["rabbitmq"]["image"]


@pytest.mark.parametrize("name", sorted(TOWNS_SERVICES))
def test_each_command_parses_as_a_towns_command(name):
    args = parser().parse_args(TOWNS_SERVICES[name]["command"])
    assert callable(args.run)


def mounted_config() -> Path:
    """The file the services mount as TOWNS_CONFIG, in this repository."""
    [service] = list(TOWNS_SERVICES.values())[:1]
    target = service["environment"]["TOWNS_CONFIG"]
    [source] = [v.split(":")[0] for v in service["volumes"] if v.split(":")[1] == target]
    return ROOT / source


def config_tokens() -> set[str]:
    """The variables the mounted configuration reads its tokens from (``env:VARNAME``)."""
    raw = tomllib.loads(mounted_config().read_text(encoding="utf-8"))
    return {p["token"][4:] for p in raw.get("principals", []) if p.get("token", "").startswith("env:")}


def test_the_mounted_configuration_is_in_the_repository_and_loads():
    config = load_config(mounted_config())
    assert "GD-ITOWN-2017-B2" in config.calls
    assert {"province", "auditor", "operator"} <= {p.role for p in config.principals.values()}


@pytest.mark.parametrize("name", sorted(TOWNS_SERVICES))
def test_each_variable_is_one_the_code_or_the_configuration_reads(name):
    code = source_text()
    variables = TOWNS_SERVICES[name]["environment"]
    assert {"TOWNS_DATABASE_URL", "TOWNS_AMQP_URL", "TOWNS_CONFIG"} <= set(variables)
    assert config_tokens() <= set(variables), "a token the configuration names is not passed on"
    for variable in set(variables) - config_tokens():
        assert re.search(rf"[\"']{variable}[\"']", code), f"{variable} is read nowhere"


@pytest.mark.parametrize("name", sorted(COMPOSE["services"]))
def test_every_service_has_a_health_check(name):
    assert "test" in COMPOSE["services"][name]["healthcheck"]
