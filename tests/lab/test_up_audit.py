"""`kubeward audit` on the converged session lab: clean after `up`, and each deliberate weakness is
reported with the right id, node and port (and exit 1); the HTML report renders; nmap agrees.

(Named test_up_*.py so it runs after test_up.py.)"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kubeward.lab.lab import Lab, LabState
from tests.lab.conftest import kubeward, up_json


def audit(config: Path, *args: str, sweep: bool = False) -> tuple[int, dict[str, Any]]:
    """`kubeward audit` as JSON; without the all-ports sweep unless asked (the weaknesses these tests
    introduce are on candidate ports; test_up_dnat.py and the nmap test prove the sweep)."""
    extra = () if sweep else ("--no-sweep",)
    r = subprocess.run([sys.executable, "-m", "kubeward", "audit", "-c", str(config), "-o", "json", *extra, *args],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode in (0, 1, 3), r.stderr
    report = json.loads(r.stdout)
    assert (r.returncode == 3) == (report["proof"] == "incomplete" and not report["counts"]["critical"]
                                   and not report["counts"]["high"]), report["incomplete"]
    return r.returncode, report


def ids(report: dict[str, Any]) -> set[tuple[str, str, int | None]]:
    return {(f["id"], f["node"], f["port"]) for f in report["findings"]}


def test_audit_after_up_has_no_high_or_medium_finding(converged: Path) -> None:
    rc, report = audit(converged)
    assert rc == 0, (report["findings"], report["incomplete"])
    assert report["proof"] == "complete" and report["incomplete"] == []
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
    # a file that sorts before kubeward's drop-in ("!kubeward-hardening.conf") wins for the global context
    weakened(node, "echo 'PasswordAuthentication yes' > '/etc/ssh/sshd_config.d/!!aaa.conf' && systemctl reload ssh",
             "rm -f '/etc/ssh/sshd_config.d/!!aaa.conf' && systemctl reload ssh")
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
    r = kubeward("pki", "status", "--local", "-c", str(converged))  # `up` issued the PKI
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
    _, report = audit(converged, sweep=True)
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


# ----- issue 13: incomplete proofs, sshd in every context, keys judged by what they are ------------


def test_a_failed_ssh_auth_probe_is_not_proven_and_exits_3(converged: Path, lab: Lab, lab_state: LabState,
                                                           weakened: Any, tmp_path: Path) -> None:
    """sshd drops the probe's user at once on 2 of the nodes: the audit cannot learn what sshd offers
    there, so it must say "not proven" in every format and exit 3, and `up`'s audit phase fails."""
    nodes = [n.name for n in lab_state.nodes[:2]]
    conf = "/etc/ssh/sshd_config.d/zz-kw-test-probe.conf"
    for node in nodes:
        weakened(node, f"printf 'Match User kubeward-audit-nobody\\n  MaxAuthTries 0\\n' > {conf} && sshd -t && "
                 "systemctl reload ssh", f"rm -f {conf} && systemctl reload ssh")
    rc, report = audit(converged)
    assert rc == 3, (report["findings"], report["incomplete"])
    assert report["proof"] == "incomplete"
    assert {(i["node"], i["check"]) for i in report["incomplete"]} == {(n, "ssh-auth") for n in nodes}
    text = kubeward("audit", "-c", str(converged), "--no-sweep")
    assert text.returncode == 3 and "not proven" in text.stdout and "proof incomplete" in text.stdout, text.stdout
    page = tmp_path / "audit.html"
    r = kubeward("audit", "-c", str(converged), "-o", "html", "--file", str(page), "--no-sweep")
    assert r.returncode == 3 and 'id="incomplete"' in page.read_text() and nodes[0] in page.read_text()
    rc, up = up_json(converged, "--only", "audit")
    assert rc != 0
    for n in nodes:
        assert "not proven (ssh-auth)" in (up["hosts"][n]["error"] or ""), up["hosts"][n]


