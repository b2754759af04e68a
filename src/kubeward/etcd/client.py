"""kubeward's own etcd client: etcd's v3 JSON gateway (gRPC-gateway) over HTTPS with mutual TLS.

The operator's machine never reaches etcd's ports directly: each member is reached through an SSH
tunnel (:func:`member_tunnels`, a local 127.0.0.1 port per control plane forwarded to the node's
127.0.0.1:CLIENT_PORT), and the TLS server name is ``127.0.0.1``, which every etcd server
certificate names. The client certificate is ``<state_dir>/pki/etcd/kubeward-client.{crt,key}``,
which never leaves the operator's machine.

:class:`EtcdClient` is blocking (``http.client``); call it from a worker thread
(``asyncio.to_thread``) while the event loop serves the tunnels. The JSON gateway encodes
64-bit integers as strings, bytes as base64, and leaves out fields with default values.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import http.client
import json
import socket
import ssl
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from kubeward.config import ClusterConfig
from kubeward.errors import KubewardError, RemoteError
from kubeward.etcd.membership import Member, as_int, parse_member_list
from kubeward.remote.forward import Forward, Tunnel
from kubeward.remote.ssh import Session

DEFAULT_TIMEOUT = 10.0
SNAPSHOT_HASH_SIZE = hashlib.sha256().digest_size


class EtcdApiError(KubewardError):
    """etcd answered with an error, or could not be reached through its tunnel."""


@dataclass(frozen=True)
class ClientCredentials:
    ca: Path
    cert: Path
    key: Path

    @classmethod
    def for_config(cls, config: ClusterConfig) -> ClientCredentials:
        pki = config.state_dir / "pki" / "etcd"
        creds = cls(pki / "ca.crt", pki / "kubeward-client.crt", pki / "kubeward-client.key")
        missing = [str(p) for p in (creds.ca, creds.cert, creds.key) if not p.exists()]
        if missing:
            raise KubewardError(f"kubeward's etcd client certificate is missing ({', '.join(missing)}); "
                                "run `kubeward pki issue` or `kubeward up` first")
        return creds

    def context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.check_hostname = True
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cafile=str(self.ca))
        ctx.load_cert_chain(str(self.cert), str(self.key))
        return ctx


@dataclass(frozen=True)
class EndpointStatus:
    """``/v3/maintenance/status`` of one member."""

    member_id: int
    cluster_id: int
    leader: int
    version: str
    db_size: int
    db_size_in_use: int
    raft_term: int
    raft_index: int
    raft_applied_index: int
    revision: int
    is_learner: bool
    errors: tuple[str, ...]


def parse_status(obj: Mapping[str, Any]) -> EndpointStatus:
    header = obj.get("header") or {}
    return EndpointStatus(
        member_id=as_int(header.get("member_id")),
        cluster_id=as_int(header.get("cluster_id")),
        leader=as_int(obj.get("leader")),
        version=str(obj.get("version") or ""),
        db_size=as_int(obj.get("dbSize")),
        db_size_in_use=as_int(obj.get("dbSizeInUse")),
        raft_term=as_int(obj.get("raftTerm")),
        raft_index=as_int(obj.get("raftIndex")),
        raft_applied_index=as_int(obj.get("raftAppliedIndex")),
        revision=as_int(header.get("revision")),
        is_learner=bool(obj.get("isLearner", False)),
        errors=tuple(str(e) for e in obj.get("errors") or ()),
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass(frozen=True)
class SnapshotResult:
    size: int  # bytes written, with etcd's trailing SHA-256
    sha256: str  # of the whole file
    revision: int  # the member's revision when the snapshot started (from its status)


def verify_snapshot(data_hash_input: bytes, trailer: bytes) -> bool:
    """etcd appends the SHA-256 of the database to a snapshot stream (what ``snapshot restore`` checks)."""
    return hashlib.sha256(data_hash_input).digest() == trailer


def verify_snapshot_file(path: Path) -> int:
    """Check a saved snapshot's trailing SHA-256; returns the database size. Raises on mismatch."""
    size = path.stat().st_size
    if size <= SNAPSHOT_HASH_SIZE:
        raise KubewardError(f"{path} is not an etcd snapshot ({size} bytes)")
    h = hashlib.sha256()
    with path.open("rb") as fh:
        remaining = size - SNAPSHOT_HASH_SIZE
        while remaining:
            chunk = fh.read(min(1 << 20, remaining))
            if not chunk:
                break
            h.update(chunk)
            remaining -= len(chunk)
        trailer = fh.read(SNAPSHOT_HASH_SIZE)
    if h.digest() != trailer:
        raise KubewardError(f"{path} is not an intact etcd snapshot: its trailing SHA-256 does not match")
    return size - SNAPSHOT_HASH_SIZE


