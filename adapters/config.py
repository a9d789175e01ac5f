"""The TOML configuration (CONTRACT.md §1): calls and principals.

``TOWNS_CONFIG`` names the file; without it, the file shipped beside this module is used.
Tokens may be literal or ``env:VARNAME``.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from domain.calls import Call
from domain.jurisdictions import JURISDICTIONS
from domain.principals import LOCAL_ROLES, ROLES, Principal

SHIPPED_CONFIG = Path(__file__).with_name("towns.toml")


class ConfigError(Exception):
    """The configuration file cannot be used; the message says why."""


@dataclass
class Config:
    calls: dict[str, Call] = field(default_factory=dict)
    principals: dict[str, Principal] = field(default_factory=dict)

    def by_token(self, token: str) -> Principal | None:
        return self._tokens().get(token)

    def by_amqp_user(self, user: str) -> Principal | None:
        for principal in self.principals.values():
            if principal.amqp_user == user:
                return principal
        return None

    def _tokens(self) -> dict[str, Principal]:
        return {p.token: p for p in self.principals.values() if p.token}


def load_config(path: str | os.PathLike | None = None) -> Config:
    """Reads and checks the configuration; ``path`` defaults to ``TOWNS_CONFIG`` or the shipped file."""
    path = Path(path or os.environ.get("TOWNS_CONFIG") or SHIPPED_CONFIG)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read configuration {path}: {exc}") from exc
    config = Config()
    for entry in _tables(raw, "calls", path):
        call = _call(entry, path)
        if call.id in config.calls:
            raise ConfigError(f"{path}: call {call.id!r} is defined twice")
        config.calls[call.id] = call
    for entry in _tables(raw, "principals", path):
        principal = _principal(entry, path)
        if principal.name in config.principals:
            raise ConfigError(f"{path}: principal {principal.name!r} is defined twice")
        config.principals[principal.name] = principal
    for key in ("token", "amqp_user"):
        _unique(config, key, path)
    return config


MAX_GRACE_SECONDS = 366 * 86400
"""A deadline check runs at most a year after its cutoff."""


def _tables(raw: dict, key: str, path: Path) -> list[dict]:
    entries = raw.get(key, [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ConfigError(f"{path}: {key} must be an array of tables ([[{key}]])")
    return entries


def _call(entry: dict, path: Path) -> Call:
    call_id = _text(entry, "id", "a call", path, required=True)
    where = f"call {call_id!r}"
    cutoff = entry.get("cutoff")
    if isinstance(cutoff, str):
        try:
            cutoff = datetime.fromisoformat(cutoff)
        except ValueError:
            raise ConfigError(f"{path}: {where}: cutoff {cutoff!r} is not an ISO 8601 instant") from None
    if not isinstance(cutoff, datetime):
        raise ConfigError(f"{path}: {where}: cutoff must be an ISO 8601 instant with an offset")
    if cutoff.tzinfo is None:
        raise ConfigError(f"{path}: {where}: cutoff needs an offset")
    grace = entry.get("grace_seconds", 86400)
    if type(grace) is not int or not 0 <= grace <= MAX_GRACE_SECONDS:
        raise ConfigError(
            f"{path}: {where}: grace_seconds must be a whole number of seconds from 0 to "
            f"{MAX_GRACE_SECONDS}, not {grace!r}"
        )
    return Call(
        id=call_id,
        title=_text(entry, "title", where, path),
        notice=_text(entry, "notice", where, path),
        cutoff=cutoff,
        grace_seconds=grace,
    )


def _principal(entry: dict, path: Path) -> Principal:
    name = _text(entry, "name", "a principal", path, required=True)
    where = f"principal {name!r}"
    role = entry.get("role")
    if role not in ROLES:
        raise ConfigError(f"{path}: {where} needs a role among {', '.join(ROLES)}, not {role!r}")
    city = entry.get("city")
    if role in LOCAL_ROLES:
        if not isinstance(city, str) or city not in JURISDICTIONS:
            raise ConfigError(f"{path}: {where} ({role}) needs a known city, not {city!r}")
    else:
        city = None  # only applicants and cities act for a city
    return Principal(
        name=name,
        role=role,
        organisation=_text(entry, "organisation", where, path),
        city=city,
        token=_secret(_text(entry, "token", where, path) or None),
        amqp_user=_text(entry, "amqp_user", where, path) or None,
    )


def _text(entry: dict, key: str, where: str, path: Path, required: bool = False) -> str:
    value = entry.get(key, "")
    if not isinstance(value, str) or (required and not value):
        needs = "a non-empty string" if required else "a string"
        raise ConfigError(f"{path}: {where}: {key} must be {needs}, not {value!r}")
    return value


def _unique(config: Config, key: str, path: Path) -> None:
    """Two principals with one token or one AMQP user could not be told apart."""
    seen: dict[str, str] = {}
    for principal in config.principals.values():
        value = getattr(principal, key)
        if value is None:
            continue
        if value in seen:
            raise ConfigError(f"{path}: principals {seen[value]!r} and {principal.name!r} share one {key}")
        seen[value] = principal.name


def _secret(value: str | None) -> str | None:
    if value and value.startswith("env:"):
        return os.environ.get(value[4:]) or None
    return value
