"""``kubeward etcd status``, ``snapshot save`` and ``snapshot restore`` (I/O: SSH and the gateway).

Status and snapshots use kubeward's own etcd client certificate from the operator's machine, one
SSH tunnel per control plane; restore works on the nodes themselves (``etcdctl snapshot restore``
needs the member's data directory).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kubeward.config import ClusterConfig
from kubeward.errors import KubewardError, RemoteError
from kubeward.etcd import scripts
from kubeward.etcd.client import (
    ClientCredentials,
    EndpointStatus,
    EtcdApiError,
    EtcdClient,
    member_tunnels,
    verify_snapshot_file,
)
from kubeward.etcd.config import UNIT, cluster_token, desired_initial_cluster, peer_url
from kubeward.etcd.membership import Member
from kubeward.remote.ssh import CommandError, Session

log = logging.getLogger("kubeward.etcd")
Report = Callable[[str], None]


@dataclass
class MemberState:
    """One control plane's etcd as kubeward sees it."""

    host: str
    name: str = ""
    id: str = ""
    reachable: bool = False  # the SSH tunnel and TLS to its etcd worked
    healthy: bool = False  # a linearizable read succeeded (it is in a quorum)
    leader: bool = False
    learner: bool = False
    version: str = ""
    db_size: int = 0
    db_size_in_use: int = 0
    raft_term: int = 0
    raft_index: int = 0
    revision: int = 0
    peer_urls: list[str] = field(default_factory=list)
    client_urls: list[str] = field(default_factory=list)
    alarms: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class ClusterStatus:
    cluster_id: str = ""
    leader: str = ""  # the leader's name
    members: list[MemberState] = field(default_factory=list)
    #: members etcd lists that are not control planes of cluster.yml
    unknown_members: list[dict[str, Any]] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return bool(self.members) and all(m.healthy for m in self.members) and not self.unknown_members

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["healthy"] = self.healthy
        return d


def _member_dict(m: Member) -> dict[str, Any]:
    return {"name": m.name, "id": m.hex_id, "peer_urls": list(m.peer_urls), "learner": m.is_learner}


def _control_planes(config: ClusterConfig) -> list[str]:
    names = [h.name for h in config.control_planes]
    if not names:
        raise KubewardError("cluster.yml has no control plane, so no etcd")
    return names


async def cluster_status(session: Session, config: ClusterConfig) -> ClusterStatus:
    """Every control plane's status, health, version and database size, and the member list."""
    creds = ClientCredentials.for_config(config)
    ctx = creds.context()
    hosts = _control_planes(config)
    status = ClusterStatus()
    async with member_tunnels(session, config, hosts) as eps:

        def probe(host: str) -> tuple[MemberState, list[Member] | None, int, int]:
            ms = MemberState(host)
            ep = eps[host]
            if ep.port is None:
                ms.error = ep.error
                return ms, None, 0, 0
            c = EtcdClient(ep.port, ctx, label=host, timeout=5.0)
            try:
                st: EndpointStatus = c.status()
            except EtcdApiError as exc:
                ms.error = str(exc).split(": ", 1)[-1]
                return ms, None, 0, 0
            ms.reachable = True
            ms.id, ms.version, ms.learner = f"{st.member_id:x}", st.version, st.is_learner
            ms.db_size, ms.db_size_in_use, ms.raft_term = st.db_size, st.db_size_in_use, st.raft_term
            ms.raft_index, ms.revision = st.raft_index, st.revision
            ms.leader = st.leader != 0 and st.leader == st.member_id
            ms.alarms = list(st.errors)
            members: list[Member] | None = None
            try:
                _, members = c.member_list()
                ms.alarms += c.alarms()
            except EtcdApiError as exc:
                ms.error = str(exc).split(": ", 1)[-1]
            why = c.health()
            ms.healthy = why is None and not ms.alarms
            if why is not None:
                ms.error = why
            return ms, members, st.leader, st.cluster_id

        results = await asyncio.gather(*(asyncio.to_thread(probe, h) for h in hosts))
    lists = [mlist for _, mlist, _, _ in results if mlist]
    leaders = {ld for _, _, ld, _ in results if ld}
    members = lists[0] if lists else []
    by_id = {m.id: m for m in members}
    by_url = {u: m for m in members for u in m.peer_urls}
    known_ids = set()
    for ms, _, _, _ in results:
        m = by_url.get(peer_url(config, config.host(ms.host)))
        if m is not None:
            known_ids.add(m.id)
            ms.name, ms.id, ms.learner = m.name, m.hex_id, m.is_learner
            ms.peer_urls, ms.client_urls = list(m.peer_urls), list(m.client_urls)
        elif members and not ms.error:
            ms.error = "not a member of the etcd cluster"
            ms.healthy = False
        status.members.append(ms)
    status.unknown_members = [_member_dict(m) for m in members if m.id not in known_ids]
    if len(leaders) == 1:
        lid = next(iter(leaders))
        status.leader = by_id[lid].name if lid in by_id else f"{lid:x}"
    clusters = {cid for _, _, _, cid in results if cid}
    if clusters:
        status.cluster_id = ",".join(f"{c:x}" for c in sorted(clusters))
    if len(clusters) > 1:
        for ms, _, _, cid in results:
            ms.error = f"belongs to cluster {cid:x}; the control planes disagree ({status.cluster_id})"
            ms.healthy = False
    return status


