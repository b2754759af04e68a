"""The certificate table: every CA and certificate kubeward issues, as rows of data.

A ``CertRow`` says who signs a certificate, its subject, its usages and how its subject alternative
names follow from cluster.yml. Rows marked ``per="control-plane"`` or ``per="node"`` stand for one
certificate per such host, named ``<row>-<host>``. ``desired_certs(config)`` walks the table and
gives every certificate the cluster needs right now, CAs first. The service-account key pair
``sa`` is not a certificate and is described by ``SA_KEY`` instead.

Pure: no I/O, no randomness.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import Literal

from kubeward.config import ClusterConfig, HostConfig
from kubeward.pki.errors import PkiError

#: one subject alternative name: an IP address, or a DNS name (lower case)
SanValue = IPv4Address | IPv6Address | str
#: how a row's SANs follow from cluster.yml (and the host, for per-host rows)
SanRule = Callable[[ClusterConfig, HostConfig | None], tuple[SanValue, ...]]
#: which hosts a row is issued for: once for the cluster, per control plane, or per host
Per = Literal["cluster", "control-plane", "node"]
#: key usages by the attribute names of ``cryptography.x509.KeyUsage``
KeyUsageName = Literal["digital_signature", "key_encipherment", "key_cert_sign", "crl_sign"]
ExtKeyUsageName = Literal["serverAuth", "clientAuth"]

#: the DNS domain of the cluster's Services (kubelet's default clusterDomain)
CLUSTER_DOMAIN = "cluster.local"
CA_KEY_USAGES: tuple[KeyUsageName, ...] = ("key_cert_sign", "crl_sign")
LEAF_KEY_USAGES: tuple[KeyUsageName, ...] = ("digital_signature",)


def as_san(value: object) -> SanValue:
    """An IP address when the text is one, else a DNS name in lower case."""
    text = str(value)
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return text.lower()


def _unique(values: list[SanValue]) -> tuple[SanValue, ...]:
    return tuple(dict.fromkeys(values))


def _need_host(host: HostConfig | None) -> HostConfig:
    if host is None:
        raise PkiError("a per-host certificate row was asked for its SANs without a host (kubeward bug)")
    return host


def no_sans(config: ClusterConfig, host: HostConfig | None) -> tuple[SanValue, ...]:
    """Client certificates and CAs carry no SANs."""
    return ()


def etcd_sans(config: ClusterConfig, host: HostConfig | None) -> tuple[SanValue, ...]:
    """etcd server and peer: the host's name and private address, and loopback for local clients."""
    h = _need_host(host)
    return _unique([as_san(h.name), h.private_address, IPv4Address("127.0.0.1"), "localhost"])


def kubernetes_service_ip(config: ClusterConfig) -> IPv4Address:
    """The first address of network.service_cidr: the ClusterIP of the ``kubernetes`` Service."""
    return config.network.service_cidr.network_address + 1


def apiserver_sans(config: ClusterConfig, host: HostConfig | None = None) -> tuple[SanValue, ...]:
    """API server: every control plane's name and addresses, the in-cluster names, loopback (each
    node's local API proxy on 127.0.0.1:6443, and tunnels ending on 127.0.0.1), extra_sans."""
    values: list[SanValue] = [
        IPv4Address("127.0.0.1"),
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        f"kubernetes.default.svc.{CLUSTER_DOMAIN}",
        kubernetes_service_ip(config),
    ]
    for cp in config.control_planes:
        values += [as_san(cp.name), as_san(cp.address), cp.private_address]
    values += [as_san(san) for san in config.pki.extra_sans]
    return _unique(values)


def loopback_serving_sans(config: ClusterConfig, host: HostConfig | None) -> tuple[SanValue, ...]:
    """A service bound to loopback (controller-manager, scheduler): 127.0.0.1, localhost, the node."""
    h = _need_host(host)
    return _unique([IPv4Address("127.0.0.1"), "localhost", as_san(h.name)])


def kubelet_serving_sans(config: ClusterConfig, host: HostConfig | None) -> tuple[SanValue, ...]:
    """What a kubelet's serving certificate may name: the node's name, address and private address
    (no row issues it any more; the serving-CSR policy checks requests against it)."""
    h = _need_host(host)
    return _unique([as_san(h.name), as_san(h.address), h.private_address])


