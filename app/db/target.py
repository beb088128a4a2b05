"""Where DATABASE_URL points, and why a connection there failed — in words without secrets.

An operator fixing a start-up failure needs the host, port and database the service tried
(none of them secret) and never the password. `parse_target` reads them the way asyncpg does:
`postgresql://user:password@host:port/database`, several hosts (`h1:5432,h2:5433`), bracketed
IPv6 hosts, and query parameters that override the URL's parts (`?host=/socket/dir`, `port`,
`dbname`, `user`). `DatabaseProblem` is the one exception the service's start-up and the CLI
raise for the database: its message starts with the setting to fix and names the target;
exception messages of asyncpg or the OS are never copied into it (they may quote values).
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

import asyncpg

SETTING = "DATABASE_URL"
DEFAULT_PORT = "5432"


class InvalidDatabaseUrl(ValueError):
    """DATABASE_URL cannot be parsed; the message quotes no part of it."""


@dataclass(frozen=True)
class DbTarget:
    """Host(s), port(s), database and user named by a DATABASE_URL."""

    host: str  # "db.internal", "/run/postgresql" (a socket folder) or "h1,h2"
    port: str  # "5432", or "5432,5433" for several hosts
    database: str
    user: str

    @property
    def where(self) -> str:
        if self.host.startswith("/"):
            return f"socket {self.host} port {self.port}"
        hosts, ports = self.host.split(","), self.port.split(",")
        if len(ports) == 1:
            ports = ports * len(hosts)
        return ",".join(
            f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in zip(hosts, ports, strict=False)
        )

    def __str__(self) -> str:
        return f'database "{self.database}" on {self.where}'


def parse_target(url: str) -> DbTarget:
    """The target of a postgresql:// URL; InvalidDatabaseUrl when it is not one."""
    if not url.startswith(("postgresql://", "postgres://")):
        raise InvalidDatabaseUrl("must be a postgresql:// URL")
    try:
        parts = urlsplit(url)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    except ValueError:  # "Invalid IPv6 URL" and the like
        raise InvalidDatabaseUrl("is not a valid URL") from None
    auth, _, hostspec = parts.netloc.rpartition("@")
    url_user = unquote(auth.partition(":")[0])
    hosts, ports = [], []
    for spec in filter(None, hostspec.split(",")):
        if spec.startswith("["):
            addr, _, rest = spec[1:].partition("]")
            port = rest.removeprefix(":")
        else:
            addr, _, port = spec.partition(":")
        if port and not port.isdigit():
            raise InvalidDatabaseUrl("is not a valid URL (a port is not a number)")
        hosts.append(unquote(addr))
        ports.append(port or DEFAULT_PORT)
    host = query.get("host") or ",".join(hosts) or "localhost"
    port = query.get("port") or ",".join(ports) or DEFAULT_PORT
    if not all(p.isdigit() for p in port.split(",")):
        raise InvalidDatabaseUrl("is not a valid URL (a port is not a number)")
    user = query.get("user") or url_user or "(the operating system user)"
    database = query.get("dbname") or unquote(parts.path.lstrip("/")) or user
    return DbTarget(host=host, port=port, database=database, user=user)


class DatabaseProblem(RuntimeError):
    """The database named by DATABASE_URL cannot be used; the message says why, without secrets.

    `unreachable` is true when no session could be opened at all (the CLI's exit code 3), false
    when the database answered but is not fit (PICSWeb's tables missing, a migration failed).
    """

    setting = SETTING

    def __init__(self, problem: str, *, unreachable: bool) -> None:
        super().__init__(f"{SETTING}: {problem}")
        self.unreachable = unreachable


def describe_connect_error(exc: BaseException, target: DbTarget) -> str:
    """Why a connection to `target` failed, in words that hold no value from the exception."""
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return f'database "{target.database}" does not exist on {target.where}'
    if isinstance(exc, asyncpg.InvalidPasswordError):
        return f'password authentication failed for user "{target.user}" on {target.where}'
    if isinstance(exc, asyncpg.InvalidAuthorizationSpecificationError):
        return (
            f'the server at {target.where} does not accept user "{target.user}" for database '
            f'"{target.database}" (no such role, or not allowed by pg_hba.conf)'
        )
    if isinstance(exc, asyncpg.PostgresError):
        return f"{target.where} refused the session: {type(exc).__name__} (SQLSTATE {exc.sqlstate})"
    if isinstance(exc, socket.gaierror):
        return f'cannot resolve host "{target.host}"'
    if isinstance(exc, ConnectionRefusedError):
        return f"cannot connect to {target.where} (connection refused)"
    if isinstance(exc, TimeoutError):
        return f"no answer from {target.where} in time"
    if isinstance(exc, OSError):
        why = exc.strerror or type(exc).__name__
        return f"cannot connect to {target.where} ({why})"
    # asyncpg's InterfaceError family: a bad connection option, a lost connection.
    return f"cannot use {target}: {type(exc).__name__}"


CONNECT_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


@contextlib.contextmanager
def connecting(target: DbTarget) -> Iterator[None]:
    """Turn a failure to open a session with `target` into a DatabaseProblem."""
    try:
        yield
    except CONNECT_ERRORS as exc:
        raise DatabaseProblem(describe_connect_error(exc, target), unreachable=True) from None
