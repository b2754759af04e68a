"""`kubeward reset` on the shared Kubernetes lab (1 control plane, 2 workers), last of the tests that
use it: test_nodes and test_up_kube_audit sort before this file, the session destroys the lab after.

Before the reset, every node gets what is not kubeward's: another program's nftables table, a user's
file in the admin's home, a systemd unit of its own; and a pod of a DaemonSet runs on every node.
Then `--dry-run` lists what `reset --yes` removes, exactly; after it no kubeward unit (from the
components' declarations), binary, table, pod route, CNI configuration, bridge, mount or process is
left on any node, while the other table, the user's file, the other unit, the admin account and
the sshd hardening are there and SSH works; a second `reset --yes` changes nothing. `reset --all`
then removes the sshd drop-in (sshd -t passes, SSH still works) and the admin account (the lab logs
in as `debian`), not the home directory; once more, nothing is left to change."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from kubeward.artifacts.nodes import ALL_BINARIES, INSTALL_ROOT, LINK_DIR
from kubeward.components.node import CNI_CONFLIST, ROUTE_PROTO
from kubeward.config import ClusterConfig, load_config
from kubeward.hostscripts.sections import parse_sections, render_sections
from kubeward.lab.lab import Lab
from kubeward.ops.sshd import DROPIN
from kubeward.reset.plan import declared_components
from tests.lab.conftest import KubeCluster, ssh

pytestmark = pytest.mark.lab

DAEMONSET = """apiVersion: apps/v1
kind: DaemonSet
metadata: {name: kw-reset-sleeper, namespace: default}
spec:
  selector: {matchLabels: {app: kw-reset-sleeper}}
  template:
    metadata: {labels: {app: kw-reset-sleeper}}
    spec:
      tolerations: [{operator: Exists}]
      containers:
      - {name: s, image: "kubeward.local/busybox:1.35", imagePullPolicy: Never, command: [sleep, "100000"]}
"""
#: process names (as the kernel keeps them: 15 characters) of what kubeward ran
PROCESSES = ("kubelet", "kube-proxy", "kube-apiserver", "kube-controller", "kube-scheduler", "etcd", "haproxy",
             "containerd", "containerd-shim")
OTHERS = """nft add table inet other && nft add chain inet other c
echo mine > /home/kubeadmin/mine.txt
printf '[Service]\\nType=oneshot\\nExecStart=/bin/true\\nRemainAfterExit=yes\\n[Install]\\nWantedBy=multi-user.target\\n' \\
  > /etc/systemd/system/kw-test-other.service
systemctl daemon-reload && systemctl enable --now --quiet kw-test-other.service
"""


def kw(config: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kubeward", args[0], "-c", str(config), *args[1:]],
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def reset_json(config: Path, *args: str) -> dict[str, Any]:
    r = kw(config, "reset", "-o", "json", *args)
    assert r.stdout, r.stderr
    doc: dict[str, Any] = json.loads(r.stdout)
    assert r.returncode == 0 and doc["ok"], json.dumps(doc, indent=1)[-4000:]
    return doc


def sh(lab: Lab, node: str, script: str) -> str:
    r = lab.exec(node, ["sh", "-c", script], timeout=120)
    assert r.returncode == 0, (node, script, r.stdout, r.stderr)
    return r.stdout


def on_nodes(lab: Lab, scripts: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """Each node's named shell snippets, run as root in one exec per node (all nodes at once)."""
    def one(node: str) -> dict[str, str]:
        text = sh(lab, node, render_sections("t", scripts[node]))
        return {k: v.strip() for k, v in parse_sections(text, "t").items()}

    with ThreadPoolExecutor(len(scripts)) as pool:
        return dict(zip(scripts, pool.map(one, scripts), strict=True))


def after_reset_script(cfg: ClusterConfig, node: str) -> dict[str, str]:
    comps = declared_components(cfg, cfg.host(node))
    units = " ".join(sorted({c.unit for c in comps}))
    paths = [*sorted({f.path for c in comps for f in c.unit_files}), CNI_CONFLIST,
             *(f"{LINK_DIR}/{b}" for b in ALL_BINARIES), INSTALL_ROOT, "/etc/kubernetes", "/var/lib/etcd"]
    return {
        "active": f"systemctl is-active {units}",
        "enabled": f"systemctl is-enabled {units} 2>/dev/null",
        "left": f"for f in {' '.join(paths)}; do [ -e $f ] && echo $f; done",
        "tables": "nft list tables",
        "other": "nft list table inet other",
        "routes": f"ip route show proto {ROUTE_PROTO}; ip route show root {cfg.network.pod_cidr}",
        "links": "ip link show cni0 2>/dev/null; ip netns list",
        "processes": f"for p in {' '.join(PROCESSES)}; do pgrep -x $p >/dev/null && echo $p; done",
        "mounts": "awk '$5 ~ \"^/var/lib/kubelet/\"' /proc/self/mountinfo",
        "iptables": "iptables-save | grep -c -- '-j KUBE-\\|^:KUBE-'",
        "mine": "cat /home/kubeadmin/mine.txt",
        "unit": "systemctl is-active kw-test-other.service; systemctl is-enabled kw-test-other.service",
        "admin": "id -un kubeadmin",
        "sshd": f"test -f '{DROPIN}' && sshd -t && echo ok",
    }


