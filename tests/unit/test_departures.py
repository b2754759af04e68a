"""Hosts leaving the cluster, decided without hosts: who departs (a Node and an etcd member the
cluster.yml being converged does not list), what is refused and why, the steps shown to the
operator, the cluster.yml without a host, and the script that stops a removed host's services."""

from __future__ import annotations

import subprocess

from tests.unit.test_etcd_config import CLUSTER

from kubeward.components.retire import parse_still_active, render_retire_script, retired_units
from kubeward.config import LoadedConfig, parse_config
from kubeward.etcd.membership import Member
from kubeward.kube.drain import PodInfo
from kubeward.phases.departures import DeparturePlan, decide_departures, departing_nodes
from kubeward.phases.etcd import ClusterView
from kubeward.phases.node_remove import removal_steps, without_host


def loaded() -> LoadedConfig:
    return parse_config(CLUSTER)


def member(i: int) -> Member:
    return Member(100 + i, f"cp-{i}", (f"https://10.0.0.1{i - 1}:2380",), (f"https://10.0.0.1{i - 1}:2379",))


MEMBERS = [member(1), member(2), member(3)]
ALL = {m.id for m in MEMBERS}
WEB = PodInfo("default", "web-1", "Running", ("ReplicaSet",))
DS = PodInfo("kube-system", "agent", "Running", ("DaemonSet",))
BARE = PodInfo("default", "debug", "Running")


def test_without_host_keeps_everything_else() -> None:
    full = loaded()
    rest = without_host(full, "cp-3")
    assert [h.name for h in rest.config.hosts] == ["cp-1", "cp-2", "worker-1"]
    assert rest.config.network == full.config.network and rest.filename == full.filename
    assert [h.name for h in full.config.hosts] == ["cp-1", "cp-2", "cp-3", "worker-1"]  # not changed


def test_a_worker_gone_from_cluster_yml_departs_with_its_pods() -> None:
    rest = without_host(loaded(), "worker-1").config
    assert departing_nodes(rest, ["cp-1", "cp-2", "cp-3", "worker-1"]) == ["worker-1"]
    plan = decide_departures(rest, ClusterView(MEMBERS, ALL, "cp-1"), {"worker-1": [WEB, DS]}, ["cp-1", "cp-2", "cp-3"],
                             csrs={"worker-1": ["csr-1", "csr-2"], "cp-1": ["csr-0"]})
    assert plan.refusal is None and plan.names() == ["worker-1"]
    d = plan.departures[0]
    assert (d.node, d.member, d.evict, d.keep, d.csrs) == (True, None, ["default/web-1"], ["kube-system/agent"],
                                                           ["csr-1", "csr-2"])
    assert plan.steps(d) == ["cordon and drain Node worker-1 (evict 1 pod(s); 1 stay (DaemonSet or static))",
                             "delete Node worker-1 and its kubelet's 2 CSR(s)"]


def test_a_control_plane_departs_with_its_member_removed_through_a_healthy_one() -> None:
    full = loaded()
    rest = without_host(full, "cp-3").config
    plan = decide_departures(rest, ClusterView(MEMBERS, ALL, "cp-1"), {"cp-3": [WEB]}, ["cp-1", "cp-2"],
                             only=full.config.host("cp-3"))
    assert plan.refusal is None and plan.operator == "cp-1"
    d = plan.departures[0]
    assert d.member == member(3) and d.node
    steps = plan.steps(d, retire=full.config.host("cp-3"))
    assert steps[1].startswith("remove etcd member cp-3 (") and "through cp-1" in steps[1]
    assert steps[2].startswith("stop and disable on cp-3: kube-apiserver.service, kube-controller-manager.service")
    assert steps[2].endswith("etcd (its data moved aside)") and steps[-1] == "delete Node cp-3"
    everything = removal_steps(plan, d, full, ["cp-1", "cp-2", "worker-1"])
    assert everything[-1].startswith("converge cp-1, cp-2, worker-1 without cp-3 (")