def test_a_match_block_allowing_root_password_login_is_reported(converged: Path, lab_state: LabState,
                                                                  weakened: Any) -> None:
    node = lab_state.nodes[2].name
    weakened(node, "cp -a /etc/ssh/sshd_config /root/sshd_config.kw && printf '\\nMatch Address 10.9.9.9\\n"
             "  PermitRootLogin yes\\n  PasswordAuthentication yes\\n' >> /etc/ssh/sshd_config && sshd -t && "
             "systemctl reload ssh", "cp -a /root/sshd_config.kw /etc/ssh/sshd_config && rm -f /root/sshd_config.kw "
             "&& systemctl reload ssh")
    rc, report = audit(converged)
    assert rc == 1
    found = [f for f in report["findings"] if f["id"] == "KW-SSHD-MATCH" and f["node"] == node]
    assert {f["title"] for f in found} == {"sshd permitrootlogin is yes in a Match context",
                                           "sshd passwordauthentication is yes in a Match context"}, found
    assert all(f["severity"] == "high" and "addr=10.9.9.9" in f["observed"] for f in found)
    # the global context is as kubeward hardened it: only the Match context shows the hole
    assert not [f for f in report["findings"] if f["id"] == "KW-SSHD-SETTING" and f["node"] == node]
    plan = kubeward("plan", "-c", str(converged), "-o", "json", timeout=300)
    notes = json.loads(plan.stdout)["hosts"][node]["notes"]
    assert any("Match address 10.9.9.9" in n and "permitrootlogin yes" in n for n in notes), notes


def test_a_drop_in_trusting_a_user_ca_is_neutralised_or_reported(converged: Path, lab: Lab, lab_state: LabState,
                                                                  weakened: Any, tmp_path: Path) -> None:
    """An attacker's CA in TrustedUserCAKeys lets any certificate it signs log in as the admin. In a file
    that sorts after kubeward's drop-in it loses (kubeward sets TrustedUserCAKeys none first): no login,
    nothing to report. In a file that sorts before it, it wins: the login works and the audit says so."""
    import yaml
    admin = yaml.safe_load(converged.read_text())["admin"]["name"]
    node = next(n for n in lab_state.nodes if n.role == "worker")
    for args in (["-f", str(tmp_path / "ca")], ["-f", str(tmp_path / "user")]):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", *args], check=True)
    subprocess.run(["ssh-keygen", "-q", "-s", str(tmp_path / "ca"), "-I", "attacker", "-n", admin,
                    str(tmp_path / "user.pub")], check=True)
    ca_pub = (tmp_path / "ca.pub").read_text().strip()

    def cert_login() -> tuple[int, str]:
        known = lab.dir / "known_hosts.test"
        known.write_text("".join(f"{n.public_address} {n.host_key}\n" for n in lab_state.nodes))
        for _ in range(40):  # sshd re-executes itself on reload: "refused" for a moment
            r = subprocess.run(["ssh", "-i", str(tmp_path / "user"), "-o", f"CertificateFile={tmp_path}/user-cert.pub",
                                "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                                "-o", f"UserKnownHostsFile={known}", "-o", "ConnectTimeout=5",
                                f"{admin}@{node.public_address}", "true"], capture_output=True, text=True, timeout=30)
            if "Connection refused" not in r.stderr:
                break
            time.sleep(0.25)
        return r.returncode, r.stderr

    late, early = "/etc/ssh/sshd_config.d/00-aaa.conf", "'/etc/ssh/sshd_config.d/!!aaa.conf'"
    weakened(node.name, f"echo '{ca_pub}' > /etc/ssh/kw-test-ca.pub && "
             f"echo 'TrustedUserCAKeys /etc/ssh/kw-test-ca.pub' > {late} && sshd -t && systemctl reload ssh",
             f"rm -f /etc/ssh/kw-test-ca.pub {late} {early} && systemctl reload ssh")
    rc, err = cert_login()
    assert rc != 0 and "Permission denied" in err, err
    rc, report = audit(converged, "--host", node.name)
    assert not [f for f in report["findings"] if "trustedusercakeys" in f["title"]], report["findings"]
    _sh(lab, node.name, f"mv {late} {early} && systemctl reload ssh")
    assert cert_login() == (0, "")  # the weakness is real
    rc, report = audit(converged, "--host", node.name)
    assert rc == 1
    found = [f for f in report["findings"] if f["id"] == "KW-SSHD-SETTING" and f["node"] == node.name]
    assert [f["title"] for f in found] == ["sshd trustedusercakeys is /etc/ssh/kw-test-ca.pub"], report["findings"]


def test_an_extra_key_for_root_is_reported(converged: Path, lab_state: LabState, weakened: Any) -> None:
    node = lab_state.nodes[0].name
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFyHcpvoFU9dFloJmk8OQ/+icBDjiqm8gFKciq1gR8X9 intruder"
    weakened(node, "mkdir -p /root/.ssh && cp -a /root/.ssh /root/.ssh.kwbak && "
             f"echo 'restrict,from=\"10.9.9.9\" {key}' >> /root/.ssh/authorized_keys",
             "rm -rf /root/.ssh && mv /root/.ssh.kwbak /root/.ssh")
    rc, report = audit(converged, "--host", node)
    assert rc == 1
    found = [f for f in report["findings"] if f["id"] == "KW-SSH-KEY-UNKNOWN" and f["node"] == node]
    assert [f["title"] for f in found] == ["an unknown key may log in as root"], report["findings"]
    assert found[0]["severity"] == "high" and "/root/.ssh/authorized_keys:" in found[0]["observed"]


