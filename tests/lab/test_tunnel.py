"""`kubeward tunnel` and `kubeward ssh` against a real node: forwarding, reconnection after a
partition, a clean exit that frees its port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from kubeward.lab.lab import Lab, LabState
from tests.lab.conftest import kubeward, lab_config

PORT = 8771


def _get(url: str, timeout: float = 5) -> int:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return int(r.status)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_ssh_runs_a_command_with_kubewards_trust(lab: Lab, lab_state: LabState, tmp_path: Path) -> None:
    config = lab_config(lab, tmp_path)
    node = lab_state.nodes[0].name
    r = kubeward("ssh", "-c", str(config), node, "--", "hostname")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == node


def test_tunnel_forwards_survives_a_partition_and_exits_cleanly(
    lab: Lab, lab_state: LabState, tmp_path: Path
) -> None:
    config = lab_config(lab, tmp_path)
    node = lab_state.nodes[0].name
    assert lab.exec(node, ["systemd-run", "--unit", "kw-tunnel-test", "python3", "-m", "http.server",
                           "--bind", "127.0.0.1", str(PORT)]).returncode == 0
    # the server on the node listens before the first request (python3 starts slowly on a loaded machine)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and f":{PORT}" not in lab.exec(node, ["ss", "-Htln"]).stdout:
        time.sleep(0.2)
    local = 18771
    log = tmp_path / "tunnel.log"
    proc = subprocess.Popen([sys.executable, "-m", "kubeward", "tunnel", "-c", str(config), "--node", node,
                             "--local-port", str(local), str(PORT)], stderr=open(log, "w"), stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not _listening(local) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _get(f"http://127.0.0.1:{local}/", timeout=30) == 200
        # the tunnel listens on loopback only
        out = subprocess.run(["ss", "-Htln", f"sport = :{local}"], capture_output=True, text=True).stdout
        assert [line.split()[3] for line in out.splitlines()] == [f"127.0.0.1:{local}"]
        lab.partition(node)
        try:
            deadline = time.monotonic() + 40
            while "lost" not in log.read_text() and time.monotonic() < deadline:
                time.sleep(0.5)
            assert "connection to" in log.read_text() and "lost" in log.read_text()
        finally:
            lab.heal(node)
        deadline = time.monotonic() + 40
        status = 0
        while time.monotonic() < deadline:
            try:
                status = _get(f"http://127.0.0.1:{local}/", timeout=10)
                break
            except OSError:
                time.sleep(0.5)
        assert status == 200, log.read_text()
        assert "restored" in log.read_text()
    finally:
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(20)
        lab.exec(node, ["systemctl", "stop", "kw-tunnel-test"])
    assert rc == 0, log.read_text()
    assert not _listening(local)
    assert not os.path.exists(f"/proc/{proc.pid}")


def test_tunnel_check_reports_targets_that_do_not_answer(lab: Lab, tmp_path: Path) -> None:
    config = lab_config(lab, tmp_path)
    r = kubeward("tunnel", "-c", str(config), "--check", "-o", "json", "22", "1")
    assert r.returncode == 1
    import json

    info = {e["target"]: e for e in json.loads(r.stdout)}
    assert info["22"]["error"] is None
    assert "does not answer" in info["1"]["error"]
