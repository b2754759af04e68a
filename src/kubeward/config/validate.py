"""Checks across fields of a valid ClusterConfig: uniqueness, subnets, port collisions, quorum.

``check_config`` is pure: it returns findings with key paths; the loader turns them into
file:line:col issues. Each check is a small function listed in ``CHECKS``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network
from itertools import combinations
from typing import TYPE_CHECKING, Literal

from kubeward.config.errors import Severity, format_path
from kubeward.config.model import ClusterConfig
from kubeward.config.source import KeyPath
from kubeward.config.values import PortRange

if TYPE_CHECKING:
    from kubeward.catalog.matrix import MatrixRow

Protocol = Literal["tcp", "udp"]


@dataclass(frozen=True)
class Finding:
    """One cross-field problem: the key path it is about, what is wrong, and how bad."""

    path: KeyPath
    message: str
    severity: Severity = "error"


@dataclass(frozen=True)
class ReservedPort:
    """A port kubeward itself uses on the hosts; ``path`` is the key that sets it, if any."""

    ports: PortRange
    protocol: Protocol
    owner: str
    path: KeyPath | None = None

    def __str__(self) -> str:
        return f"{self.owner} {self.ports}/{self.protocol}"


#: ports of Kubernetes components that are not configurable in cluster.yml
FIXED_PORTS: tuple[tuple[int, Protocol, str], ...] = (
    (10248, "tcp", "kubelet healthz"),
    (10249, "tcp", "kube-proxy metrics"),
    (10250, "tcp", "kubelet API"),
    (10255, "tcp", "kubelet read-only port"),
    (10256, "tcp", "kube-proxy healthz"),
    (10257, "tcp", "kube-controller-manager"),
    (10259, "tcp", "kube-scheduler"),
)

#: ports each CNI uses between hosts
CNI_PORTS: dict[str, tuple[tuple[int, Protocol, str], ...]] = {
    "routes": (),  # plain routing over the private network: no port of its own
}


def reserved_ports(config: ClusterConfig) -> list[ReservedPort]:
    """Every port kubeward's own components use on the hosts, with the key that sets it."""
    out: list[ReservedPort] = []
    seen_ssh: set[int] = set()
    for i, host in enumerate(config.hosts):
        if host.ssh.port not in seen_ssh:
            seen_ssh.add(host.ssh.port)
            out.append(
                ReservedPort(
                    PortRange(host.ssh.port, host.ssh.port), "tcp", "SSH", ("hosts", i, "ssh", "port")
                )
            )
    net, etcd = config.network, config.etcd
    for port, owner, path in (
        (net.api_port, "kube-apiserver", ("network", "api_port")),
        (etcd.client_port, "etcd client", ("etcd", "client_port")),
        (etcd.peer_port, "etcd peer", ("etcd", "peer_port")),
        (etcd.metrics_port, "etcd metrics", ("etcd", "metrics_port")),
    ):
        out.append(ReservedPort(PortRange(port, port), "tcp", owner, path))
    for proto in ("tcp", "udp"):
        out.append(
            ReservedPort(net.nodeport_range, proto, "NodePort services", ("network", "nodeport_range"))
        )
    fixed = list(FIXED_PORTS) + list(CNI_PORTS[net.cni])
    if config.addons.ingress_nginx.enabled:
        fixed += [(80, "tcp", "ingress-nginx HTTP"), (443, "tcp", "ingress-nginx HTTPS")]
    for port, proto, owner in fixed:
        out.append(ReservedPort(PortRange(port, port), proto, owner))
    return out


# --- the checks ----------------------------------------------------------------------------------


def _unique_hosts(config: ClusterConfig) -> Iterator[Finding]:
    for field in ("name", "address", "private_address"):
        first: dict[str, int] = {}
        for i, host in enumerate(config.hosts):
            value = str(getattr(host, field))
            if value in first:
                yield Finding(
                    ("hosts", i, field),
                    f"{value} is already used by hosts[{first[value]}]; every host needs its own {field}",
                )
            else:
                first[value] = i


def _private_addresses_in_subnet(config: ClusterConfig) -> Iterator[Finding]:
    subnet = config.network.private_subnet
    for i, host in enumerate(config.hosts):
        addr = host.private_address
        if addr not in subnet:
            yield Finding(
                ("hosts", i, "private_address"), f"{addr} is not inside network.private_subnet {subnet}"
            )
        elif subnet.prefixlen < 31 and addr in (subnet.network_address, subnet.broadcast_address):
            kind = "network" if addr == subnet.network_address else "broadcast"
            yield Finding(
                ("hosts", i, "private_address"),
                f"{addr} is the {kind} address of network.private_subnet {subnet}; use a host address",
            )


def _control_planes(config: ClusterConfig) -> Iterator[Finding]:
    count = len(config.control_planes)
    if count == 0:
        yield Finding(
            ("hosts",),
            "has no host with role control-plane; at least one is needed to run etcd and the API server",
        )
    elif count % 2 == 0:
        yield Finding(
            ("hosts",),
            f"has {count} control-plane hosts; etcd needs a majority, so {count} survive no more failures "
            f"than {count - 1} do: use an odd number (1, 3 or 5)",
            "warning",
        )


