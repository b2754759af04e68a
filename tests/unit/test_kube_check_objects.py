"""`kubeward check`'s test objects (pure): one probe pod pinned to each node, without a
service-account token (the probes need no API access, and a token would make pod creation wait for
the new namespace's token controller), and the two Services."""

from __future__ import annotations

from lightkube.resources.core_v1 import Namespace, Pod, Service

from kubeward.kube.check import pod_name, render_objects


def test_one_tokenless_probe_pod_per_node_and_both_services() -> None:
    objs = render_objects("kubeward-check-x", ["cp-1", "w-1"])
    assert isinstance(objs[0], Namespace) and objs[0].metadata is not None
    assert objs[0].metadata.name == "kubeward-check-x"
    pods = [o for o in objs if isinstance(o, Pod)]
    assert [(p.metadata.name, p.spec.nodeName) for p in pods if p.metadata and p.spec] == [
        (pod_name("cp-1"), "cp-1"), (pod_name("w-1"), "w-1")]
    assert all(p.spec is not None and p.spec.automountServiceAccountToken is False for p in pods)
    services = [o for o in objs if isinstance(o, Service)]
    assert sorted((s.spec.type or "ClusterIP") for s in services if s.spec) == ["ClusterIP", "NodePort"]
