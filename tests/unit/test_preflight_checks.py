"""Preflight as data: a host's captured facts output in, parsed facts and check results out."""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from kubeward.config import ClusterConfig, parse_config
from kubeward.hostscripts.sections import render_marker
from kubeward.preflight.checks import CHECKS, HostInput, Result, clock_skew, evaluate
from kubeward.preflight.facts import (
    PROBE_PORT,
    Facts,
    maps_127_0_1_1,
    parse_facts,
    parse_ip_addr,
    parse_probe_output,
    parse_ss,
    render_facts_script,
    render_probe_script,
)

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFyHcpvoFU9dFloJmk8OQ/+icBDjiqm8gFKciq1gR8X9"
OTHER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJS4M6K1/s3jk6KtQoQqP8ldCTyJmifkEzisd4bkG7kD"

CLUSTER_YML = f"""
name: test
ssh:
  user: debian
  key_path: keys/id_ed25519
hosts:
  - name: cp-1
    address: 192.0.2.10
    private_address: 10.0.0.10
    role: control-plane
  - name: worker-1
    address: 192.0.2.11
    private_address: 10.0.0.11
    role: worker
  - name: worker-2
    address: 192.0.2.12
    private_address: 10.0.0.12
    role: worker
admin:
  name: kubeadmin
  uid: 1500
  ssh_public_key: {KEY} admin@example.com
network:
  private_subnet: 10.0.0.0/24
  admin_cidrs: [198.51.100.0/24]
"""
CONFIG: ClusterConfig = parse_config(CLUSTER_YML).config
PRIVATE = {"cp-1": "10.0.0.10", "worker-1": "10.0.0.11", "worker-2": "10.0.0.12"}
WINDOW = (1_700_000_000.0, 1_700_000_000.4)

OS_RELEASE = """PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
"""


def ip_json(private: str, iface: str = "eth1") -> str:
    links: list[dict[str, Any]] = [
        {"ifindex": 1, "ifname": "lo", "flags": ["LOOPBACK", "UP"], "addr_info": [
            {"family": "inet", "local": "127.0.0.1", "prefixlen": 8, "scope": "host", "label": "lo"},
            {"family": "inet6", "local": "::1", "prefixlen": 128, "scope": "host"}]},
        {"ifindex": 2, "ifname": "eth0", "flags": ["BROADCAST", "UP"], "addr_info": [
            {"family": "inet", "local": "192.0.2.10", "prefixlen": 24, "scope": "global", "label": "eth0"}]},
        {"ifindex": 3, "ifname": iface, "flags": ["BROADCAST", "UP"], "addr_info": [
            {"family": "inet", "local": private, "prefixlen": 24, "scope": "global", "label": iface},
            {"family": "inet6", "local": "fe80::1", "prefixlen": 64, "scope": "link"}]},
    ]
    return json.dumps(links)


def ss_lines(*extra: str) -> str:
    base = [
        'LISTEN 0      128          0.0.0.0:22         0.0.0.0:*    users:(("sshd",pid=512,fd=3))',
        'LISTEN 0      128             [::]:22            [::]:*    users:(("sshd",pid=512,fd=4))',
        'LISTEN 0      4096   127.0.0.53%lo:53         0.0.0.0:*    users:(("systemd-resolve",pid=301,fd=14))',
    ]
    return "\n".join([*base, *extra])


SSHD_T = "permitrootlogin no\npubkeyauthentication yes\npasswordauthentication no\nallowtcpforwarding yes"


def sections(host: str, **over: str | None) -> dict[str, str | None]:
    """The sections of a healthy host's answer, in the script's order; None drops a section."""
    s: dict[str, str | None] = {
        "os": OS_RELEASE.rstrip("\n"),
        "arch": "x86_64",
        "hostname": host,
        "systemd": "yes",
        "apt": "yes",
        "sudo": "yes",
        "time": f"{WINDOW[0] + 0.2:.9f}",
        "ntp": "yes",
        "etchosts": f"127.0.0.1\tlocalhost\n127.0.1.1\t{host}\n\n::1     localhost ip6-localhost ip6-loopback",
        "ip": ip_json(PRIVATE[host]),
        "swaps": "",
        "modules": "br_netfilter available\noverlay loaded",
        "passwd": "kubeadmin:x:1500:1500::/home/kubeadmin:/bin/bash",
        "uid": "kubeadmin:x:1500:1500::/home/kubeadmin:/bin/bash",
        "ss": ss_lines(),
        "sshd": SSHD_T,
        "authkeys": f"{KEY} admin@example.com",
        "ipforward": "0\nwritable",
        "listener": f"{PROBE_PORT} listening",
        "end": "",
    }
    s.update(over)
    return s


