"""One Node's readiness as a roll-out sees it, and waiting for it (lightkube).

After a kubelet restart the Node's ``Ready`` condition may still be the one the old process posted;
:func:`wait_node_ready` waits until the kubelet posted it again (a heartbeat after the restart) and,
for a new version, until the Node reports that kubelet version.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime

from lightkube import ApiError, AsyncClient
from lightkube.resources.core_v1 import Node

from kubeward.errors import KubewardError


class NodeNotReady(KubewardError):
    pass


@dataclass(frozen=True)
class NodeStatus:
    name: str
    ready: bool
    heartbeat: datetime | None  # the Ready condition's lastHeartbeatTime
    kubelet_version: str
    unschedulable: bool


def node_status(n: Node) -> NodeStatus:
    assert n.metadata is not None and n.metadata.name is not None
    conds = (n.status.conditions if n.status else None) or []
    ready = next((c for c in conds if c.type == "Ready"), None)
    info = n.status.nodeInfo if n.status else None
    return NodeStatus(n.metadata.name, ready is not None and ready.status == "True",
                      ready.lastHeartbeatTime if ready is not None else None,
                      info.kubeletVersion if info is not None else "", bool(n.spec and n.spec.unschedulable))


async def read_node_statuses(client: AsyncClient) -> dict[str, NodeStatus]:
    return {s.name: s for s in [node_status(n) async for n in client.list(Node)]}


async def wait_node_ready(client: AsyncClient, node: str, *, since: datetime | None = None,
                          kubelet_version: str | None = None, timeout: float = 120) -> NodeStatus:
    """Until ``node`` is Ready, with a heartbeat after ``since`` if given, running ``kubelet_version``
    if given."""
    deadline = time.monotonic() + timeout
    if since is not None:
        since = since.replace(microsecond=0)  # heartbeats are whole seconds
    last: NodeStatus | None = None
    while True:
        try:
            last = node_status(await client.get(Node, node))
        except ApiError as exc:
            if exc.status.code != 404:
                raise NodeNotReady(f"reading Node {node}: {exc.status.message}") from exc
        if (last is not None and last.ready
                and (since is None or (last.heartbeat is not None and last.heartbeat >= since))
                and (kubelet_version is None or last.kubelet_version == kubelet_version)):
            return last
        if time.monotonic() > deadline:
            seen = ("no Node object" if last is None else
                    f"Ready={last.ready}, last heartbeat {last.heartbeat}, kubelet {last.kubelet_version or '?'}")
            want = f" running kubelet {kubelet_version}" if kubelet_version else ""
            raise NodeNotReady(f"Node {node} is not Ready{want} {timeout:.0f} s after its restart ({seen}; "
                               f"journalctl -u kubelet on {node})")
        await asyncio.sleep(1)
