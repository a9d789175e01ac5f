"""``TOWNS_DATABASE_URL`` on PostgreSQL: read once, here, for every connection the service opens
(the event store's pool, the read models' store, the consumer's probe, the tests' helpers).

The URL is libpq's, with one or several hosts::

    postgresql://user:pass@host:port/db
    postgresql://user@10.0.0.1:5432,10.0.0.2:5432/db?target_session_attrs=read-write&schema=towns

With several hosts, libpq tries them in turn; ``target_session_attrs=read-write`` (or
``primary``) keeps only a server that takes writes, so after a standby is promoted the next
connection finds it. ``schema`` is the service's own: the schema its tables live in. Any other
parameter, an empty host, a port that is not one, or a URL without a database is a
``DatabaseUrlError`` that says which.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import quote, unquote, urlsplit

DEFAULT_PORT = 5432
DEFAULT_USER = "postgres"
SCHEMES = ("postgresql", "postgres")
TARGET_SESSION_ATTRS = ("any", "read-write", "read-only", "primary", "standby", "prefer-standby")
PARAMETERS = ("schema", "target_session_attrs")


class DatabaseUrlError(ValueError):
    """``TOWNS_DATABASE_URL`` cannot be used; the message says why."""


@dataclass(frozen=True)
class PostgresUrl:
    dbname: str
    hosts: tuple[tuple[str, int], ...] = (("127.0.0.1", DEFAULT_PORT),)
    user: str = DEFAULT_USER
    password: str = ""
    schema: str = ""  # "": PostgreSQL's default (public)
    target_session_attrs: str = ""  # "": libpq's default (any)

    @classmethod
    def parse(cls, url: str) -> PostgresUrl:
        try:
            parts = urlsplit(url)
        except ValueError as error:
            raise DatabaseUrlError(f"the database URL is not a URL: {error}") from None
        if parts.scheme not in SCHEMES:
            raise DatabaseUrlError(f"a PostgreSQL URL starts with postgresql://, not {url!r}")
        login, _, where = parts.netloc.rpartition("@")
        user, _, password = login.partition(":")
        dbname = unquote(parts.path.lstrip("/"))
        if not dbname:
            raise DatabaseUrlError(f"a PostgreSQL URL names a database: {_shown(url)}")
        params = _query(parts.query, url)
        attrs = params.get("target_session_attrs", "")
        if attrs and attrs not in TARGET_SESSION_ATTRS:
            raise DatabaseUrlError(f"target_session_attrs is one of {', '.join(TARGET_SESSION_ATTRS)},"
                                   f" not {attrs!r}: {_shown(url)}")
        return cls(dbname, _hosts(where, url), unquote(user) or DEFAULT_USER, unquote(password),
                   params.get("schema", ""), attrs)

    def url(self) -> str:
        """The URL again (``parse``'s inverse, every port written out)."""
        login = quote(self.user, safe="")
        if self.password:
            login += ":" + quote(self.password, safe="")
        hosts = ",".join(f"{_host_text(h)}:{p}" for h, p in self.hosts)
        query = "&".join(f"{k}={quote(v, safe='')}" for k, v in
                         (("schema", self.schema), ("target_session_attrs", self.target_session_attrs)) if v)
        return f"postgresql://{login}@{hosts}/{quote(self.dbname, safe='')}" + (f"?{query}" if query else "")

    def libpq(self) -> dict[str, str]:
        """libpq's connection parameters (hosts and ports as comma-separated lists)."""
        params = {"host": ",".join(h for h, _ in self.hosts),
                  "port": ",".join(str(p) for _, p in self.hosts),
                  "dbname": self.dbname, "user": self.user}
        if self.password:
            params["password"] = self.password
        if self.target_session_attrs:
            params["target_session_attrs"] = self.target_session_attrs
        return params

    def conninfo(self) -> str:
        """A libpq connection string (``psycopg.connect``'s first argument)."""
        return " ".join(f"{k}={_quoted(v)}" for k, v in self.libpq().items())

    def with_schema(self, schema: str) -> PostgresUrl:
        return replace(self, schema=schema)


def conninfo(url: str) -> str:
    """The libpq connection string of a PostgreSQL ``TOWNS_DATABASE_URL``."""
    return PostgresUrl.parse(url).conninfo()


def _hosts(where: str, url: str) -> tuple[tuple[str, int], ...]:
    if not where:
        return ((PostgresUrl.hosts[0][0], DEFAULT_PORT),)
    hosts = []
    for item in where.split(","):
        if item.startswith("["):  # an IPv6 address: [::1]:5432
            host, _, rest = item[1:].partition("]")
            port = rest[1:] if rest.startswith(":") else rest
        else:
            host, _, port = item.partition(":")
        host = unquote(host)
        if not host:
            raise DatabaseUrlError(f"an empty host in {_shown(url)}")
        if port and not (port.isdigit() and 0 < int(port) < 65536):
            raise DatabaseUrlError(f"the port of {host} is not a port number ({port!r}): {_shown(url)}")
        hosts.append((host, int(port) if port else DEFAULT_PORT))
    return tuple(hosts)


def _query(query: str, url: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in filter(None, query.split("&")):
        key, equals, value = item.partition("=")
        key = unquote(key)
        if key not in PARAMETERS or not equals:
            raise DatabaseUrlError(f"the URL's parameters are {' and '.join(PARAMETERS)} "
                                   f"(name=value), not {item!r}: {_shown(url)}")
        params[key] = unquote(value)
    return params


def _host_text(host: str) -> str:
    return f"[{host}]" if ":" in host else quote(host, safe=".-_~%")


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _shown(url: str) -> str:
    """The URL without its password, to be shown in a message."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(a URL that cannot be read)"
    login, at, where = parts.netloc.rpartition("@")
    if ":" in login:
        login = login.split(":", 1)[0] + ":***"
    return repr(parts._replace(netloc=f"{login}{at}{where}").geturl())
