"""The value parsers, the pydantic model and the cross-field checks, without YAML."""

from __future__ import annotations

import base64
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from kubeward.config import ClusterConfig, PortRange, check_config, reserved_ports
from kubeward.config.values import (
    parse_address,
    parse_ed25519_public_key,
    parse_openssh_public_key,
    parse_port_range,
    parse_source_network,
)

DATA = Path(__file__).parent / "data"
ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFyHcpvoFU9dFloJmk8OQ/+icBDjiqm8gFKciq1gR8X9"


def good_data() -> dict[str, Any]:
    data = yaml.safe_load((DATA / "good.yml").read_text())
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (443, PortRange(443, 443)),
        ("443", PortRange(443, 443)),
        ("30001-30099", PortRange(30001, 30099)),
        ("1 - 2", PortRange(1, 2)),
    ],
)
def test_port_range_parses(text: object, expected: PortRange) -> None:
    assert parse_port_range(text) == expected


@pytest.mark.parametrize("text", [0, 65536, "9-1", "a-b", "1-2-3", True, None, "", "70000"])
def test_port_range_refuses(text: object) -> None:
    with pytest.raises(ValueError, match="expected a port like 8443 or a range like 30001-30099"):
        parse_port_range(text)


def test_port_range_value() -> None:
    r = PortRange(30001, 30099)
    assert str(r) == "30001-30099" and str(PortRange(22, 22)) == "22"
    assert 30050 in r and 30100 not in r and r.size == 99
    assert r.overlaps(PortRange(30099, 31000)) and not r.overlaps(PortRange(1, 30000))
    with pytest.raises(ValueError):
        PortRange(5, 4)


def test_public_keys() -> None:
    key = parse_openssh_public_key(ED25519 + " me@host")
    assert (key.key_type, key.comment) == ("ssh-ed25519", "me@host")
    assert str(key) == ED25519 + " me@host"
    assert parse_ed25519_public_key(str(key)) == key
    rsa = (DATA / "rsa.pub").read_text().strip()
    assert parse_openssh_public_key(rsa).key_type == "ssh-rsa"
    with pytest.raises(ValueError, match="accepts only ssh-ed25519"):
        parse_ed25519_public_key(rsa)
    with pytest.raises(ValueError, match="does not decode"):
        parse_openssh_public_key("ssh-ed25519 AAAA!!!")
    with pytest.raises(ValueError, match="is not a key type"):
        parse_openssh_public_key("ssh-foo AAAA")
    # a blob that names another type than the line does
    blob = base64.b64encode(b"\x00\x00\x00\x07ssh-rsa" + b"\x00" * 20).decode()
    with pytest.raises(ValueError, match="holds a 'ssh-rsa' key"):
        parse_openssh_public_key(f"ssh-ed25519 {blob}")


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("10.0.0.1", True),
        ("node-1.example.com", True),
        ("2001:db8::1", True),
        ("10.0.0.300", False),
        ("-bad", False),
        ("a b", False),
        (5, False),
    ],
)
def test_addresses(value: object, ok: bool) -> None:
    if ok:
        parse_address(value)
    else:
        with pytest.raises(ValueError, match="expected an IP address"):
            parse_address(value)


def test_source_networks() -> None:
    assert parse_source_network("203.0.113.7") == IPv4Network("203.0.113.7/32")
    assert str(parse_source_network("2001:db8::/32")) == "2001:db8::/32"
    with pytest.raises(ValueError, match=r"did you mean 203\.0\.113\.0/24"):
        parse_source_network("203.0.113.7/24")


def test_model_is_frozen_and_closed() -> None:
    config = ClusterConfig.model_validate(good_data())
    with pytest.raises(ValidationError):
        config.name = "other"  # type: ignore[misc]
    data = good_data()
    data["network"]["colour"] = "blue"
    with pytest.raises(ValidationError, match="colour"):
        ClusterConfig.model_validate(data)


def test_json_dump_round_trips() -> None:
    config = ClusterConfig.model_validate(good_data())
    again = ClusterConfig.model_validate(config.model_dump(mode="json"))
    assert again == config
    # python-mode values (IPv4Network, PortRange, keys) validate too
    assert ClusterConfig.model_validate(config.model_dump()) == config