def items(doc: dict[str, Any], host: str) -> set[tuple[str, str]]:
    return {(c["kind"], c["what"]) for c in doc["hosts"][host]["changes"]}


def test_reset_removes_kubeward_and_nothing_else(kube_cluster: KubeCluster) -> None:
    lab, config = kube_cluster.lab, kube_cluster.config
    cfg = load_config(config).config
    nodes = kube_cluster.nodes()  # not the lab's spare node (test_nodes_day2)
    names = [n.name for n in nodes]
    on_nodes(lab, {n: {"others": OTHERS} for n in names})
    manifest = config.parent / "reset-daemonset.yaml"
    manifest.write_text(DAEMONSET)
    r = kw(config, "kubectl", "--", "apply", "-f", str(manifest))
    assert r.returncode == 0, r.stderr
    r = kw(config, "kubectl", "--", "rollout", "status", "daemonset/kw-reset-sleeper", "--timeout=180s")
    assert r.returncode == 0, r.stdout + r.stderr

    dry = reset_json(config, "--dry-run")
    assert dry["dry_run"] and all(h["status"] == "would-reset" for h in dry["hosts"].values()), dry
    done = reset_json(config, "--yes")
    assert done["confirmed"] and all(h["status"] == "reset" for h in done["hosts"].values())
    for n in names:
        # --dry-run listed exactly what the reset removed; containers excepted: the kubelet runs during
        # the dry run and its garbage collection may remove a dead container before the reset does
        stable = {i for i in items(dry, n) ^ items(done, n) if i[0] != "container"}
        assert not stable, (n, stable)
        kinds = {k for k, _ in items(done, n)}
        assert {"stop", "image", "netns", "unmount", "file", "tree", "nft", "route"} <= kinds, (n, kinds)
    # the pods' containers are gone whichever way (removed by the reset, or with their shims): the
    # processes check below finds no containerd-shim, no sandbox netns and no kubelet mount
    assert ("nft", "inet kubeward") in items(done, names[0])

    facts = on_nodes(lab, {node.name: after_reset_script(cfg, node.name) for node in nodes})
    for node in nodes:
        f = facts[node.name]
        n = node.name
        assert "active" not in f["active"].split() and "activating" not in f["active"].split(), (n, f["active"])
        assert "enabled" not in f["enabled"].split(), (n, f["enabled"])
        assert f["left"] == "", (n, f["left"])  # unit files, drop-ins, CNI config, binaries, configs, data
        assert "table inet kubeward" not in f["tables"] and "kubeward_pods" not in f["tables"], f["tables"]
        assert "table inet other" in f["tables"] and "chain c" in f["other"], f
        assert f["routes"] == "" and f["links"] == "" and f["processes"] == "" and f["mounts"] == "", (n, f)
        assert f["iptables"] == "0", (n, f["iptables"])
        # not kubeward's: untouched
        assert f["mine"] == "mine" and f["unit"].split() == ["active", "enabled"], (n, f)
        assert f["admin"] == "kubeadmin" and f["sshd"] == "ok", (n, f)
        r = ssh(lab, node.public_address, "sudo -n true && echo ok")
        assert r.stdout == "ok\n", r.stderr

    again = reset_json(config, "--yes")
    assert again["changed"] == 0 and not again["confirmed"], again
    assert all(h["status"] == "unchanged" and h["changes"] == [] for h in again["hosts"].values()), again


def test_reset_all_removes_the_sshd_hardening_and_admin_without_locking_out(kube_cluster: KubeCluster) -> None:
    lab, config = kube_cluster.lab, kube_cluster.config
    nodes = kube_cluster.nodes()  # not the lab's spare node (test_nodes_day2)
    doc = reset_json(config, "--yes", "--all")
    facts = on_nodes(lab, {node.name: {
        "dropin": f"test -e '{DROPIN}' || echo gone; sshd -t && echo valid",
        "admin": "id kubeadmin 2>/dev/null || echo no-user",
        "mine": "cat /home/kubeadmin/mine.txt",  # the home directory stays
        "left": "ls /var/lib/kubeward /usr/local/lib/kubeward /etc/sudoers.d/kubeward-kubeadmin 2>/dev/null",
        "tables": "nft list tables",
    } for node in nodes})
    for node in nodes:
        n, f = node.name, facts[node.name]
        got = items(doc, n)
        assert {("sshd-dropin", DROPIN), ("file", "/etc/sudoers.d/kubeward-kubeadmin"), ("user", "kubeadmin"),
                ("group", "kubeadmin")} <= got, got
        assert (f["dropin"], f["admin"], f["mine"], f["left"]) == ("gone\nvalid", "no-user", "mine", ""), (n, f)
        assert "table inet other" in f["tables"]
        r = ssh(lab, node.public_address, "sudo -n true && echo ok")
        assert r.stdout == "ok\n", r.stderr
    again = reset_json(config, "--yes", "--all")
    assert again["changed"] == 0 and all(h["changes"] == [] for h in again["hosts"].values()), again
