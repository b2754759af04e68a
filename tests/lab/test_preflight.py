"""`kubeward preflight` and host-key trust against real lab nodes (real sshd, sudo, ss, systemd)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubeward.lab.lab import Lab, LabState
from tests.lab.conftest import kubeward, lab_config


def preflight_json(config: Path) -> tuple[int, dict[str, Any]]:
    r = kubeward("preflight", "-c", str(config), "--output", "json")
    assert r.returncode in (0, 1), r.stderr
    return r.returncode, json.loads(r.stdout)


def failures(report: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(x["host"], x["check"]): x["observed"] for x in report["results"] if x["status"] == "fail"}


@pytest.fixture
def config(lab: Lab, tmp_path: Path) -> Path:
    return lab_config(lab, tmp_path)


def test_preflight_passes_on_a_fresh_lab(config: Path, lab_state: LabState) -> None:
    rc, report = preflight_json(config)
    assert rc == 0, failures(report)
    assert report["ok"] is True
    checks = {(x["host"], x["check"]): x["status"] for x in report["results"]}
    for n in lab_state.nodes:
        for check in ("os", "sudo", "admin", "hostname", "private-interface", "ports", "ssh-forwarding",
                      "private-network"):
            assert checks[(n.name, check)] == "pass", (n.name, check)
    # facts in one round-trip and the peer probe in another, plus the connection itself
    assert all(v <= 3 for v in report["round_trips"].values()), report["round_trips"]


def test_text_output_is_a_table_and_verbose_counts_round_trips(config: Path) -> None:
    r = kubeward("preflight", "-c", str(config), "-v")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "priv-if" in r.stdout and "SSH round-trips per host" in r.stdout


@pytest.fixture
def worker(lab: Lab, lab_state: LabState) -> str:
    return lab_state.nodes[-1].name


def _sh(lab: Lab, node: str, script: str) -> None:
    r = lab.exec(node, ["sh", "-c", script])
    assert r.returncode == 0, r.stdout + r.stderr


def test_admin_uid_mismatch_fails_naming_host_and_value(lab: Lab, config: Path, worker: str) -> None:
    _sh(lab, worker, "useradd --uid 2345 --user-group kubeadmin")
    try:
        rc, report = preflight_json(config)
        assert rc == 1
        observed = failures(report)[(worker, "admin")]
        assert "uid=2345" in observed
    finally:
        _sh(lab, worker, "userdel kubeadmin")


def test_missing_etc_hosts_mapping_fails(lab: Lab, config: Path, worker: str) -> None:
    _sh(lab, worker, "cp /etc/hosts /root/hosts.bak && sed -i '/^127.0.1.1/d' /etc/hosts")
    try:
        rc, report = preflight_json(config)
        assert rc == 1
        assert "127.0.1.1" in failures(report)[(worker, "hostname")]
    finally:
        _sh(lab, worker, "cp /root/hosts.bak /etc/hosts")


def test_port_taken_by_another_listener_fails(lab: Lab, config: Path, worker: str) -> None:
    _sh(lab, worker, "systemd-run --unit kw-squatter python3 -m http.server --bind 0.0.0.0 10250 "
                     "&& for i in $(seq 50); do ss -Htln | grep -q ':10250 ' && break; sleep 0.1; done")
    try:
        rc, report = preflight_json(config)
        assert rc == 1
        observed = failures(report)[(worker, "ports")]
        assert "10250" in observed and "python3" in observed
    finally:
        _sh(lab, worker, "systemctl stop kw-squatter")


def test_tcp_forwarding_disabled_fails(lab: Lab, config: Path, worker: str) -> None:
    _sh(lab, worker, "echo 'AllowTcpForwarding no' > /etc/ssh/sshd_config.d/00-test.conf && systemctl reload ssh")
    try:
        rc, report = preflight_json(config)
        assert rc == 1
        assert "AllowTcpForwarding no" in failures(report)[(worker, "ssh-forwarding")]
    finally:
        _sh(lab, worker, "rm /etc/ssh/sshd_config.d/00-test.conf && systemctl reload ssh")


def test_partitioned_node_is_unreachable_and_the_others_are_still_checked(
    lab: Lab, config: Path, lab_state: LabState, worker: str
) -> None:
    lab.partition(worker)
    try:
        r = kubeward("preflight", "-c", str(config), "--output", "json", "--connect-timeout", "1")
        assert r.returncode == 1
        report = json.loads(r.stdout)
        assert set(report["unreachable"]) == {worker}
        assert "timeout" in report["unreachable"][worker] or "unreachable" in report["unreachable"][worker]
        others = {x["host"] for x in report["results"]}
        assert others == {n.name for n in lab_state.nodes} - {worker}
        assert not failures(report)  # the others pass; they do not probe the unreachable node
    finally:
        lab.heal(worker)


@pytest.fixture
def rekeyed(lab: Lab, worker: str) -> Iterator[str]:
    """Regenerate a node's host key (as a reinstall would), restoring the original afterwards."""
    _sh(lab, worker, "cp -a /etc/ssh/ssh_host_ed25519_key /root/hk && cp -a /etc/ssh/ssh_host_ed25519_key.pub /root/hk.pub"
                     " && rm /etc/ssh/ssh_host_ed25519_key* && ssh-keygen -q -t ed25519 -N '' "
                     "-f /etc/ssh/ssh_host_ed25519_key && systemctl restart ssh")
    try:
        yield worker
    finally:
        _sh(lab, worker, "cp -a /root/hk /etc/ssh/ssh_host_ed25519_key && cp -a /root/hk.pub "
                         "/etc/ssh/ssh_host_ed25519_key.pub && systemctl restart ssh")


