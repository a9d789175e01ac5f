"""The production topology, read rather than run (no Docker engine here): every service's
command is a real `towns` command, and every variable it sets is one the code reads; RabbitMQ is
a cluster of three nodes and PostgreSQL a primary with a synchronous standby, and the services
are given every node and both servers."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from adapters.cli import parser
from adapters.config import load_config

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
TOWNS_IMAGE = COMPOSE["x-towns"]["image"]
TOWNS_SERVICES = {n: s for n, s in COMPOSE["services"].items() if s.get("image") == TOWNS_IMAGE}
RABBIT_NODES = ("rabbitmq-1", "rabbitmq-2", "rabbitmq-3")


def source_text() -> str:
    folders = ("adapters", "domain", "projections", "workers")
    return "\n".join(p.read_text(encoding="utf-8") for f in folders for p in (ROOT / f).rglob("*.py"))


def test_the_service_processes_are_serve_consume_and_worker():
    commands = {s["command"][0] for s in TOWNS_SERVICES.values()}
    assert commands == {"serve", "consume", "worker"}
    assert {"postgres-primary", "postgres-standby", *RABBIT_NODES} <= set(COMPOSE["services"])
    for node in RABBIT_NODES:
        assert "management" in COMPOSE["services"][node]["image"]


@pytest.mark.parametrize("name", sorted(TOWNS_SERVICES))
def test_each_towns_service_runs_the_towns_entrypoint(name):
    """The command goes to the image's `towns` entrypoint, none put in its place."""
    assert "entrypoint" not in TOWNS_SERVICES[name]


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


# --- the RabbitMQ cluster ---------------------------------------------------------------------

def mounts(name: str) -> dict[str, Path]:
    """A service's bind mounts from this repository: where each lands -> the file here."""
    found = {}
    for volume in COMPOSE["services"][name].get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("./"):
            found[target] = ROOT / source
    return found


def conf(path: Path) -> dict[str, str]:
    """``key = value`` lines (RabbitMQ's and PostgreSQL's syntax), comments dropped."""
    settings = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if "=" in line:
            key, value = (part.strip() for part in line.split("=", 1))
            settings[key] = value.strip("'")
    return settings


def rabbit_conf(node: str) -> Path:
    [path] = [p for target, p in mounts(node).items() if target.startswith("/etc/rabbitmq/")]
    return path


def test_three_rabbitmq_nodes_each_with_its_hostname_and_volume():
    services = COMPOSE["services"]
    hostnames = [services[n]["hostname"] for n in RABBIT_NODES]
    assert hostnames == list(RABBIT_NODES)
    data = [v.split(":")[0] for n in RABBIT_NODES for v in services[n]["volumes"]
            if v.split(":")[1] == "/var/lib/rabbitmq"]
    assert len(data) == 3 and len(set(data)) == 3, data
    assert set(data) <= set(COMPOSE["volumes"])
    for node in RABBIT_NODES:
        assert services[node]["environment"]["RABBITMQ_NODENAME"] == f"rabbit@{node}"
    published = [p.split(":")[0] for n in RABBIT_NODES for p in services[n].get("ports", [])]
    assert len(published) == len(set(published)), "two nodes publish the same host port"


def test_the_nodes_share_one_erlang_cookie():
    services = COMPOSE["services"]
    secrets = [tuple(services[n]["secrets"]) for n in RABBIT_NODES]
    assert len(set(secrets)) == 1
    [cookie] = [s for s in secrets[0] if "cookie" in s]
    assert COMPOSE["secrets"][cookie]["file"].startswith("./deploy/secrets/")
    entrypoints = {tuple(services[n]["entrypoint"]) for n in RABBIT_NODES}
    assert len(entrypoints) == 1
    [[entrypoint]] = entrypoints
    script = mounts(RABBIT_NODES[0])[entrypoint]
    assert f"/run/secrets/{cookie}" in script.read_text(encoding="utf-8")
    assert ".erlang.cookie" in script.read_text(encoding="utf-8")


def test_the_nodes_mount_one_cluster_configuration_listing_all_three():
    paths = {rabbit_conf(n) for n in RABBIT_NODES}
    assert len(paths) == 1
    [path] = paths
    assert path.is_file() and path.is_relative_to(ROOT / "deploy")
    settings = conf(path)
    assert settings["cluster_formation.peer_discovery_backend"] == "classic_config"
    listed = {v for k, v in settings.items() if k.startswith("cluster_formation.classic_config.nodes.")}
    assert listed == {f"rabbit@{n}" for n in RABBIT_NODES}
    assert settings["cluster_partition_handling"] == "pause_minority"


@pytest.mark.parametrize("name", sorted(TOWNS_SERVICES))
def test_the_amqp_url_lists_exactly_the_three_nodes(name):
    environment = TOWNS_SERVICES[name]["environment"]
    urls = [urlsplit(u) for u in environment["TOWNS_AMQP_URL"].split(",")]
    assert all(u.scheme == "amqp" for u in urls)
    assert sorted((u.hostname, u.port) for u in urls) == [(n, 5672) for n in RABBIT_NODES]
    assert environment["TOWNS_QUEUE_TYPE"] == "quorum"
    api = urlsplit(environment["TOWNS_RABBITMQ_API"])
    assert (api.hostname, api.port) in {(n, 15672) for n in RABBIT_NODES}


