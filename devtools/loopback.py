"""Local plumbing shared by the demo, the benchmark and the tests: an ASGI app served on a
free loopback port, and throw-away databases next to the one a URL names."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import uvicorn
from starlette.types import ASGIApp

from app.db.migrate import migrate
from app.db.pool import _init_connection
from devtools.demo.picsweb_schema import create_picsweb_tables


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # signals stay with the program that runs the server (pytest, the demo)


@contextlib.asynccontextmanager
async def serve_loopback(
    app: ASGIApp, lifespan: Literal["on", "off"] = "off"
) -> AsyncIterator[str]:
    """Serve `app` on 127.0.0.1 at a free port, in this event loop; yields its base URL."""
    server = _Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="warning", lifespan=lifespan,
            access_log=False,
        )
    )  # fmt: skip
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # raises what stopped it
            raise RuntimeError("the server stopped at start-up")
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def with_database(url: str, name: str) -> str:
    """The same server and credentials, another database (socket URLs included)."""
    p = urlsplit(url)
    return urlunsplit((p.scheme, p.netloc, "/" + name, p.query, p.fragment))


async def fresh_database(admin_url: str, name: str) -> str:
    """Drop and create database `name` on the server of `admin_url`; returns its URL."""
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(admin_url, name)


async def prepared_database(admin_url: str, name: str) -> str:
    """A fresh database with PICSWeb's tables (demo DDL) and the service's migrations."""
    db_url = await fresh_database(admin_url, name)
    conn = await asyncpg.connect(db_url)
    try:
        await _init_connection(conn)
        await create_picsweb_tables(conn)
        await migrate(conn)
    finally:
        await conn.close()
    return db_url