def test_quorum_refusal_names_the_member_to_restore() -> None:
    full = loaded()
    rest = without_host(full, "cp-2").config
    plan = decide_departures(rest, ClusterView(MEMBERS, {101, 102}, "cp-1"), {}, ["cp-1", "cp-3"],
                             only=full.config.host("cp-2"))
    assert plan.refusal == ("2 of 3 members healthy: removing cp-2 leaves 1 of 2 (2 needed for a quorum) — "
                            "restore cp-3 first")


def test_only_limits_the_departures_to_that_host() -> None:
    full = loaded()
    rest = without_host(full, "worker-1").config
    # cp-3 is not in this smaller cluster.yml either, but `node remove worker-1` is about worker-1 only
    smaller = rest.model_copy(update={"hosts": tuple(h for h in rest.hosts if h.name != "cp-3")})
    only = full.config.host("worker-1")
    assert departing_nodes(smaller, ["cp-3", "worker-1"], only) == ["worker-1"]
    plan = decide_departures(smaller, ClusterView(MEMBERS, ALL, "cp-1"), {"worker-1": []}, ["cp-1", "cp-2"], only=only)
    assert plan.names() == ["worker-1"] and plan.departures[0].member is None


def test_csrs_of_a_host_whose_node_is_gone_already_depart_too() -> None:
    rest = without_host(loaded(), "worker-1").config
    plan = decide_departures(rest, ClusterView(MEMBERS, ALL, "cp-1"), {}, ["cp-1"], csrs={"worker-1": ["csr-9"]})
    d = plan.departures[0]
    assert (d.name, d.node, d.csrs) == ("worker-1", False, ["csr-9"])
    assert plan.steps(d) == ["delete the 1 CSR(s) of worker-1's kubelet (its Node is gone already)"]


def test_a_bare_pod_blocks_unless_forced() -> None:
    rest = without_host(loaded(), "worker-1").config
    plan = decide_departures(rest, ClusterView(MEMBERS, ALL, "cp-1"), {"worker-1": [BARE, WEB]}, ["cp-1"])
    assert plan.refusal is not None and "default/debug" in plan.refusal and "--force" in plan.refusal
    forced = decide_departures(rest, ClusterView(MEMBERS, ALL, "cp-1"), {"worker-1": [BARE]}, ["cp-1"], force=True)
    assert forced.refusal is None and forced.departures[0].evict == ["default/debug"]


def test_no_member_to_operate_through_is_a_refusal() -> None:
    full = loaded()
    rest = without_host(full, "cp-3").config
    plan = decide_departures(rest, ClusterView(MEMBERS, ALL, "cp-1"), {}, [], only=full.config.host("cp-3"))
    assert plan.refusal is not None and "no remaining control plane" in plan.refusal


def test_split_etcd_clusters_are_refused_as_the_etcd_phase_says() -> None:
    plan = decide_departures(loaded().config, ClusterView(None, set(), None, "different etcd clusters"), {}, ["cp-1"])
    assert plan.refusal == "different etcd clusters" and plan.departures == []


def test_nothing_departs_in_a_converged_cluster() -> None:
    full = loaded().config
    assert departing_nodes(full, [h.name for h in full.hosts]) == []
    plan = decide_departures(full, ClusterView(MEMBERS, ALL, "cp-1"), {}, ["cp-1"])
    assert plan == DeparturePlan()


def test_retire_script_stops_the_control_plane_before_etcd_and_reports_what_still_runs() -> None:
    config = loaded().config
    cp, worker = config.host("cp-1"), config.host("worker-1")
    script = render_retire_script(config, cp, "s1")
    assert subprocess.run(["sh", "-n"], input=script, text=True).returncode == 0
    assert script.index("kube-apiserver.service") < script.index("disable --now etcd") < script.index("kubelet.service")
    assert retired_units(worker) == ["kubelet.service", "kube-proxy.service", "haproxy.service",
                                     "kubeward-pod-network.service", "containerd.service"]
    assert "etcd" not in render_retire_script(config, worker, "s1")
    assert parse_still_active("x\n@@still-active kubelet.service\n@@retired\n") == ["kubelet.service"]
