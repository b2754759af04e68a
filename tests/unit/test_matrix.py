"""The port matrix: which rows exist for which cluster.yml, and `kubeward matrix`."""

from __future__ import annotations

import json
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from kubeward.catalog.matrix import (
    SOURCE_NAMES,
    MatrixRow,
    build_matrix,
    core_rows,
    expand_source,
    render_matrix_markdown,
    rows_for_host,
)
from kubeward.catalog.ports import LISTENERS, listeners_for
from kubeward.cli.main import cli
from kubeward.config import ClusterConfig, load_config, parse_config

EXAMPLE = Path(__file__).parents[2] / "examples" / "cluster.yml"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFyHcpvoFU9dFloJmk8OQ/+icBDjiqm8gFKciq1gR8X9"


def cluster(**overrides: Any) -> ClusterConfig:
    """One control plane and two workers; top-level sections in overrides are merged in."""
    doc: dict[str, Any] = {
        "ssh": {"user": "debian", "key_path": "k"},
        "hosts": [
            {"name": "cp-1", "address": "192.0.2.10", "private_address": "10.0.0.10",
             "role": "control-plane"},
            {"name": "worker-1", "address": "192.0.2.11", "private_address": "10.0.0.11", "role": "worker",
             "labels": {"tier": "edge"}},
            {"name": "worker-2", "address": "192.0.2.12", "private_address": "10.0.0.12", "role": "worker"},
        ],
        "admin": {"name": "kubeadmin", "uid": 1500, "ssh_public_key": KEY},
        "network": {"private_subnet": "10.0.0.0/24", "admin_cidrs": ["198.51.100.0/24"]},
    }
    for key, value in overrides.items():
        doc[key] = {**doc[key], **value} if isinstance(doc.get(key), dict) else value
    return parse_config(yaml.safe_dump(doc)).config


def by_key(rows: list[MatrixRow]) -> dict[str, MatrixRow]:
    return {r.key: r for r in rows}


def test_required_rows_and_their_audiences() -> None:
    rows = by_key(build_matrix(cluster()))
    expect = {
        "ssh": (22, "tcp", ("admin",), "SSH public key"),
        "kube-apiserver": (6443, "tcp", ("nodes", "trusted", "pods"), "TLS+token"),
        "etcd-client": (2379, "tcp", ("control-planes",), "mTLS"),
        "etcd-peer": (2380, "tcp", ("control-planes",), "mTLS"),
        "etcd-metrics": (2381, "tcp", ("self",), "none"),
        "kubelet": (10250, "tcp", ("nodes", "pods"), "TLS+token"),
        "kubelet-read-only": (10255, "tcp", ("nobody",), "none"),
        "kubelet-healthz": (10248, "tcp", ("self",), "none"),
        "kube-controller-manager": (10257, "tcp", ("self",), "TLS+token"),
        "kube-scheduler": (10259, "tcp", ("self",), "TLS+token"),
        "kube-proxy-metrics": (10249, "tcp", ("self",), "none"),
        "kube-proxy-healthz": (10256, "tcp", ("self",), "none"),
        "apiserver-insecure": (8080, "tcp", ("nobody",), "none"),
    }
    for key, (port, proto, sources, auth) in expect.items():
        row = rows[key]
        assert row.ports is not None and row.ports.lo == row.ports.hi == port, key
        assert (row.protocol, row.sources, row.auth) == (proto, sources, auth), key
    for key in ("etcd-metrics", "kubelet-healthz", "kube-controller-manager", "kube-scheduler",
                "kube-proxy-metrics"):
        assert rows[key].bind == "loopback" and rows[key].local_only
    assert rows["kubelet-read-only"].closed and rows["kubelet-read-only"].bind == "none"
    assert rows["etcd-client"].roles == ("control-plane",)
    assert rows["kubelet"].tls and rows["kubelet"].http
    assert not rows["ssh"].tls and not rows["ssh"].http
    for tcp_udp in ("nodeport-tcp", "nodeport-udp"):
        r = rows[tcp_udp]
        assert str(r.ports) == "30001-30099"
        assert r.sources == ("nodeport-sources", "nodes", "pods")
    every_source = {s for r in rows.values() for s in r.sources}
    assert every_source <= set(SOURCE_NAMES)


def test_configured_ports_flow_into_the_matrix() -> None:
    config = cluster(
        network={"api_port": 7443, "nodeport_range": "31000-31010"},
        etcd={"client_port": 12379, "peer_port": 12380, "metrics_port": 12381},
    )
    rows = by_key(build_matrix(config))
    assert [rows[k].port_text for k in ("kube-apiserver", "etcd-client", "etcd-peer", "etcd-metrics")] == [
        "7443", "12379", "12380", "12381"]
    assert rows["nodeport-udp"].port_text == "31000-31010"


def test_ssh_row_per_port_when_hosts_differ() -> None:
    config = cluster(hosts=[
        {"name": "cp-1", "address": "192.0.2.10", "private_address": "10.0.0.10", "role": "control-plane",
         "ssh": {"port": 2222}},
        {"name": "worker-1", "address": "192.0.2.11", "private_address": "10.0.0.11", "role": "worker"},
    ])
    ssh = [r for r in build_matrix(config) if r.component == "sshd"]
    assert [(r.port_text, r.hosts) for r in ssh] == [("22", ("worker-1",)), ("2222", ("cp-1",))]
    assert [r.port_text for r in rows_for_host(ssh, config.host("cp-1"))] == ["2222"]