def test_a_world_readable_copy_of_the_etcd_peer_key_is_reported(converged: Path, lab_state: LabState,
                                                                 weakened: Any) -> None:
    node = next(n.name for n in lab_state.nodes if n.role == "control-plane")
    copy = "/etc/kubernetes/pki/etcd/peer-backup.pem"
    weakened(node, f"cp /etc/kubernetes/pki/etcd/peer*.key {copy} && chmod 0644 {copy}", f"rm -f {copy}")
    rc, report = audit(converged, "--host", node)
    assert rc == 1
    found = [f for f in report["findings"] if f["id"] == "KW-KEY-READABLE" and f["node"] == node]
    assert [f["title"] for f in found] == [f"{copy} holds a private key others can read"], report["findings"]
    assert "0644" in found[0]["observed"]


def test_a_reencoded_copy_of_a_ca_key_on_a_worker_is_reported(converged: Path, worker: str, lab: Lab,
                                                             weakened: Any) -> None:
    from cryptography.hazmat.primitives import serialization
    state = Path(re.search(r"state_dir: (\S+)", converged.read_text()).group(1))  # type: ignore[union-attr]
    original = (state / "pki" / "etcd" / "ca.key").read_bytes()
    key = serialization.load_pem_private_key(original, None)
    other = (serialization.PrivateFormat.TraditionalOpenSSL if b"BEGIN PRIVATE KEY" in original
             else serialization.PrivateFormat.PKCS8)
    reencoded = key.private_bytes(serialization.Encoding.PEM, other, serialization.NoEncryption())
    assert reencoded != original
    host_copy = lab.node_spec(lab.load().node(worker)).data / "kubelet" / "kw-reencoded.pem"
    host_copy.write_bytes(reencoded)  # appears in the node as /var/lib/kubelet/kw-reencoded.pem
    try:
        weakened(worker, "mkdir -p /opt/kw-test && cp /var/lib/kubelet/kw-reencoded.pem /opt/kw-test/etcd-backup.pem "
                 "&& chmod 0600 /opt/kw-test/etcd-backup.pem && rm -f /var/lib/kubelet/kw-reencoded.pem",
                 "rm -rf /opt/kw-test")
        rc, report = audit(converged, "--host", worker)
        assert rc == 1
        found = [f for f in report["findings"] if f["id"] == "KW-CA-KEY-ON-NODE" and f["node"] == worker]
        assert [(f["title"], f["severity"]) for f in found] == [("the etcd-ca private key is on this node",
                                                                  "critical")], report["findings"]
        assert "/opt/kw-test/etcd-backup.pem" in found[0]["observed"]
    finally:
        host_copy.unlink(missing_ok=True)


# ----- issue 18: a no-op `up` reuses live probes of an unchanged cluster ---------------------------


def test_a_no_op_up_reuses_live_probes_until_a_ruleset_changes(converged: Path, lab_state: LabState,
                                                               weakened: Any) -> None:
    """`kubeward audit` probes live and records its proof (0600); a no-op `up` reuses it and says so;
    a table added on one node changes its ruleset, and the next `up` probes live again."""
    state = Path(re.search(r"state_dir: (\S+)", converged.read_text()).group(1))  # type: ignore[union-attr]
    rc, report = audit(converged)
    assert rc == 0 and report["probes"]["reuse"] is None, report["incomplete"]  # `audit` never reuses
    proof = state / "audit-proof.json"
    assert proof.stat().st_mode & 0o777 == 0o600
    node = lab_state.nodes[1].name

    def notes(up: dict[str, Any]) -> list[str]:
        return [n for n in up["hosts"][node]["notes"] if n.startswith("audit: live probes")]

    rc, up = up_json(converged, "--only", "audit")
    assert rc == 0, up["hosts"][node]
    assert len(notes(up)) == 1 and notes(up)[0].startswith("audit: live probes reused from "), up["hosts"][node]
    weakened(node, "nft add table inet kw-test-reuse", "nft delete table inet kw-test-reuse")
    rc, up = up_json(converged, "--only", "audit")
    assert rc == 0, up["hosts"][node]
    assert notes(up) == [n for n in notes(up) if f"ruleset of {node} changed since the live proof" in n] != [], \
        up["hosts"][node]["notes"]
