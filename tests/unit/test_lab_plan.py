"""Pure lab planning (kubeward.lab.plan) and the lab's pure renderers (cluster.yml, /etc/hosts)."""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kubeward.config import parse_config
from kubeward.errors import LabError
from kubeward.lab.image import Image
from kubeward.lab.lab import (
    ADMIN_NAME,
    ADMIN_UID,
    Lab,
    LabState,
    _state_from_plan,
    _used_slots,
    list_labs,
    render_cluster_yml,
    render_etc_hosts,
)
from kubeward.lab.plan import (
    MAX_NODES,
    MAX_SLOTS,
    POOL,
    check_name,
    new_plan,
    node_names,
    pick_slot,
    subnets_for_slot,
)

IFNAMSIZ = 15  # longest Linux interface name
IFNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
N = ipaddress.IPv4Network


# ----- new_plan: names -------------------------------------------------------------------------------
def test_new_plan_names_roles_namespaces_and_bridges() -> None:
    plan = new_plan("demo", 3, 5, 2)
    assert [n.name for n in plan.nodes] == ["demo-cp1", "demo-cp2", "demo-w1", "demo-w2", "demo-w3"]
    assert [n.role for n in plan.nodes] == ["control-plane"] * 2 + ["worker"] * 3
    assert [n.index for n in plan.nodes] == [1, 2, 3, 4, 5]
    assert [n.netns for n in plan.nodes] == [
        "kubeward-demo-cp1",
        "kubeward-demo-cp2",
        "kubeward-demo-w1",
        "kubeward-demo-w2",
        "kubeward-demo-w3",
    ]
    assert plan.switch_netns == "kubeward-demo-switch"
    assert plan.public_bridge == "kw3pub"
    assert [n.host_veth for n in plan.nodes] == ["kw3n1p", "kw3n2p", "kw3n3p", "kw3n4p", "kw3n5p"]
    assert [n.switch_veth for n in plan.nodes] == ["n1", "n2", "n3", "n4", "n5"]
    assert [n.name for n in plan.control_planes] == ["demo-cp1", "demo-cp2"]


def test_plan_node_lookup_and_unknown_node_names_the_known_ones() -> None:
    plan = new_plan("demo", 0, 3, 1)
    assert plan.node("demo-w2").index == 3
    with pytest.raises(LabError, match=r"no node 'demo-w9' \(nodes: demo-cp1, demo-w1, demo-w2\)"):
        plan.node("demo-w9")


def test_namespaces_of_one_lab_are_distinct_and_prefixed_with_the_lab() -> None:
    plan = new_plan("abcdefghijkl", 5, MAX_NODES, 3)
    names = [n.netns for n in plan.nodes] + [plan.switch_netns]
    assert len(set(names)) == len(names)
    assert all(ns.startswith("kubeward-abcdefghijkl-") for ns in names)


def test_node_names_are_dns_labels_even_for_the_longest_lab_name() -> None:
    plan = new_plan("abcdefghijkl", 0, MAX_NODES, 1)
    for n in plan.nodes:
        assert DNS_LABEL.match(n.name), n.name


# ----- new_plan: addresses ---------------------------------------------------------------------------
def test_new_plan_addresses() -> None:
    plan = new_plan("demo", 3, 4, 1)
    assert plan.public_subnet == N("10.231.6.0/24")
    assert plan.private_subnet == N("10.231.7.0/24")
    assert plan.gateway == ipaddress.IPv4Address("10.231.6.1")
    assert [str(n.public_address) for n in plan.nodes] == [
        "10.231.6.10",
        "10.231.6.11",
        "10.231.6.12",
        "10.231.6.13",
    ]
    assert [str(n.private_address) for n in plan.nodes] == [
        "10.231.7.10",
        "10.231.7.11",
        "10.231.7.12",
        "10.231.7.13",
    ]


