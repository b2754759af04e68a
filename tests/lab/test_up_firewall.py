"""The nftables firewall on real nodes after `kubeward up`: who can connect to what, safe apply
with automatic rollback, persistence across a reboot, and other programs' tables left alone.

(Named test_up_*.py so it runs after test_up.py, on the converged session lab.)"""

from __future__ import annotations

import hashlib
import json
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kubeward.lab.lab import Lab, LabState
from tests.lab.conftest import up_json

LISTEN_PORTS = (2379, 2380, 6443, 8080, 10250, 10255, 12345, 30001)


def _listen(lab: Lab, node: str, port: int, address: str = "0.0.0.0") -> None:
    r = lab.exec(node, ["sh", "-c", f"systemd-run --unit kw-fwtest-{port} python3 -m http.server --bind {address} {port}"
                        f" >/dev/null && for i in $(seq 50); do ss -Htln | grep -q ':{port} ' && exit 0; sleep 0.1; done; exit 1"])
    assert r.returncode == 0, r.stderr


def _stop(lab: Lab, node: str, port: int) -> None:
    lab.exec(node, ["systemctl", "stop", f"kw-fwtest-{port}"])


def _from_operator(address: str, port: int) -> bool:
    try:
        socket.create_connection((address, port), timeout=1).close()
        return True
    except OSError:
        return False


def _from_node(lab: Lab, node: str, address: str, port: int) -> bool:
    return lab.exec(node, ["bash", "-c", f"timeout 2 bash -c '</dev/tcp/{address}/{port}'"]).returncode == 0


@pytest.fixture(scope="module")
def listeners(lab: Lab, lab_state: LabState, converged: Path) -> Iterator[None]:
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda n: [_listen(lab, n.name, port) for port in LISTEN_PORTS], lab_state.nodes))
    try:
        yield
    finally:
        for n in lab_state.nodes:
            for port in LISTEN_PORTS:
                _stop(lab, n.name, port)


def test_from_the_operator_only_ssh_and_nodeports_connect(lab: Lab, lab_state: LabState, listeners: None) -> None:
    ports = (22, *LISTEN_PORTS)
    with ThreadPoolExecutor(max_workers=64) as pool:
        for n in lab_state.nodes:
            reached = pool.map(lambda p, a=n.public_address: _from_operator(a, p), ports)
            open_ports = {p for p, ok in zip(ports, reached, strict=True) if ok}
            assert open_ports == {22, 30001}, (n.name, open_ports)


def test_etcd_only_from_control_planes_and_kubelet_from_every_node(
    lab: Lab, lab_state: LabState, listeners: None
) -> None:
    cps = [n for n in lab_state.nodes if n.role == "control-plane"]
    worker = next(n for n in lab_state.nodes if n.role == "worker")
    for port in (2379, 2380):
        assert not _from_node(lab, worker.name, cps[0].private_address, port), port
        assert _from_node(lab, cps[1].name, cps[0].private_address, port), port
    assert _from_node(lab, cps[0].name, worker.private_address, 10250)
    # nothing else answers between nodes: not the read-only kubelet, not the insecure API, not SSH
    with ThreadPoolExecutor(max_workers=8) as pool:
        reached = list(pool.map(lambda p: _from_node(lab, cps[1].name, cps[0].private_address, p), (10255, 8080, 12345, 22)))
    assert reached == [False] * 4


def test_the_rules_survive_a_reboot_via_kubewards_unit(lab: Lab, lab_state: LabState, converged: Path) -> None:
    worker = next(n for n in lab_state.nodes if n.role == "worker")
    before = lab.exec(worker.name, ["sh", "-c", "nft -s list table inet kubeward | sha256sum"]).stdout
    lab.stop_node(worker.name)
    lab.start_node(worker.name)
    after = lab.exec(worker.name, ["sh", "-c", "nft -s list table inet kubeward | sha256sum"]).stdout
    assert before == after and len(before.split()[0]) == 64
    rc, report = up_json(converged, "--skip", "preflight,audit")  # the test listeners hold ports
    assert rc == 0 and report["hosts"][worker.name]["changed"] == 0


def test_a_lockout_is_rolled_back_and_reported_and_other_tables_are_untouched(
    lab: Lab, lab_state: LabState, converged: Path
) -> None:
    node = lab_state.nodes[-1]
    assert lab.exec(node.name, ["sh", "-c", "nft add table ip othernat && nft add chain ip othernat post "
                                "'{ type nat hook postrouting priority 100; }'"]).returncode == 0
    try:
        before = lab.exec(node.name, ["sh", "-c", "nft -s list table inet kubeward"]).stdout
        bad = converged.with_name("cluster-lockout.yml")
        bad.write_text(converged.read_text().replace(
            "admin_cidrs:\n", "admin_cidrs:\n    - 198.51.100.0/24   # excludes the operator\n", 1)
            .replace("    - 10.231.", "    # - 10.231.", 1))
        assert "198.51.100.0/24" in bad.read_text()
        started = time.monotonic()
        rc, report = up_json(bad, "--only", "firewall", "--host", node.name)
        assert rc == 1
        error = report["hosts"][node.name]["error"]
        assert "new SSH connection failed" in error and "rolled the previous firewall back" in error, error
        assert time.monotonic() - started < 60
        # the node answers SSH again and carries the table it had before
        assert _from_operator(node.public_address, 22)
        after = lab.exec(node.name, ["sh", "-c", "nft -s list table inet kubeward"]).stdout
        assert after == before
        assert lab.exec(node.name, ["systemctl", "is-active", "kubeward-firewall-rollback.timer"]).stdout.strip() != "active"
        rc, report = up_json(converged, "--skip", "preflight,audit")
        assert rc == 0 and report["hosts"][node.name]["changed"] == 0
        # another program's table is still there, unchanged, after kubeward's applies
        assert "chain post" in lab.exec(node.name, ["nft", "list", "table", "ip", "othernat"]).stdout
    finally:
        lab.exec(node.name, ["nft", "delete", "table", "ip", "othernat"])


def test_drift_is_repaired_by_the_next_up(lab: Lab, lab_state: LabState, converged: Path) -> None:
    node = lab_state.nodes[0]
    assert lab.exec(node.name, ["sh", "-c", "nft insert rule inet kubeward input tcp dport 12345 accept"]).returncode == 0
    rc, report = up_json(converged, "--only", "firewall")
    assert rc == 0
    assert "drifted" in json.dumps(report["hosts"][node.name]["changes"])
    live = lab.exec(node.name, ["sh", "-c", "nft -s list table inet kubeward"]).stdout
    assert "12345" not in live
    assert hashlib.sha256(live.encode()).hexdigest()
