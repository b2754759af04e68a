"""The lab's nodes are real hosts: systemd, sshd with pinned keys, sudo, two networks, apt, containers."""

from __future__ import annotations

import socket
import subprocess

import pytest

from kubeward.lab import oci
from kubeward.lab.lab import Lab, LabState
from tests.lab.conftest import ssh


def test_every_node_answers_ssh_with_its_pinned_key_and_runs_systemd(lab: Lab, lab_state: LabState) -> None:
    hostnames = set()
    for n in lab_state.nodes:
        r = ssh(lab, n.public_address, "hostname; systemctl is-system-running; sudo -n id -u; ps -o comm= -p 1")
        assert r.returncode == 0, r.stderr
        hostname, system_state, uid, pid1 = r.stdout.split()
        assert hostname == n.name
        assert system_state == "running"
        assert uid == "0"
        assert pid1 == "systemd"
        hostnames.add(hostname)
    assert len(hostnames) == len(lab_state.nodes)


def test_a_wrong_host_key_is_refused(lab: Lab, lab_state: LabState) -> None:
    """The pins in cluster.yml are the nodes' real keys: a pin of another node does not verify."""
    a, b = lab_state.nodes[0], lab_state.nodes[1]
    known = lab.dir / "known_hosts.wrong"
    known.write_text(f"{a.public_address} {b.host_key}\n")
    r = subprocess.run(
        ["ssh", "-i", str(lab.key_path), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
         "-o", f"UserKnownHostsFile={known}", f"debian@{a.public_address}", "true"],
        capture_output=True, text=True, timeout=30,
    )
    assert r.returncode == 255
    assert "HOST IDENTIFICATION HAS CHANGED" in r.stderr or "Host key verification failed" in r.stderr


def test_nodes_reach_each_other_on_private_addresses_only_inside_the_lab(lab: Lab, lab_state: LabState) -> None:
    first = lab_state.nodes[0]
    for other in lab_state.nodes[1:]:
        r = lab.exec(first.name, ["bash", "-c", f"timeout 3 bash -c '</dev/tcp/{other.private_address}/22'"])
        assert r.returncode == 0, f"{first.name} cannot reach {other.name} privately: {r.stderr}"
    # the operator (this machine) has no foot on the private network, and never routes to it
    route = subprocess.run(["ip", "route", "get", first.private_address], capture_output=True, text=True)
    assert route.returncode != 0 and "no route to host" in route.stderr.lower(), route.stdout
    with pytest.raises(OSError):
        socket.create_connection((first.private_address, 22), timeout=1).close()
    # and nodes have no route off the machine
    r = lab.exec(first.name, ["ip", "route", "get", "1.1.1.1"])
    assert r.returncode != 0


def test_interfaces_are_public_eth0_and_private_eth1(lab: Lab, lab_state: LabState) -> None:
    n = lab_state.nodes[1]
    r = lab.exec(n.name, ["ip", "-br", "-4", "addr"])
    lines = {line.split()[0].split("@")[0]: line for line in r.stdout.splitlines()}
    assert n.public_address in lines["eth0"]
    assert n.private_address in lines["eth1"]


def test_partition_cuts_a_node_off_and_heal_restores_it(lab: Lab, lab_state: LabState) -> None:
    cp, w = lab_state.nodes[0], lab_state.nodes[-1]
    probe = ["bash", "-c", f"timeout 2 bash -c '</dev/tcp/{w.private_address}/22'"]
    lab.partition(w.name)
    try:
        assert lab.exec(cp.name, probe).returncode != 0
        with pytest.raises(OSError):
            socket.create_connection((w.public_address, 22), timeout=1).close()
        assert {s.name: s.state for s in lab.status()}[w.name] == "partitioned"
    finally:
        lab.heal(w.name)
    assert lab.exec(cp.name, probe).returncode == 0
    socket.create_connection((w.public_address, 22), timeout=3).close()


def test_stop_and_start_keep_the_nodes_disk(lab: Lab, lab_state: LabState) -> None:
    w = lab_state.nodes[-1]
    assert lab.exec(w.name, ["sh", "-c", "echo kept > /root/marker"]).returncode == 0
    lab.stop_node(w.name)
    assert {s.name: s.state for s in lab.status()}[w.name] == "stopped"
    with pytest.raises(OSError):
        socket.create_connection((w.public_address, 22), timeout=1).close()
    lab.start_node(w.name)
    assert lab.exec(w.name, ["cat", "/root/marker"]).stdout.strip() == "kept"
    r = ssh(lab, w.public_address, "systemctl is-system-running")
    assert r.stdout.strip() == "running"


def test_containerd_from_the_lab_repository_runs_a_locally_built_image(lab: Lab, lab_state: LabState) -> None:
    """Packages really install from the lab repository, and OCI containers run inside a node."""
    w = lab_state.nodes[1]
    before = lab.exec(w.name, ["dpkg-query", "-W", "-f=${Status}", "containerd"])
    assert "install ok installed" not in before.stdout, "containerd must not be pre-installed"
    r = lab.exec(w.name, ["sh", "-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive "
                          "apt-get install -y -qq --no-install-recommends containerd"], timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    archive = oci.render_image_archive("kubeward.local/hello:1", oci.busybox_files(), ["/bin/echo", "hi"])
    host_dir = lab.node_spec(lab.load().node(w.name)).data / "containerd"
    (host_dir / "hello.tar").write_bytes(archive)
    r = lab.exec(w.name, ["sh", "-c", "ctr image import /var/lib/containerd/hello.tar && "
                          "ctr run --rm kubeward.local/hello:1 hello /bin/sh -c 'echo hello from pid1=$(cat /proc/1/comm); ls /bin/busybox'"],
                 timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    # PID 1 is the container's own shell (its own PID namespace), over the image's root
    assert "hello from pid1=sh" in r.stdout
    assert "/bin/busybox" in r.stdout
    # every cgroup v1 controller is usable inside the node (cpu and cpuacct apart included)
    r = lab.exec(w.name, ["sh", "-c", "ls /sys/fs/cgroup"])
    for controller in ("cpu", "cpuacct", "memory", "pids", "net_cls", "hugetlb", "systemd"):
        assert controller in r.stdout.split()
