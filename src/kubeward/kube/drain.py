"""Cordon and drain a node, and uncordon it: what `kubectl drain` does, through lightkube.

:func:`eviction_plan` is pure: which pods of a node are evicted, which stay (DaemonSet pods and the
kubelet's mirror pods come back on the node whatever happens, so they stay, as with
``kubectl drain --ignore-daemonsets``), and which block the drain (a pod no controller would
recreate elsewhere is deleted only with ``force``, as with ``kubectl drain --force``; its data is
gone with it). :func:`drain` does the I/O: cordon, evict through the Eviction API (so
PodDisruptionBudgets are honoured: a 429 is retried until the deadline), wait until the evicted
pods are gone or, being deleted, have no running container left (see :attr:`PodInfo.holds_node`);
not on a node that is not Ready (no kubelet would confirm it).

The Eviction API's version comes from a table by the cluster's version (:data:`EVICTION_API`):
``policy/v1beta1`` before 1.22 (the only one 1.20 and 1.21 serve; the lightkube models kubeward
pins are v1.20's), ``policy/v1`` from 1.22 (policy/v1beta1 is deprecated there and goes with the
rest of that group version). Both have the same fields.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from lightkube import ALL_NS, ApiError, AsyncClient
from lightkube.core import resource as res
from lightkube.models import policy_v1beta1
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Node, Pod, PodEviction

from kubeward.components.version import Span, Version, v
from kubeward.errors import KubewardError
from kubeward.kube.node_status import node_status

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
#: the cause an eviction is refused with (403) in a namespace being deleted
NAMESPACE_TERMINATING = "NamespaceTerminating"
#: phases of pods that hold nothing any more
FINISHED = ("Succeeded", "Failed")


class DrainError(KubewardError):
    pass


class PodEvictionV1(res.NamespacedSubResource, policy_v1beta1.Eviction):
    """``policy/v1`` Eviction (Kubernetes 1.22+): the same fields as policy/v1beta1's, posted as v1."""

    _api_info = res.ApiInfo(
        resource=res.ResourceDef("policy", "v1", "Eviction"),
        parent=res.ResourceDef("", "v1", "Pod"),
        plural="pods",
        verbs=["post"],
        action="eviction",
    )


EvictionKind = type[PodEviction] | type[PodEvictionV1]
#: which Eviction API a cluster of a version is asked with
EVICTION_API: tuple[tuple[Span, EvictionKind], ...] = (
    (Span(until=v("1.22")), PodEviction),
    (Span(since=v("1.22")), PodEvictionV1),
)


def eviction_kind(version: str | None) -> EvictionKind:
    """The Eviction resource for a cluster of ``version`` (the lab's 1.20 when not known)."""
    ver = Version.parse(version) if version else v("1.20")
    return next(kind for span, kind in EVICTION_API if span.covers(ver))


@dataclass(frozen=True)
class PodInfo:
    """What the drain decision needs to know of one pod."""

    namespace: str
    name: str
    phase: str
    owner_kinds: tuple[str, ...] = ()
    mirror: bool = False
    deleting: bool = False  # it has a deletion timestamp
    running: bool = True  # a container of it runs, as its kubelet last reported

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def holds_node(self) -> bool:
        """Whether something of this pod may still run on its node. Not once it is being deleted and
        its kubelet reports no running container: kubelet 1.20 can leave such a pod Terminating for
        up to a minute (its second kill of containers already removed fails with NotFound and waits
        for the next sync), with nothing of it running."""
        return not (self.deleting and not self.running)


@dataclass
class EvictionPlan:
    evict: list[PodInfo] = field(default_factory=list)
    #: (pod, why it stays)
    keep: list[tuple[PodInfo, str]] = field(default_factory=list)
    #: (pod, why it blocks the drain)
    blocked: list[tuple[PodInfo, str]] = field(default_factory=list)


def eviction_plan(pods: Sequence[PodInfo], *, force: bool = False) -> EvictionPlan:
    """Decide for each pod of a node (pure)."""
    plan = EvictionPlan()
    for p in pods:
        if p.mirror:
            plan.keep.append((p, "static pod of the kubelet (mirror pod)"))
        elif "DaemonSet" in p.owner_kinds:
            plan.keep.append((p, "DaemonSet pod (it would come back on this node)"))
        elif p.phase in FINISHED:
            plan.evict.append(p)  # finished: deleting it loses nothing
        elif not p.owner_kinds and not force:
            plan.blocked.append((p, "not managed by a controller: nothing would recreate it elsewhere "
                                    "(delete it, or drain with --force to delete it)"))
        else:
            plan.evict.append(p)
    return plan


def _pod_info(p: Pod) -> PodInfo:
    meta = p.metadata or ObjectMeta()
    owners = tuple(o.kind for o in (meta.ownerReferences or []) if o.controller)
    statuses = [*(p.status.initContainerStatuses or []), *(p.status.containerStatuses or [])] if p.status else []
    running = any(c.state is not None and c.state.running is not None for c in statuses)
    return PodInfo(meta.namespace or "", meta.name or "", (p.status.phase if p.status else None) or "",
                   owners, MIRROR_ANNOTATION in (meta.annotations or {}), meta.deletionTimestamp is not None, running)