def test_pinned_host_key_mismatch_stops_with_both_fingerprints(
    lab: Lab, config: Path, lab_state: LabState, rekeyed: str
) -> None:
    r = kubeward("preflight", "-c", str(config), "--output", "json", "--trust-new-hosts")
    assert r.returncode == 1
    why = json.loads(r.stdout)["unreachable"][rekeyed]
    assert "does not match the key pinned" in why
    assert len(re.findall(r"SHA256:[A-Za-z0-9+/]{43}", why)) == 2
    r = kubeward("trust", "-c", str(config), rekeyed)
    assert r.returncode == 1 and "pinned" in r.stdout


def test_unpinned_hosts_need_trust_and_a_changed_key_is_refused(lab: Lab, tmp_path: Path, worker: str) -> None:
    config = lab_config(lab, tmp_path, pins=False)
    r = kubeward("preflight", "-c", str(config), "--output", "json")
    assert r.returncode == 1
    report = json.loads(r.stdout)
    assert all("unknown" in why and "kubeward trust" in why and "SHA256:" in why
               for why in report["unreachable"].values())
    r = kubeward("trust", "-c", str(config))
    assert r.returncode == 0, r.stdout + r.stderr
    known = (tmp_path / "state" / "known_hosts").read_text()
    assert known.count("ssh-ed25519") == len(lab.load().nodes)
    assert (tmp_path / "state" / "known_hosts").stat().st_mode & 0o777 == 0o600
    assert kubeward("preflight", "-c", str(config)).returncode == 0
    # now the worker is re-keyed: every command stops, naming both fingerprints; no flag accepts it
    _sh(lab, worker, "cp -a /etc/ssh/ssh_host_ed25519_key /root/hk2 && cp -a /etc/ssh/ssh_host_ed25519_key.pub "
                     "/root/hk2.pub && rm /etc/ssh/ssh_host_ed25519_key* && ssh-keygen -q -t ed25519 -N '' "
                     "-f /etc/ssh/ssh_host_ed25519_key && systemctl restart ssh")
    try:
        for extra in ([], ["--trust-new-hosts"]):
            r = kubeward("preflight", "-c", str(config), "--output", "json", *extra)
            why = json.loads(r.stdout)["unreachable"][worker]
            assert "HOST KEY CHANGED" in why
            assert len(set(re.findall(r"SHA256:[A-Za-z0-9+/]{43}", why))) == 2
        r = kubeward("trust", "-c", str(config), worker)
        assert r.returncode == 1 and "HOST KEY CHANGED" in r.stdout
        r = kubeward("trust", "-c", str(config), "--replace", "--yes", worker)
        assert r.returncode == 0, r.stdout + r.stderr
        assert kubeward("preflight", "-c", str(config)).returncode == 0
    finally:
        _sh(lab, worker, "cp -a /root/hk2 /etc/ssh/ssh_host_ed25519_key && cp -a /root/hk2.pub "
                         "/etc/ssh/ssh_host_ed25519_key.pub && systemctl restart ssh")


def test_hosts_behind_a_bastion_are_reached_through_it(lab: Lab, lab_state: LabState, tmp_path: Path) -> None:
    """Every node but the first is addressed by its private address, which this machine cannot route
    to: only the jump through the first node (host key pinned too) reaches them."""
    jump = lab_state.nodes[0]
    lines = [line for line in lab_config(lab, tmp_path).read_text().splitlines()]
    text = "\n".join(lines) + "\n"
    for n in lab_state.nodes[1:]:
        text = text.replace(
            f"    address: {n.public_address}\n",
            f"    address: {n.private_address}\n", 1)
        text = text.replace(
            f"      host_key: \"{n.host_key}\"\n",
            f"      host_key: \"{n.host_key}\"\n      bastion:\n        address: {jump.public_address}\n"
            f"        host_key: \"{jump.host_key}\"\n", 1)
    config = tmp_path / "bastion.yml"
    config.write_text(text)
    assert text.count("bastion:") == len(lab_state.nodes) - 1
    rc, report = preflight_json(config)
    assert rc == 0, (report["unreachable"], failures(report))
    target = lab_state.nodes[-1]
    r = kubeward("ssh", "-c", str(config), target.name, "--", "hostname")
    assert r.returncode == 0 and r.stdout.strip() == target.name, r.stderr