def test_host_lookup() -> None:
    config = ClusterConfig.model_validate(good_data())
    assert config.host("cp-1").is_control_plane
    with pytest.raises(KeyError, match="hosts: cp-1, worker-1, worker-2"):
        config.host("nope")


def test_paths_stay_as_written_without_base_dir() -> None:
    config = ClusterConfig.model_validate(good_data())
    assert config.hosts[0].ssh.key_path == Path("keys/id_ed25519")
    assert config.resolve_path("x") == Path("x")


def test_reserved_ports_follow_config() -> None:
    data = good_data()
    data["addons"] = {"ingress_nginx": {"enabled": True}}
    config = ClusterConfig.model_validate(data)
    owners = {(str(r.ports), r.protocol): r.owner for r in reserved_ports(config)}
    assert not [o for o in owners.values() if "weave" in o or "flannel" in o]
    assert owners[("443", "tcp")] == "ingress-nginx HTTPS"
    assert owners[("22", "tcp")] == "SSH"
    assert ("8472", "udp") not in owners


def _findings(data: dict[str, Any]) -> list[tuple[str, tuple[str | int, ...]]]:
    return [(f.severity, f.path) for f in check_config(ClusterConfig.model_validate(data))]


def test_checks_clean_on_good_file() -> None:
    assert _findings(good_data()) == []


def test_check_duplicates_and_subnet() -> None:
    data = good_data()
    data["hosts"][2]["address"] = data["hosts"][0]["address"]
    data["hosts"][2]["private_address"] = "10.0.0.255"
    assert _findings(data) == [("error", ("hosts", 2, "address")), ("error", ("hosts", 2, "private_address"))]


def test_check_pki_etcd_firewall_ipv6() -> None:
    data = good_data()
    data["pki"] = {"cert_validity_days": 4000, "renew_before_days": 4000}
    data["etcd"] = {"binary_path": "etcd.tar.gz"}
    data["firewall"] = {"enabled": False}
    data["network"]["nodeport_sources"] = ["2001:db8::/32"]
    assert _findings(data) == [
        ("warning", ("network", "nodeport_sources", 0)),
        ("warning", ("etcd", "binary_path")),
        ("error", ("pki", "cert_validity_days")),
        ("error", ("pki", "renew_before_days")),
        ("warning", ("firewall", "enabled")),
    ]


def test_check_pod_cidr_size() -> None:
    data = good_data()
    data["network"]["pod_cidr"] = "10.244.0.0/24"
    assert _findings(data) == [("error", ("network", "pod_cidr"))]


def test_check_host_keys() -> None:
    data = good_data()
    rsa = (DATA / "rsa.pub").read_text().strip()
    data["hosts"][0]["ssh"] = {"host_key": ED25519}
    data["hosts"][1]["ssh"] = {"host_key": ED25519}
    data["hosts"][2]["ssh"] = {"host_key": rsa}
    assert _findings(data) == [
        ("warning", ("hosts", 1, "ssh", "host_key")),
        ("warning", ("hosts", 2, "ssh", "host_key")),
    ]


def test_check_extra_ports() -> None:
    data = good_data()
    data["firewall"] = {
        "extra_ports": [
            {"name": "a", "port": "9000-9010", "sources": ["world"]},
            {"name": "a", "port": 9005, "protocol": "tcp", "sources": ["10.0.0.0/8"]},
            {"name": "b", "port": "30050", "protocol": "udp", "sources": ["nodes"]},
            {"name": "c", "port": 10256, "protocol": "tcp", "sources": ["admin"], "roles": ["worker"]},
        ]
    }
    found = [(f.severity, f.path, f.message) for f in check_config(ClusterConfig.model_validate(data))]
    assert [(s, p) for s, p, _ in found] == [
        ("error", ("firewall", "extra_ports", 1, "name")),
        ("error", ("firewall", "extra_ports", 2, "port")),
        ("error", ("firewall", "extra_ports", 3, "port")),
        ("warning", ("firewall", "extra_ports", 1, "port")),
    ]
    assert "collides with NodePort services 30001-30099/udp (set at network.nodeport_range)" in found[1][2]
    assert "collides with" in found[2][2]