async def node_pods(client: AsyncClient, node: str) -> list[PodInfo]:
    return [_pod_info(p) async for p in client.list(Pod, namespace=ALL_NS, fields={"spec.nodeName": node})]


async def set_unschedulable(client: AsyncClient, node: str, value: bool) -> bool:
    """Cordon (True) or uncordon (False); whether anything changed."""
    try:
        obj = await client.get(Node, node)
        if bool(obj.spec and obj.spec.unschedulable) == value:
            return False
        await client.patch(Node, node, {"spec": {"unschedulable": value or None}})
        return True
    except ApiError as exc:
        raise DrainError(f"{'cordoning' if value else 'uncordoning'} Node {node}: {exc.status.message}") from exc


async def node_ready(client: AsyncClient, node: str) -> bool:
    """Whether the node's kubelet reports it Ready (a node that is gone is not)."""
    try:
        obj = await client.get(Node, node)
    except ApiError as exc:
        if exc.status.code == 404:
            return False
        raise DrainError(f"reading Node {node}: {exc.status.message}") from exc
    return node_status(obj).ready


def namespace_terminating(exc: ApiError) -> bool:
    causes = (exc.status.details.causes if exc.status.details else None) or []
    return exc.status.code == 403 and any(c.reason == NAMESPACE_TERMINATING for c in causes)


@dataclass
class DrainReport:
    node: str
    cordoned: bool
    evicted: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    #: evicted pods whose end no kubelet confirmed (the node is not Ready)
    unconfirmed: list[str] = field(default_factory=list)
    seconds: float = 0.0


async def drain(client: AsyncClient, node: str, *, force: bool = False, timeout: float = 300,
                progress: Callable[[str], None] = lambda _m: None, version: str | None = None) -> DrainReport:
    """Cordon ``node``, evict its pods (see :func:`eviction_plan`; with the Eviction API of a cluster
    of ``version``) and wait until they are gone.

    Raises :class:`DrainError` naming the pods that block or outlive ``timeout``; the node stays
    cordoned then (uncordon it with :func:`set_unschedulable` or ``kubectl uncordon``)."""
    start = time.monotonic()
    report = DrainReport(node, await set_unschedulable(client, node, True))
    plan = eviction_plan(await node_pods(client, node), force=force)
    report.kept = [f"{p.ref} ({why})" for p, why in plan.keep]
    if plan.blocked:
        raise DrainError(f"cannot drain {node} (it stays cordoned): " +
                         "; ".join(f"{p.ref}: {why}" for p, why in plan.blocked))
    deadline = start + timeout
    eviction = eviction_kind(version)
    pending = {p.ref: p for p in plan.evict}
    if pending:
        progress(f"evicting {len(pending)} pods from {node}")
    while pending:
        for ref, p in list(pending.items()):
            try:
                await client.create(eviction(metadata=ObjectMeta(name=p.name, namespace=p.namespace)),
                                    name=p.name, namespace=p.namespace)
                report.evicted.append(ref)
                del pending[ref]
            except ApiError as exc:
                if exc.status.code == 404 or namespace_terminating(exc):
                    # gone already; or its namespace is being deleted: no eviction can succeed
                    # there, the namespace controller deletes the pod (waited for below, as kubectl does)
                    report.evicted.append(ref)
                    del pending[ref]
                elif exc.status.code != 429:  # 429: a PodDisruptionBudget says not now
                    raise DrainError(f"evicting {ref} from {node}: {exc.status.message}") from exc
        if pending:
            if time.monotonic() > deadline:
                raise DrainError(f"draining {node}: a PodDisruptionBudget kept refusing the eviction of "
                                 f"{', '.join(sorted(pending))} for {timeout:.0f} s (the node stays cordoned)")
            await asyncio.sleep(2)
    # evicted pods terminate (their grace period); the drain is done when none of them is left on
    # the node, or runs there any more (PodInfo.holds_node)
    evicted = set(report.evicted)
    while True:
        left = sorted(p.ref for p in await node_pods(client, node) if p.ref in evicted and p.holds_node)
        if not left:
            break
        if not await node_ready(client, node):
            # no kubelet confirms their end (the node is down): their controllers have replaced them
            # already; deleting the Node lets the pod garbage collector remove them
            report.unconfirmed = left
            progress(f"{node} is not Ready: {len(left)} evicted pod(s) stay Terminating until its Node is deleted")
            break
        if time.monotonic() > deadline:
            raise DrainError(f"draining {node}: {', '.join(left)} still terminating after {timeout:.0f} s "
                             "(the node stays cordoned)")
        await asyncio.sleep(1)
    report.seconds = time.monotonic() - start
    return report
