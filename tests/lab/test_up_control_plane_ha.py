"""Three control planes behind every node's local API proxy: with one control plane stopped, a
worker still reaches a ready API server through 127.0.0.1:6443, and `kubeward kubectl` still works
(through another control plane). Last: `kubeward node remove` of a control plane while a worker
polls the API (no failure longer than a few seconds), etcd left with two members, the proxies
without its backend, and a second removal that would break etcd's quorum refused with the reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubeward.lab.lab import Lab, render_kubernetes_yml
from tests.lab.conftest import lab_config, new_lab_name, up_json

#: the worker's kubelet client certificate from its TLS bootstrap (certificate and key in one file)
READYZ = ("curl -s --max-time 5 --cacert /etc/kubernetes/pki/ca.crt "
          "--cert /var/lib/kubelet/pki/kubelet-client-current.pem https://127.0.0.1:6443/readyz")


@pytest.fixture(scope="module")
def ha_lab(kube_build: Path) -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.skip("lab tests need root")
    lb = Lab(new_lab_name("ha"))
    try:
        lb.up(4, 3)
        yield lb
    finally:
        if lb.exists() or lb.dir.exists():
            lb.down()


@pytest.fixture(scope="module")
def config(ha_lab: Lab, kube_build: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = lab_config(ha_lab, tmp_path_factory.mktemp("ha"))
    path.write_text(path.read_text() + render_kubernetes_yml("1.20.2", kube_build))
    rc, report = up_json(path)
    assert rc == 0, json.dumps(report, indent=1)[-4000:]
    return path


def test_a_stopped_control_plane_leaves_the_api_reachable_through_the_local_proxy(ha_lab: Lab, config: Path) -> None:
    st = ha_lab.load()
    worker = next(n.name for n in st.nodes if n.role == "worker")
    first_cp = next(n.name for n in st.nodes if n.role == "control-plane")
    ok = ha_lab.exec(worker, ["sh", "-c", READYZ])
    assert ok.stdout == "ok", ok
    ha_lab.stop_node(first_cp)
    try:
        # HAProxy's health checks take the stopped one out (wait for it) ...
        deadline, rows = time.monotonic() + 60, {}
        while time.monotonic() < deadline:
            stats = ha_lab.exec(worker, ["sh", "-c", "curl -s 'http://127.0.0.1:8404/stats;csv'"]).stdout
            rows = {line.split(",")[1]: line.split(",")[17] for line in stats.splitlines()
                    if line.startswith("kube-apiservers,") and "BACKEND" not in line}
            if rows.get(first_cp, "").startswith("DOWN"):
                break
            time.sleep(0.5)
        assert rows[first_cp].startswith("DOWN") and sum(s == "UP" for s in rows.values()) == 2, rows
        # ... and every request through the local proxy reaches a ready API server
        for _ in range(10):
            r = ha_lab.exec(worker, ["sh", "-c", READYZ])
            assert r.stdout == "ok", r
        r = subprocess.run([sys.executable, "-m", "kubeward", "kubectl", "-c", str(config), "--", "get", "ns",
                            "-o", "name"], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and "namespace/kube-system" in r.stdout, r
    finally:
        ha_lab.start_node(first_cp)


#: the worker asks the API through its local proxy every 0.2 s until /run/stop-poll exists
POLL = ("rm -f /run/stop-poll; while [ ! -e /run/stop-poll ]; do t=$(date +%s.%N); "
        "c=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert /etc/kubernetes/pki/ca.crt "
        "--cert /var/lib/kubelet/pki/kubelet-client-current.pem https://127.0.0.1:6443/readyz); "
        "echo \"$t $c\"; sleep 0.2; done")


def longest_failure(lines: str) -> tuple[float, int, int]:
    """(longest time from a failed poll to the next success, failed polls, polls)."""
    rows = [(float(t), code) for t, code in (line.split() for line in lines.splitlines() if len(line.split()) == 2)]
    worst, since, failed = 0.0, None, 0
    for t, code in rows:
        if code != "200":
            failed += 1
            since = t if since is None else since
        elif since is not None:
            worst, since = max(worst, t - since), None
    if since is not None:
        worst = max(worst, rows[-1][0] - since)
    return worst, failed, len(rows)


def kubeward_json(*args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    r = subprocess.run([sys.executable, "-m", "kubeward", *args, "-o", "json"], capture_output=True, text=True,
                       timeout=900, stdin=subprocess.DEVNULL)
    assert r.stdout, r.stderr[-3000:]
    return r.returncode, json.loads(r.stdout)


def test_removing_a_control_plane_keeps_the_api_available_and_a_removal_that_breaks_quorum_is_refused(
        ha_lab: Lab, config: Path) -> None:
    st = ha_lab.load()
    worker = next(n.name for n in st.nodes if n.role == "worker")
    cp1, cp2, cp3 = [n.name for n in st.nodes if n.role == "control-plane"]
    # the test before stopped and started a control plane: every member healthy first
    deadline = time.monotonic() + 180
    while True:
        rc, status = kubeward_json("etcd", "status", "-c", str(config))
        if rc == 0 and status["healthy"] or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert status["healthy"], status
    poller = subprocess.Popen(ha_lab.exec_argv(worker, ["sh", "-c", POLL]), stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(2)
        started = time.monotonic()
        rc, doc = kubeward_json("node", "remove", "-c", str(config), cp3, "--yes", "--edit-config")
        took = time.monotonic() - started
        time.sleep(2)
    finally:
        ha_lab.exec(worker, ["touch", "/run/stop-poll"])
        polled = poller.communicate(timeout=60)[0]
    worst, failed, polls = longest_failure(polled)
    print(f"node remove of a control plane: {took:.1f} s; the API through {worker}'s proxy: {failed} of {polls} "
          f"polls failed, longest failure {worst:.2f} s")
    assert rc == 0 and doc["ok"], json.dumps(doc, indent=1)[-4000:]
    assert doc["departure"]["etcd_member_removed"] and polls > 20
    assert worst <= 5.0, polled
    # --edit-config took its entry out of cluster.yml (the last test of the module: nothing else uses it)
    assert doc["config_removed_lines"].startswith(f"  - name: {cp3}\n") and doc["next"] is None
    smaller = config
    assert f"name: {cp3}\n" not in smaller.read_text() and f"name: {cp2}\n" in smaller.read_text()
    rc, status = kubeward_json("etcd", "status", "-c", str(smaller))
    assert rc == 0 and status["healthy"] and sorted(m["name"] for m in status["members"]) == [cp1, cp2], status
    assert status["unknown_members"] == []
    stats = ha_lab.exec(worker, ["sh", "-c", "curl -s 'http://127.0.0.1:8404/stats;csv'"]).stdout
    backends = {line.split(",")[1] for line in stats.splitlines()
                if line.startswith("kube-apiservers,") and "BACKEND" not in line}
    assert backends == {cp1, cp2}, stats
    state = ha_lab.exec(cp3, ["sh", "-c", "for u in etcd kube-apiserver kubelet; do echo $(systemctl is-active $u) "
                                          "$(systemctl is-enabled $u); done"]).stdout.split("\n")[:3]
    assert all(s.startswith("inactive") and s.endswith("disabled") for s in state), state

    # one of the two left stopped: removing the other would leave no quorum, refused with the reason
    ha_lab.exec(cp2, ["systemctl", "stop", "etcd"])
    try:
        rc, doc = kubeward_json("node", "remove", "-c", str(smaller), cp1, "--yes")
        assert rc == 1 and not doc["ok"], doc
        assert doc["error"].startswith(f"refusing to remove {cp1}: etcd has no quorum") and \
            doc["error"].endswith(f"restore {cp2} first"), doc["error"]
        assert ha_lab.exec(cp1, ["systemctl", "is-active", "etcd", "kube-apiserver"]).stdout.split() == ["active"] * 2
    finally:
        ha_lab.exec(cp2, ["systemctl", "start", "etcd"])
