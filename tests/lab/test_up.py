"""`kubeward up` / `plan` against real lab nodes: converge, idempotence, hardening that holds,
failures that stay contained, and a broken sshd option that never reaches a running sshd."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from kubeward.config import load_config
from kubeward.lab.lab import Lab, LabState
from kubeward.phases.base import RunContext
from kubeward.phases.runner import run_phases, select_phases
from kubeward.remote.ssh import Session, Trust
from kubeward.remote.targets import targets_for
from tests.lab.conftest import kubeward, up_json

ADMIN = "kubeadmin"


def test_first_up_converges_and_second_up_changes_nothing(converged: Path) -> None:
    rc, report = up_json(converged)
    assert rc == 0
    assert report["ok"] is True
    for name, h in report["hosts"].items():
        assert h["changed"] == 0, (name, h["changes"])
        assert h["unchanged"] > 0
    # no-op run: the connection, every phase's facts at once, the preflight peer probe, the audit's
    # peer scan
    assert max(report["round_trips"].values()) <= 4, report["round_trips"]


def test_provisioning_baseline_is_in_place(lab: Lab, converged: Path, lab_state: LabState) -> None:
    for n in lab_state.nodes:
        r = lab.exec(n.name, ["sh", "-c", f"id {ADMIN}; stat -c '%U %a' /home/{ADMIN}/.ssh /home/{ADMIN}/.ssh/authorized_keys;"
                              " grep -c '^127.0.1.1' /etc/hosts; hostname; dpkg-query -W -f='${Status}\\n' jq"])
        out = r.stdout
        assert "uid=2000(kubeadmin) gid=2000(kubeadmin)" in out and "(sudo)" in out
        assert f"{ADMIN} 700" in out and f"{ADMIN} 600" in out
        assert n.name in out and "install ok installed" in out


def test_workers_hold_no_ca_key_and_no_etcd_material(lab: Lab, converged: Path, lab_state: LabState) -> None:
    for n in lab_state.nodes:
        r = lab.exec(n.name, ["sh", "-c", "find /etc/kubernetes /var/lib/kubelet -type f -printf '%p %u %m\\n' | sort"])
        files = dict((line.split()[0], line.split()[1:]) for line in r.stdout.splitlines())
        assert not [f for f in files if f.endswith("ca.key")], (n.name, files)
        for path, (owner, mode) in files.items():
            if path.endswith(".key"):
                assert mode == "600", (n.name, path, mode)
        if n.role == "worker":
            assert not [f for f in files if "/etcd/" in f or "apiserver" in f or "sa.key" in f], files
            # kubelets generate their own keys and get certificates by CSR: kubeward places none
            assert "/etc/kubernetes/pki/ca.crt" in files, files
            assert not {"/var/lib/kubelet/pki/kubelet-client.key", "/var/lib/kubelet/pki/kubelet.key"} & set(files)
        else:
            assert files["/etc/kubernetes/pki/etcd/server.key"] == ["etcd", "600"]


def _ssh(lab: Lab, address: str, user: str, key: Path, *opts: str) -> subprocess.CompletedProcess[str]:
    state = lab.load()
    known = lab.dir / "known_hosts.up"
    known.write_text("".join(f"{n.public_address} {n.host_key}\n" for n in state.nodes))
    return subprocess.run(
        ["ssh", "-i", str(key), "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", f"UserKnownHostsFile={known}",
         "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=5", *opts, f"{user}@{address}", "id -un"],
        capture_output=True, text=True, timeout=30)


def test_hardened_sshd_refuses_passwords_root_and_rsa_and_accepts_the_admin_key(
    lab: Lab, converged: Path, lab_state: LabState, tmp_path: Path
) -> None:
    n = lab_state.nodes[0]
    # the admin's ed25519 key works for the admin account
    r = _ssh(lab, n.public_address, ADMIN, lab.key_path)
    assert r.returncode == 0 and r.stdout.strip() == ADMIN, r.stderr
    # only publickey is offered: a password attempt is refused before any password is asked
    r = _ssh(lab, n.public_address, ADMIN, lab.key_path, "-o", "PreferredAuthentications=password,keyboard-interactive")
    assert r.returncode == 255 and "Permission denied (publickey)" in r.stderr
    # root is refused even with an authorised ed25519 key
    pub = lab.key_path.with_suffix(".pub").read_text()
    assert lab.exec(n.name, ["sh", "-c", f"mkdir -p /root/.ssh && echo '{pub.strip()}' > /root/.ssh/authorized_keys"]).returncode == 0
    try:
        r = _ssh(lab, n.public_address, "root", lab.key_path)
        assert r.returncode == 255 and "Permission denied" in r.stderr
    finally:
        lab.exec(n.name, ["rm", "-f", "/root/.ssh/authorized_keys"])
    # an RSA user key is refused even when authorised
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    rsa_path = tmp_path / "id_rsa"
    rsa_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                           serialization.NoEncryption()))
    rsa_path.chmod(0o600)
    rsa_pub = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    ak = f"/home/{ADMIN}/.ssh/authorized_keys"
    assert lab.exec(n.name, ["sh", "-c", f"cp -a {ak} /root/ak.bak && echo '{rsa_pub}' >> {ak}"]).returncode == 0
    try:
        r = _ssh(lab, n.public_address, ADMIN, rsa_path, "-o", "PubkeyAcceptedAlgorithms=+rsa-sha2-512")
        assert r.returncode == 255 and "Permission denied" in r.stderr
    finally:
        lab.exec(n.name, ["sh", "-c", f"cp -a /root/ak.bak {ak}"])


def test_sshd_effective_settings_and_ssh_audit(lab: Lab, converged: Path, lab_state: LabState) -> None:
    n = lab_state.nodes[1]
    r = lab.exec(n.name, ["sshd", "-T"])
    eff = dict(line.split(" ", 1) for line in r.stdout.splitlines() if " " in line)
    assert eff["passwordauthentication"] == "no"
    assert eff["permitrootlogin"] == "no"
    assert eff["kbdinteractiveauthentication"] == "no"
    assert eff["authenticationmethods"] == "publickey"
    assert eff["allowtcpforwarding"] == "yes" and eff["gatewayports"] == "no"
    assert eff["x11forwarding"] == "no" and eff["allowagentforwarding"] == "no" and eff["permittunnel"] == "no"
    assert eff["ciphers"] == "chacha20-poly1305@openssh.com,aes256-gcm@openssh.com"
    assert eff["pubkeyacceptedalgorithms"] == "ssh-ed25519-cert-v01@openssh.com,ssh-ed25519"
    assert eff["kexalgorithms"].startswith("sntrup761x25519-sha512")
    assert eff["logingracetime"] == "30" and eff["loglevel"] == "VERBOSE"
    audit = shutil.which("ssh-audit") or str(Path(sys.executable).parent / "ssh-audit")
    r = subprocess.run([audit, "-j", n.public_address], capture_output=True, text=True, timeout=60)
    assert r.returncode in (0, 2), r.stdout[-2000:]  # 3 would be a failure; 2 is warnings only
    data = json.loads(r.stdout)
    fails = [a for section in ("kex", "enc", "mac", "key") for a in data.get(section, [])
             if a.get("notes", {}).get("fail")]
    assert fails == []
    assert {a["algorithm"] for a in data["enc"]} == {"chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com"}


def test_plan_after_one_edit_shows_exactly_that_change(lab: Lab, converged: Path, lab_state: LabState) -> None:
    text = converged.read_text()
    edited = converged.with_name("cluster-edited.yml")
    edited.write_text(text.replace("state_dir:", "packages: [less]\nstate_dir:", 1))
    r = kubeward("plan", "-c", str(edited), "-o", "json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    for name, h in report["hosts"].items():
        assert [c["summary"] for c in h["changes"]] == ["install less"], (name, h["changes"])
    # a host-specific edit touches only that host: its /etc/hosts line (first name kept as hostname)
    w = lab_state.nodes[-1]
    r = lab.exec(w.name, ["sh", "-c", "sed -i 's/^127.0.1.1.*/127.0.1.1 somewhere-else/' /etc/hosts"])
    assert r.returncode == 0
    report = json.loads(kubeward("plan", "-c", str(converged), "-o", "json").stdout)
    changed = {name: [c["summary"] for c in h["changes"]] for name, h in report["hosts"].items() if h["changes"]}
    assert changed == {w.name: [f"map 127.0.1.1 to {w.name} in /etc/hosts"]}
    diff = report["hosts"][w.name]["changes"][0]["diff"]
    assert "-127.0.1.1 somewhere-else" in diff and f"+127.0.1.1\t{w.name}" in diff
    rc, _ = up_json(converged)
    assert rc == 0


def test_a_broken_sshd_option_is_caught_and_sshd_keeps_working(lab: Lab, converged: Path, lab_state: LabState) -> None:
    env = {**os.environ, "KUBEWARD_TEST_SSHD_EXTRA": "NoSuchOption yes"}
    rc, report = up_json(converged, "--only", "harden-ssh", env=env)
    assert rc == 1
    for name, h in report["hosts"].items():
        assert h["status"] == "failed"
        assert "sshd -t" in h["error"] and "NoSuchOption" in h["error"], h["error"]
    n = lab_state.nodes[0]
    r = lab.exec(n.name, ["sh", "-c", "grep -c NoSuchOption /etc/ssh/sshd_config.d/*.conf; sshd -t && echo valid"])
    assert "valid" in r.stdout
    assert _ssh(lab, n.public_address, ADMIN, lab.key_path).returncode == 0
    assert up_json(converged)[0] == 0


def test_partitioned_host_fails_with_reason_while_the_others_finish_the_phase(
    lab: Lab, converged: Path, lab_state: LabState
) -> None:
    victim = lab_state.nodes[-1].name
    edited = converged.with_name("cluster-more.yml")
    edited.write_text(converged.read_text().replace("state_dir:", "packages: [less]\nstate_dir:", 1))
    loaded = load_config(edited)

    async def run() -> Any:
        trust = Trust(loaded.state_dir / "known_hosts")
        async with Session(targets_for(loaded.config), trust, command_timeout=8) as session:
            ctx = RunContext(loaded, session, apply=True)

            def progress(phase: str, host: str, state: str) -> None:
                if phase == "provision" and host == victim and state == "running":
                    lab.partition(victim)
            return await run_phases(ctx, select_phases([], []), progress)

    try:
        report = asyncio.run(run())
    finally:
        lab.heal(victim)
    prov = report.outcomes["provision"]
    assert prov[victim].error and ("timed out" in prov[victim].error or "connection lost" in prov[victim].error)
    for name, o in prov.items():
        if name != victim:
            assert o.error is None and [c.summary for c in o.changes] == ["install less"]
    assert report.stopped_after == "provision" and "harden-ssh" not in report.outcomes
    # after healing, the same run converges the victim; the others have nothing left to do
    rc, rep = up_json(edited)
    assert rc == 0, rep
    assert rep["hosts"][victim]["changed"] == 1
    assert all(h["changed"] == 0 for name, h in rep["hosts"].items() if name != victim)
