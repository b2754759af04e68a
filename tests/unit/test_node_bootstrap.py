"""TLS bootstrap as data: the RBAC rows (nothing more than joining needs), the per-node token's
lifetime and group, the retired kubelet files, and the inventory the serving policy checks against."""

from __future__ import annotations

from datetime import UTC, datetime

from kubeward.config import parse_config
from kubeward.kube.rbac import CLUSTER_ROLE_BINDINGS
from kubeward.ops.base import Change, Unchanged
from kubeward.ops.ops import AbsentFile
from kubeward.phases.nodes import inventory
from kubeward.pki.table import RETIRED_ROWS, ROWS
from kubeward.pki.tokens import BOOTSTRAP_TOKEN_RE, NODE_BOOTSTRAP_GROUP, NODE_BOOTSTRAP_TTL, new_bootstrap_token

CLUSTER = """\
name: t
ssh: {user: debian, key_path: k}
hosts:
  - {name: cp-1, address: 192.0.2.10, private_address: 10.0.0.10, role: control-plane}
  - {name: worker-1, address: node1.example.net, private_address: 10.0.0.21, role: worker}
admin: {name: kubeadmin, uid: 1500, ssh_public_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFyHcpvoFU9dFloJmk8OQ/+icBDjiqm8gFKciq1gR8X9 a@b"}
network: {private_subnet: 10.0.0.0/24, admin_cidrs: [198.51.100.0/24]}
"""


def test_bootstrap_rbac_is_exactly_what_joining_needs() -> None:
    by_subject: dict[str, set[str]] = {}
    for row in CLUSTER_ROLE_BINDINGS:
        for _, name in row.subjects:
            by_subject.setdefault(name, set()).add(row.cluster_role)
    assert by_subject[NODE_BOOTSTRAP_GROUP] == {
        "system:node-bootstrapper", "system:certificates.k8s.io:certificatesigningrequests:nodeclient"}
    assert by_subject["system:nodes"] == {"system:certificates.k8s.io:certificatesigningrequests:selfnodeclient"}
    assert NODE_BOOTSTRAP_GROUP == "system:bootstrappers:kubeward"
    assert not [r for r in CLUSTER_ROLE_BINDINGS if r.cluster_role == "cluster-admin"
                and any(n.startswith("system:bootstrappers") for _, n in r.subjects)]


def test_node_tokens_are_short_lived_and_well_formed() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    t = new_bootstrap_token(now, NODE_BOOTSTRAP_TTL)
    assert BOOTSTRAP_TOKEN_RE.match(t.token) and (t.expires - now).total_seconds() == 15 * 60
    assert t.secret not in repr(t)


def test_kubelet_certificates_are_retired_and_removed_from_nodes() -> None:
    assert set(RETIRED_ROWS) == {"kubelet-client", "kubelet-serving"} and not set(RETIRED_ROWS) & set(ROWS)
    op = AbsentFile("/var/lib/kubelet/pki/kubelet.key", "why")
    assert isinstance(op.evaluate("absent")[0], Unchanged)
    change = op.evaluate("present")[0]
    assert isinstance(change, Change) and change.script == "rm -f /var/lib/kubelet/pki/kubelet.key"


def test_inventory_names_each_hosts_own_names_and_addresses() -> None:
    inv = inventory(parse_config(CLUSTER).config)
    assert inv["worker-1"].dns_names == {"worker-1", "node1.example.net"}
    assert {str(i) for i in inv["worker-1"].ips} == {"10.0.0.21"}
    assert {str(i) for i in inv["cp-1"].ips} == {"192.0.2.10", "10.0.0.10"}


def test_validate_refuses_pod_networks_kubeward_does_not_run() -> None:
    import pytest

    from kubeward.config import ConfigError

    for cni in ("vxlan", "flannel", "weave"):
        with pytest.raises(ConfigError, match="network.cni expected one of routes"):
            parse_config(CLUSTER.replace("admin_cidrs: [198.51.100.0/24]}", f"admin_cidrs: [198.51.100.0/24], cni: {cni}}}"))
    assert parse_config(CLUSTER).config.network.cni == "routes"
