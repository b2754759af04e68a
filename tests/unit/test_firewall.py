"""The nftables compiler: what each node's table accepts and drops, and that nft accepts the file.

Pure tests read the rendered text. The nft tests (root only) check the file with ``nft -c -f`` and
load it into throwaway network namespaces (``fwtest-<random>``, always deleted), never into this
machine's own ruleset; one of them connects through the loaded table.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from kubeward.catalog.matrix import build_matrix, render_matrix_markdown
from kubeward.cli.main import cli
from kubeward.config import ClusterConfig, load_config, parse_config
from kubeward.config.values import PortRange
from kubeward.firewall import PREROUTING_PRIORITY, export_rules, render_ruleset, render_ruleset_json

EXAMPLE = Path(__file__).parents[2] / "examples" / "cluster.yml"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFyHcpvoFU9dFloJmk8OQ/+icBDjiqm8gFKciq1gR8X9"
NFT = shutil.which("nft") or "/usr/sbin/nft"


def cluster(nodes: int = 3, control_planes: int = 1, **overrides: Any) -> ClusterConfig:
    """A cluster of n nodes (the first ones control planes); top-level sections are merged in."""
    hosts = [
        {
            "name": f"n{i}",
            "address": f"n{i}.example.com",
            "private_address": f"10.0.{i // 200}.{i % 200 + 10}",
            "role": "control-plane" if i < control_planes else "worker",
        }
        for i in range(nodes)
    ]
    doc: dict[str, Any] = {
        "ssh": {"user": "debian", "key_path": "k"},
        "hosts": hosts,
        "admin": {"name": "kubeadmin", "uid": 1500, "ssh_public_key": KEY},
        "network": {"private_subnet": "10.0.0.0/16", "admin_cidrs": ["198.51.100.0/24"],
                    "pod_cidr": "10.128.0.0/12"},
    }
    for key, value in overrides.items():
        doc[key] = {**doc[key], **value} if isinstance(doc.get(key), dict) else value
    return parse_config(yaml.safe_dump(doc)).config


def chains(text: str) -> dict[str, list[str]]:
    """Chain name -> its lines (rules and the base-chain 'type' line), stripped."""
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        s = line.strip()
        if m := re.fullmatch(r"chain (\S+) \{", s):
            current = out.setdefault(m.group(1), [])
        elif current is not None and s == "}":
            current = None
        elif current is not None and s:
            current.append(s)
    return out


def rules(text: str) -> list[str]:
    return [r for lines in chains(text).values() for r in lines if not r.startswith("type ")]


def accepts(text: str) -> list[str]:
    return [r for r in chains(text)["input"] if " accept" in r]


# --- structure -----------------------------------------------------------------------------------


def test_atomic_replace_of_our_table_only() -> None:
    text = render_ruleset(cluster(), "n0")
    code = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert code[:3] == ["table inet kubeward {}", "delete table inet kubeward", "table inet kubeward {"]
    assert "flush" not in text and "ruleset" not in text.replace("# ", "")
    assert len(re.findall(r"^table ", text, re.M)) == 2
    assert text == render_ruleset(cluster(), "n0")  # deterministic: the phase compares hashes


def test_input_chain_shape() -> None:
    inp = chains(render_ruleset(cluster(), "n0"))["input"]
    assert inp[0] == "type filter hook input priority 0; policy drop;"
    assert inp[1] == "ct state established,related accept"
    assert inp[2].startswith("ct state invalid") and inp[2].endswith("drop")
    assert inp[3] == 'iif "lo" accept'
    assert inp[-1] == 'counter name "dropped" drop'
    assert any(r.startswith("icmp type {") and "destination-unreachable" in r for r in inp)
    assert "counter dropped {" in render_ruleset(cluster(), "n0")
    out = chains(render_ruleset(cluster(), "n0"))["output"]
    assert out[0] == "type filter hook output priority 0; policy accept;"


def test_forward_chain_drops_what_a_dnat_would_pass_except_nodeports_and_the_pod_network() -> None:
    """A DNAT into another namespace (container port mapping, hostPort) is forwarded, not input."""
    config = cluster(network={"nodeport_range": "31000-31099"})
    fwd = chains(render_ruleset(config, "n1"))["forward"]
    assert fwd == [
        "type filter hook forward priority 0; policy drop;",
        "ct state established,related accept",
        'ct state invalid counter name "dropped" drop',
        'meta nfproto ipv6 counter name "dropped" drop comment "ipv6-drop"',
        'ct status dnat meta l4proto tcp ct original proto-dst 31000-31099 accept comment "nodeport"',
        'ct status dnat meta l4proto udp ct original proto-dst 31000-31099 accept comment "nodeport"',
        'iifname { "cni0", "eth1" } ip saddr @pods ip daddr @pods accept comment "pod-network"',
        'iifname "cni0" ip saddr @pods oifname "eth1" accept comment "pod-network"',
        'iifname "eth1" ip saddr @nodes ip daddr @pods accept comment "pod-network"',
        'counter name "dropped" drop comment "forward"',
    ]
    allow6 = chains(render_ruleset(cluster(network={"ipv6": "allow"}), "n0"))["forward"]
    assert not any("ipv6" in r for r in allow6)


def test_rule_count_does_not_grow_with_nodes() -> None:
    small = render_ruleset(cluster(3, 1), "n0")
    big = render_ruleset(cluster(100, 3), "n0")
    assert len(rules(small)) == len(rules(big))
    assert len(accepts(small)) == len(accepts(big))
    assert rules(render_ruleset(cluster(3, 1), "n2")) == rules(render_ruleset(cluster(100, 3), "n99"))
    assert big.count("10.0.0.") >= 100  # the nodes are in the set instead


def test_sets() -> None:
    text = render_ruleset(cluster(4, 3, network={
        "admin_cidrs": ["198.51.100.0/24", "198.51.100.7", "203.0.113.0/25", "203.0.113.128/25"],
        "trusted_subnets": ["172.16.0.0/12"],
        "nodeport_sources": ["192.0.2.0/24"],
    }), "n0")
    nodes = "elements = { 10.0.0.10, 10.0.0.11, 10.0.0.12, 10.0.0.13 }"
    assert f"set nodes {{\n\t\ttype ipv4_addr\n\t\t{nodes}" in text
    assert "elements = { 10.0.0.10, 10.0.0.11, 10.0.0.12 }" in text  # control_planes
    # overlapping admin CIDRs are merged: nft refuses overlapping intervals
    assert "elements = { 198.51.100.0/24, 203.0.113.0/24 }" in text
    assert "elements = { 172.16.0.0/12 }" in text and "elements = { 192.0.2.0/24 }" in text
    assert "elements = { 10.128.0.0/12 }" in text  # pods
    for name in ("nodes", "control_planes", "admin", "trusted", "nodeport_sources", "pods"):
        assert f"\tset {name} {{" in text


# --- who reaches what ----------------------------------------------------------------------------


def test_ssh_only_from_admin() -> None:
    for host in ("n0", "n2"):
        lines = [r for r in rules(render_ruleset(cluster(), host)) if "dport 22 " in r]
        assert lines == ['ip saddr @admin tcp dport 22 accept comment "ssh"']


def test_ssh_port_and_private_interface_are_per_host() -> None:
    config = cluster(hosts=[
        {"name": "cp", "address": "192.0.2.1", "private_address": "10.0.0.10", "role": "control-plane",
         "private_interface": "ens19", "ssh": {"port": 2222}},
        {"name": "w", "address": "192.0.2.2", "private_address": "10.0.0.11", "role": "worker"},
    ])
    cp = render_ruleset(config, "cp")
    assert 'ip saddr @admin tcp dport 2222 accept comment "ssh-2222"' in cp and "dport 22 " not in cp
    assert 'iifname "ens19" ip saddr @control_planes tcp dport 2379 accept' in cp and '"eth1"' not in cp
    assert "tcp dport 22 accept" in render_ruleset(config, "w")


def test_etcd_only_from_control_planes_on_the_private_interface() -> None:
    cp = render_ruleset(cluster(5, 3), "n1")
    etcd = [r for r in accepts(cp) if re.search(r"dport (2379|2380) ", r)]
    assert etcd == [
        'iifname "eth1" ip saddr @control_planes tcp dport 2379 accept comment "etcd-client"',
        'iifname "eth1" ip saddr @control_planes tcp dport 2380 accept comment "etcd-peer"',
    ]
    worker = render_ruleset(cluster(5, 3), "n4")
    assert not re.search(r"dport (2379|2380|6443) ", worker)


def test_api_server_from_nodes_trusted_and_pods_not_admin() -> None:
    api = [r for r in accepts(render_ruleset(cluster(), "n0")) if "dport 6443 " in r]
    assert api == [
        'iifname "eth1" ip saddr @nodes tcp dport 6443 accept comment "kube-apiserver"',
        'ip saddr @trusted tcp dport 6443 accept comment "kube-apiserver"',
        'iifname "cni0" ip saddr @pods tcp dport 6443 accept comment "kube-apiserver"',
    ]


def test_loopback_only_ports_get_no_rule() -> None:
    text = render_ruleset(cluster(), "n0")
    for port in (2381, 10248, 10249, 10256, 10257, 10259):
        assert f"dport {port} " not in text


def test_closed_ports_are_never_accepted_even_when_an_extra_port_asks() -> None:
    # validate refuses this extra port (test_config_loader); the compiler must hold even without it
    valid = cluster(firewall={"extra_ports": [
        {"name": "legacy-api", "port": 8081, "sources": ["world"], "roles": ["control-plane"]},
    ]})
    rule = valid.firewall.extra_ports[0].model_copy(update={"port": PortRange(8080, 8080)})
    config = valid.model_copy(update={"firewall": valid.firewall.model_copy(update={"extra_ports": (rule,)})})
    for host in ("n0", "n1"):
        inp = chains(render_ruleset(config, host))["input"]
        drops = [i for i, r in enumerate(inp) if re.match(r"tcp dport (10255|8080) counter .* drop", r)]
        first_port_accept = min(i for i, r in enumerate(inp) if "dport" in r and " accept" in r)
        assert drops and max(drops) < first_port_accept
        assert not any("dport 10255 " in r and " accept" in r for r in inp)
    cp_inp = chains(render_ruleset(config, "n0"))["input"]
    assert any(r.startswith("tcp dport 8080 counter") for r in cp_inp)


def test_nodeport_guard_runs_before_kube_proxy_dnat() -> None:
    config = cluster(network={"nodeport_range": "31000-31099", "nodeport_sources": ["203.0.113.0/24"]})
    ch = chains(render_ruleset(config, "n1"))
    m = re.fullmatch(r"type filter hook prerouting priority (-?\d+); policy accept;", ch["prerouting"][0])
    assert m and int(m.group(1)) == PREROUTING_PRIORITY < -100
    assert ("meta l4proto { tcp, udp } th dport 31000-31099 fib daddr type local jump nodeport_guard"
            in ch["prerouting"])
    assert ch["nodeport_guard"] == [
        'ip saddr @nodeport_sources accept comment "nodeport"',
        'iifname "eth1" ip saddr @nodes accept comment "nodeport"',
        'iifname "cni0" ip saddr @pods accept comment "nodeport"',
        'counter name "dropped" drop comment "nodeport-guard"',
    ]
    assert "elements = { 203.0.113.0/24 }" in render_ruleset(config, "n1")


def test_ipv6_dropped_by_default_and_allowed_on_request() -> None:
    default = render_ruleset(cluster(), "n0")
    inp = chains(default)["input"]
    v6 = inp.index('meta nfproto ipv6 counter name "dropped" drop comment "ipv6-drop"')
    assert v6 == inp.index('iif "lo" accept') + 1
    assert 'meta nfproto ipv6 oif != "lo" reject comment "ipv6-drop"' in chains(default)["output"]
    assert "icmpv6" not in default and "ip6 " not in default

    allowed = render_ruleset(cluster(network={
        "ipv6": "allow", "admin_cidrs": ["198.51.100.0/24", "2001:db8::/32"]}), "n0")
    assert "nfproto ipv6" not in allowed
    assert any(r.startswith("icmpv6 type {") and "nd-neighbor-solicit" in r for r in rules(allowed))
    assert "set admin6 {\n\t\ttype ipv6_addr\n\t\tflags interval\n\t\telements = { 2001:db8::/32 }" in allowed
    assert 'ip6 saddr @admin6 tcp dport 22 accept comment "ssh"' in rules(allowed)
    assert "set nodes6" not in allowed  # node addresses are IPv4


def test_extra_ports() -> None:
    config = cluster(firewall={"extra_ports": [
        {"name": "node-exporter", "port": 9100, "sources": ["control-planes"]},
        {"name": "games", "port": "9000-9009", "protocol": "udp", "roles": ["worker"],
         "sources": ["203.0.113.0/24", "192.0.2.7", "admin", "world"]},
    ]})
    cp, worker = rules(render_ruleset(config, "n0")), rules(render_ruleset(config, "n1"))
    exporter = 'iifname "eth1" ip saddr @control_planes tcp dport 9100 accept comment "extra-node-exporter"'
    assert exporter in cp and exporter in worker
    assert not any("9000-9009" in r for r in cp)
    assert [r for r in worker if "9000-9009" in r] == [
        'ip saddr @admin udp dport 9000-9009 accept comment "extra-games"',
        'udp dport 9000-9009 accept comment "extra-games"',
        'ip saddr { 192.0.2.7, 203.0.113.0/24 } udp dport 9000-9009 accept comment "extra-games"',
    ]


def test_ingress_only_when_enabled() -> None:
    assert "dport 80 " not in render_ruleset(cluster(), "n1")
    labelled = cluster(hosts=[
        {"name": "cp", "address": "192.0.2.1", "private_address": "10.0.0.10", "role": "control-plane"},
        {"name": "edge", "address": "192.0.2.2", "private_address": "10.0.0.11", "role": "worker",
         "labels": {"tier": "edge"}},
        {"name": "inner", "address": "192.0.2.3", "private_address": "10.0.0.12", "role": "worker"},
    ], addons={"ingress_nginx": {"enabled": True, "node_selector": {"tier": "edge"}}})
    edge = rules(render_ruleset(labelled, "edge"))
    assert 'tcp dport 80 accept comment "ingress-http"' in edge
    assert 'tcp dport 443 accept comment "ingress-https"' in edge
    for other in ("cp", "inner"):
        assert not re.search(r"dport (80|443) ", render_ruleset(labelled, other))
    everywhere = cluster(addons={"ingress_nginx": {"enabled": True}})
    assert "dport 443 " in render_ruleset(everywhere, "n1")
    assert "dport 443 " not in render_ruleset(everywhere, "n0")


def test_routes_cni_opens_no_port_and_admits_pods_only_on_the_bridge() -> None:
    text = render_ruleset(cluster(network={"cni": "routes"}), "n1")
    assert 'iifname "cni0" ip saddr @pods tcp dport 10250 accept' in text
    for port in ("8472", "51820", "6783", "4789"):
        assert f"dport {port} " not in text and f"dport {port}-" not in text


def test_export_rules_expand_sets_to_cidrs() -> None:
    config = cluster(4, 1, network={"trusted_subnets": ["172.16.0.0/12"]})
    exported = json.loads(render_ruleset_json(config, "n0"))
    assert {r["direction"] for r in exported} == {"inbound"}
    assert all(r["target_host"] == "n0" and r["target_role"] == "control-plane" for r in exported)
    ssh = [r for r in exported if r["ports"] == "22"]
    assert ssh == [{
        "direction": "inbound", "action": "accept", "protocol": "tcp", "ports": "22", "source": "admin",
        "source_cidrs": ["198.51.100.0/24"], "interfaces": [], "target_host": "n0",
        "target_role": "control-plane", "component": "sshd", "reason": ssh[0]["reason"],
    }]
    kubelet = next(r for r in exported if r["ports"] == "10250" and r["source"] == "nodes")
    assert kubelet["source_cidrs"] == ["10.0.0.10/32", "10.0.0.11/32", "10.0.0.12/32", "10.0.0.13/32"]
    assert kubelet["interfaces"] == ["eth1"]
    etcd = next(r for r in exported if r["ports"] == "2379")
    assert etcd["source_cidrs"] == ["10.0.0.10/32"]
    drops = [r for r in exported if r["action"] == "drop"]
    assert {r["ports"] for r in drops} == {"10255", "8080"}
    assert exported.index(drops[-1]) < len(drops)  # drops first
    assert len(export_rules(config, "n0")) == len(exported)


# --- the CLI -------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["nft", "json", "markdown"])
def test_firewall_show(fmt: str) -> None:
    args = ["firewall", "show", "-c", str(EXAMPLE), "--node", "cp-1", "--format", fmt]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    if fmt == "nft":
        assert result.stdout == render_ruleset(load_config(EXAMPLE).config, "cp-1")
    elif fmt == "json":
        assert {r["target_host"] for r in json.loads(result.stdout)} == {"cp-1"}
    else:
        assert "| cp-1 | accept | tcp | 22 | admin | 198.51.100.0/24 |" in result.stdout


def test_firewall_show_every_node() -> None:
    result = CliRunner().invoke(cli, ["firewall", "show", "-c", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert [line for line in result.stdout.splitlines() if line.startswith("# =====")] == [
        "# ===== cp-1 =====", "# ===== worker-1 =====", "# ===== worker-2 ====="]
    args = ["firewall", "show", "-c", str(EXAMPLE), "--format", "json"]
    hosts = json.loads(CliRunner().invoke(cli, args).stdout)
    assert {r["target_host"] for r in hosts} == {"cp-1", "worker-1", "worker-2"}


# --- nft itself (root only) ----------------------------------------------------------------------

needs_root_nft = pytest.mark.skipif(
    os.geteuid() != 0 or not Path(NFT).exists() or not shutil.which("ip"),
    reason="needs root, nft and ip (network namespaces)",
)


def _run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=30)


@contextmanager
def netns() -> Iterator[str]:
    name = f"fwtest-{secrets.token_hex(4)}"
    _run("ip", "netns", "add", name)
    try:
        yield name
    finally:
        _run("ip", "netns", "del", name, check=False)


VARIANTS = {
    "example cp": (load_config(EXAMPLE).config, "cp-1"),
    "example worker": (load_config(EXAMPLE).config, "worker-1"),
    "ipv6 allow": (
        cluster(
            network={"ipv6": "allow", "admin_cidrs": ["198.51.100.0/24", "2001:db8::/32"],
                     "trusted_subnets": ["fd00::/8"], "nodeport_sources": ["::/0", "0.0.0.0/0"]},
            firewall={"extra_ports": [{"name": "x", "port": 9000,
                                       "sources": ["2001:db8:1::/48", "192.0.2.0/24"]}]},
        ),
        "n0",
    ),
    "1000 nodes": (cluster(1000, 3), "n500"),
}


@needs_root_nft
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_nft_check_accepts_the_file(variant: str, tmp_path: Path) -> None:
    config, host = VARIANTS[variant]
    path = tmp_path / "fw.nft"
    path.write_text(render_ruleset(config, host))
    result = _run(NFT, "-c", "-f", str(path), check=False)
    assert result.returncode == 0, result.stderr


@needs_root_nft
def test_loads_into_a_namespace_replaces_only_our_table(tmp_path: Path) -> None:
    path = tmp_path / "fw.nft"
    path.write_text(render_ruleset(load_config(EXAMPLE).config, "cp-1"))
    with netns() as ns:
        # stands in for kube-proxy's table, which a `flush ruleset` would have removed
        _run("ip", "netns", "exec", ns, NFT, "add table ip kube-proxy-standin")
        for _ in range(2):  # first load creates the table, the second replaces it
            _run("ip", "netns", "exec", ns, NFT, "-f", str(path))
        listed = _run("ip", "netns", "exec", ns, NFT, "list", "table", "inet", "kubeward").stdout
        tables = _run("ip", "netns", "exec", ns, NFT, "list", "tables").stdout.split("\n")
    assert "table ip kube-proxy-standin" in tables and "table inet kubeward" in tables
    assert listed.count("chain input {") == 1
    assert 'ip saddr @admin tcp dport 22 accept comment "ssh"' in listed
    assert "type filter hook prerouting priority mangle; policy accept;" in listed  # mangle is -150


@needs_root_nft
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_the_listed_table_loads_again_as_the_rollback_restores_it(variant: str, tmp_path: Path) -> None:
    """The firewall phase saves `nft list table inet kubeward` before a change and its rollback
    timer loads that listing: every rule must list in a form nft can read back."""
    config, host = VARIANTS[variant]
    path, prev = tmp_path / "fw.nft", tmp_path / "prev.nft"
    path.write_text(render_ruleset(config, host))
    with netns() as ns:
        _run("ip", "netns", "exec", ns, NFT, "-f", str(path))
        listed = _run("ip", "netns", "exec", ns, NFT, "list", "table", "inet", "kubeward").stdout
        prev.write_text(f"table inet kubeward {{}}\ndelete table inet kubeward\n{listed}")
        result = _run("ip", "netns", "exec", ns, NFT, "-f", str(prev), check=False)
        again = _run("ip", "netns", "exec", ns, NFT, "list", "table", "inet", "kubeward").stdout
    assert result.returncode == 0, result.stderr
    assert "[invalid type]" not in listed
    assert again == listed


CONNECT = textwrap.dedent("""
    import json, socket, sys
    out = {}
    for spec in sys.argv[1:]:
        src, dst, port = spec.split(":")
        s = socket.socket()
        s.settimeout(0.5)
        s.bind((src, 0))
        try:
            s.connect((dst, int(port)))
            out[spec] = "open"
        except OSError as exc:
            out[spec] = "refused" if isinstance(exc, ConnectionRefusedError) else "filtered"
        finally:
            s.close()
    print(json.dumps(out))
