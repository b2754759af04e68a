"""Day two on the shared Kubernetes lab (after test_nodes, before test_up_kube_audit, which audits
the same cluster): the lab's spare node is added to cluster.yml and joins with `up` (the plan
before lists its own changes and, on the other nodes, only the firewall's `nodes` set and a pod
route; no kubelet, kube-proxy, etcd, API server, proxy or containerd restarts elsewhere), runs a
pod the other nodes reach; taken out of cluster.yml, `plan` lists its drain and `up` without --yes
refuses and changes nothing; `kubeward node remove` then drains it (its Deployment pod is evicted and
runs elsewhere), stops and disables its services, deletes its Node, and the other nodes lose its
route and firewall entry. The cluster is as before at the end (the spare node is out of it again);
the only control plane is never removed."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.lab.conftest import KubeCluster, up_json

UNITS = ("kubelet", "kube-proxy", "containerd", "haproxy", "etcd", "kube-apiserver", "kube-controller-manager",
         "kube-scheduler")
DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata: {name: day2, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: day2}}
  template:
    metadata: {labels: {app: day2}}
    spec:
      terminationGracePeriodSeconds: 1
      automountServiceAccountToken: false
      affinity:
        nodeAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
          - weight: 100
            preference: {matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [NODE]}]}
      containers:
      - name: web
        image: kubeward.local/busybox:1.35
        imagePullPolicy: Never
        command: [sh, -c, "while true; do echo day2 | nc -l -p 8080; done"]
"""


def kw(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kubeward", *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def kubectl(config: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kubeward", "kubectl", "-c", str(config), "--", *args],
                          capture_output=True, text=True, timeout=120, input=stdin)


def pods(config: Path) -> list[dict[str, Any]]:
    r = kubectl(config, "get", "pods", "-n", "default", "-l", "app=day2", "-o", "json")
    assert r.returncode == 0, r.stderr
    return [p for p in json.loads(r.stdout)["items"] if not p["metadata"].get("deletionTimestamp")]


def running_pod(config: Path, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        ready = [p for p in pods(config) if p["status"].get("phase") == "Running" and p["status"].get("podIP")]
        if ready or time.monotonic() > deadline:
            assert ready, pods(config)
            return ready[0]
        time.sleep(1)


def identities(cluster: KubeCluster) -> dict[str, str]:
    """Each service's systemd invocation on the cluster's nodes: a restart changes it."""
    out = {}
    script = "; ".join(f"echo {u}=$(systemctl show -p InvocationID --value {u})" for u in UNITS)
    for n in cluster.nodes():
        r = cluster.lab.exec(n.name, ["sh", "-c", script], timeout=60)
        out[n.name] = r.stdout
    return out


@pytest.fixture(scope="module")
def cluster(kube_cluster: KubeCluster) -> Iterator[KubeCluster]:
    """The shared cluster; whatever fails here, it is left without the spare node for the next module."""
    assert kube_cluster.config_all is not None and kube_cluster.spare
    yield kube_cluster
    nodes = kubectl(kube_cluster.config, "get", "node", kube_cluster.spare, "-o", "name")
    if nodes.returncode == 0 and nodes.stdout.strip():
        kw("node", "remove", "-c", str(kube_cluster.config_all), kube_cluster.spare, "--yes", "--force")


def test_plan_for_a_new_worker_touches_nothing_else_but_its_firewall_entry_and_route(cluster: KubeCluster) -> None:
    assert cluster.config_all is not None
    started = time.monotonic()
    r = kw("plan", "-c", str(cluster.config_all), "--skip", "audit", "-o", "json")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    hosts = json.loads(r.stdout)["hosts"]
    spare = cluster.lab.load().node(cluster.spare)
    for name, h in hosts.items():
        if name == cluster.spare:
            continue
        summaries = [(c["phase"], c["summary"]) for c in h["changes"]]
        assert summaries == [("firewall", "apply table inet kubeward (the compiled ruleset changed)"),
                             ("nodes", f"add a route to {cluster.spare}'s pod CIDR via {spare.private_address} once "
                                       "it registers (re-run kubeward-pod-network.service)")], (name, summaries)
        diff = h["changes"][0]["diff"]
        added = [line for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
        assert len(added) == 1 and spare.private_address in added[0] and "elements" in added[0], diff
    new = {c["summary"] for c in hosts[cluster.spare]["changes"]}
    assert any(s.startswith("create a bootstrap token for") for s in new) and "start kubelet.service (now inactive)" in new
    print(f"plan with the new worker: {time.monotonic() - started:.1f} s")


def test_up_joins_the_new_worker_and_restarts_nothing_elsewhere(cluster: KubeCluster) -> None:
    assert cluster.config_all is not None
    before = identities(cluster)
    started = time.monotonic()
    rc, report = up_json(cluster.config_all)
    assert rc == 0, {h: (v["error"], v["notes"][-3:]) for h, v in report["hosts"].items()}
    print(f"up adding a worker: {time.monotonic() - started:.1f} s")
    assert identities(cluster) == before
    for name, h in report["hosts"].items():
        if name != cluster.spare:
            assert {c["phase"] for c in h["changes"]} == {"firewall", "nodes"}, (name, h["changes"])
    nodes = json.loads(kubectl(cluster.config, "get", "nodes", "-o", "json").stdout)["items"]
    ready = {n["metadata"]["name"] for n in nodes
             if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])}
    assert cluster.spare in ready