def _cidrs_do_not_overlap(config: ClusterConfig) -> Iterator[Finding]:
    net = config.network
    named: list[tuple[str, IPv4Network]] = [
        ("private_subnet", net.private_subnet),
        ("pod_cidr", net.pod_cidr),
        ("service_cidr", net.service_cidr),
    ]
    for (name_a, a), (name_b, b) in combinations(named, 2):
        if a.overlaps(b):
            yield Finding(
                ("network", name_b),
                f"{b} overlaps network.{name_a} {a}; the private network, pods and services "
                "need separate ranges",
            )
    if net.service_cidr.prefixlen < 12:
        yield Finding(
            ("network", "service_cidr"),
            f"{net.service_cidr} is larger than a /12; the API server refuses service ranges that large",
        )
    if net.pod_cidr.prefixlen > 24 - max(0, (len(config.hosts) - 1).bit_length()):
        yield Finding(
            ("network", "pod_cidr"),
            f"{net.pod_cidr} is too small: every node gets a /24 of it, and there are "
            f"{len(config.hosts)} hosts",
        )


def _reserved_ports_distinct(config: ClusterConfig) -> Iterator[Finding]:
    """kubeward's own configurable ports must not collide with each other or the fixed ones."""
    reserved = reserved_ports(config)
    for a, b in combinations(reserved, 2):
        if a.owner == b.owner or a.protocol != b.protocol or not a.ports.overlaps(b.ports):
            continue
        # When both are configurable, either may be the one just changed: report it at both.
        for target, other in ((a, b), (b, a)):
            if target.path is None:
                continue
            where = f" (set at {format_path(other.path)})" if other.path else ""
            yield Finding(
                target.path,
                f"{target.ports}/{target.protocol} collides with {other}{where}; choose another port",
            )


def _extra_ports(config: ClusterConfig) -> Iterator[Finding]:
    reserved = reserved_ports(config)
    extra = config.firewall.extra_ports
    names: dict[str, int] = {}
    for i, rule in enumerate(extra):
        path: KeyPath = ("firewall", "extra_ports", i)
        if rule.name in names:
            yield Finding(
                (*path, "name"), f"{rule.name!r} is already used by firewall.extra_ports[{names[rule.name]}]"
            )
        names.setdefault(rule.name, i)
        for r in reserved:
            if r.protocol == rule.protocol and r.ports.overlaps(rule.port):
                where = f" (set at {format_path(r.path)})" if r.path else ""
                yield Finding(
                    (*path, "port"),
                    f"{rule.port}/{rule.protocol} ({rule.name}) collides with {r}{where}, which kubeward "
                    "reserves; choose another port",
                )
    for i, rule in enumerate(extra):
        for row in _dropped_rows(config):
            roles = sorted(set(row.roles) & set(rule.roles), key=("control-plane", "worker").index)
            if row.protocol == rule.protocol and row.ports is not None and row.ports.overlaps(rule.port) and roles:
                yield Finding(
                    ("firewall", "extra_ports", i, "port"),
                    f"{rule.port}/{rule.protocol} ({rule.name}) includes {row.ports}/{row.protocol}, "
                    f"{row.component}, which the firewall drops on {' and '.join(r + 's' for r in roles)} "
                    f"before any accept ({row.description}), so this rule could never open it there; "
                    "choose another port, or leave it out of the range",
                )
    for (i, a), (j, b) in combinations(enumerate(extra), 2):
        if a.protocol == b.protocol and a.port.overlaps(b.port) and set(a.roles) & set(b.roles):
            yield Finding(
                ("firewall", "extra_ports", j, "port"),
                f"{b.port}/{b.protocol} ({b.name}) overlaps firewall.extra_ports[{i}] ({a.name}) {a.port}; "
                "merge their sources into one rule",
                "warning",
            )


def _dropped_rows(config: ClusterConfig) -> list[MatrixRow]:
    """The port matrix's rows nobody may reach: the firewall drops them ahead of every accept."""
    # imported here: the matrix is built from a ClusterConfig, so it imports this package
    from kubeward.catalog.matrix import build_matrix

    return [row for row in build_matrix(config) if row.closed]


def _ssh(config: ClusterConfig) -> Iterator[Finding]:
    pinned: dict[str, int] = {}
    for i, host in enumerate(config.hosts):
        key = host.ssh.host_key
        if key is None:
            continue
        path: KeyPath = ("hosts", i, "ssh", "host_key")
        if key.key_type != "ssh-ed25519":
            yield Finding(
                path,
                f"pins an {key.key_type} key, but kubeward's hardened sshd serves only its ed25519 "
                "host key; pin "
                f"that one instead (ssh-keyscan -t ed25519 {host.address})",
                "warning",
            )
        blob = key.blob.hex()
        if blob in pinned:
            yield Finding(
                path,
                f"is the same host key as hosts[{pinned[blob]}]; hosts cloned from one image share keys, "
                "regenerate them (ssh-keygen -A) and pin each host's own",
                "warning",
            )
        pinned.setdefault(blob, i)


