"""A TCP proxy the tests can close and reopen: "PostgreSQL is unreachable for a while" or "no broker
yet" without touching the real server."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import parse_qs, urlsplit


class TcpProxy:
    """Forward ``127.0.0.1:port`` to ``target``: ``("tcp", host, port)`` or ``("unix", path)``.

    :meth:`close` stops listening and aborts every forwarded connection (both peers see the
    connection reset); :meth:`open` listens again on the same port.
    """

    def __init__(self, target: tuple, port: int = 0) -> None:
        self.target, self.port = target, port
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task] = set()
        self._transports: set[asyncio.Transport] = set()

    @classmethod
    def for_database(cls, database_url: str) -> TcpProxy:
        """A proxy to the PostgreSQL server of ``database_url`` (TCP, or Unix socket via ``?host=``)."""
        parts = urlsplit(database_url)
        socket_dir = parse_qs(parts.query).get("host", [None])[0] or (None if parts.hostname else "/tmp")
        if socket_dir:
            return cls(("unix", f"{socket_dir}/.s.PGSQL.{parts.port or 5432}"))
        return cls(("tcp", parts.hostname, parts.port or 5432))

    def url_for(self, database_url: str) -> str:
        """``database_url`` pointed at this proxy."""
        parts = urlsplit(database_url)
        user = f"{parts.username}@" if parts.username else ""
        return f"postgresql://{user}127.0.0.1:{self.port}{parts.path}"

    async def open(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for transport in list(self._transports):
            transport.abort()
        for pipe in list(self._pipes):
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self.target[0] == "unix":
                up_reader, up_writer = await asyncio.open_unix_connection(self.target[1])
            else:
                up_reader, up_writer = await asyncio.open_connection(self.target[1], self.target[2])
        except OSError:
            writer.transport.abort()
            return
        ends = (writer.transport, up_writer.transport)
        self._transports.update(ends)
        pipes = [asyncio.create_task(self._pipe(reader, up_writer)),
                 asyncio.create_task(self._pipe(up_reader, writer))]
        self._pipes.update(pipes)
        await asyncio.gather(*pipes, return_exceptions=True)
        self._pipes.difference_update(pipes)
        self._transports.difference_update(ends)
        for transport in ends:
            transport.abort()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()