@pytest.mark.parametrize("slot", [0, 1, 64, MAX_SLOTS - 1])
def test_every_address_of_the_largest_lab_is_a_usable_host_of_its_subnet(slot: int) -> None:
    plan = new_plan("demo", slot, MAX_NODES, 1)
    pub = [n.public_address for n in plan.nodes]
    priv = [n.private_address for n in plan.nodes]
    assert len(set(pub)) == len(set(priv)) == MAX_NODES
    assert plan.gateway in plan.public_subnet and plan.gateway not in pub
    for addrs, net in ((pub, plan.public_subnet), (priv, plan.private_subnet)):
        hosts = set(net.hosts())
        assert all(a in hosts for a in addrs)  # never the network or broadcast address
    assert max(pub) < plan.public_subnet.broadcast_address


# ----- interface names -------------------------------------------------------------------------------
def test_interface_names_fit_ifnamsiz_for_every_slot_and_node_and_never_collide() -> None:
    host_side: list[str] = []  # names that share the host namespace, across all labs
    for slot in range(MAX_SLOTS):
        plan = new_plan("abcdefghijkl", slot, MAX_NODES, 1)
        names = [plan.public_bridge] + [n.host_veth for n in plan.nodes]
        switch = ["br0", "lo"] + [n.switch_veth for n in plan.nodes]  # the lab's switch namespace
        for name in names + switch:
            assert len(name) <= IFNAMSIZ and IFNAME_RE.match(name), (slot, name)
        assert len(set(switch)) == len(switch)
        assert not {"eth0", "eth1", "lo"} & set(names)
        host_side += names
    assert len(set(host_side)) == len(host_side) == MAX_SLOTS * (MAX_NODES + 1)


# ----- check_name ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["a", "dev", "lab1", "b2c3", "abcdefghijkl"])
def test_check_name_accepts(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "1lab",
        "Dev",
        "my-lab",
        "my_lab",
        "my lab",
        "lab.x",
        "abcdefghijklm",
        "lab/x",
        "lab\x00",
        " dev",
        "dévé",
    ],
)
def test_check_name_rejects(name: str) -> None:
    with pytest.raises(LabError, match="invalid lab name"):
        check_name(name)



def test_check_name_rejects_a_trailing_newline() -> None:
    with pytest.raises(LabError, match="invalid lab name"):
        check_name("dev\n")


def test_new_plan_and_lab_check_the_name() -> None:
    with pytest.raises(LabError, match="invalid lab name"):
        new_plan("Bad_Name", 0, 1, 1)
    with pytest.raises(LabError, match="invalid lab name"):
        Lab("../etc")


# ----- node_names ------------------------------------------------------------------------------------
def test_node_names_boundaries() -> None:
    assert node_names("x", 1, 1) == [("x-cp1", "control-plane")]
    names = node_names("x", MAX_NODES, MAX_NODES)
    assert len(names) == MAX_NODES and {r for _, r in names} == {"control-plane"}
    assert node_names("x", 3, 1) == [("x-cp1", "control-plane"), ("x-w1", "worker"), ("x-w2", "worker")]


@pytest.mark.parametrize(
    ("nodes", "cps", "match"),
    [
        (0, 1, r"--nodes must be between 1 and 240, got 0"),
        (-1, 1, r"--nodes must be between 1 and 240, got -1"),
        (MAX_NODES + 1, 1, r"--nodes must be between 1 and 240, got 241"),
        (3, 0, r"--control-planes must be between 1 and --nodes \(3\), got 0"),
        (3, 4, r"--control-planes must be between 1 and --nodes \(3\), got 4"),
    ],
)
def test_node_names_errors(nodes: int, cps: int, match: str) -> None:
    with pytest.raises(LabError, match=match):
        node_names("x", nodes, cps)
    with pytest.raises(LabError, match=match):
        new_plan("x", 0, nodes, cps)


