"""The port matrix: every port a kubeward node listens on, who must reach it and how it authenticates.

One ``MatrixRow`` per (component, port or port range, protocol). The rows are data that the
firewall compiler, preflight (``ports.listeners_for``), the CLI (``kubeward matrix``) and, later, the
network audit all walk; nothing here does I/O.

Who may reach a row is a tuple of *sources*: CIDRs (from ``firewall.extra_ports``) or one of the
names below, each of which the firewall turns into one named nftables set or none:

============== =============================================== ==========================================
source         means                                           in the firewall
============== =============================================== ==========================================
admin          ``network.admin_cidrs``                         set ``admin``
nodes          every host's ``private_address``                set ``nodes``, on the private interface
control-planes the control planes' ``private_address``         set ``control_planes``, private interface
trusted        ``network.trusted_subnets``                     set ``trusted``
pods           ``network.pod_cidr``                            set ``pods``, on the CNI's interfaces
nodeport-...   ``network.nodeport_sources``                    set ``nodeport_sources``
world          anyone                                          no source match
self           the node itself (loopback)                      ``iif lo accept`` covers it; no rule
nobody         must stay closed                                an explicit drop ahead of every accept
============== =============================================== ==========================================

Sources of the standard rows follow ``security-checks-and-port-matrix.md`` (tables (b)) and the
Pharos "Required Open Ports" table; deviations are explained in ``notes`` and docs/port-matrix.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network
from typing import Literal

from kubeward.config.model import ROLES, ClusterConfig, HostConfig, Role
from kubeward.config.values import PortRange

Protocol = Literal["tcp", "udp", "esp"]
#: where the component binds: the public address, the private one, 127.0.0.1, every address, or
#: nowhere (it must be disabled)
Bind = Literal["public", "private", "loopback", "all", "none"]
Auth = Literal[
    "mTLS",
    "TLS+token",
    "SSH public key",
    "WireGuard keys",
    "IPsec",
    "shared secret",
    "application",
    "none",
]
SourceName = Literal[
    "admin", "nodes", "control-planes", "trusted", "pods", "nodeport-sources", "world", "self", "nobody"
]
SOURCE_NAMES: tuple[SourceName, ...] = (
    "admin",
    "nodes",
    "control-planes",
    "trusted",
    "pods",
    "nodeport-sources",
    "world",
    "self",
    "nobody",
)
Source = SourceName | IPv4Network | IPv6Network

BOTH: tuple[Role, ...] = ROLES
CP: tuple[Role, ...] = ("control-plane",)

#: interfaces pod traffic enters a node on, per CNI (bridge to local pods, tunnel from remote ones)
CNI_POD_INTERFACES: dict[str, tuple[str, ...]] = {
    # pods of this node come from the bridge; other nodes' pods arrive on the private interface
    # and are forwarded to the bridge (the input hook never sees them)
    "routes": ("cni0",),
}


@dataclass(frozen=True)
class MatrixRow:
    """One listening port (or range, or IP protocol) of one component, and who may reach it.

    ``ports`` is None only for protocols without ports (ESP). ``hosts`` is None when the row
    applies to every host of ``roles``, else the names of exactly the hosts it applies to (ingress
    on the nodes a selector picks, SSH when hosts use different ports). ``tls``/``http`` say what a
    probe should speak to it. ``process`` names the programs that may hold the port (preflight).
    """

    key: str
    component: str
    ports: PortRange | None
    protocol: Protocol
    roles: tuple[Role, ...]
    bind: Bind
    sources: tuple[Source, ...]
    auth: Auth
    tls: bool
    http: bool
    description: str
    notes: str = ""
    hosts: tuple[str, ...] | None = None
    process: tuple[str, ...] = ()

    @property
    def closed(self) -> bool:
        """Nobody may reach it: the firewall drops it explicitly, before any accept."""
        return self.sources == ("nobody",)

    @property
    def local_only(self) -> bool:
        """Only the node itself reaches it; loopback is accepted, so no rule is needed."""
        return all(s == "self" for s in self.sources)

    @property
    def port_text(self) -> str:
        return "-" if self.ports is None else str(self.ports)

    def applies_to(self, host: HostConfig) -> bool:
        if self.hosts is not None:
            return host.name in self.hosts
        return host.role in self.roles

    def to_dict(self) -> dict[str, object]:
        return {
            "key": self.key,
            "component": self.component,
            "ports": None if self.ports is None else str(self.ports),
            "protocol": self.protocol,
            "roles": list(self.roles),
            "hosts": None if self.hosts is None else list(self.hosts),
            "bind": self.bind,
            "sources": [str(s) for s in self.sources],
            "auth": self.auth,
            "tls": self.tls,
            "http": self.http,
            "description": self.description,
            "notes": self.notes,
        }


def _port(p: int) -> PortRange:
    return PortRange(p, p)


def core_rows(
    *, api_port: int = 6443, etcd_ports: tuple[int, int, int] = (2379, 2380, 2381)
) -> tuple[MatrixRow, ...]:
    """The Kubernetes components' own rows, with the ports cluster.yml configures.

    Kept apart from ``build_matrix`` because preflight needs them without a whole cluster.yml.
    """
    client, peer, metrics = etcd_ports
    return (
        MatrixRow(
            "kube-apiserver", "kube-apiserver", _port(api_port), "tcp", CP, "private",
            ("nodes", "trusted", "pods"), "TLS+token", True, True,
            "Kubernetes API: kubelets, kube-proxy, CNI and pods; admins tunnel to it over SSH",
            "anonymous auth off, x509 client certs or tokens with RBAC; pods reach it through the "
            "'kubernetes' Service, which DNATs to this port",
            # the node-local API proxy holds the same port on 127.0.0.1 (the API server binds the
            # private address only)
            process=("kube-apiserver", "haproxy"),
        ),
        MatrixRow(
            "etcd-client", "etcd client", _port(client), "tcp", CP, "private",
            ("control-planes",), "mTLS", True, True,
            "etcd client API for kube-apiserver",
            "client-cert-auth on, own CA; also bound on 127.0.0.1. Test with etcdctl without a client "
            "cert: kube-hunter only probes the v2 API",
            process=("etcd",),
        ),
        MatrixRow(
            "etcd-peer", "etcd peer", _port(peer), "tcp", CP, "private",
            ("control-planes",), "mTLS", True, True,
            "etcd raft between members", "peer-client-cert-auth on",
            process=("etcd",),
        ),
        MatrixRow(
            "etcd-metrics", "etcd metrics", _port(metrics), "tcp", CP, "loopback",
            ("self",), "none", False, True,
            "etcd /metrics and /health for local scrapers", "plain HTTP, so loopback only",
            process=("etcd",),
        ),
        MatrixRow(
            "kube-controller-manager", "kube-controller-manager", _port(10257), "tcp", CP, "loopback",
            ("self",), "TLS+token", True, True,
            "controller-manager health and metrics", "--bind-address=127.0.0.1 (CIS 1.3.7)",
            process=("kube-controller",),
        ),
        MatrixRow(
            "kube-scheduler", "kube-scheduler", _port(10259), "tcp", CP, "loopback",
            ("self",), "TLS+token", True, True,
            "scheduler health and metrics", "--bind-address=127.0.0.1 (CIS 1.4.2)",
            process=("kube-scheduler",),
        ),
        MatrixRow(
            "kubelet", "kubelet", _port(10250), "tcp", BOTH, "all",
            ("nodes", "pods"), "TLS+token", True, True,
            "kubelet API: kube-apiserver (logs, exec, port-forward) and metrics-server",
            "anonymous off, Webhook authz; an unauthenticated GET /pods must be 401 (a 403 means "
            "anonymous is on). Binds 0.0.0.0 by default, so the firewall is what limits it",
            process=("kubelet",),
        ),
        MatrixRow(
            "kubelet-healthz", "kubelet healthz", _port(10248), "tcp", BOTH, "loopback",
            ("self",), "none", False, True, "kubelet /healthz", "",
            process=("kubelet",),
        ),
        MatrixRow(
            "kube-proxy-metrics", "kube-proxy metrics", _port(10249), "tcp", BOTH, "loopback",
            ("self",), "none", False, True, "kube-proxy /metrics", "metricsBindAddress 127.0.0.1:10249",
            process=("kube-proxy",),
        ),
        MatrixRow(
            "kube-proxy-healthz", "kube-proxy healthz", _port(10256), "tcp", BOTH, "loopback",
            ("self",), "none", False, True,
            "kube-proxy /healthz: kubeward's health check of kube-proxy",
            "healthzBindAddress 127.0.0.1:10256 (unauthenticated; no load balancer checks nodes here)",
            process=("kube-proxy",),
        ),
    )


def _closed_rows() -> tuple[MatrixRow, ...]:
    return (
        MatrixRow(
            "kubelet-read-only", "kubelet read-only", _port(10255), "tcp", BOTH, "none",
            ("nobody",), "none", False, True,
            "kubelet read-only API: must be disabled (readOnlyPort: 0)",
            "unauthenticated /pods and /metrics; the firewall also drops it in case it comes back",
        ),
        MatrixRow(
            "apiserver-insecure", "kube-apiserver insecure port", _port(8080), "tcp", CP, "none",
            ("nobody",), "none", False, True,
            "plain-HTTP API, removed in Kubernetes 1.24; must never answer",
            "no benchmark checks it any more, so the firewall drops it and the audit probes it",
        ),
    )


def _ssh_rows(config: ClusterConfig) -> list[MatrixRow]:
    ports = sorted({h.ssh.port for h in config.hosts})
    rows = []
    for port in ports:
        hosts = None if len(ports) == 1 else tuple(h.name for h in config.hosts if h.ssh.port == port)
        rows.append(
            MatrixRow(
                "ssh" if len(ports) == 1 else f"ssh-{port}", "sshd", _port(port), "tcp", BOTH, "all",
                ("admin",), "SSH public key", False, False,
                "SSH: kubeward's only management channel and the admins' tunnel to the API server",
                "public key only; nodes do not SSH to each other, so a node cannot pivot to another; "
                "a bastion's source address must be inside admin_cidrs",
                hosts=hosts,
                process=("sshd",),
            )
        )
    return rows


def _nodeport_rows(config: ClusterConfig) -> list[MatrixRow]:
    rng = config.network.nodeport_range
    return [
        MatrixRow(
            f"nodeport-{proto}", f"NodePort services ({proto})", rng, proto, BOTH, "all",
            ("nodeport-sources", "nodes", "pods"), "application", False, False,
            "Services of type NodePort (kube-proxy)",
            "kube-proxy DNATs these before the input hook, so the firewall filters them in a "
            "prerouting chain at priority -150 (before dstnat, -100)",
            process=("kube-proxy",),
        )
        for proto in ("tcp", "udp")
    ]


def ingress_hosts(config: ClusterConfig) -> tuple[str, ...]:
    """Hosts ingress-nginx runs on: those whose labels include node_selector, or every worker."""
    selector = config.addons.ingress_nginx.node_selector
    if not selector:
        return tuple(h.name for h in config.workers)
    return tuple(h.name for h in config.hosts if all(h.labels.get(k) == v for k, v in selector.items()))


def _ingress_rows(config: ClusterConfig) -> list[MatrixRow]:
    if not config.addons.ingress_nginx.enabled:
        return []
    names = ingress_hosts(config)
    picked = set(names)
    present = {h.role for h in config.hosts if h.name in picked}
    roles = tuple(r for r in ROLES if r in present)
    where = "nodes matching addons.ingress_nginx.node_selector" if config.addons.ingress_nginx.node_selector \
        else "every worker"
    return [
        MatrixRow(
            key, f"ingress-nginx {scheme}", _port(port), "tcp", roles or ("worker",), "all",
            ("world",), "application", tls, True,
            f"public {scheme.upper()} into the cluster, on {where}",
            "hostNetwork or hostPort; the application authenticates"
            + ("" if names else "; the selector matches no host"),
            hosts=names,
            process=("nginx",),
        )
        for key, scheme, port, tls in (
            ("ingress-http", "http", 80, False),
            ("ingress-https", "https", 443, True),
        )
    ]


def _cni_rows(cni: str) -> list[MatrixRow]:
    if cni == "routes":
        return []  # plain routing between nodes' private addresses: no port of its own
    raise ValueError(f"unknown cni {cni!r}")


def _extra_rows(config: ClusterConfig) -> list[MatrixRow]:
    return [
        MatrixRow(
            f"extra-{x.name}", x.name, x.port, x.protocol, x.roles, "all",
            tuple(_as_source(s) for s in x.sources), "application", False, False,
            x.description or f"firewall.extra_ports {x.name}", "from cluster.yml firewall.extra_ports",
        )
        for x in config.firewall.extra_ports
    ]


def _as_source(value: IPv4Network | IPv6Network | str) -> Source:
    if isinstance(value, IPv4Network | IPv6Network):
        return value
    for name in SOURCE_NAMES:
        if value == name:
            return name
    raise ValueError(f"unknown firewall source {value!r}")


def build_matrix(config: ClusterConfig) -> list[MatrixRow]:
    """Every row of the port matrix for this cluster.yml, in a stable order."""
    e = config.etcd
    rows: list[MatrixRow] = []
    rows += _ssh_rows(config)
    rows += core_rows(api_port=config.network.api_port,
                      etcd_ports=(e.client_port, e.peer_port, e.metrics_port))
    rows += _closed_rows()
    rows += _nodeport_rows(config)
    rows += _ingress_rows(config)
    rows += _cni_rows(config.network.cni)
    rows += _extra_rows(config)
    return rows


def rows_for_host(matrix: Iterable[MatrixRow], host: HostConfig) -> list[MatrixRow]:
    """The rows that apply to one host (its role, or named explicitly), in matrix order."""
    return [row for row in matrix if row.applies_to(host)]


def expand_source(config: ClusterConfig, source: Source) -> tuple[IPv4Network | IPv6Network, ...]:
    """The networks a source stands for (a node is a /32); world is 0.0.0.0/0 (and ::/0 with IPv6)."""
    net = config.network
    if isinstance(source, IPv4Network | IPv6Network):
        return (source,)
    if source == "admin":
        return net.admin_cidrs
    if source == "nodes":
        return tuple(IPv4Network(h.private_address) for h in config.hosts)
    if source == "control-planes":
        return tuple(IPv4Network(h.private_address) for h in config.control_planes)
    if source == "trusted":
        return net.trusted_subnets
    if source == "pods":
        return (net.pod_cidr,)
    if source == "nodeport-sources":
        return net.nodeport_sources
    if source == "world":
        world: tuple[IPv4Network | IPv6Network, ...] = (IPv4Network("0.0.0.0/0"),)
        return world + ((IPv6Network("::/0"),) if net.ipv6 == "allow" else ())
    return ()


def describe_sources(sources: Sequence[Source]) -> str:
    return ", ".join(str(s) for s in sources)


def row_targets(row: MatrixRow) -> str:
    """Where a row applies, for people: the roles, or the host names when it names hosts."""
    if row.hosts is not None:
        return ", ".join(row.hosts) or "(no host)"
    return ", ".join(row.roles)


def render_matrix_markdown(rows: Sequence[MatrixRow]) -> str:
    """The matrix as a Markdown table (docs/port-matrix.md, ``kubeward matrix -o markdown``)."""
    lines = [
        "| component | port | proto | on | bind | reachable from | auth | TLS | HTTP | what |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        what = r.description + (f" — {r.notes}" if r.notes else "")
        lines.append(
            f"| {r.component} | {r.port_text} | {r.protocol} | {row_targets(r)} | {r.bind} "
            f"| {describe_sources(r.sources)} | {r.auth} | {'yes' if r.tls else 'no'} "
            f"| {'yes' if r.http else 'no'} | {what.replace('|', '/')} |"
        )
    return "\n".join(lines) + "\n"
