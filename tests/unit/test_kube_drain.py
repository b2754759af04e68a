"""Which pods a drain evicts, keeps and refuses to touch (pure)."""

from kubeward.kube.drain import PodInfo, eviction_plan


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