def test_routes_cni_has_no_rows_of_its_own() -> None:
    keys = {r.key for r in build_matrix(cluster(network={"cni": "routes"}))}
    assert not {k for k in keys if k.split("-")[0] in ("flannel", "weave", "vxlan")}
    assert "kubelet" in keys


def test_ingress_rows_only_when_enabled_and_on_selected_hosts() -> None:
    assert not [r for r in build_matrix(cluster()) if r.key.startswith("ingress")]
    on_workers = by_key(build_matrix(cluster(addons={"ingress_nginx": {"enabled": True}})))
    assert on_workers["ingress-http"].hosts == ("worker-1", "worker-2")
    assert on_workers["ingress-https"].sources == ("world",) and on_workers["ingress-https"].tls
    selected = by_key(build_matrix(cluster(addons={"ingress_nginx": {"enabled": True,
                                                                     "node_selector": {"tier": "edge"}}})))
    assert selected["ingress-http"].hosts == ("worker-1",)
    config = cluster(addons={"ingress_nginx": {"enabled": True, "node_selector": {"tier": "edge"}}})
    assert [r.key for r in rows_for_host(build_matrix(config), config.host("worker-2"))
            if r.key.startswith("ingress")] == []


def test_extra_ports_become_rows() -> None:
    config = cluster(firewall={"extra_ports": [
        {"name": "metrics", "port": "9000-9100", "protocol": "udp", "roles": ["worker"],
         "sources": ["control-planes", "203.0.113.0/24"], "description": "scraped"},
    ]})
    row = by_key(build_matrix(config))["extra-metrics"]
    assert (row.port_text, row.protocol, row.roles, row.description) == ("9000-9100", "udp", ("worker",),
                                                                        "scraped")
    assert row.sources == ("control-planes", IPv4Network("203.0.113.0/24"))
    assert row not in rows_for_host(build_matrix(config), config.host("cp-1"))


def test_expand_source() -> None:
    config = cluster(network={"trusted_subnets": ["172.16.0.0/12"], "nodeport_sources": ["203.0.113.0/24"]})
    nodes = ["10.0.0.10/32", "10.0.0.11/32", "10.0.0.12/32"]
    assert [str(n) for n in expand_source(config, "nodes")] == nodes
    assert [str(n) for n in expand_source(config, "control-planes")] == ["10.0.0.10/32"]
    assert [str(n) for n in expand_source(config, "trusted")] == ["172.16.0.0/12"]
    assert [str(n) for n in expand_source(config, "nodeport-sources")] == ["203.0.113.0/24"]
    assert [str(n) for n in expand_source(config, "world")] == ["0.0.0.0/0"]
    assert expand_source(config, "nobody") == () and expand_source(config, "self") == ()
    v6 = cluster(network={"ipv6": "allow"})
    assert [str(n) for n in expand_source(v6, "world")] == ["0.0.0.0/0", "::/0"]


def test_listeners_for_preflight_unchanged() -> None:
    cp = listeners_for("control-plane", etcd_ports=(12379, 12380, 12381), api_port=7443)
    assert [(x.component, x.port) for x in cp] == [
        ("kube-apiserver", 7443), ("etcd client", 12379), ("etcd peer", 12380), ("etcd metrics", 12381),
        ("kube-controller-manager", 10257), ("kube-scheduler", 10259), ("kubelet", 10250),
        ("kubelet healthz", 10248), ("kube-proxy metrics", 10249), ("kube-proxy healthz", 10256),
    ]
    assert [x.port for x in listeners_for("worker")] == [10250, 10248, 10249, 10256]
    assert {x.process for x in cp} >= {("etcd",), ("kubelet",), ("kube-controller",)}
    assert len(LISTENERS) == 10
    # the same ports as the matrix rows they come from
    matrix_ports = {r.ports.lo for r in core_rows() if r.ports is not None}
    assert {x.port for x in LISTENERS} == matrix_ports


def test_markdown_has_every_row() -> None:
    rows = build_matrix(load_config(EXAMPLE).config)
    text = render_matrix_markdown(rows)
    assert len(text.strip().splitlines()) == len(rows) + 2


@pytest.mark.parametrize("output", ["text", "json", "markdown"])
def test_matrix_command(output: str) -> None:
    result = CliRunner().invoke(cli, ["matrix", "-c", str(EXAMPLE), "--output", output])
    assert result.exit_code == 0, result.output
    assert "etcd peer" in result.stdout and "10255" in result.stdout
    if output == "json":
        rows = json.loads(result.stdout)
        keys = {r["key"] for r in rows}
        assert {"ssh", "kube-apiserver", "extra-node-exporter", "ingress-https"} <= keys
        assert next(r for r in rows if r["key"] == "ingress-http")["hosts"] == ["worker-1"]


def test_matrix_command_for_one_node() -> None:
    result = CliRunner().invoke(cli, ["matrix", "-c", str(EXAMPLE), "--node", "worker-2", "-o", "json"])
    assert result.exit_code == 0, result.output
    keys = {r["key"] for r in json.loads(result.stdout)}
    assert "etcd-client" not in keys and "ingress-http" not in keys and "kubelet" in keys
    bad = CliRunner().invoke(cli, ["matrix", "-c", str(EXAMPLE), "--node", "nope"])
    assert bad.exit_code == 2 and "no host 'nope'" in bad.output
