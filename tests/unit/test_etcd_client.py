"""kubeward's etcd JSON-gateway client without a network: status parsing, the snapshot stream and
its SHA-256 trailer, error answers, and snapshot files."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import ssl
from pathlib import Path
from typing import Any

import pytest

from kubeward.errors import KubewardError
from kubeward.etcd.client import EtcdApiError, EtcdClient, parse_status, verify_snapshot_file


class FakeResponse:
    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self._buf = io.BytesIO(body)

    def read(self, n: int = -1) -> bytes:
        return self._buf.read(n)

    def readline(self) -> bytes:
        return self._buf.readline()


class FakeConn:
    def close(self) -> None:
        pass


def client_answering(monkeypatch: pytest.MonkeyPatch, status: int, body: bytes) -> tuple[EtcdClient, list[Any]]:
    calls: list[Any] = []
    c = EtcdClient(1, ssl.create_default_context(), label="cp-1")

    def fake(path: str, req: Any, timeout: float | None = None) -> tuple[FakeConn, FakeResponse]:
        calls.append((path, req))
        return FakeConn(), FakeResponse(status, body)

    monkeypatch.setattr(c, "_post_raw", fake)
    return c, calls


def stream(db: bytes, chunk: int = 7, trailer: bytes | None = None) -> bytes:
    """What the gateway sends for /v3/maintenance/snapshot: one JSON message per line."""
    lines = []
    for i in range(0, len(db), chunk):
        part = db[i:i + chunk]
        msg: dict[str, Any] = {"blob": base64.b64encode(part).decode()}
        remaining = len(db) - i - len(part)
        if remaining:
            msg["remaining_bytes"] = str(remaining)
        lines.append(json.dumps({"result": msg}))
    sha = hashlib.sha256(db).digest() if trailer is None else trailer
    lines.append(json.dumps({"result": {"blob": base64.b64encode(sha).decode()}}))
    return ("\n".join(lines) + "\n").encode()


def test_status_from_the_gateway_json() -> None:
    st = parse_status({"header": {"cluster_id": "5448627969083279859", "member_id": "14687499116363577977",
                                  "revision": "42", "raft_term": "4"},
                       "version": "3.4.23", "dbSize": "20480", "leader": "14687499116363577977",
                       "raftIndex": "14", "raftTerm": "4", "raftAppliedIndex": "14", "dbSizeInUse": "16384"})
    assert st.version == "3.4.23" and st.db_size == 20480 and st.db_size_in_use == 16384
    assert st.leader == st.member_id == 14687499116363577977 and st.revision == 42
    assert st.is_learner is False and st.errors == ()


def test_call_sends_json_and_reports_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    c, calls = client_answering(monkeypatch, 200, b'{"header":{"revision":"7"}}')
    assert c.put(b"/k", b"v") == 7
    assert calls == [("/v3/kv/put", {"key": "L2s=", "value": "dg=="})]
    c, _ = client_answering(monkeypatch, 400, b'{"error":"etcdserver: no leader","code":14,"message":"no leader"}')
    with pytest.raises(EtcdApiError, match="cp-1: /v3/kv/range: HTTP 400: no leader"):
        c.get(b"/k")
    c, _ = client_answering(monkeypatch, 404, b"404 page not found\n")
    with pytest.raises(EtcdApiError, match="HTTP 404 with no JSON"):
        c.status()
    c, _ = client_answering(monkeypatch, 503, b'{"error":"x","message":"etcdserver: request timed out"}')
    assert c.health() == "/v3/kv/range: HTTP 503: etcdserver: request timed out"


def test_get_decodes_values(monkeypatch: pytest.MonkeyPatch) -> None:
    body = json.dumps({"header": {}, "kvs": [{"key": "L2s=", "value": base64.b64encode(b"hello").decode()}]})
    c, _ = client_answering(monkeypatch, 200, body.encode())
    assert c.get(b"/k") == b"hello"
    c, _ = client_answering(monkeypatch, 200, b'{"header":{}}')
    assert c.get(b"/k") is None


@pytest.mark.parametrize("chunk", [1, 7, 31, 32, 33, 1000])
def test_snapshot_stream_is_written_whole_with_its_trailer(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    db = bytes(range(256)) * 3
    c, _ = client_answering(monkeypatch, 200, stream(db, chunk))
    out = io.BytesIO()
    assert c.snapshot(out) == len(db) + 32
    assert out.getvalue() == db + hashlib.sha256(db).digest()


def test_snapshot_with_a_wrong_trailer_or_cut_short_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    db = b"x" * 100
    c, _ = client_answering(monkeypatch, 200, stream(db, trailer=b"\0" * 32))
    with pytest.raises(EtcdApiError, match="corrupt"):
        c.snapshot(io.BytesIO())
    cut = b"\n".join(stream(db, 10).splitlines()[:3]) + b"\n"
    c, _ = client_answering(monkeypatch, 200, cut)
    with pytest.raises(EtcdApiError, match="corrupt|ended early"):
        c.snapshot(io.BytesIO())
    c, _ = client_answering(monkeypatch, 200, b'{"error":{"grpc_code":14,"message":"no leader"}}\n')
    with pytest.raises(EtcdApiError, match="snapshot failed: no leader"):
        c.snapshot(io.BytesIO())


def test_verify_snapshot_file(tmp_path: Path) -> None:
    db = b"etcd" * 5000
    good = tmp_path / "good.db"
    good.write_bytes(db + hashlib.sha256(db).digest())
    assert verify_snapshot_file(good) == len(db)
    bad = tmp_path / "bad.db"
    bad.write_bytes(db + b"\1" * 32)
    with pytest.raises(KubewardError, match="not an intact etcd snapshot"):
        verify_snapshot_file(bad)
    tiny = tmp_path / "tiny.db"
    tiny.write_bytes(b"abc")
    with pytest.raises(KubewardError, match="not an etcd snapshot"):
        verify_snapshot_file(tiny)