@pytest.mark.parametrize("name", sorted(TOWNS_SERVICES))
def test_the_services_wait_for_every_node_and_both_servers(name):
    depends = TOWNS_SERVICES[name]["depends_on"]
    assert set(depends) == {"postgres-primary", "postgres-standby", *RABBIT_NODES}
    assert {d["condition"] for d in depends.values()} == {"service_healthy"}


def with_defaults(value: str) -> str:
    """A compose value with each ``${VAR:-default}`` replaced by its default."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)


@pytest.mark.parametrize("name", sorted(TOWNS_SERVICES))
def test_the_service_accepts_its_broker_and_database_settings(name, monkeypatch):
    from adapters.amqp import topology
    from projections.database_url import PostgresUrl

    environment = {k: with_defaults(v) for k, v in TOWNS_SERVICES[name]["environment"].items()}
    for variable in ("TOWNS_AMQP_URL", "TOWNS_QUEUE_TYPE"):
        monkeypatch.setenv(variable, environment[variable])
    assert topology.amqp_url() == environment["TOWNS_AMQP_URL"]
    assert topology.queue_type() == "quorum"
    database = PostgresUrl.parse(environment["TOWNS_DATABASE_URL"])
    assert database.hosts == (("postgres-primary", 5432), ("postgres-standby", 5432))
    assert database.target_session_attrs == "read-write"


# --- PostgreSQL: the primary and its synchronous standby -------------------------------------

def conninfo(text: str) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in text.split())


def primary_settings() -> dict[str, str]:
    [path] = [p for target, p in mounts("postgres-primary").items() if target.startswith("/etc/postgresql/")]
    return conf(path)


@pytest.mark.parametrize("name", sorted(TOWNS_SERVICES))
def test_the_database_url_names_primary_and_standby_and_asks_for_the_writable_one(name):
    url = urlsplit(TOWNS_SERVICES[name]["environment"]["TOWNS_DATABASE_URL"])
    assert url.scheme == "postgresql"
    hosts = url.netloc.rsplit("@", 1)[1].split(",")
    assert hosts == ["postgres-primary:5432", "postgres-standby:5432"]
    assert url.path == "/towns"
    assert parse_qs(url.query) == {"target_session_attrs": ["read-write"]}


def test_the_primary_commits_synchronously_to_the_standby_it_names():
    settings = primary_settings()
    assert settings["wal_level"] == "replica"
    assert int(settings["max_wal_senders"]) >= 2
    assert settings["synchronous_commit"] == "on"
    standby = conninfo(COMPOSE["services"]["postgres-standby"]["environment"]["PRIMARY_CONNINFO"])
    assert settings["synchronous_standby_names"] == standby["application_name"]


def test_both_servers_cancel_an_autovacuum_holding_up_the_event_stores_lock_within_100_ms():
    for name in ("postgres-primary", "postgres-standby"):
        command = COMPOSE["services"][name]["command"]
        assert command[0] == "postgres"
        settings = dict(command[i + 1].split("=", 1) for i, word in enumerate(command)
                        if word == "-c")
        assert settings.get("deadlock_timeout") == "100ms", name


def test_the_standby_copies_and_follows_the_primary_as_its_replication_user():
    services = COMPOSE["services"]
    primary, standby = services["postgres-primary"], services["postgres-standby"]
    info = conninfo(standby["environment"]["PRIMARY_CONNINFO"])
    assert (info["host"], info["port"]) == ("postgres-primary", "5432")
    assert info["user"] == primary["environment"]["REPLICATION_USER"]
    assert standby["environment"]["REPLICATION_SLOT"] == primary["environment"]["REPLICATION_SLOT"]
    assert standby["environment"]["REPLICATION_PASSWORD"] == primary["environment"]["REPLICATION_PASSWORD"]
    assert standby["depends_on"]["postgres-primary"]["condition"] == "service_healthy"
    script = mounts("postgres-standby")[standby["entrypoint"][0]].read_text(encoding="utf-8")
    assert "pg_basebackup" in script and "--write-recovery-conf" in script
    [init] = [p for target, p in mounts("postgres-primary").items()
              if target.startswith("/docker-entrypoint-initdb.d/")]
    init_text = init.read_text(encoding="utf-8")
    assert "REPLICATION" in init_text and "host replication" in init_text
    data = {n: [v.split(":")[0] for v in services[n]["volumes"] if v.endswith(":/var/lib/postgresql/data")]
            for n in ("postgres-primary", "postgres-standby")}
    assert len(data["postgres-primary"]) == len(data["postgres-standby"]) == 1
    assert data["postgres-primary"] != data["postgres-standby"]


# --- what the compose file mounts from deploy/ ------------------------------------------------

MOUNTED = sorted({(name, target, path) for name in COMPOSE["services"]
                  for target, path in mounts(name).items()})


@pytest.mark.parametrize(("name", "target", "path"), MOUNTED, ids=[f"{n}:{t}" for n, t, _ in MOUNTED])
def test_every_mounted_file_exists_and_every_script_is_executable(name, target, path):
    assert path.is_file(), f"{name} mounts {path}, which is not in the repository"
    run = COMPOSE["services"][name].get("entrypoint", [None])[0]
    if path.suffix == ".sh" or target == run:
        assert os.access(path, os.X_OK), f"{path} is not executable"
        assert path.read_text(encoding="utf-8").startswith("#!")


def test_every_entrypoint_put_in_place_is_mounted_from_deploy():
    for name, service in COMPOSE["services"].items():
        if "entrypoint" in service:
            assert service["entrypoint"][0] in mounts(name), f"{name}: its entrypoint is not mounted"
