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
from domain.principals import APPLICANT, CITY, ROLES, Principal

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
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read configuration {path}: {exc}") from exc
    config = Config()
    for entry in raw.get("calls", []):
        call = _call(entry, path)
        config.calls[call.id] = call
    for entry in raw.get("principals", []):
        principal = _principal(entry, path)
        if principal.name in config.principals:
            raise ConfigError(f"{path}: principal {principal.name!r} is defined twice")
        config.principals[principal.name] = principal
    return config


def _call(entry: dict, path: Path) -> Call:
    try:
        cutoff = datetime.fromisoformat(str(entry["cutoff"]))
        call = Call(
            id=str(entry["id"]),
            title=str(entry.get("title", "")),
            notice=str(entry.get("notice", "")),
            cutoff=cutoff,
            grace_seconds=int(entry.get("grace_seconds", 86400)),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise ConfigError(f"{path}: call {entry.get('id')!r} is invalid: {exc}") from exc
    if cutoff.tzinfo is None:
        raise ConfigError(f"{path}: call {call.id!r}: cutoff needs an offset")
    return call


def _principal(entry: dict, path: Path) -> Principal:
    name = entry.get("name")
    role = entry.get("role")
    if not name or role not in ROLES:
        raise ConfigError(f"{path}: principal {name!r} needs a name and a role among {ROLES}")
    city = entry.get("city")
    if role in (APPLICANT, CITY) and city not in JURISDICTIONS:
        raise ConfigError(f"{path}: principal {name!r} ({role}) needs a known city, not {city!r}")
    return Principal(
        name=name,
        role=role,
        organisation=entry.get("organisation", ""),
        city=city,
        token=_secret(entry.get("token")),
        amqp_user=entry.get("amqp_user"),
    )


def _secret(value: str | None) -> str | None:
    if value and value.startswith("env:"):
        return os.environ.get(value[4:]) or None
    return value