async def save_snapshot(session: Session, config: ClusterConfig, path: Path, report: Report) -> dict[str, Any]:
    """Stream a snapshot from a healthy member (the leader when it answers) into ``path`` (0600)."""
    creds = ClientCredentials.for_config(config)
    ctx = creds.context()
    hosts = _control_planes(config)
    path = path.absolute()
    part = path.with_name(f".{path.name}.kubeward-part")
    async with member_tunnels(session, config, hosts) as eps:

        def choose() -> tuple[str, EndpointStatus]:
            errors: list[str] = []
            found: list[tuple[str, EndpointStatus]] = []
            for h in hosts:
                ep = eps[h]
                if ep.port is None:
                    errors.append(f"{h}: {ep.error}")
                    continue
                c = EtcdClient(ep.port, ctx, label=h, timeout=5.0)
                try:
                    st = c.status()
                except EtcdApiError as exc:
                    errors.append(str(exc))
                    continue
                why = c.health()
                if why is not None:
                    errors.append(f"{h}: not healthy: {why}")
                    continue
                found.append((h, st))
            if not found:
                raise KubewardError("no healthy etcd member to take a snapshot from: " + "; ".join(errors))
            leaders = [f for f in found if f[1].leader == f[1].member_id]
            return (leaders or found)[0]

        host, st = await asyncio.to_thread(choose)
        report(f"taking a snapshot from {host} (revision {st.revision}, database {st.db_size} bytes)")
        port = eps[host].port
        assert port is not None

        def stream() -> int:
            fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as fh:
                size = EtcdClient(port, ctx, label=host, timeout=30.0).snapshot(fh, timeout=120.0)
                fh.flush()
                os.fsync(fh.fileno())
            return size

        started = time.monotonic()
        try:
            size = await asyncio.to_thread(stream)
            os.replace(part, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                part.unlink()
    return {"file": str(path), "member": host, "revision": st.revision, "bytes": size,
            "seconds": round(time.monotonic() - started, 3)}


@dataclass
class RestoreResult:
    ok: bool
    seconds: float
    hosts: dict[str, str]  # host -> what happened
    moved_aside: str  # DATA_DIR.kubeward-STAMP on every control plane


async def restore_snapshot(session: Session, config: ClusterConfig, path: Path, report: Report,
                           stamp: str | None = None) -> RestoreResult:
    """Restore every control plane's etcd from ``path``: upload, stop all, restore each member with
    its own name and peer URL into a fresh data directory (the old one moved aside), start all,
    wait until every member is healthy. A failure before the start puts the old data back."""
    db_size = verify_snapshot_file(path)
    data = path.read_bytes()
    hosts = _control_planes(config)
    e = config.etcd
    stamp = stamp or time.strftime("%Y%m%d-%H%M%S")
    remote = f"/var/lib/kubeward/etcd-restore-{stamp}.db"
    data_dir = str(e.data_dir)
    started = time.monotonic()
    outcome: dict[str, str] = {}

    def failed(results: dict[str, Any]) -> dict[str, str]:
        return {h: str(r) for h, r in results.items() if isinstance(r, BaseException)}

    report(f"uploading the snapshot ({db_size} bytes) to {len(hosts)} control planes")

    async def upload(h: str) -> None:
        await session.run(h, "mkdir -p /var/lib/kubeward && chmod 0700 /var/lib/kubeward", label="prepare restore")
        await session.upload(h, remote, data, mode=0o600)
        await session.run(h, "command -v etcdctl >/dev/null || { echo 'etcdctl is not installed' >&2; exit 1; }",
                          label="check etcdctl")

    bad = failed(await session.each(upload, hosts))
    if bad:
        await session.each(lambda h: session.run(h, f"rm -f {remote}", check=False), hosts)
        raise KubewardError("restore not started, nothing changed: " + "; ".join(f"{h}: {m}" for h, m in bad.items()))

    report("stopping etcd on every control plane")
    bad = failed(await session.each(lambda h: session.run(h, f"systemctl stop {UNIT}", label="stop etcd"),
                                    hosts))
    if bad:
        await session.each(lambda h: session.run(h, f"systemctl start --no-block {UNIT}; rm -f {remote}",
                                                 check=False), hosts)
        raise KubewardError("could not stop etcd everywhere; started it again, nothing restored: "
                            + "; ".join(f"{h}: {m}" for h, m in bad.items()))

    report(f"restoring each member (old data moved to {data_dir}.kubeward-{stamp})")
    initial = desired_initial_cluster(config)
    token = cluster_token(config)

    async def restore(h: str) -> None:
        script = scripts.restore_script(snapshot=remote, data_dir=data_dir, stamp=stamp, name=h,
                                        initial_cluster=initial, token=token,
                                        peer_url=peer_url(config, config.host(h)))
        await session.run(h, script, label="etcdctl snapshot restore", timeout=600)

    bad = failed(await session.each(restore, hosts))
    if bad:
        report("restore failed; putting the previous data back on every control plane")
        await session.each(lambda h: session.run(h, scripts.rollback_restore_script(data_dir, stamp) +
                                                 f"; rm -f {remote}", check=False, label="roll back restore"), hosts)
        raise KubewardError("snapshot restore failed, the previous data is back in place: "
                            + "; ".join(f"{h}: {m}" for h, m in bad.items()))

    report("starting etcd on every control plane and waiting until each member is healthy")
    wait = f"systemctl start --no-block {UNIT}\n" + scripts.wait_healthy_script(e.client_port)

    results = await session.each(lambda h: session.run(h, wait, label="start etcd and wait until healthy"), hosts)
    for h in hosts:
        r = results[h]
        if isinstance(r, CommandError):
            outcome[h] = f"not healthy: {(r.stderr.strip() or r.stdout.strip())[-300:]}"
        elif isinstance(r, RemoteError):
            outcome[h] = str(r)
        elif isinstance(r, BaseException):
            raise r
        else:
            outcome[h] = "restored, healthy"
    ok = all(v == "restored, healthy" for v in outcome.values())
    return RestoreResult(ok, round(time.monotonic() - started, 3), outcome, f"{data_dir}.kubeward-{stamp}")


def format_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def control_plane_names(config: ClusterConfig) -> Sequence[str]:
    return _control_planes(config)