class EtcdClient:
    """One member's JSON gateway at https://HOST:PORT (a local tunnel port), TLS name ``server_name``."""

    def __init__(self, port: int, context: ssl.SSLContext, *, host: str = "127.0.0.1",
                 server_name: str = "127.0.0.1", timeout: float = DEFAULT_TIMEOUT, label: str = "") -> None:
        self.host, self.port, self.context = host, port, context
        self.server_name, self.timeout = server_name, timeout
        self.label = label or f"{host}:{port}"

    def _connect(self, timeout: float | None = None) -> http.client.HTTPSConnection:
        conn = _Connection(self.host, self.port, self.server_name, context=self.context,
                           timeout=timeout or self.timeout)
        return conn

    def _post_raw(self, path: str, body: Mapping[str, Any], timeout: float | None = None
                  ) -> tuple[http.client.HTTPSConnection, http.client.HTTPResponse]:
        conn = self._connect(timeout)
        try:
            conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
        except ssl.SSLError as exc:
            conn.close()
            raise EtcdApiError(f"{self.label}: TLS with etcd failed: {exc.reason or exc}") from exc
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise EtcdApiError(f"{self.label}: etcd does not answer {path}: {exc or type(exc).__name__}") from exc
        return conn, resp

    def call(self, path: str, body: Mapping[str, Any] | None = None, timeout: float | None = None) -> dict[str, Any]:
        """POST a JSON request to a gateway path (e.g. ``/v3/maintenance/status``); the JSON answer."""
        conn, resp = self._post_raw(path, body or {}, timeout)
        try:
            raw = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            raise EtcdApiError(f"{self.label}: reading {path} failed: {exc}") from exc
        finally:
            conn.close()
        try:
            data = json.loads(raw or b"{}")
        except ValueError as exc:
            raise EtcdApiError(f"{self.label}: {path} answered HTTP {resp.status} with no JSON: {raw[:200]!r}") from exc
        if resp.status != 200 or not isinstance(data, dict) or "error" in data and "header" not in data:
            msg = (data.get("message") or data.get("error")) if isinstance(data, dict) else raw[:200].decode(errors="replace")
            raise EtcdApiError(f"{self.label}: {path}: HTTP {resp.status}: {msg}")
        return data

    # ----- maintenance and cluster ----------------------------------------------------------------
    def status(self) -> EndpointStatus:
        return parse_status(self.call("/v3/maintenance/status"))

    def member_list(self) -> tuple[int, list[Member]]:
        return parse_member_list(self.call("/v3/cluster/member/list"))

    def alarms(self) -> list[str]:
        data = self.call("/v3/maintenance/alarm", {"action": "GET"})
        return [f"{a.get('alarm', 'NONE')} on {as_int(a.get('memberID')):x}" for a in data.get("alarms") or ()]

    def health(self) -> str | None:
        """None when a linearizable read succeeds (needs a quorum), else why not."""
        try:
            self.call("/v3/kv/range", {"key": _b64(b"health")}, timeout=5.0)
            return None
        except EtcdApiError as exc:
            return str(exc).split(": ", 1)[-1]

    # ----- keys -----------------------------------------------------------------------------------
    def put(self, key: bytes, value: bytes) -> int:
        data = self.call("/v3/kv/put", {"key": _b64(key), "value": _b64(value)})
        return as_int((data.get("header") or {}).get("revision"))

    def get(self, key: bytes) -> bytes | None:
        data = self.call("/v3/kv/range", {"key": _b64(key)})
        kvs = data.get("kvs") or []
        return base64.b64decode(kvs[0].get("value", "")) if kvs else None

    def delete(self, key: bytes) -> int:
        return as_int(self.call("/v3/kv/deleterange", {"key": _b64(key)}).get("deleted"))

    # ----- snapshot -------------------------------------------------------------------------------
    def snapshot(self, out: BinaryIO, timeout: float = 60.0) -> int:
        """Stream ``/v3/maintenance/snapshot`` into ``out``; returns the bytes written.

        The gateway sends one JSON object per line, ``{"result": {"blob": BASE64,
        "remaining_bytes": N}}``, or ``{"error": ...}``; the last blob is the SHA-256 of the
        database, which is checked here, so a cut stream never passes for a snapshot.
        """
        conn, resp = self._post_raw("/v3/maintenance/snapshot", {}, timeout)
        h = hashlib.sha256()
        written = 0
        last = b""
        try:
            if resp.status != 200:
                raise EtcdApiError(f"{self.label}: snapshot: HTTP {resp.status}: {resp.read(300)!r}")
            finished = False
            while True:
                line = resp.readline()
                if not line:
                    break
                if not line.strip():
                    continue
                msg = json.loads(line)
                if "error" in msg:
                    err = msg["error"]
                    raise EtcdApiError(f"{self.label}: snapshot failed: {err.get('message', err) if isinstance(err, dict) else err}")
                result = msg.get("result") or {}
                blob = base64.b64decode(result.get("blob", ""))
                if blob:
                    # the previous chunk's tail may be the hash: keep the last 32 bytes back
                    data = last + blob
                    keep = data[-SNAPSHOT_HASH_SIZE:]
                    body = data[:-SNAPSHOT_HASH_SIZE]
                    h.update(body)
                    out.write(body)
                    written += len(body)
                    last = keep
                if as_int(result.get("remaining_bytes")) == 0 and blob:
                    finished = True
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise EtcdApiError(f"{self.label}: snapshot stream broke: {exc}") from exc
        finally:
            conn.close()
        if not finished or len(last) != SNAPSHOT_HASH_SIZE:
            raise EtcdApiError(f"{self.label}: snapshot stream ended early after {written} bytes")
        if h.digest() != last:
            raise EtcdApiError(f"{self.label}: snapshot is corrupt: its SHA-256 trailer does not match the data")
        out.write(last)
        return written + len(last)