def output(secs: dict[str, str | None]) -> str:
    out = []
    for name, body in secs.items():
        if body is None:
            continue
        out.append(f"@@kw preflight {'finished' if name == 'end' else name}")
        if body:
            out.append(body)
    return "\n".join(out) + "\n"


def facts(host: str, **over: str | None) -> Facts:
    return parse_facts(output(sections(host, **over)))


def host_inputs(overrides: dict[str, dict[str, str | None]] | None = None,
                peers: dict[str, dict[str, bool]] | None = None) -> list[HostInput]:
    overrides = overrides or {}
    out = []
    for h in CONFIG.hosts:
        f = facts(h.name, **overrides.get(h.name, {}))
        seen = (peers or {}).get(h.name, {a: True for n, a in PRIVATE.items() if n != h.name})
        out.append(HostInput(h, f, WINDOW, seen))
    return out


def results(overrides: dict[str, dict[str, str | None]] | None = None, **kw: Any) -> dict[tuple[str, str], Result]:
    return {(r.host, r.check): r for r in evaluate(CONFIG, host_inputs(overrides, **kw))}


def statuses(rs: dict[tuple[str, str], Result], check: str) -> dict[str, str]:
    return {h: r.status for (h, c), r in rs.items() if c == check}


# ----- parsing ----------------------------------------------------------------------------------


def test_parse_facts_realistic_output() -> None:
    f = facts("cp-1", ss=ss_lines(
        'LISTEN 0      4096       10.0.0.10:2379       0.0.0.0:*    users:(("etcd",pid=777,fd=7),("etcd",pid=777,fd=8))',
        'LISTEN 0      4096               *:10250            *:*    users:(("kubelet",pid=900,fd=20))',
        "LISTEN 0      4096       127.0.0.1:9999       0.0.0.0:*",
    ), swaps="/swap.img                               file\t\t2097148\t\t0\t\t-2")
    assert (f.os_id, f.os_version, f.os_pretty) == ("debian", "12", "Debian GNU/Linux 12 (bookworm)")
    assert (f.arch, f.hostname, f.systemd, f.apt, f.sudo, f.ntp) == ("x86_64", "cp-1", True, True, "yes", "yes")
    assert f.time == pytest.approx(WINDOW[0] + 0.2)
    assert f.addresses == {"lo": ["127.0.0.1"], "eth0": ["192.0.2.10"], "eth1": ["10.0.0.10"]}
    assert f.swaps == ["/swap.img                               file\t\t2097148\t\t0\t\t-2"]
    assert f.modules == {"br_netfilter": "available", "overlay": "loaded"}
    assert f.admin_passwd == ("kubeadmin", 1500, 1500)
    assert f.uid_owner == "kubeadmin"
    assert f.listener_port == PROBE_PORT
    assert f.privileged
    assert [(s.address, s.port, s.process) for s in f.listening] == [
        ("0.0.0.0", 22, "sshd"), ("::", 22, "sshd"), ("127.0.0.53", 53, "systemd-resolve"),
        ("10.0.0.10", 2379, "etcd"), ("*", 10250, "kubelet"), ("127.0.0.1", 9999, ""),
    ]
    assert f.sshd == {"permitrootlogin": "no", "pubkeyauthentication": "yes", "passwordauthentication": "no",
                      "allowtcpforwarding": "yes"}
    assert f.authorized_keys == [f"{KEY} admin@example.com"]
    assert (f.ip_forward, f.ip_forward_writable) == ("0", True)
    assert f.complete


def test_parse_facts_without_sudo_part() -> None:
    f = facts("cp-1", sudo="no", ss=None, sshd=None, authkeys=None, ipforward=None, listener="", end=None)
    assert not f.privileged and not f.complete
    assert f.sudo == "no" and f.listening == [] and f.listener_port is None
    assert f.ip_forward == "" and not f.ip_forward_writable