""")
LISTEN = textwrap.dedent("""
    import socket, sys, time
    socks = []
    for port in sys.argv[1:]:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", int(port)))
        s.listen(16)
        socks.append(s)
    print("ready", flush=True)
    time.sleep(60)
""")


@needs_root_nft
def test_connections_through_the_loaded_table(tmp_path: Path) -> None:
    """cp-1 firewalled; a peer namespace connects from a node, an admin and a stranger address."""
    config = cluster(hosts=[
        {"name": "cp-1", "address": "192.0.2.10", "private_address": "10.0.0.10", "role": "control-plane"},
        {"name": "w-1", "address": "192.0.2.11", "private_address": "10.0.0.11", "role": "worker"},
    ], network={"nodeport_sources": ["203.0.113.0/24"]})
    path = tmp_path / "fw.nft"
    path.write_text(render_ruleset(config, "cp-1"))
    ports = ["22", "6443", "2379", "10250", "10255", "8080", "10257", "30050"]
    with netns() as cp, netns() as peer:
        _run("ip", "-n", cp, "link", "add", "eth1", "type", "veth", "peer", "name", "eth1", "netns", peer)
        for ns, addrs in ((cp, ["10.0.0.10/24", "198.51.100.1/24", "192.0.2.10/24"]),
                          (peer, ["10.0.0.11/24", "198.51.100.5/24", "192.0.2.99/24"])):
            for addr in addrs:
                _run("ip", "-n", ns, "addr", "add", addr, "dev", "eth1")
            _run("ip", "-n", ns, "link", "set", "lo", "up")
            _run("ip", "-n", ns, "link", "set", "eth1", "up")
        _run("ip", "netns", "exec", cp, NFT, "-f", str(path))
        server = subprocess.Popen(["ip", "netns", "exec", cp, sys.executable, "-c", LISTEN, *ports],
                                  stdout=subprocess.PIPE, text=True)
        try:
            assert server.stdout is not None and server.stdout.readline().strip() == "ready"
            specs = [f"{src}:{dst}:{p}" for src, dst in (("10.0.0.11", "10.0.0.10"),
                                                           ("198.51.100.5", "198.51.100.1"),
                                                           ("192.0.2.99", "192.0.2.10")) for p in ports]
            seen = json.loads(_run("ip", "netns", "exec", peer, sys.executable, "-c", CONNECT, *specs).stdout)
            local = json.loads(_run("ip", "netns", "exec", cp, sys.executable, "-c", CONNECT,
                                    "127.0.0.1:127.0.0.1:10257", "10.0.0.10:10.0.0.10:2379").stdout)
            counter = _run("ip", "netns", "exec", cp, NFT, "list", "counter", "inet", "kubeward",
                           "dropped").stdout
        finally:
            server.kill()
            server.wait()
    node = {p: seen[f"10.0.0.11:10.0.0.10:{p}"] for p in ports}
    admin = {p: seen[f"198.51.100.5:198.51.100.1:{p}"] for p in ports}
    stranger = {p: seen[f"192.0.2.99:192.0.2.10:{p}"] for p in ports}
    # a worker reaches the API server, the kubelet and NodePorts, nothing else (it is no control plane)
    assert node == {"22": "filtered", "6443": "open", "2379": "filtered", "10250": "open",
                    "10255": "filtered", "8080": "filtered", "10257": "filtered", "30050": "open"}
    # an admin address reaches SSH only (the API server through an SSH tunnel)
    assert admin == {**{p: "filtered" for p in ports}, "22": "open"}
    # a stranger outside nodeport_sources reaches nothing, NodePorts included (the prerouting guard)
    assert stranger == {p: "filtered" for p in ports}
    assert local == {"127.0.0.1:127.0.0.1:10257": "open", "10.0.0.10:10.0.0.10:2379": "open"}
    packets = int(re.search(r"packets (\d+)", counter).group(1))  # type: ignore[union-attr]
    assert packets > 0


@needs_root_nft
def test_a_dnat_into_another_namespace_is_dropped_unless_it_is_a_nodeport(tmp_path: Path) -> None:
    """The node forwards to a "pod" namespace behind cni0. A container runtime's port mapping
    (public 18080 -> pod:8000) and kube-proxy's NodePort (30050 -> pod:8000) live in tables of their
    own, as they would; kubeward's table is loaded next to them. From outside only the NodePort, from
    a nodeport source, reaches the pod; the pod network keeps working over the private interface."""
    config = cluster(hosts=[
        {"name": "cp-1", "address": "192.0.2.10", "private_address": "10.0.0.10", "role": "control-plane"},
        {"name": "w-1", "address": "192.0.2.11", "private_address": "10.0.0.11", "role": "worker"},
    ], network={"nodeport_sources": ["203.0.113.0/24"]})
    path = tmp_path / "fw.nft"
    path.write_text(render_ruleset(config, "cp-1"))
    dnat = tmp_path / "dnat.nft"
    dnat.write_text(textwrap.dedent("""
        table ip portmap-standin {
            chain prerouting { type nat hook prerouting priority -100; policy accept;
                tcp dport 18080 dnat to 10.128.0.5:8000
                tcp dport 30050 dnat to 10.128.0.5:8000
            }
        }
    """))
    with netns() as node, netns() as outside, netns() as peer, netns() as pod:
        for ifname, other, node_addr, other_addrs in (
            ("eth0", outside, "192.0.2.10/24", ["192.0.2.99/24", "203.0.113.5/24"]),
            ("eth1", peer, "10.0.0.10/24", ["10.0.0.11/24"]),
            ("cni0", pod, "10.128.0.1/24", ["10.128.0.5/24"]),
        ):
            _run("ip", "-n", node, "link", "add", ifname, "type", "veth", "peer", "name", "eth0", "netns", other)
            _run("ip", "-n", node, "addr", "add", node_addr, "dev", ifname)
            _run("ip", "-n", node, "link", "set", ifname, "up")
            for addr in other_addrs:
                _run("ip", "-n", other, "addr", "add", addr, "dev", "eth0")
            _run("ip", "-n", other, "link", "set", "eth0", "up")
            _run("ip", "-n", other, "link", "set", "lo", "up")
        _run("ip", "-n", node, "addr", "add", "203.0.113.1/24", "dev", "eth0")
        _run("ip", "-n", pod, "route", "add", "default", "via", "10.128.0.1")
        _run("ip", "-n", peer, "route", "add", "10.128.0.0/12", "via", "10.0.0.10")
        _run("ip", "-n", outside, "route", "add", "10.0.0.0/8", "via", "192.0.2.10")
        _run("ip", "netns", "exec", node, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        _run("ip", "netns", "exec", node, NFT, "-f", str(dnat))
        _run("ip", "netns", "exec", node, NFT, "-f", str(path))
        servers = [subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", LISTEN, *ports],
                                    stdout=subprocess.PIPE, text=True)
                   for ns, ports in ((pod, ["8000"]), (peer, ["9000"]), (outside, ["9001"]))]
        try:
            for server in servers:
                assert server.stdout is not None and server.stdout.readline().strip() == "ready"

            def connect(ns: str, *specs: str) -> dict[str, str]:
                return json.loads(_run("ip", "netns", "exec", ns, sys.executable, "-c", CONNECT, *specs).stdout)

            from_outside = connect(outside, "192.0.2.99:192.0.2.10:18080", "203.0.113.5:203.0.113.1:18080",
                                   "192.0.2.99:192.0.2.10:30050", "203.0.113.5:203.0.113.1:30050",
                                   "192.0.2.99:10.128.0.5:8000")
            from_pod = connect(pod, "10.128.0.5:10.0.0.11:9000", "10.128.0.5:192.0.2.99:9001")
            from_peer = connect(peer, "10.0.0.11:10.128.0.5:8000")
            tables = _run("ip", "netns", "exec", node, NFT, "list", "tables").stdout
        finally:
            for server in servers:
                server.kill()
                server.wait()
    assert "table ip portmap-standin" in tables  # the other table is still there: ours only adds a drop
    assert from_outside == {
        "192.0.2.99:192.0.2.10:18080": "filtered",  # the port mapping: forwarded, dropped
        "203.0.113.5:203.0.113.1:18080": "filtered",  # whatever the source
        "192.0.2.99:192.0.2.10:30050": "filtered",  # NodePort, not a nodeport source: the guard
        "203.0.113.5:203.0.113.1:30050": "open",  # NodePort from a nodeport source
        "192.0.2.99:10.128.0.5:8000": "filtered",  # routed straight at the pod from outside
    }
    # the pod network: pods out via the private interface, nodes to pods; not pods out the public side
    assert from_pod == {"10.128.0.5:10.0.0.11:9000": "open", "10.128.0.5:192.0.2.99:9001": "filtered"}
    assert from_peer == {"10.0.0.11:10.128.0.5:8000": "open"}


def test_docs_show_the_current_ruleset_and_matrix() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "port-matrix.md").read_text()
    config = load_config(EXAMPLE).config
    assert render_ruleset(config, "cp-1") in doc, "regenerate docs/port-matrix.md (kubeward firewall show)"
    assert render_matrix_markdown(build_matrix(config)) in doc, "regenerate docs/port-matrix.md (matrix)"