# ----- subnets_for_slot and pick_slot ----------------------------------------------------------------
def test_subnets_for_slot_are_disjoint_24s_inside_the_pool() -> None:
    nets = [net for slot in range(MAX_SLOTS) for net in subnets_for_slot(slot)]
    assert len(nets) == 2 * MAX_SLOTS
    assert all(n.prefixlen == 24 and n.subnet_of(POOL) for n in nets)
    assert len(set(nets)) == len(nets)
    for i, a in enumerate(nets):
        assert not any(a.overlaps(b) for b in nets[i + 1 :]), a
    assert subnets_for_slot(0) == (N("10.231.0.0/24"), N("10.231.1.0/24"))
    assert subnets_for_slot(MAX_SLOTS - 1) == (N("10.231.254.0/24"), N("10.231.255.0/24"))


@pytest.mark.parametrize("slot", [-1, MAX_SLOTS, 1000])
def test_subnets_for_slot_out_of_range(slot: int) -> None:
    with pytest.raises(LabError, match="outside 0..127"):
        subnets_for_slot(slot)


def test_pick_slot_lowest_free() -> None:
    assert pick_slot([], []) == 0
    assert pick_slot([0, 1], []) == 2
    assert pick_slot([0, 2, 3], []) == 1
    assert pick_slot(iter([0]), iter([N("192.168.0.0/16"), N("10.0.0.0/16")])) == 1  # iterables suffice
    assert pick_slot(range(MAX_SLOTS - 1), []) == MAX_SLOTS - 1


def test_pick_slot_skips_slots_whose_public_or_private_subnet_overlaps_a_host_network() -> None:
    assert pick_slot([], [N("10.231.0.0/24")]) == 1  # slot 0's public subnet
    assert pick_slot([], [N("10.231.1.128/25")]) == 1  # inside slot 0's private subnet
    assert pick_slot([], [N("10.231.2.7/32")]) == 0  # an address in slot 1 leaves slot 0 free
    assert pick_slot([0], [N("10.231.2.7/32")]) == 2  # ... and is skipped
    assert pick_slot([], [N("10.231.0.0/22")]) == 2  # covers slots 0 and 1
    assert pick_slot([0], [N("10.231.2.0/23")]) == 2  # used 0, routed 1
    assert pick_slot([], [N("10.230.0.0/16"), N("10.232.0.0/16")]) == 0  # beside the pool, not in it


def test_pick_slot_chosen_subnets_overlap_nothing_given() -> None:
    host = [N("10.231.0.0/20"), N("10.231.17.5/32"), N("10.231.40.0/21")]
    slot = pick_slot([9, 10], host)
    pub, priv = subnets_for_slot(slot)
    assert not any(pub.overlaps(h) or priv.overlaps(h) for h in host)
    assert slot == 11  # 0-7 routed, 8 has 10.231.17.5 in its private subnet, 9-10 used


