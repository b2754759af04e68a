"""Labs side by side, clear errors, and `lab down` leaving nothing behind."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kubeward.errors import LabError
from kubeward.lab.lab import Lab, LabState
from tests.lab.conftest import new_lab_name


def _leftovers(name: str) -> dict[str, list[str]]:
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    mounts = Path("/proc/mounts").read_text()
    procs = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if f"/labs/{name}/" in (p / "cmdline").read_bytes().decode(errors="replace"):
                    procs.append(p.name)
            except OSError:
                pass
    cgroups = [str(p) for p in Path("/sys/fs/cgroup").glob(f"*/**/kubeward-{name}-*")]
    return {
        "netns": [line for line in netns.splitlines() if f"kubeward-{name}-" in line],
        "mounts": [line for line in mounts.splitlines() if f"/{name}/" in line or f"kubeward-{name}-" in line],
        "processes": procs,
        "cgroups": cgroups,
        "dirs": [str(Path(Lab(name).dir))] if Lab(name).dir.exists() else [],
    }


def test_second_lab_side_by_side_then_down_leaves_nothing(lab: Lab, lab_state: LabState) -> None:
    other = Lab(new_lab_name("s"))
    try:
        state = other.up(1, 1)
        # its own subnets, disjoint from the session lab's
        mine = [ipaddress.ip_network(state.public_subnet), ipaddress.ip_network(state.private_subnet)]
        theirs = [ipaddress.ip_network(lab_state.public_subnet), ipaddress.ip_network(lab_state.private_subnet)]
        assert not any(a.overlaps(b) for a in mine for b in theirs)
        assert any(_leftovers(other.name).values())
        # a name in use is a clear error
        with pytest.raises(LabError, match="already exists"):
            other.up(1, 1)
    finally:
        other.down()
    assert _leftovers(other.name) == {k: [] for k in _leftovers(other.name)}
    route = subprocess.run(["ip", "route", "show", state.private_subnet], capture_output=True, text=True)
    assert route.stdout.strip() == ""
    bridge = f"kw{state.slot}pub"
    assert not Path(f"/sys/class/net/{bridge}").exists()


def test_cli_status_json_and_errors(lab: Lab) -> None:
    env = {**os.environ}
    r = subprocess.run([sys.executable, "-m", "kubeward", "lab", "status", "--name", lab.name, "-o", "json"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["name"] == lab.name
    assert [n["state"] for n in data["nodes"]] == ["running"] * len(lab.load().nodes)
    r = subprocess.run([sys.executable, "-m", "kubeward", "lab", "status", "--name", "nosuchlab"],
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert "no lab named 'nosuchlab'" in r.stderr
    r = subprocess.run([sys.executable, "-m", "kubeward", "lab", "up", "--name", "Bad_Name"],
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert "invalid lab name" in r.stderr


def test_cli_exec_runs_inside_the_node(lab: Lab, lab_state: LabState) -> None:
    node = lab_state.nodes[0].name
    r = subprocess.run([sys.executable, "-m", "kubeward", "lab", "exec", "--name", lab.name, node, "--",
                        "sh", "-c", "hostname; cat /proc/1/comm"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [node, "systemd"]


def test_a_failed_boot_stops_the_nodes_already_booted(monkeypatch: pytest.MonkeyPatch) -> None:
    """The second node's boot fails (injected): the first, already running, must not be left behind."""
    import kubeward.lab.node as nodemod

    real = nodemod.boot
    booted: list[str] = []

    def failing_second(spec: nodemod.NodeSpec, image: object) -> tuple[int, int]:
        booted.append(spec.name)
        if len(booted) == 2:
            raise LabError("injected boot failure")
        return real(spec, image)  # type: ignore[arg-type]

    monkeypatch.setattr(nodemod, "boot", failing_second)
    lb = Lab(new_lab_name("f"))
    with pytest.raises(LabError, match="injected boot failure"):
        lb.up(2, 1)
    assert len(booted) == 2
    assert _leftovers(lb.name) == {k: [] for k in _leftovers(lb.name)}
