"""A DNAT from a public port into another network namespace, as a container runtime's port mapping
or a CNI hostPort makes it, on a converged node: kubeward's forward chain drops it, and the audit's
sweep of every TCP port reports it once the chain is gone.

(Named test_up_*.py so it runs after test_up.py, on the converged session lab.)"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubeward.lab.lab import Lab, LabState, NodeState

PORT = 18080
#: a namespace with a web server behind a veth, and a DNAT to it in a table of its own (not kubeward's)
SETUP = f"""set -e
ip netns add kwdnat
ip link add kwdnat0 type veth peer name eth0 netns kwdnat
ip addr add 10.88.77.1/30 dev kwdnat0
ip link set kwdnat0 up
ip -n kwdnat addr add 10.88.77.2/30 dev eth0
ip -n kwdnat link set eth0 up
ip -n kwdnat link set lo up
ip -n kwdnat route add default via 10.88.77.1
sysctl -qw net.ipv4.ip_forward=1
nft -f - <<'NFT'
table ip kwtest_portmap {{
	chain prerouting {{
		type nat hook prerouting priority -100; policy accept;
		fib daddr type local tcp dport {PORT} dnat to 10.88.77.2:8000
	}}
}}
NFT
systemd-run --quiet --unit kw-dnat-listener ip netns exec kwdnat python3 -m http.server --bind 10.88.77.2 8000
for i in $(seq 100); do ip netns exec kwdnat ss -Htln | grep -q ':8000 ' && exit 0; sleep 0.1; done
exit 1
"""


def _teardown(forward: str) -> str:
    return ("systemctl stop kw-dnat-listener; systemctl reset-failed kw-dnat-listener; "
            "nft delete table ip kwtest_portmap; ip netns del kwdnat; ip link del kwdnat0; "
            f"sysctl -qw net.ipv4.ip_forward={forward}; systemctl restart kubeward-firewall; true")


def _connect(address: str, port: int) -> str:
    try:
        socket.create_connection((address, port), timeout=3).close()
        return "open"
    except TimeoutError:
        return "timeout"
    except OSError as exc:
        return type(exc).__name__


def _audit(config: Path) -> tuple[int, dict[str, Any]]:
    r = subprocess.run([sys.executable, "-m", "kubeward", "audit", "-c", str(config), "-o", "json"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode in (0, 1), r.stderr
    return r.returncode, json.loads(r.stdout)


@pytest.fixture
def dnat_node(lab: Lab, lab_state: LabState, converged: Path) -> Iterator[NodeState]:
    node = next(n for n in lab_state.nodes if n.role == "worker")
    forward = lab.exec(node.name, ["sysctl", "-n", "net.ipv4.ip_forward"]).stdout.strip() or "0"
    try:
        r = lab.exec(node.name, ["sh", "-c", SETUP])
        assert r.returncode == 0, r.stdout + r.stderr
        yield node
    finally:
        lab.exec(node.name, ["sh", "-c", _teardown(forward)])


def test_a_dnat_into_another_namespace_is_dropped_and_found_by_the_audit_when_the_chain_is_gone(
    lab: Lab, converged: Path, dnat_node: NodeState
) -> None:
    node = dnat_node
    # the listener is there: the node itself reaches it (output, not forwarded)
    probe = "timeout 3 bash -c '</dev/tcp/10.88.77.2/8000'"
    assert lab.exec(node.name, ["bash", "-c", probe]).returncode == 0
    # kubeward's forward chain drops the DNATed connection from outside: it times out
    assert _connect(node.public_address, PORT) == "timeout"
    rc, report = _audit(converged)
    assert not [f for f in report["findings"] if f["port"] == PORT], report["findings"]
    assert rc == 0, report["findings"]
    assert report["probes"]["swept"][node.name] > 65000  # every TCP port, less the candidates
    # drift: the forward chain is gone; the DNAT answers from outside and the audit says so
    r = lab.exec(node.name, ["nft", "delete", "chain", "inet", "kubeward", "forward"])
    assert r.returncode == 0, r.stderr
    assert _connect(node.public_address, PORT) == "open"
    rc, report = _audit(converged)
    assert rc == 1
    found = [f for f in report["findings"] if f["id"] == "KW-EXPOSED-OUTSIDE" and f["port"] == PORT]
    assert [(f["node"], f["severity"], f["protocol"], f["vantage"]) for f in found] == [
        (node.name, "high", "tcp", "outside")], report["findings"]
    assert ("KW-FW-DRIFT", node.name) in {(f["id"], f["node"]) for f in report["findings"]}