def test_parse_facts_absent_admin_and_garbage() -> None:
    f = facts("cp-1", passwd="", uid="debian:x:1500:1500::/home/debian:/bin/bash", time="garbage",
              ip="not json", ntp="")
    assert f.admin_passwd is None and f.uid_owner == "debian"
    assert f.time is None and f.addresses == {} and f.ntp == "unknown"


def test_parse_facts_of_empty_output() -> None:
    f = parse_facts("")
    assert f == Facts()


def test_parse_ss_skips_non_listen_and_bad_lines() -> None:
    text = ("State  Recv-Q Send-Q Local Address:Port Peer Address:Port Process\n"
            "LISTEN 0 128 [fe80::1%eth1]:2380 [::]:* users:((\"etcd\",pid=1,fd=3))\n"
            "ESTAB 0 0 10.0.0.10:22 10.0.0.1:5555\n"
            "LISTEN 0 128 0.0.0.0:notaport 0.0.0.0:*\n")
    assert [(s.address, s.port, s.process) for s in parse_ss(text)] == [("fe80::1", 2380, "etcd")]


def test_parse_ip_addr() -> None:
    assert parse_ip_addr("") == {}
    assert parse_ip_addr('{"not": "a list"}') == {}
    assert parse_ip_addr('[{"ifname": "eth1", "addr_info": []}]') == {"eth1": []}


def test_maps_127_0_1_1() -> None:
    assert maps_127_0_1_1("127.0.1.1 cp-1.lan cp-1 # note\n", "cp-1")
    assert not maps_127_0_1_1("# 127.0.1.1 cp-1\n", "cp-1")
    assert not maps_127_0_1_1("127.0.1.1 cp-10\n", "cp-1")
    assert not maps_127_0_1_1("127.0.0.1 cp-1\n", "cp-1")


def test_facts_of_a_hosts_file_without_trailing_newline(tmp_path: Any) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n127.0.1.1 cp-1")  # no final newline
    # the two lines of the real script around it, with the file swapped in
    script = f"{render_marker('preflight', 'etchosts')}; cat {hosts}\n{render_marker('preflight', 'ip')}; echo '{ip_json('10.0.0.10')}'"
    text = subprocess.run(["/bin/sh", "-c", script],
                          capture_output=True, text=True, timeout=10, check=True).stdout
    f = parse_facts(text)
    assert f.addresses.get("eth1") == ["10.0.0.10"]
    assert maps_127_0_1_1(f.etc_hosts, "cp-1")


# ----- evaluate ---------------------------------------------------------------------------------


def test_every_check_runs_on_every_host_and_all_pass() -> None:
    rs = results()
    assert {c for (_, c) in rs} == {c.id for c in CHECKS}
    assert {h for (h, _) in rs} == set(PRIVATE)
    bad = {k: (r.status, r.observed, r.message) for k, r in rs.items() if r.status != "pass"}
    assert bad == {}
    assert rs[("cp-1", "hostname")].observed == "cp-1 -> 127.0.1.1"
    assert rs[("cp-1", "private-network")].observed == "reached 2 peer(s) (listener)"


def test_unreachable_host_yields_no_results() -> None:
    inputs = host_inputs()
    inputs[1] = HostInput(inputs[1].host, None, error="connection refused")
    rs = evaluate(CONFIG, inputs)
    assert {r.host for r in rs} == {"cp-1", "worker-2"}


def test_os_unsupported() -> None:
    rs = results({"worker-1": {"os": 'ID=centos\nVERSION_ID="9"', "arch": "riscv64", "systemd": "no",
                               "apt": "no"}})
    r = rs[("worker-1", "os")]
    assert r.status == "fail"
    for word in ("unsupported OS centos 9", "riscv64", "systemd", "apt-get"):
        assert word in r.message
    assert rs[("cp-1", "os")].status == "pass"


def test_sudo_missing() -> None:
    rs = results({"worker-2": {"sudo": "no", "ss": None, "sshd": None, "authkeys": None, "ipforward": None}})
    assert rs[("worker-2", "sudo")].status == "fail"
    assert "NOPASSWD" in rs[("worker-2", "sudo")].message
    # what needs sudo is skipped, not failed
    assert statuses(rs, "ports")["worker-2"] == "skip"
    assert statuses(rs, "ssh-forwarding")["worker-2"] == "skip"
    assert statuses(rs, "ip-forward")["worker-2"] == "skip"


