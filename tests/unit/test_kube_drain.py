"""Which pods a drain evicts, keeps and refuses to touch (pure)."""

import asyncio
import json

import httpx2 as httpx
from lightkube import AsyncClient, KubeConfig
from lightkube.models.meta_v1 import ObjectMeta

from kubeward.kube.drain import PodInfo, eviction_kind, eviction_plan


def pod(name: str, *owners: str, phase: str = "Running", mirror: bool = False) -> PodInfo:
    return PodInfo("ns", name, phase, tuple(owners), mirror)


def test_controller_pods_are_evicted_daemonset_and_mirror_pods_stay() -> None:
    plan = eviction_plan([pod("web", "ReplicaSet"), pod("job", "Job"), pod("ds", "DaemonSet"),
                          pod("static", "Node", mirror=True)])
    assert [p.name for p in plan.evict] == ["web", "job"]
    assert [p.name for p, _ in plan.keep] == ["ds", "static"]
    assert not plan.blocked


def test_a_bare_pod_blocks_the_drain_unless_forced() -> None:
    plan = eviction_plan([pod("bare"), pod("web", "ReplicaSet")])
    assert [p.name for p, _ in plan.blocked] == ["bare"] and "--force" in plan.blocked[0][1]
    assert [p.name for p in plan.evict] == ["web"]
    forced = eviction_plan([pod("bare")], force=True)
    assert [p.name for p in forced.evict] == ["bare"] and not forced.blocked


def test_a_finished_bare_pod_is_removed_without_force() -> None:
    plan = eviction_plan([pod("done", phase="Succeeded"), pod("failed", phase="Failed")])
    assert [p.name for p in plan.evict] == ["done", "failed"] and not plan.blocked


def test_an_eviction_refused_because_the_namespace_is_being_deleted_is_recognised() -> None:
    """The API server's answer (namespace lifecycle admission): 403 with the NamespaceTerminating cause."""
    from lightkube import ApiError
    from lightkube.models.meta_v1 import Status

    from kubeward.kube.drain import namespace_terminating

    def refusal(code: int, causes: list[dict[str, str]]) -> ApiError:
        return ApiError(status=Status.from_dict({
            "kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": "Forbidden",
            "message": 'pods "web-1" is forbidden: unable to create new content in namespace kw because it is being '
                       "terminated",
            "details": {"name": "web-1", "kind": "pods", "causes": causes}}))

    assert namespace_terminating(refusal(403, [{"reason": "NamespaceTerminating", "field": "metadata.namespace",
                                                "message": "namespace kw is being terminated"}]))
    assert not namespace_terminating(refusal(403, []))  # another refusal (RBAC, say) still fails the drain


def test_a_pod_being_deleted_with_no_running_container_no_longer_holds_its_node() -> None:
    """kubelet 1.20 can leave such a pod Terminating for a minute (seen in the lab): the drain does not wait for it."""
    from lightkube.resources.core_v1 import Pod

    from kubeward.kube.drain import _pod_info

    def pod_json(deleting: bool, state: dict[str, object] | None) -> Pod:
        status: dict[str, object] = {"phase": "Running"}
        if state is not None:
            status["containerStatuses"] = [{"name": "c", "image": "i", "imageID": "", "ready": False,
                                            "restartCount": 0, "state": state}]
        meta: dict[str, object] = {"name": "web-1", "namespace": "ns",
                                   "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
                                                        "uid": "u", "controller": True}]}
        if deleting:
            meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        return Pod.from_dict({"metadata": meta, "spec": {"containers": [{"name": "c"}]}, "status": status})

    running = {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
    assert _pod_info(pod_json(False, running)).holds_node
    assert _pod_info(pod_json(True, running)).holds_node  # still stopping
    assert not _pod_info(pod_json(True, {"waiting": {"reason": "ContainerCreating"}})).holds_node
    assert not _pod_info(pod_json(True, {"terminated": {"exitCode": 0}})).holds_node
    assert not _pod_info(pod_json(True, None)).holds_node  # never started
    assert _pod_info(pod_json(False, None)).holds_node  # not evicted: the drain does not decide by it
    info = _pod_info(pod_json(True, running))
    assert (info.ref, info.owner_kinds, info.deleting, info.running) == ("ns/web-1", ("ReplicaSet",), True, True)


def test_the_eviction_api_version_follows_the_cluster_version() -> None:
    """policy/v1beta1 before 1.22 (the lab's 1.20 serves nothing else), policy/v1 from 1.22: the
    request a drain posts, as lightkube sends it."""
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(201, json={"kind": "Status", "apiVersion": "v1", "status": "Success"})

    config = KubeConfig.from_dict({
        "clusters": [{"name": "c", "cluster": {"server": "https://api.test:6443"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}], "current-context": "x"})

    async def evict(version: str | None) -> dict[str, object]:
        client = AsyncClient(config=config, transport=httpx.MockTransport(handler))
        kind = eviction_kind(version)
        await client.create(kind(metadata=ObjectMeta(name="web", namespace="ns")), name="web", namespace="ns")
        await client.close()
        assert sent[-1].url.path == "/api/v1/namespaces/ns/pods/web/eviction"
        return json.loads(sent[-1].content)  # type: ignore[no-any-return]

    for version, api in (("1.20.2", "policy/v1beta1"), ("1.21.14", "policy/v1beta1"), (None, "policy/v1beta1"),
                         ("1.22.0", "policy/v1"), ("1.33.1", "policy/v1")):
        body = asyncio.run(evict(version))
        assert (body["apiVersion"], body["kind"], body["metadata"]) == (api, "Eviction",
                                                                       {"name": "web", "namespace": "ns"}), version
