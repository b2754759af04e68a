"""Runs that collide or lie, against real lab nodes: unusable keys are connect failures in every command,
ssh-agent serves a passphrase-protected key, two runs at once are refused by the state directory's
lock, Ctrl-C reports what was done, a host lost mid-script is named as such, and `trust --replace`
shows both fingerprints before asking."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from kubeward.config import load_config
from kubeward.lab.lab import Lab, LabState
from kubeward.ops.base import Change, Outcome
from kubeward.phases.base import RunContext, run_ops
from kubeward.remote.known_hosts import HostKey
from kubeward.remote.ssh import Session, Trust
from kubeward.remote.targets import targets_for
from tests.lab.conftest import lab_config

KW = [sys.executable, "-m", "kubeward"]


def run(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*KW, *args], capture_output=True, text=True, timeout=300, env=env, input=input)


def no_agent_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}


def passphrase_copy(lab: Lab, tmp: Path) -> Path:
    """The lab's own key (authorized on every node), protected with a passphrase."""
    key = tmp / "id_locked"
    shutil.copy(lab.key_path, key)
    os.chmod(key, 0o600)
    subprocess.run(["ssh-keygen", "-q", "-p", "-N", "secret", "-f", str(key)], check=True, capture_output=True)
    return key


@pytest.mark.parametrize("which", ["/dev/null", "passphrase"])
def test_an_unusable_key_is_a_connect_failure_in_every_command(lab: Lab, lab_state: LabState, tmp_path: Path,
                                                               which: str) -> None:
    key = "/dev/null" if which == "/dev/null" else str(passphrase_copy(lab, tmp_path))
    reason = "is not a usable private key" if which == "/dev/null" else "passphrase-protected"
    config = lab_config(lab, tmp_path)
    config.write_text(config.read_text().replace(str(lab.key_path), key))
    env = no_agent_env()
    node = lab_state.nodes[0].name

    if which == "/dev/null":
        # validate already refuses it (before any connection), with the file and line, exit 2
        for cmd in (["up", "--only", "connect"], ["preflight"], ["audit"], ["ssh", node, "--", "true"]):
            r = run(cmd[0], "-c", str(config), *cmd[1:], env=env)
            text = r.stdout + r.stderr
            assert r.returncode == 2 and "ssh.key_path /dev/null is not a file" in text, (cmd, text)
            assert "Traceback" not in text, (cmd, text)
        return
    up = run("up", "-c", str(config), "--only", "connect", "-o", "json", env=env)
    assert up.returncode == 1, up.stdout + up.stderr
    hosts = json.loads(up.stdout)["hosts"]
    assert all(h["status"] == "failed" and reason in h["error"] for h in hosts.values()), hosts
    results = {
        "up": (up, 1),
        "preflight": (run("preflight", "-c", str(config), env=env), 1),
        "audit": (run("audit", "-c", str(config), env=env), 2),
        "ssh": (run("ssh", "-c", str(config), node, "--", "true", env=env), 1),
    }
    for cmd, (r, code) in results.items():
        text = r.stdout + r.stderr
        assert r.returncode == code, (cmd, text)
        assert reason in text and "cannot connect" in text, (cmd, text)
        assert "Traceback" not in text, (cmd, text)
    audit = results["audit"][0]
    assert "audit could not run" in audit.stderr


def test_ssh_agent_serves_a_passphrase_protected_key(lab: Lab, tmp_path: Path) -> None:
    key = passphrase_copy(lab, tmp_path)
    config = lab_config(lab, tmp_path)
    config.write_text(config.read_text().replace(str(lab.key_path), str(key)))
    askpass = tmp_path / "askpass"
    askpass.write_text("#!/bin/sh\necho secret\n")
    askpass.chmod(0o700)
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.PIPE, text=True)
    try:
        assert agent.stdout is not None and "SSH_AUTH_SOCK" in agent.stdout.readline()
        env = {**no_agent_env(), "SSH_AUTH_SOCK": str(sock), "SSH_ASKPASS": str(askpass),
               "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": ":0"}
        subprocess.run(["ssh-add", str(key)], env=env, check=True, capture_output=True, stdin=subprocess.DEVNULL,
                       timeout=30)
        r = run("up", "-c", str(config), "--only", "connect", "-o", "json", env=env)
        assert r.returncode == 0, r.stdout + r.stderr
        assert all(h["status"] == "unchanged" for h in json.loads(r.stdout)["hosts"].values())
        # and the connections carry commands (not just a connect phase that says ok)
        pre = run("preflight", "-c", str(config), "-o", "json", env=env)
        assert pre.stdout, pre.stderr
        report = json.loads(pre.stdout)
        assert report["unreachable"] == {} and report["results"], report
    finally:
        agent.terminate()
        agent.wait(30)


