"""What a node gets and what changes, as data: manifest + role + facts in, changes out."""

from __future__ import annotations

import subprocess

from kubeward.artifacts.manifest import FileEntry, ImageRef, new_manifest
from kubeward.artifacts.nodes import (
    ALL_BINARIES,
    CONTROL_PLANE_BINARIES,
    NodeFacts,
    parse_node_facts,
    plan_node_changes,
    render_finish_script,
    render_node_facts_script,
    render_node_plan,
)

BIN = "/opt/kubeward/kubernetes/v1.20.2/bin"


def sha(name: str) -> str:
    return (name.encode().hex() * 64)[:64]


MANIFEST = new_manifest(
    "1.20.2", "amd64",
    [FileEntry(f"v1.20.2/bin/linux/amd64/{b}", sha(b), 1000) for b in ALL_BINARIES]
    + [FileEntry("images/pause.tar", sha("pause"), 10)],
    [ImageRef("kubeward.local/pause:3.2", "images/pause.tar")],
)


def converged(role: str) -> NodeFacts:
    plan = render_node_plan(MANIFEST, role)
    return NodeFacts(sums={f.remote: f.sha256 for f in plan.files}, links=dict(plan.links),
                     present=[f.remote for f in plan.binaries], containerd="yes",
                     images={"kubeward.local/pause:3.2"})


def test_workers_get_only_kubelet_and_kube_proxy() -> None:
    worker = render_node_plan(MANIFEST, "worker")
    assert [f.remote for f in worker.binaries] == [f"{BIN}/kubelet", f"{BIN}/kube-proxy"]
    assert all(f.mode == 0o755 for f in worker.binaries)
    cp = render_node_plan(MANIFEST, "control-plane")
    assert {f.remote.rsplit("/", 1)[1] for f in cp.binaries} == set(ALL_BINARIES)
    assert ("/opt/kubeward/kubernetes/current", "v1.20.2") in cp.links
    assert ("/usr/local/bin/kubectl", "/opt/kubeward/kubernetes/current/bin/kubectl") in cp.links
    assert [i.file.remote for i in cp.images] == ["/opt/kubeward/kubernetes/images/pause.tar"]


def test_fresh_node_gets_everything_converged_node_nothing() -> None:
    plan = render_node_plan(MANIFEST, "worker")
    fresh = plan_node_changes(plan, NodeFacts(containerd="no"))
    assert len(fresh.uploads) == 3 and len(fresh.links) == 3 and fresh.imports == ()
    assert fresh.notes == ("containerd is not installed: images staged in /opt/kubeward/kubernetes/images, "
                           "not imported",)
    assert plan_node_changes(plan, converged("worker")).empty


def test_changed_binary_and_stray_control_plane_binary() -> None:
    plan = render_node_plan(MANIFEST, "worker")
    facts = converged("worker")
    facts.sums[f"{BIN}/kubelet"] = sha("tampered")
    facts.present += [f"{BIN}/kube-apiserver", "/usr/local/bin/kubectl", "/opt/kubeward/kubernetes/v1.19.0/bin/kubectl"]
    facts.images = set()
    changes = plan_node_changes(plan, facts)
    assert [f.remote for f in changes.uploads] == [f"{BIN}/kubelet"]
    assert changes.removals == (f"{BIN}/kube-apiserver", "/usr/local/bin/kubectl")  # other versions stay
    assert [i.ref for i in changes.imports] == ["kubeward.local/pause:3.2"]
    script = render_finish_script(changes)
    assert f"rm -f {BIN}/kube-apiserver" in script
    assert "ctr -n k8s.io images import /opt/kubeward/kubernetes/images/pause.tar" in script


def test_facts_script_runs_and_parses(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The facts script on this machine (nothing installed) parses to 'everything missing'."""
    plan = render_node_plan(MANIFEST, "control-plane")
    out = subprocess.run(["sh", "-c", render_node_facts_script(plan)], capture_output=True, text=True, check=True)
    facts = parse_node_facts(out.stdout)
    assert set(facts.sums) == {f.remote for f in plan.files} and set(facts.sums.values()) == {None}
    assert set(facts.links) == {p for p, _ in plan.links} and set(facts.links.values()) == {None}
    assert facts.containerd in ("no", "down", "yes") and not any(CONTROL_PLANE_BINARIES[0] in p for p in facts.present)


def test_parse_facts() -> None:
    text = (f"file {BIN}/kubelet {sha('kubelet')}\nfile {BIN}/kube-proxy -\n"
            "link /opt/kubeward/kubernetes/current v1.20.2\npresent /usr/local/bin/kubelet\n"
            "ctr yes\nimage kubeward.local/pause:3.2\n")
    f = parse_node_facts(text)
    assert f.sums == {f"{BIN}/kubelet": sha("kubelet"), f"{BIN}/kube-proxy": None}
    assert f.links == {"/opt/kubeward/kubernetes/current": "v1.20.2"} and f.present == ["/usr/local/bin/kubelet"]
    assert f.containerd == "yes" and f.images == {"kubeward.local/pause:3.2"}