def test_up_without_the_new_worker_lists_its_departure_and_does_nothing_unconfirmed(cluster: KubeCluster) -> None:
    """The worker taken out of cluster.yml again: `plan` lists its drain and deletion; `up` without
    a terminal and without --yes refuses before any phase that changes a host (the firewall would
    cut the worker off while it is still a Node), and the worker stays Ready."""
    cp = next(n.name for n in cluster.nodes() if n.role == "control-plane")
    r = kw("plan", "-c", str(cluster.config), "--skip", "audit", "-o", "json")
    assert r.stdout, r.stderr[-3000:]
    planned = [c["summary"] for c in json.loads(r.stdout)["hosts"][cp]["changes"] if c["phase"] == "departures"]
    assert planned and planned[0].startswith(f"cordon and drain Node {cluster.spare} "), planned
    assert any(s.startswith(f"delete Node {cluster.spare}") for s in planned), planned
    before = identities(cluster)
    rc, report = up_json(cluster.config, "--skip", "audit")
    assert rc != 0 and report["stopped_after"] == "departures", report["stopped_after"]
    error = report["hosts"][cp]["error"] or ""
    assert cluster.spare in error and "--yes" in error, error
    assert all(not h["changes"] or h is report["hosts"][cp] for h in report["hosts"].values()), report["hosts"]
    assert identities(cluster) == before
    node = json.loads(kubectl(cluster.config, "get", "node", cluster.spare, "-o", "json").stdout)
    assert not node["spec"].get("unschedulable") and any(
        c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"]), node["spec"]
    members = cluster.lab.exec(cp, ["nft", "list", "set", "inet", "kubeward", "nodes"]).stdout
    assert str(cluster.lab.load().node(cluster.spare).private_address) in members


def test_a_pod_on_the_new_worker_is_reached_and_node_remove_drains_it_elsewhere(cluster: KubeCluster) -> None:
    assert cluster.config_all is not None
    config, spare = cluster.config_all, cluster.spare
    cp = next(n.name for n in cluster.nodes() if n.role == "control-plane")
    for _ in range(3):  # a busy API server sometimes drops a stream of the tunnel (INTERNAL_ERROR)
        r = kubectl(config, "apply", "-f", "-", stdin=DEPLOYMENT.replace("NODE", spare))
        if r.returncode == 0:
            break
        time.sleep(2)
    log = cluster.lab.exec(cp, ["journalctl", "-u", "kube-apiserver", "-n", "30", "--no-pager"]).stdout
    assert r.returncode == 0, r.stderr + log
    try:
        pod = running_pod(config)
        assert pod["spec"]["nodeName"] == spare, pod["spec"]
        spare_cidr = json.loads(kubectl(config, "get", "node", spare, "-o", "json").stdout)["spec"]["podCIDR"]
        reached = cluster.lab.exec(cp, ["sh", "-c", f"curl -s --http0.9 --max-time 5 http://{pod['status']['podIP']}:8080"])
        assert reached.stdout.strip() == "day2", reached

        started = time.monotonic()
        r = kw("node", "remove", "-c", str(config), spare, "--yes", "-o", "json")
        took = time.monotonic() - started
        assert r.stdout, r.stderr[-3000:]
        doc = json.loads(r.stdout)
        assert r.returncode == 0 and doc["ok"], json.dumps(doc, indent=1)[-4000:]
        print(f"node remove of a worker: {took:.1f} s (drain {doc['departure']['drain']['seconds']} s)")
        assert doc["departure"]["drain"]["evicted"] == [f"default/{pod['metadata']['name']}"]
        assert doc["departure"]["node_deleted"] and doc["next"].startswith(f"remove {spare} from")
        # the pod runs elsewhere; the Node is gone
        moved = running_pod(config)
        assert moved["spec"]["nodeName"] != spare
        names = [n["metadata"]["name"] for n in json.loads(kubectl(config, "get", "nodes", "-o", "json").stdout)["items"]]
        assert spare not in names and len(names) == 3
        # its services are stopped and disabled
        state = cluster.lab.exec(spare, ["sh", "-c", "for u in kubelet kube-proxy containerd haproxy; do "
                                         "echo $u $(systemctl is-active $u) $(systemctl is-enabled $u); done"])
        assert all(line.split()[1:] == ["inactive", "disabled"] for line in state.stdout.splitlines()), state.stdout
        # no route to its pod CIDR and no firewall entry for it on any other node
        address = cluster.lab.load().node(spare).private_address
        for n in cluster.nodes():
            routes = cluster.lab.exec(n.name, ["ip", "-4", "route", "show", "proto", "77"]).stdout
            assert spare_cidr not in routes and address not in routes, (n.name, routes)
            members = cluster.lab.exec(n.name, ["nft", "list", "set", "inet", "kubeward", "nodes"]).stdout
            assert not re.search(rf"\b{re.escape(address)}\b", members), (n.name, members)
            assert str(n.private_address) in members
    finally:
        # gone before the next module (its containers too: test_up_reset compares container lists)
        kubectl(config, "delete", "deployment", "day2", "-n", "default", "--wait=true")
        kubectl(config, "wait", "--for=delete", "pod", "-l", "app=day2", "-n", "default", "--timeout=60s")


def test_the_only_control_plane_is_not_removed(cluster: KubeCluster) -> None:
    cp = next(n.name for n in cluster.nodes() if n.role == "control-plane")
    r = kw("node", "remove", "-c", str(cluster.config), cp, "--yes", "-o", "json", timeout=120)
    doc = json.loads(r.stdout)
    assert r.returncode == 1 and not doc["ok"] and "only control plane" in doc["error"], doc
    state = cluster.lab.exec(cp, ["systemctl", "is-active", "kube-apiserver", "etcd", "kubelet"])
    assert state.stdout.split() == ["active"] * 3


def test_the_cluster_without_the_spare_node_changes_nothing(cluster: KubeCluster) -> None:
    """Back to cluster.yml without it: nothing departs, nothing changes (the next module audits it)."""
    rc, report = up_json(cluster.config, "--skip", "audit")
    assert rc == 0, {h: v["error"] for h, v in report["hosts"].items()}
    changed = {h: [c["summary"] for c in r["changes"]] for h, r in report["hosts"].items() if r["changes"]}
    assert changed == {}