def test_two_up_runs_at_once_the_second_refuses(converged: Path) -> None:
    lock = load_config(converged).state_dir / "lock"
    first = subprocess.Popen([*KW, "up", "-c", str(converged), "-o", "json"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    stopped = False
    try:
        # hold the first run still while it holds the lock: it writes its pid only once it has it,
        # and empties the file before letting go, so a pid still there after SIGSTOP means held
        while True:
            assert first.poll() is None, "the first run ended before it was seen holding the lock"
            if lock.exists() and f'"pid": {first.pid},' in lock.read_text():
                first.send_signal(signal.SIGSTOP)
                stopped = True
                if f'"pid": {first.pid},' in lock.read_text():
                    break
                first.send_signal(signal.SIGCONT)
                stopped = False
        second = run("up", "-c", str(converged), "-o", "json")
        assert second.returncode == 75, second.stdout + second.stderr
        assert f"another kubeward run (pid {first.pid}, started " in second.stderr
        assert f"command 'kubeward up -c {converged} -o json') holds the lock on" in second.stderr
        assert "Traceback" not in second.stderr and second.stdout == ""
    finally:
        if stopped:
            first.send_signal(signal.SIGCONT)
        out, err = first.communicate(timeout=600)
    assert first.returncode == 0, out + err


def test_ctrl_c_during_up_reports_what_was_done_and_the_log(converged: Path) -> None:
    logs = load_config(converged).state_dir / "logs"
    proc = subprocess.Popen([*KW, "up", "-c", str(converged)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        log = None
        while log is None or "phase preflight" not in log.read_text():
            assert proc.poll() is None, "up ended before preflight started"
            found = list(logs.glob(f"up-*-{proc.pid}.log"))
            log = found[0] if found else None
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, out + err
    assert "interrupted (Ctrl-C)" in out and f"log: {log}" in out, out
    assert "Aborted!" not in out + err and "Traceback" not in err, out + err
    m = re.search(r"during phase (\S+)", out)
    if m and m.group(1) not in ("connect", "preflight", "audit"):
        assert "may be half-changed" in out, out  # every host of that phase is named


@dataclass(frozen=True)
class Step:
    """An operation that always wants to run its script (for the connection-lost test)."""

    name: str
    script: str

    @property
    def id(self) -> str:
        return f"step:{self.name}"

    def fact_script(self) -> str:
        return "true"

    def evaluate(self, fact: str) -> list[Outcome]:
        return [Change(self.id, f"step {self.name}", self.script)]


def test_a_host_lost_mid_script_is_reported_as_connection_lost(lab: Lab, lab_state: LabState, tmp_path: Path,
                                                               converged: Path) -> None:
    loaded = load_config(converged)
    host = lab_state.nodes[-1].name
    user = loaded.config.host(host).ssh.user
    # the script kills the sshd session it runs under: the host is gone as far as kubeward can tell
    ops = [Step("one", "true"), Step("kill", f"pkill -KILL -f '^sshd: {user}'; sleep 5"), Step("three", "true")]

    async def go() -> str | None:
        trust = Trust(loaded.state_dir / "known_hosts")
        async with Session(targets_for(loaded.config, [host]), trust) as session:
            ctx = RunContext(loaded, session, apply=True)
            return (await run_ops(ctx, host, ops, "provision")).error

    error = asyncio.run(go())
    assert error is not None
    assert error.startswith(f"connection to {host} lost during provision after 1 of 3 change(s)"), error
    assert "@@" not in error


def test_trust_replace_shows_both_fingerprints_before_asking(lab: Lab, lab_state: LabState, tmp_path: Path) -> None:
    config = lab_config(lab, tmp_path, pins=False)
    node = lab_state.nodes[0]
    assert run("trust", "-c", str(config)).returncode == 0
    known = tmp_path / "state" / "known_hosts"
    real = HostKey.parse(node.host_key)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
    other = HostKey.parse((tmp_path / "other.pub").read_text())
    text = known.read_text()
    assert real.blob in text
    known.write_text(text.replace(real.blob, other.blob))

    refused = run("trust", "-c", str(config), "--replace", node.name, input="n\n")
    assert refused.returncode == 1
    shown = refused.stderr + refused.stdout
    asked = shown.index("Replace the recorded keys")
    assert -1 < shown.find(other.fingerprint) < asked and -1 < shown.find(real.fingerprint) < asked, shown
    assert other.blob in known.read_text()  # nothing replaced without a yes

    done = run("trust", "-c", str(config), "--replace", node.name, "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"trusted {real.fingerprint}" in done.stdout
    assert real.blob in known.read_text() and other.blob not in known.read_text()