@pytest.mark.parametrize(
    ("used", "host"),
    [
        (range(MAX_SLOTS), []),
        ([], [N("10.0.0.0/8")]),
        ([], [N("10.231.0.0/16")]),
        (range(0, MAX_SLOTS, 2), [N(f"10.231.{4 * k + 2}.0/24") for k in range(MAX_SLOTS // 2)]),
    ],
)
def test_pick_slot_raises_when_exhausted(used: range | list[int], host: list[ipaddress.IPv4Network]) -> None:
    with pytest.raises(LabError, match="no free lab slot"):
        pick_slot(used, host)


# ----- lab state and its renderers -------------------------------------------------------------------
def _pubkey(comment: str = "") -> str:
    key = Ed25519PrivateKey.generate().public_key()
    line = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return f"{line} {comment}".rstrip()


def _lab_state(name: str = "demo", slot: int = 4) -> LabState:
    plan = new_plan(name, slot, 3, 1)
    state = _state_from_plan(plan, Image(key="0123456789ab", root=Path("/nonexistent/images/0123456789ab")))
    for n in state.nodes:
        n.host_key = _pubkey()
    state.phase = "up"
    return state


def test_state_from_plan_keeps_the_plan() -> None:
    plan = new_plan("demo", 4, 3, 1)
    state = _state_from_plan(plan, Image(key="k", root=Path("/x/k")))
    assert (state.name, state.slot, state.image, state.phase) == ("demo", 4, "k", "creating")
    assert state.public_subnet == "10.231.8.0/24" and state.private_subnet == "10.231.9.0/24"
    assert state.gateway == "10.231.8.1" and state.public_bridge == "kw4pub"
    assert [(n.name, n.role, n.public_address, n.host_veth) for n in state.nodes] == [
        ("demo-cp1", "control-plane", "10.231.8.10", "kw4n1p"),
        ("demo-w1", "worker", "10.231.8.11", "kw4n2p"),
        ("demo-w2", "worker", "10.231.8.12", "kw4n3p"),
    ]
    assert all(n.systemd_pid == 0 and not n.stopped and n.host_key == "" for n in state.nodes)


def test_render_cluster_yml_is_a_valid_config_that_pins_each_host_key(tmp_path: Path) -> None:
    state = _lab_state()
    admin = _pubkey("kubeward-lab-demo")
    text = render_cluster_yml(state, admin)
    loaded = parse_config(text, str(tmp_path / "cluster.yml"))
    cfg = loaded.config
    assert cfg.name == "demo"
    assert [(h.name, h.role, str(h.address), str(h.private_address)) for h in cfg.hosts] == [
        (n.name, n.role, n.public_address, n.private_address) for n in state.nodes
    ]
    assert [str(h.ssh.host_key) for h in cfg.hosts] == [n.host_key for n in state.nodes]
    assert len({str(h.ssh.host_key) for h in cfg.hosts}) == 3
    assert all(h.private_interface == "eth1" for h in cfg.hosts)  # the lab wires eth1 to the switch
    assert all(h.ssh.user == "debian" and h.ssh.port == 22 for h in cfg.hosts)
    assert all(Path(h.ssh.key_path) == tmp_path / "id_ed25519" for h in cfg.hosts)  # relative to the file
    assert str(cfg.admin.ssh_public_key) == admin
    assert (cfg.admin.name, cfg.admin.uid, cfg.admin.gid) == (ADMIN_NAME, ADMIN_UID, ADMIN_UID)
    assert str(cfg.network.private_subnet) == state.private_subnet
    assert [str(c) for c in cfg.network.admin_cidrs] == [state.public_subnet]
    assert ipaddress.ip_address(state.gateway) in ipaddress.ip_network(str(cfg.network.admin_cidrs[0]))


def test_render_cluster_yml_pins_exactly_what_the_state_says() -> None:
    state = _lab_state()
    other = replace(state.nodes[1], host_key=_pubkey())
    changed = render_cluster_yml(replace(state, nodes=[state.nodes[0], other, state.nodes[2]]), _pubkey())
    assert other.host_key in changed and state.nodes[1].host_key not in changed
    assert state.nodes[0].host_key in changed and state.nodes[2].host_key in changed


def test_render_etc_hosts_maps_the_hostname_to_127_0_1_1() -> None:
    text = render_etc_hosts("demo-w1")
    entries = [line.split() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    by_addr = {e[0]: e[1:] for e in entries}
    assert by_addr["127.0.1.1"] == ["demo-w1"]
    assert by_addr["127.0.0.1"] == ["localhost"]
    assert "localhost" in by_addr["::1"]
    assert [e for e in entries if "demo-w1" in e[1:]] == [["127.0.1.1", "demo-w1"]]
    assert text.endswith("\n")


def test_lab_state_file_round_trip_and_slot_listing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBEWARD_LAB_ROOT", str(tmp_path))
    lab = Lab("demo")
    with pytest.raises(LabError, match="there is no lab named 'demo'"):
        lab.load()
    lab.dir.mkdir()
    state = _lab_state("demo", 4)
    lab.save(state)
    assert lab.exists() and lab.load() == state
    other = Lab("other")
    other.dir.mkdir()
    other.save(_lab_state("other", 7))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "state.json").write_text("{not json")
    (tmp_path / "empty").mkdir()  # no state.json: not a lab
    assert list_labs() == ["broken", "demo", "other"]
    assert sorted(_used_slots()) == [4, 7]
    assert json.loads(lab.state_path.read_text())["nodes"][0]["name"] == "demo-cp1"