def test_admin_uid_mismatch_fails_naming_the_other_nodes() -> None:
    rs = results({"worker-1": {"passwd": "kubeadmin:x:1501:1501::/home/kubeadmin:/bin/bash", "uid": ""}})
    r = rs[("worker-1", "admin")]
    assert r.status == "fail"
    assert r.observed == "kubeadmin uid=1501 gid=1501"
    assert "cp-1: uid=1500 gid=1500" in r.message and "worker-2: uid=1500 gid=1500" in r.message
    assert statuses(rs, "admin") == {"cp-1": "pass", "worker-1": "fail", "worker-2": "pass"}


def test_admin_uid_taken_by_another_user() -> None:
    rs = results({"cp-1": {"passwd": "", "uid": "debian:x:1500:1500::/home/debian:/bin/bash"}})
    r = rs[("cp-1", "admin")]
    assert r.status == "fail" and "taken by 'debian'" in r.message


def test_admin_absent_passes() -> None:
    rs = results({"cp-1": {"passwd": "", "uid": "", "authkeys": ""}})
    assert rs[("cp-1", "admin")].status == "pass"
    assert "absent" in rs[("cp-1", "admin")].observed


def test_admin_key_missing_or_differing_warns() -> None:
    rs = results({"worker-1": {"authkeys": OTHER_KEY}})
    assert rs[("worker-1", "admin")].status == "warn"
    assert "admin key missing" in rs[("worker-1", "admin")].observed
    rs = results({"worker-1": {"authkeys": f"{KEY} admin@example.com\n{OTHER_KEY} extra"}})
    assert rs[("worker-1", "admin")].status == "warn"
    assert "differ from cp-1, worker-2" in rs[("worker-1", "admin")].observed


def test_admin_key_with_options_is_the_same_key() -> None:
    rs = results({"worker-1": {"authkeys": f'from="10.0.0.0/8",no-pty {KEY} other-comment\n# a comment'}})
    assert statuses(rs, "admin") == {"cp-1": "pass", "worker-1": "pass", "worker-2": "pass"}


def test_hostname_duplicate_fails() -> None:
    rs = results({"worker-2": {"hostname": "worker-1",
                               "etchosts": "127.0.0.1 localhost\n127.0.1.1 worker-1"}})
    assert statuses(rs, "hostname") == {"cp-1": "pass", "worker-1": "fail", "worker-2": "fail"}
    assert "used by 2 nodes" in rs[("worker-2", "hostname")].message


def test_hostname_without_127_0_1_1_fails() -> None:
    rs = results({"cp-1": {"etchosts": "127.0.0.1 localhost\n::1 localhost"}})
    r = rs[("cp-1", "hostname")]
    assert r.status == "fail" and r.message == "add the line '127.0.1.1 cp-1' to /etc/hosts"


def test_hostname_other_than_node_name_warns() -> None:
    rs = results({"cp-1": {"hostname": "debian", "etchosts": "127.0.1.1 debian"}})
    assert rs[("cp-1", "hostname")].status == "warn"


def test_private_interface_missing_address_fails() -> None:
    rs = results({"worker-1": {"ip": ip_json("10.0.0.99")}})
    r = rs[("worker-1", "private-interface")]
    assert r.status == "fail" and r.observed == "eth1: 10.0.0.99" and "expected 10.0.0.11 on eth1" in r.message


def test_private_interface_missing_interface_fails() -> None:
    rs = results({"worker-1": {"ip": ip_json("10.0.0.11", iface="ens4")}})
    r = rs[("worker-1", "private-interface")]
    assert r.status == "fail" and r.observed == "no interface eth1 (have: ens4, eth0, lo)"


def test_port_taken_by_another_process_fails() -> None:
    rs = results({"cp-1": {"ss": ss_lines(
        'LISTEN 0 4096 0.0.0.0:2379 0.0.0.0:* users:(("docker-proxy",pid=4242,fd=4))')}})
    r = rs[("cp-1", "ports")]
    assert r.status == "fail"
    assert r.observed == "2379 (etcd client) taken by docker-proxy on 0.0.0.0"


