"""`kubeward audit` on the converged session lab: clean after `up`, and each deliberate weakness is
reported with the right id, node and port (and exit 1); the HTML report renders; nmap agrees.

(Named test_up_*.py so it runs after test_up.py.)"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kubeward.lab.lab import Lab, LabState
from tests.lab.conftest import kubeward


def audit(config: Path, *args: str) -> tuple[int, dict[str, Any]]:
    r = subprocess.run([sys.executable, "-m", "kubeward", "audit", "-c", str(config), "-o", "json", *args],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode in (0, 1), r.stderr
    return r.returncode, json.loads(r.stdout)


def ids(report: dict[str, Any]) -> set[tuple[str, str, int | None]]:
    return {(f["id"], f["node"], f["port"]) for f in report["findings"]}


def test_audit_after_up_has_no_high_or_medium_finding(converged: Path) -> None:
    rc, report = audit(converged)
    assert rc == 0, report["findings"]
    assert report["counts"]["critical"] == report["counts"]["high"] == report["counts"]["medium"] == 0
    assert report["schema"] == "kubeward.audit/v1"
    vantages = {p["vantage"] for p in report["probes"]["ports"]}
    assert vantages == {"outside", "peer"}
    assert report["probes"]["ssh_auth"] and all(a["methods"] == ["publickey"] for a in report["probes"]["ssh_auth"])


@pytest.fixture
def worker(lab_state: LabState) -> str:
    return next(n.name for n in lab_state.nodes if n.role == "worker")


def _sh(lab: Lab, node: str, script: str) -> None:
    r = lab.exec(node, ["sh", "-c", script])
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.fixture
def weakened(lab: Lab) -> Iterator[Callable[[str, str, str], None]]:
    """weaken(node, do, undo): apply a weakness now, undo it after the test whatever happens."""
    undo: list[tuple[str, str]] = []

    def weaken(node: str, do: str, revert: str) -> None:
        undo.append((node, revert))
        _sh(lab, node, do)

    yield weaken
    for node, revert in reversed(undo):
        lab.exec(node, ["sh", "-c", revert])


def test_read_only_kubelet_port_listening_is_reported(converged: Path, worker: str, weakened: Any) -> None:
    weakened(worker, "systemd-run --unit kw-ro python3 -m http.server --bind 0.0.0.0 10255 >/dev/null; "
             "for i in $(seq 50); do ss -Htln | grep -q ':10255 ' && break; sleep 0.1; done",
             "systemctl stop kw-ro")
    rc, report = audit(converged)
    assert rc == 1
    assert ("KW-LISTEN-FORBIDDEN", worker, 10255) in ids(report)


def test_password_authentication_is_reported(converged: Path, lab_state: LabState, weakened: Any) -> None:
    node = lab_state.nodes[1].name
    weakened(node, "echo 'PasswordAuthentication yes' > /etc/ssh/sshd_config.d/00-aaa.conf && systemctl reload ssh",
             "rm -f /etc/ssh/sshd_config.d/00-aaa.conf && systemctl reload ssh")
    rc, report = audit(converged)
    assert rc == 1
    found = [f for f in report["findings"] if f["id"] == "KW-SSHD-SETTING" and f["node"] == node]
    assert found and "passwordauthentication yes" in found[0]["observed"]


def test_an_etcd_key_readable_by_everyone_is_reported(converged: Path, lab_state: LabState, weakened: Any) -> None:
    node = lab_state.nodes[0].name
    key = "/etc/kubernetes/pki/etcd/server.key"
    weakened(node, f"chmod 0644 {key}", f"chmod 0600 {key}")
    rc, report = audit(converged)
    assert rc == 1
    found = [f for f in report["findings"] if f["id"] == "KW-FILE-SECRET-MODE" and f["node"] == node]
    assert found and key in found[0]["title"] and "0644" in found[0]["observed"]


def test_a_deleted_firewall_table_is_reported(lab: Lab, converged: Path, lab_state: LabState, weakened: Any) -> None:
    node = lab_state.nodes[2].name
    weakened(node, "nft delete table inet kubeward", "systemctl restart kubeward-firewall")
    rc, report = audit(converged)
    assert rc == 1
    assert ("KW-FW-MISSING", node, None) in ids(report)


def test_the_cluster_ca_key_on_a_worker_is_reported(converged: Path, worker: str, lab: Lab, weakened: Any) -> None:
    r = kubeward("pki", "status", "-c", str(converged))  # `up` issued the PKI
    assert r.returncode == 0, r.stdout + r.stderr
    state = Path(re.search(r"state_dir: (\S+)", converged.read_text()).group(1))  # type: ignore[union-attr]
    ca_key = (state / "pki" / "ca.key").read_bytes()
    host_copy = lab.node_spec(lab.load().node(worker)).data / "kubelet" / "stolen.key"
    host_copy.write_bytes(ca_key)  # appears in the node as /var/lib/kubelet/stolen.key
    try:
        weakened(worker, "cp /var/lib/kubelet/stolen.key /etc/ssl/private/kubernetes-ca.key", "rm -f /etc/ssl/private/kubernetes-ca.key")
        rc, report = audit(converged)
        assert rc == 1
        found = [f for f in report["findings"] if f["id"] == "KW-CA-KEY-ON-NODE" and f["node"] == worker]
        assert found and found[0]["severity"] == "critical"
    finally:
        host_copy.unlink()


def test_html_report_renders_in_chromium(converged: Path, tmp_path: Path) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is not installed (make deps installs it)")
    page = tmp_path / "audit.html"
    r = subprocess.run([sys.executable, "-m", "kubeward", "audit", "-c", str(converged), "-o", "html", "--file", str(page)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([chromium, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert 'id="findings"' in dom.stdout and "<svg" in dom.stdout and 'id="diagram"' in dom.stdout
    shot = tmp_path / "audit.png"
    subprocess.run([chromium, *flags, f"--screenshot={shot}", "--window-size=1280,1400", page.as_uri()],
                   capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 20_000
    Path("bench/out").mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, "bench/out/audit-report.png")


def test_nmap_agrees_with_the_outside_vantage(converged: Path, lab_state: LabState) -> None:
    nmap = shutil.which("nmap")
    if nmap is None:
        pytest.skip("nmap is not installed (make deps installs it)")
    node = lab_state.nodes[-1]
    out = subprocess.run([nmap, "-Pn", "-n", "-sT", "-p-", "--min-rate", "20000", "--max-retries", "1", "-T5",
                          "-oG", "-", node.public_address], capture_output=True, text=True, timeout=300).stdout
    nmap_open = {int(p.split("/")[0]) for p in re.findall(r"(\d+)/open/tcp", out)}
    _, report = audit(converged)
    ours = {p["port"] for p in report["probes"]["ports"]
            if p["vantage"] == "outside" and p["target"] == node.name and p["protocol"] == "tcp" and p["state"] == "open"}
    assert nmap_open == ours == {22}


def test_etcd_without_client_certificate_auth_is_reported(converged: Path, lab: Lab, lab_state: LabState,
                                                          weakened: Any) -> None:
    """etcd 3.4 keeps requiring client certificates while trusted-ca-file is set, even with
    client-cert-auth false: the audit proves what is served, not what a flag says. Only once the CA
    is gone too does etcd serve anonymous clients, and that is a critical finding."""
    cp = next(n.name for n in lab_state.nodes if n.role == "control-plane")
    conf = "/etc/etcd/kubeward.yaml"

    def client_section(edit: str) -> str:
        # only the client side: the peers still need their certificates to keep the cluster together
        return (f"awk '/^client-transport-security:/{{c=1}} /^peer-transport-security:/{{c=0}} {edit} {{print}}' "
                f"/root/etcd.yaml.bak > {conf} && systemctl restart etcd")

    weakened(cp, f"cp -a {conf} /root/etcd.yaml.bak && "
             + client_section('c && /client-cert-auth: true/{sub(/true/, "false")}'),
             f"cp -a /root/etcd.yaml.bak {conf} && systemctl restart etcd")
    rc, report = audit(converged)
    assert not [f for f in report["findings"] if f["id"] == "KW-TLS-NO-CLIENT-AUTH"], report["findings"]
    _sh(lab, cp, client_section('c && /client-cert-auth: true/{sub(/true/, "false")} c && /trusted-ca-file/{next}'))
    rc, report = audit(converged)
    assert rc == 1
    found = [f for f in report["findings"] if f["id"] == "KW-TLS-NO-CLIENT-AUTH" and f["node"] == cp]
    assert found and found[0]["port"] == 2379 and found[0]["severity"] == "critical", report["findings"]
    assert not [f for f in report["findings"] if f["id"] == "KW-TLS-NO-CLIENT-AUTH" and f["port"] == 2380]