@dataclass(frozen=True)
class CertRow:
    """One row of the certificate table; ``{node}`` in texts stands for the host's name."""

    name: str
    ca: str | None  # the CA row that signs it; None: a self-signed CA
    common_name: str
    organisation: tuple[str, ...]
    ext_key_usages: tuple[ExtKeyUsageName, ...]
    sans: SanRule
    path: str  # in the store, without .crt/.key; like kubeadm's /etc/kubernetes/pki
    per: Per = "cluster"
    description: str = ""
    #: an intermediate CA: signed by ``ca`` and signing certificates itself (not self-signed)
    intermediate: bool = False

    @property
    def is_ca(self) -> bool:
        """A self-signed (root) CA."""
        return self.ca is None

    @property
    def is_signer(self) -> bool:
        """A root or an intermediate CA: it signs certificates."""
        return self.ca is None or self.intermediate

    def key_usages(self, rsa: bool) -> frozenset[KeyUsageName]:
        """CAs sign certificates and CRLs; leaves sign, and with RSA keys also encipher keys."""
        if self.is_signer:
            return frozenset(CA_KEY_USAGES)
        return frozenset(LEAF_KEY_USAGES + (("key_encipherment",) if rsa else ()))

    def instance_name(self, host: HostConfig | None) -> str:
        return self.name if self.per == "cluster" else f"{self.name}-{_need_host(host).name}"

    def hosts(self, config: ClusterConfig) -> tuple[HostConfig | None, ...]:
        if self.per == "cluster":
            return (None,)
        return config.control_planes if self.per == "control-plane" else config.hosts


SERVER_CLIENT: tuple[ExtKeyUsageName, ...] = ("serverAuth", "clientAuth")
CLIENT: tuple[ExtKeyUsageName, ...] = ("clientAuth",)
SERVER: tuple[ExtKeyUsageName, ...] = ("serverAuth",)

#: every certificate kubeward issues; CAs first, so a walk in order always meets a signer first
CERT_TABLE: tuple[CertRow, ...] = (
    # --- certificate authorities
    CertRow("ca", None, "kubernetes-ca", (), (), no_sans, "ca",
            description="Kubernetes cluster CA: API server, kubelets, components, admins"),
    CertRow("etcd-ca", None, "etcd-ca", (), (), no_sans, "etcd/ca",
            description="etcd CA: etcd servers, peers and clients"),
    CertRow("front-proxy-ca", None, "front-proxy-ca", (), (), no_sans, "front-proxy-ca",
            description="CA of the aggregation layer's front proxy"),
    CertRow("kubelet-signer", "ca", "kubeward-kubelet-signer", (), (), no_sans, "kubelet-signer",
            intermediate=True,
            description="intermediate CA under the cluster CA: the controller-manager signs kubelet "
                        "certificates (CSRs) with it, so the cluster CA key never goes to a node"),
    # --- etcd
    CertRow("etcd-server", "etcd-ca", "{node}", (), SERVER_CLIENT, etcd_sans, "etcd/server-{node}",
            per="control-plane", description="etcd client-facing server"),
    CertRow("etcd-peer", "etcd-ca", "{node}", (), SERVER_CLIENT, etcd_sans, "etcd/peer-{node}",
            per="control-plane", description="etcd peer-to-peer (raft) traffic"),
    CertRow("apiserver-etcd-client", "etcd-ca", "kube-apiserver-etcd-client", (), CLIENT, no_sans,
            "apiserver-etcd-client", description="kube-apiserver's client to etcd"),
    CertRow("etcd-healthcheck-client", "etcd-ca", "kube-etcd-healthcheck-client", (), CLIENT, no_sans,
            "etcd/healthcheck-client", description="liveness probes of etcd on the control planes"),
    CertRow("kubeward-etcd-client", "etcd-ca", "kubeward-etcd-client", (), CLIENT, no_sans,
            "etcd/kubeward-client",
            description="kubeward's own etcd client (status, snapshots), stays on the operator's machine"),
    # --- Kubernetes
    CertRow("apiserver", "ca", "kube-apiserver", (), SERVER, apiserver_sans, "apiserver",
            description="kube-apiserver serving certificate"),
    CertRow("apiserver-kubelet-client", "ca", "kube-apiserver-kubelet-client",
            ("kubeward:apiserver-kubelet-client",), CLIENT, no_sans, "apiserver-kubelet-client",
            description="kube-apiserver's client to kubelets (logs, exec, port-forward)"),
    CertRow("front-proxy-client", "front-proxy-ca", "front-proxy-client", (), CLIENT, no_sans,
            "front-proxy-client", description="kube-apiserver's client to aggregated API servers"),
    CertRow("controller-manager", "ca", "system:kube-controller-manager", (), CLIENT, no_sans,
            "controller-manager", description="kube-controller-manager's client to the API server"),
    CertRow("scheduler", "ca", "system:kube-scheduler", (), CLIENT, no_sans, "scheduler",
            description="kube-scheduler's client to the API server"),
    CertRow("controller-manager-serving", "ca", "kube-controller-manager", (), SERVER, loopback_serving_sans,
            "controller-manager-serving-{node}", per="control-plane",
            description="kube-controller-manager's HTTPS endpoint on 127.0.0.1:10257"),
    CertRow("scheduler-serving", "ca", "kube-scheduler", (), SERVER, loopback_serving_sans,
            "scheduler-serving-{node}", per="control-plane",
            description="kube-scheduler's HTTPS endpoint on 127.0.0.1:10259"),
    CertRow("admin", "ca", "kubernetes-super-admin", ("system:masters",), CLIENT, no_sans, "admin",
            description="break-glass admin (system:masters bypasses RBAC); keep offline"),
    CertRow("cluster-admin", "ca", "kubeward-admin", ("kubeward:cluster-admins",), CLIENT, no_sans,
            "cluster-admin", description="daily admin; bound to the cluster-admin ClusterRole by RBAC"),
    CertRow("kube-proxy", "ca", "system:kube-proxy", (), CLIENT, no_sans, "kube-proxy",
            description="kube-proxy's client to the API server"),
    CertRow("api-proxy", "ca", "kubeward:api-proxy:{node}", (), CLIENT, no_sans, "api-proxy-{node}", per="node",
            description="the node-local API proxy's health checks of each API server's /readyz (no group: "
                        "every authenticated user may read /readyz, nothing more is granted)"),
)