def _networks(config: ClusterConfig) -> Iterator[Finding]:
    net = config.network
    lists: list[tuple[KeyPath, tuple[IPv4Network | IPv6Network, ...]]] = [
        (("network", "admin_cidrs"), net.admin_cidrs),
        (("network", "nodeport_sources"), net.nodeport_sources),
        (("network", "trusted_subnets"), net.trusted_subnets),
    ]
    for i, rule in enumerate(config.firewall.extra_ports):
        nets = tuple(s for s in rule.sources if isinstance(s, IPv4Network | IPv6Network))
        lists.append((("firewall", "extra_ports", i, "sources"), nets))
    if net.ipv6 == "drop":
        for path, nets in lists:
            for j, n in enumerate(nets):
                if n.version == 6:
                    yield Finding(
                        (*path, j), f"{n} is IPv6, which has no effect while network.ipv6 is drop", "warning"
                    )
    for j, n in enumerate(net.admin_cidrs):
        if n.prefixlen == 0:
            yield Finding(
                ("network", "admin_cidrs", j),
                f"{n} lets anyone on the internet reach SSH and the API server (they still need keys); "
                "list only your own networks if you can",
                "warning",
            )


def _etcd_and_pki(config: ClusterConfig) -> Iterator[Finding]:
    if config.etcd.binary_path is not None and config.etcd.source != "binary":
        yield Finding(
            ("etcd", "binary_path"),
            "is ignored: etcd is installed from Debian packages (etcd.source: apt; installing an upstream "
            "release is not implemented yet); remove it",
            "warning",
        )
    pki = config.pki
    if pki.cert_validity_days > pki.ca_validity_days:
        yield Finding(
            ("pki", "cert_validity_days"),
            f"{pki.cert_validity_days} is longer than pki.ca_validity_days {pki.ca_validity_days}; "
            "a certificate cannot outlive its CA",
        )
    if pki.renew_before_days >= pki.cert_validity_days:
        yield Finding(
            ("pki", "renew_before_days"),
            f"{pki.renew_before_days} is not shorter than pki.cert_validity_days {pki.cert_validity_days}; "
            "certificates would be renewed on every run",
        )


def _kubernetes(config: ClusterConfig) -> Iterator[Finding]:
    k = config.kubernetes
    if not k.enabled:
        return
    if k.version is None:
        yield Finding(("kubernetes", "enabled"), "is true but kubernetes.version is not set; write e.g. version: '1.20.2'")
    else:
        yield from _extra_args(config, k.version)
    a = k.artifacts
    for source, path in (("bundle", a.bundle), ("dir", a.dir)):
        if a.source == source and path is None:
            yield Finding(
                ("kubernetes", "artifacts", "source"),
                f"is {source} but kubernetes.artifacts.{source} is not set; give the path of the {source}",
            )


#: cluster.yml key -> the component whose flag table checks its extra_args
_COMPONENT_KEYS = {"apiserver": "kube-apiserver", "controller_manager": "kube-controller-manager",
                   "scheduler": "kube-scheduler"}


def _extra_args(config: ClusterConfig, version: str) -> Iterator[Finding]:
    """A flag in kubernetes.<component>.extra_args that the configured version no longer accepts."""
    from kubeward.components.flags import check_extra_args  # the flag tables import config: load late
    from kubeward.components.kube import TABLES
    from kubeward.components.version import Version

    ver = Version.parse(version)
    for key, component in _COMPONENT_KEYS.items():
        args: dict[str, str] = getattr(config.kubernetes, key).extra_args
        by_name = {raw.lstrip("-"): raw for raw in args}
        for problem in check_extra_args(TABLES[component], ver, args):
            yield Finding(("kubernetes", key, "extra_args", by_name.get(problem.name, problem.name)), problem.message)


def _firewall(config: ClusterConfig) -> Iterator[Finding]:
    if not config.firewall.enabled:
        yield Finding(
            ("firewall", "enabled"),
            "is false: kubeward will not install a host firewall, so every listening port is reachable "
            "from wherever the network allows",
            "warning",
        )


CHECKS: tuple[Callable[[ClusterConfig], Iterator[Finding]], ...] = (
    _unique_hosts,
    _private_addresses_in_subnet,
    _control_planes,
    _cidrs_do_not_overlap,
    _reserved_ports_distinct,
    _extra_ports,
    _ssh,
    _networks,
    _etcd_and_pki,
    _firewall,
    _kubernetes,
)


def check_config(config: ClusterConfig) -> list[Finding]:
    """Every cross-field finding for a config that already passed the model, errors and warnings."""
    return [finding for check in CHECKS for finding in check(config)]
