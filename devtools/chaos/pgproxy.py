"""A TCP proxy between the service and Postgres that can stage a database outage.

`cut()` closes every proxied connection and stops listening, so new connections are refused
(ECONNREFUSED, as from a Postgres that is down); `restore()` listens on the same port again.
From the service's side this is a real outage, yet the shared Postgres server is never touched.
A database URL naming a Unix socket folder (`?host=/path`, the embedded server) is proxied
from a loopback TCP port to that socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit


def _target(url: str) -> tuple[str | None, str, int]:
    """(unix socket path or None, host, port) of the server a postgresql:// URL names."""
    p = urlsplit(url)
    query = dict(parse_qsl(p.query))
    port = int(query.get("port") or p.port or 5432)
    host = query.get("host") or p.hostname or "localhost"
    if host.startswith("/"):
        return os.path.join(host, f".s.PGSQL.{port}"), "", port
    return None, host, port


def proxied_url(url: str, port: int) -> str:
    """The same database and credentials, reached through 127.0.0.1:`port`."""
    p = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(p.query) if k not in ("host", "port")]
    auth = p.netloc.rsplit("@", 1)[0] + "@" if "@" in p.netloc else ""
    return urlunsplit((p.scheme, f"{auth}127.0.0.1:{port}", p.path, urlencode(query), p.fragment))


class PgProxy:
    """`async with PgProxy(db_url) as proxy:` → `proxy.url` is the URL to give the service."""

    def __init__(self, db_url: str) -> None:
        self._socket_path, self._host, self._port = _target(db_url)
        self._db_url = db_url
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0
        self.connections = 0  # accepted so far
        self.cut_connections = 0  # closed by cut()
        self.up = False

    @property
    def url(self) -> str:
        return proxied_url(self._db_url, self.port)

    async def __aenter__(self) -> PgProxy:
        await self.restore()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.cut()

    async def restore(self) -> None:
        """Listen (again, on the same port): the database is back."""
        if self._server is not None:
            return
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self.up = True

    async def cut(self) -> None:
        """Close every connection and refuse new ones: the database is gone."""
        self.up = False
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for w in list(self._writers):
            self.cut_connections += 1
            w.transport.abort()
        self._writers.clear()
        # Aborted transports end their pipes; a straggler is cancelled.
        pipes = list(self._pipes)
        if pipes:
            _, pending = await asyncio.wait(pipes, timeout=2)
            for t in pending:
                t.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)

    async def outage(self, seconds: float) -> None:
        await self.cut()
        await asyncio.sleep(seconds)
        await self.restore()

    async def _open_upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._socket_path is not None:
            return await asyncio.open_unix_connection(self._socket_path)
        return await asyncio.open_connection(self._host, self._port)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.transport.abort()
            return
        self.connections += 1
        try:
            up_reader, up_writer = await self._open_upstream()
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except asyncio.CancelledError:
            pass  # cut(): this connection is gone, as it would be with the server
        finally:
            self._pipes.discard(task)
            for w in (writer, up_writer):
                self._writers.discard(w)
                w.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.write_eof()