#: identities kubeward no longer issues, and who issues them now: kubelets generate their keys on
#: their own node and get their certificates by CSR (TLS bootstrap for the client certificate, the
#: strict serving policy of :mod:`kubeward.kube.csr_policy` for the serving one). Files of these rows
#: left in a store are orphans; on nodes they are removed (``pki.nodes.RETIRED_NODE_FILES``).
RETIRED_ROWS: dict[str, str] = {
    "kubelet-client": "the kubelet's own client CSR (TLS bootstrap), signed by the controller-manager",
    "kubelet-serving": "the kubelet's own serving CSR, approved by kubeward's policy (kubeward csr)",
}

ROWS: dict[str, CertRow] = {row.name: row for row in CERT_TABLE}
#: every certificate that signs others (roots and intermediates): renewing one needs --include-cas
CA_NAMES: tuple[str, ...] = tuple(row.name for row in CERT_TABLE if row.is_signer)


@dataclass(frozen=True)
class KeyPairSpec:
    """A bare key pair (no certificate): the service-account token signing key."""

    name: str
    key_path: str
    public_path: str
    description: str


SA_KEY = KeyPairSpec("sa", "sa.key", "sa.pub", "signs and verifies service-account tokens")


@dataclass(frozen=True)
class DesiredCert:
    """A row bound to a cluster (and a host): the certificate exactly as it should be now."""

    row: CertRow
    name: str
    host: HostConfig | None
    common_name: str
    organisation: tuple[str, ...]
    sans: tuple[SanValue, ...]
    path: str

    @property
    def ca(self) -> str | None:
        return self.row.ca

    @property
    def is_ca(self) -> bool:
        return self.row.is_ca

    @property
    def is_signer(self) -> bool:
        return self.row.is_signer

    @property
    def cert_path(self) -> str:
        return self.path + ".crt"

    @property
    def key_path(self) -> str:
        return self.path + ".key"


def desire(row: CertRow, config: ClusterConfig, host: HostConfig | None = None) -> DesiredCert:
    """The certificate a row stands for in this cluster, for this host when the row is per host."""
    if row.per != "cluster" and host is None:
        raise PkiError(f"certificate row {row.name!r} is issued per host; name the host")
    if row.per == "cluster":
        host = None
    node = host.name if host is not None else ""
    return DesiredCert(
        row=row,
        name=row.instance_name(host),
        host=host,
        common_name=row.common_name.format(node=node),
        organisation=row.organisation,
        sans=row.sans(config, host),
        path=row.path.format(node=node),
    )


def desired_certs(config: ClusterConfig) -> tuple[DesiredCert, ...]:
    """Every certificate this cluster needs, CAs first, per-host rows in cluster.yml's host order."""
    return tuple(desire(row, config, host) for row in CERT_TABLE for host in row.hosts(config))


def expected_paths(config: ClusterConfig) -> frozenset[str]:
    """Every store path (relative) the table wants: .crt and .key of each certificate, sa.key, sa.pub."""
    paths = {p for d in desired_certs(config) for p in (d.cert_path, d.key_path)}
    return frozenset(paths | {SA_KEY.key_path, SA_KEY.public_path})