def test_port_held_by_its_own_service_passes_and_probe_is_ignored() -> None:
    rs = results({"cp-1": {"ss": ss_lines(
        'LISTEN 0 4096 10.0.0.10:2379 0.0.0.0:* users:(("etcd",pid=777,fd=7))',
        'LISTEN 0 128 10.0.0.10:10250 0.0.0.0:* users:(("kubeward-probe",pid=9,fd=3))')}})
    r = rs[("cp-1", "ports")]
    assert r.status == "pass"
    assert "held by their service: 2379 (etcd)" in r.observed
    assert "10250" in r.observed.split(";")[0]  # listed as free


def test_port_of_another_role_is_not_checked() -> None:
    # etcd's port on a worker is nobody's business at preflight
    rs = results({"worker-1": {"ss": ss_lines('LISTEN 0 4096 0.0.0.0:2379 0.0.0.0:* users:(("nc",pid=1,fd=3))')}})
    assert rs[("worker-1", "ports")].status == "pass"


def test_unknown_process_on_a_wanted_port_fails() -> None:
    rs = results({"worker-1": {"ss": ss_lines("LISTEN 0 4096 0.0.0.0:10250 0.0.0.0:*")}})
    assert rs[("worker-1", "ports")].status == "fail"
    assert "taken by unknown" in rs[("worker-1", "ports")].observed


@pytest.mark.parametrize(("value", "status"), [("yes", "pass"), ("local", "pass"), ("all", "pass"),
                                                ("no", "fail"), ("remote", "fail")])
def test_ssh_forwarding(value: str, status: str) -> None:
    rs = results({"cp-1": {"sshd": SSHD_T.replace("allowtcpforwarding yes", f"allowtcpforwarding {value}")}})
    assert rs[("cp-1", "ssh-forwarding")].status == status


def test_ssh_forwarding_unknown_fails() -> None:
    rs = results({"cp-1": {"sshd": "permitrootlogin no"}})
    assert rs[("cp-1", "ssh-forwarding")].status == "fail"
    assert rs[("cp-1", "ssh-forwarding")].observed == "AllowTcpForwarding unknown"


def test_clock_skew() -> None:
    assert clock_skew(100.5, (100.0, 101.0)) == 0.0
    assert clock_skew(104.0, (100.0, 101.0)) == 3.0
    assert clock_skew(97.0, (100.0, 101.0)) == -3.0
    assert clock_skew(100.0, (100.0, 101.0)) == 0.0


@pytest.mark.parametrize(("offset", "ntp", "status"), [
    (0.2, "yes", "pass"),          # inside the window
    (0.4 + 1.9, "yes", "pass"),    # 1.9 s after the window
    (0.4 + 3.0, "yes", "fail"),    # 3 s fast
    (-3.0, "yes", "fail"),         # 3 s slow
    (0.2, "no", "warn"),
    (0.2, "unknown", "warn"),
])
def test_time(offset: float, ntp: str, status: str) -> None:
    rs = results({"cp-1": {"time": f"{WINDOW[0] + offset:.9f}", "ntp": ntp}})
    assert rs[("cp-1", "time")].status == status


def test_time_unreadable_fails() -> None:
    rs = results({"cp-1": {"time": ""}})
    assert rs[("cp-1", "time")].status == "fail"


def test_swap_warns() -> None:
    rs = results({"worker-1": {"swaps": "/dev/vda3 partition 1048572 0 -2\n/swapfile file 1024 0 -3"}})
    r = rs[("worker-1", "swap")]
    assert r.status == "warn" and r.observed == "2 swap device(s) on"


def test_ip_forward() -> None:
    assert results({"cp-1": {"ipforward": "1\nreadonly"}})[("cp-1", "ip-forward")].status == "pass"
    assert results({"cp-1": {"ipforward": "0\nreadonly"}})[("cp-1", "ip-forward")].status == "warn"


def test_kernel_modules_missing_warns() -> None:
    r = results({"cp-1": {"modules": "br_netfilter missing\noverlay loaded"}})[("cp-1", "kernel-modules")]
    assert r.status == "warn" and r.message.startswith("br_netfilter not available")


def test_private_network_failure_names_the_peer() -> None:
    rs = results(peers={"cp-1": {"10.0.0.11": True, "10.0.0.12": False}})
    r = rs[("cp-1", "private-network")]
    assert r.status == "fail" and r.observed == "cannot reach worker-2 10.0.0.12"


