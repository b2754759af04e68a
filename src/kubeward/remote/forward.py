"""Local port forwarding through kubeward's verified SSH connection, surviving reconnects.

The local listeners (127.0.0.1 only) belong to kubeward, not to the SSH connection: when the
connection drops, the ports stay bound, new clients wait for the reconnection (up to
``WAIT_FOR_LINK`` s), and the link is re-established with backoff. Each accepted client gets one
``direct-tcpip`` channel to its destination as seen from the node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import asyncssh

from kubeward.errors import RemoteError
from kubeward.remote.ssh import Session

log = logging.getLogger("kubeward.tunnel")
WAIT_FOR_LINK = 30.0
CHUNK = 256 * 1024
WINDOW = 8 * 1024 * 1024
PACKET = 256 * 1024


@dataclass
class Forward:
    name: str  # what the user asked for, e.g. "etcd" or "10.0.0.5:8080"
    dest_host: str  # as seen from the node
    dest_port: int
    local_port: int = 0  # 0: pick a free one
    server: asyncio.base_events.Server | None = field(default=None, repr=False)

    @property
    def local(self) -> str:
        return f"127.0.0.1:{self.local_port}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


Report = Callable[[str], None]


class Tunnel:
    """Forwards through one node; ``run()`` serves until cancelled, reconnecting as needed."""

    def __init__(self, session: Session, node: str, forwards: list[Forward], report: Report) -> None:
        self.session, self.node, self.forwards, self.report = session, node, forwards, report
        self._link_up = asyncio.Event()
        self._conn: asyncssh.SSHClientConnection | None = None

    async def start(self) -> None:
        """Connect and bind every local port (raises when the first connection fails)."""
        self._conn = await self.session.connect(self.node)
        self._link_up.set()
        for f in self.forwards:
            if not f.local_port:
                f.local_port = free_port()
            try:
                f.server = await asyncio.start_server(self._handler(f), "127.0.0.1", f.local_port)
            except OSError as exc:
                raise RemoteError(f"cannot listen on 127.0.0.1:{f.local_port} for {f.name}: {exc.strerror}; "
                                  "pick another --local-port") from exc

    async def check(self, timeout: float = 5.0) -> dict[str, str | None]:
        """Open a channel to every destination; returns each target's error or None."""
        out: dict[str, str | None] = {}
        assert self._conn is not None
        for f in self.forwards:
            try:
                _, writer = await asyncio.wait_for(self._conn.open_connection(f.dest_host, f.dest_port), timeout)
                writer.close()
                out[f.name] = None
            except (TimeoutError, asyncssh.Error, OSError) as exc:
                out[f.name] = f"{f.dest_host}:{f.dest_port} does not answer from {self.node}: {exc or 'timeout'}"
        return out

    async def run(self) -> None:
        """Watch the connection; on a drop, report it and reconnect with backoff, forever."""
        while True:
            assert self._conn is not None
            await self._conn.wait_closed()
            self._link_up.clear()
            self.report(f"connection to {self.node} lost; reconnecting")
            delay = 0.5
            down_since = time.monotonic()
            while True:
                try:
                    self.session.forget(self.node)
                    self._conn = await self.session.connect(self.node)
                    break
                except RemoteError as exc:
                    self.report(f"reconnect to {self.node} failed ({exc}); retrying in {delay:.0f} s")
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 10)
            self._link_up.set()
            self.report(f"connection to {self.node} restored after {time.monotonic() - down_since:.1f} s")

    async def close(self) -> None:
        for f in self.forwards:
            if f.server is not None:
                f.server.close()
                with contextlib.suppress(Exception):
                    await f.server.wait_closed()

    def _handler(
        self, f: Forward
    ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Coroutine[Any, Any, None]]:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._serve(f, reader, writer)

        return handle

    async def _serve(self, f: Forward, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.wait_for(self._link_up.wait(), WAIT_FOR_LINK)
            assert self._conn is not None
            r2, w2 = await self._conn.open_connection(f.dest_host, f.dest_port, encoding=None,
                                                      window=WINDOW, max_pktsize=PACKET)
        except (TimeoutError, asyncssh.Error, OSError) as exc:
            log.info("%s: cannot reach %s:%s: %s", f.name, f.dest_host, f.dest_port, exc)
            writer.close()
            return
        await asyncio.gather(_pump(reader, w2), _pump(r2, writer), return_exceptions=True)


async def _pump(reader: asyncio.StreamReader | asyncssh.SSHReader[bytes],
                writer: asyncio.StreamWriter | asyncssh.SSHWriter[bytes]) -> None:
    try:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    finally:
        with contextlib.suppress(Exception):
            if writer.can_write_eof():
                writer.write_eof()
            else:
                writer.close()