class _Connection(http.client.HTTPSConnection):
    """HTTPSConnection with a TLS server name independent of the address connected to."""

    def __init__(self, host: str, port: int, server_name: str, *, context: ssl.SSLContext, timeout: float) -> None:
        super().__init__(host, port, context=context, timeout=timeout)
        self._server_name = server_name
        self._ctx = context

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._ctx.wrap_socket(sock, server_hostname=self._server_name)


# ----- tunnels --------------------------------------------------------------------------------------
@dataclass
class MemberEndpoint:
    """A control plane's etcd as seen from the operator: a local tunnel port, or why there is none."""

    host: str
    port: int | None = None
    error: str | None = None


@contextlib.asynccontextmanager
async def member_tunnels(session: Session, config: ClusterConfig, hosts: Sequence[str]
                         ) -> AsyncIterator[dict[str, MemberEndpoint]]:
    """One SSH tunnel per host to its etcd at 127.0.0.1:CLIENT_PORT, all opened concurrently."""
    tunnels: dict[str, Tunnel] = {}

    async def open_one(host: str) -> int:
        t = Tunnel(session, host, [Forward("etcd", "127.0.0.1", config.etcd.client_port)], lambda m: None)
        tunnels[host] = t
        await t.start()
        return t.forwards[0].local_port

    results = await session.each(open_one, list(hosts))
    out: dict[str, MemberEndpoint] = {}
    for h in hosts:
        r = results[h]
        if isinstance(r, int):
            out[h] = MemberEndpoint(h, port=r)
        elif isinstance(r, RemoteError):
            out[h] = MemberEndpoint(h, error=str(r))
        else:
            raise r
    try:
        yield out
    finally:
        await asyncio.gather(*(t.close() for t in tunnels.values()), return_exceptions=True)