NFT_NODES = ("table inet kubeward {\n\tset nodes {\n\t\ttype ipv4_addr\n\t\telements = { 10.0.0.10, 10.0.0.11,\n"
             "\t\t\t     10.0.0.13 }\n\t}\n}")


def test_the_firewall_nodes_set_is_read() -> None:
    assert facts("cp-1", fwnodes=NFT_NODES).firewall_nodes == {"10.0.0.10", "10.0.0.11", "10.0.0.13"}
    assert facts("cp-1", fwnodes="absent").firewall_nodes is None
    assert facts("cp-1").firewall_nodes is None  # no sudo part: not known


def test_a_peer_whose_firewall_does_not_admit_a_new_host_yet_is_a_warning_not_a_failure() -> None:
    """worker-2 is being added: cp-1's kubeward firewall drops it until the firewall phase runs."""
    rs = results({"cp-1": {"fwnodes": NFT_NODES}},
                 peers={"worker-2": {"10.0.0.10": False, "10.0.0.11": True}})
    r = rs[("worker-2", "private-network")]
    assert r.status == "warn", r
    assert r.observed == ("reached 1 peer(s) (listener); cp-1 10.0.0.10 drop it: their kubeward firewall does not "
                          "list worker-2 as a node yet (the firewall phase adds it)")
    # a peer that admits it and still cannot be reached is a failure
    rs = results({"cp-1": {"fwnodes": NFT_NODES}}, peers={"worker-1": {"10.0.0.10": False, "10.0.0.12": True}})
    assert rs[("worker-1", "private-network")].status == "fail"


def test_private_network_not_probed_is_skipped() -> None:
    inputs = host_inputs()
    inputs[0] = HostInput(inputs[0].host, inputs[0].facts, WINDOW, None)
    rs = {(r.host, r.check): r for r in evaluate(CONFIG, inputs)}
    assert rs[("cp-1", "private-network")].status == "skip"


# ----- the scripts ------------------------------------------------------------------------------


def test_render_facts_script_sections() -> None:
    script = render_facts_script("kubeadmin", 1500, "10.0.0.10", 2)
    for name in ("os", "arch", "hostname", "systemd", "apt", "sudo", "time", "ntp", "etchosts", "ip", "swaps",
                 "modules", "passwd", "uid", "ss", "sshd", "authkeys", "ipforward", "listener", "end"):
        assert f"@@kw preflight %s\\n' {name}" in script, name
    assert "getent passwd kubeadmin" in script and "getent passwd 1500" in script
    assert f"10.0.0.10 20 2 {PROBE_PORT}" in script
    assert script.index("' listener") > script.index("' ss")  # the probe starts after ss looked


def test_render_probe_script_mentions_every_endpoint() -> None:
    eps = [("10.0.0.11", 10250), ("10.0.0.12", 22), ("10.0.0.13", 10250)]
    script = render_probe_script(eps)
    for addr, port in eps:
        assert f"'</dev/tcp/'{addr}'/{port}'" in script
        assert f"echo {addr} {port} ok" in script and f"echo {addr} {port} fail" in script
    assert script.rstrip().endswith("wait")


def test_parse_probe_output() -> None:
    text = "10.0.0.11 10250 ok\n10.0.0.12 22 fail\nbash: warning\n\n"
    assert parse_probe_output(text) == {"10.0.0.11": True, "10.0.0.12": False}


@pytest.fixture
def loopback_ports() -> Iterator[tuple[int, int]]:
    """An open port and a closed one on 127.0.0.1."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    try:
        yield srv.getsockname()[1], closed.getsockname()[1]
    finally:
        srv.close()
        closed.close()


def test_probe_script_really_runs(loopback_ports: tuple[int, int]) -> None:
    open_port, closed_port = loopback_ports
    res = subprocess.run(["/bin/sh", "-c", render_probe_script([("127.0.0.1", open_port)])],
                         capture_output=True, text=True, timeout=10)
    assert parse_probe_output(res.stdout) == {"127.0.0.1": True}
    res = subprocess.run(["/bin/sh", "-c", render_probe_script([("127.0.0.1", closed_port)])],
                         capture_output=True, text=True, timeout=10)
    assert parse_probe_output(res.stdout) == {"127.0.0.1": False}
