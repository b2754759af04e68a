"""The cluster.yml model: pydantic v2 models, every one frozen and closed to unknown keys.

Field types are Annotated aliases over the pure parsers in ``values``, so messages say what was
expected and the JSON Schema tells editors the same. Local paths (SSH keys, the state directory, an
etcd tarball) are resolved against cluster.yml's directory when the loader passes
``context={"base_dir": ...}``; without a context they stay as written.
"""

from __future__ import annotations

import os
import re
import types
import typing
from ipaddress import IPv4Address, IPv4Network, IPv6Network
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)

from kubeward.config.values import (
    SYSTEM_DIRS,
    OpenSshPublicKey,
    PortRange,
    normalize_posix_path,
    parse_address,
    parse_admin_name,
    parse_bool,
    parse_debian_package,
    parse_dns_label,
    parse_ed25519_public_key,
    parse_int_in,
    parse_interface_name,
    parse_ipv4_address,
    parse_ipv4_network,
    parse_label_key,
    parse_label_value,
    parse_local_path,
    parse_openssh_public_key,
    parse_port,
    parse_port_range,
    parse_posix_name,
    parse_remote_dir,
    parse_san,
    parse_source_network,
    show,
)

# --- field types ---------------------------------------------------------------------------------

_AS_STR = PlainSerializer(str, return_type=str, when_used="json")
_AS_STR_ALWAYS = PlainSerializer(str, return_type=str)

DnsLabel = Annotated[
    str,
    PlainValidator(parse_dns_label),
    WithJsonSchema({"type": "string", "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"}),
]
Address = Annotated[
    str,
    PlainValidator(parse_address),
    WithJsonSchema({"type": "string", "description": "IPv4/IPv6 address or DNS name"}),
]
IPv4 = Annotated[
    IPv4Address,
    PlainValidator(parse_ipv4_address),
    _AS_STR,
    WithJsonSchema({"type": "string", "format": "ipv4"}),
]
IPv4Cidr = Annotated[
    IPv4Network,
    PlainValidator(parse_ipv4_network),
    _AS_STR,
    WithJsonSchema({"type": "string", "pattern": r"^\d{1,3}(\.\d{1,3}){3}/\d{1,2}$"}),
]
SourceCidr = Annotated[
    IPv4Network | IPv6Network,
    PlainValidator(parse_source_network),
    _AS_STR,
    WithJsonSchema({"type": "string", "description": "CIDR like 203.0.113.0/24, or one address"}),
]

#: keywords an extra port's sources may use instead of a CIDR
SourceKeyword = Literal["nodes", "control-planes", "admin", "world"]
SOURCE_KEYWORDS: tuple[SourceKeyword, ...] = ("nodes", "control-planes", "admin", "world")


def _parse_firewall_source(value: object) -> IPv4Network | IPv6Network | SourceKeyword:
    for keyword in SOURCE_KEYWORDS:
        if value == keyword:
            return keyword
    try:
        return parse_source_network(value)
    except ValueError:
        pass
    raise ValueError(
        f"expected a CIDR like 203.0.113.0/24 or one of {', '.join(SOURCE_KEYWORDS)}, got {show(value)}"
    )


FirewallSource = Annotated[
    IPv4Network | IPv6Network | SourceKeyword,
    PlainValidator(_parse_firewall_source),
    _AS_STR,
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "enum": list(SOURCE_KEYWORDS)},
                {"type": "string", "description": "CIDR like 203.0.113.0/24, or one address"},
            ]
        }
    ),
]
Port = Annotated[
    int, PlainValidator(parse_port), WithJsonSchema({"type": "integer", "minimum": 1, "maximum": 65535})
]
PortRangeField = Annotated[
    PortRange,
    PlainValidator(parse_port_range),
    _AS_STR_ALWAYS,
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": 65535},
                {"type": "string", "pattern": r"^\d{1,5}(-\d{1,5})?$"},
            ]
        }
    ),
]
Flag = Annotated[bool, PlainValidator(parse_bool), WithJsonSchema({"type": "boolean"})]
PosixName = Annotated[
    str,
    PlainValidator(parse_posix_name),
    WithJsonSchema({"type": "string", "pattern": "^[a-z_][a-z0-9_-]{0,31}$"}),
]
AdminName = Annotated[
    str,
    PlainValidator(parse_admin_name),
    WithJsonSchema({"type": "string", "pattern": "^[a-z_][a-z0-9_-]{0,31}$"}),
]
Id = Annotated[
    int,
    PlainValidator(lambda v: parse_int_in(v, 1000, 60000)),
    WithJsonSchema({"type": "integer", "minimum": 1000, "maximum": 60000}),
]
RollbackSeconds = Annotated[
    int,
    PlainValidator(lambda v: parse_int_in(v, 10, 3600)),
    WithJsonSchema({"type": "integer", "minimum": 10, "maximum": 3600}),
]
Days = Annotated[
    int,
    PlainValidator(lambda v: parse_int_in(v, 1, 36500)),
    WithJsonSchema({"type": "integer", "minimum": 1, "maximum": 36500}),
]
ReuseHours = Annotated[
    int,
    PlainValidator(lambda v: parse_int_in(v, 0, 168)),
    WithJsonSchema({"type": "integer", "minimum": 0, "maximum": 168}),
]
InterfaceName = Annotated[
    str,
    PlainValidator(parse_interface_name),
    WithJsonSchema({"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,15}$"}),
]
LabelKey = Annotated[str, PlainValidator(parse_label_key), WithJsonSchema({"type": "string"})]
LabelValue = Annotated[
    str, PlainValidator(parse_label_value), WithJsonSchema({"type": "string", "maxLength": 63})
]
DebianPackage = Annotated[
    str,
    PlainValidator(parse_debian_package),
    WithJsonSchema({"type": "string", "pattern": "^[a-z0-9][a-z0-9+.-]+$"}),
]
San = Annotated[str, PlainValidator(parse_san), WithJsonSchema({"type": "string"})]
HostKey = Annotated[
    OpenSshPublicKey,
    PlainValidator(parse_openssh_public_key),
    _AS_STR_ALWAYS,
    WithJsonSchema({"type": "string", "pattern": "^(ssh-|ecdsa-|sk-)[^ ]+ [A-Za-z0-9+/=]+( .*)?$"}),
]
Ed25519Key = Annotated[
    OpenSshPublicKey,
    PlainValidator(parse_ed25519_public_key),
    _AS_STR_ALWAYS,
    WithJsonSchema({"type": "string", "pattern": "^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5[A-Za-z0-9+/=]+( .*)?$"}),
]


def _expand_home(path: Path) -> Path:
    """~ and ~user as the shell means them; ValueError when that home is unknown."""
    if not str(path).startswith("~"):
        return path
    try:
        return path.expanduser()
    except RuntimeError:
        raise ValueError(
            f"expected a file path; {str(path).split('/')[0]!r} names a home directory that does not exist"
        ) from None


def _local_path(value: object, info: ValidationInfo) -> Path:
    path = _expand_home(parse_local_path(value))
    base = info.context.get("base_dir") if isinstance(info.context, dict) else None
    if isinstance(base, Path) and not path.is_absolute():
        return base / path
    return path


LocalPath = Annotated[
    Path,
    PlainValidator(_local_path),
    _AS_STR,
    WithJsonSchema({"type": "string", "description": "path; relative paths are relative to cluster.yml"}),
]


def _state_dir(value: object, info: ValidationInfo) -> Path:
    """A local directory kubeward will own (mode 0700, its CAs inside): never one holding other data."""
    path = _local_path(value, info)
    normal = Path(os.path.normpath(path.absolute()))
    base = info.context.get("base_dir") if isinstance(info.context, dict) else None
    why = ""
    posix = normalize_posix_path(normal.as_posix())
    if posix in SYSTEM_DIRS or normal.as_posix() in SYSTEM_DIRS:
        why = "is a system directory"
    elif posix.startswith("/home/") and posix.count("/") == 2:
        why = "is a user's home directory"
    elif normal == Path(os.path.normpath(Path.home().absolute())):
        why = "is your home directory"
    elif isinstance(base, Path) and normal in (Path(os.path.normpath(base.absolute())),
                                               *Path(os.path.normpath(base.absolute())).parents):
        why = "holds cluster.yml itself"
    if why:
        raise ValueError(f"{show(str(value))} ({normal}) {why}; kubeward makes its state directory 0700 "
                         "and keeps CA keys in it: use a directory of its own, like .kubeward")
    return path


StateDir = Annotated[
    Path,
    PlainValidator(_state_dir),
    _AS_STR,
    WithJsonSchema({"type": "string", "description": "directory; relative paths are relative to cluster.yml"}),
]
RemoteDir = Annotated[
    PurePosixPath,
    PlainValidator(parse_remote_dir),
    _AS_STR,
    WithJsonSchema({"type": "string", "pattern": "^/.+"}),
]



def _etcd_source(value: object) -> Literal["apt", "binary"]:
    if value == "apt":
        return "apt"
    if value == "binary":
        raise ValueError(
            "'binary' (an upstream etcd release) is not implemented yet; use source: apt (Debian's "
            "etcd-server and etcd-client, from the hosts' package sources)"
        )
    raise ValueError(f"expected apt, got {show(value)}")


EtcdSource = Annotated[
    Literal["apt", "binary"],
    PlainValidator(_etcd_source),
    WithJsonSchema({"type": "string", "enum": ["apt"]}),
]

Role = Literal["control-plane", "worker"]
ROLES: tuple[Role, ...] = ("control-plane", "worker")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


# --- SSH -----------------------------------------------------------------------------------------


class BastionConfig(_Model):
    """A jump host kubeward tunnels through to reach a host's SSH port."""

    address: Address = Field(description="IP address or DNS name of the bastion.")
    port: Port = Field(default=22, description="SSH port of the bastion.")
    user: PosixName | None = Field(
        default=None, description="SSH user on the bastion; defaults to the host's ssh.user."
    )
    key_path: LocalPath | None = Field(
        default=None, description="Private key for the bastion; defaults to the host's ssh.key_path."
    )
    host_key: HostKey | None = Field(
        default=None,
        description="Pinned public host key of the bastion, as one OpenSSH line ('ssh-ed25519 AAAA...').",
    )


class SshDefaults(_Model):
    """SSH settings every host inherits unless its own ``ssh`` sets them; all optional."""

    user: PosixName | None = Field(default=None, description="Default SSH user for every host.")
    port: Port | None = Field(default=None, description="Default SSH port (22 when no one sets it).")
    key_path: LocalPath | None = Field(default=None, description="Default private key file for every host.")
    host_key: HostKey | None = Field(
        default=None, description="Pinned host key for every host (only if they really share one)."
    )
    bastion: BastionConfig | None = Field(default=None, description="Default jump host for every host.")


class SshConfig(_Model):
    """How kubeward reaches one host over SSH, after the top-level ``ssh`` defaults are merged in."""

    user: PosixName = Field(description="SSH user kubeward logs in as (needs passwordless sudo).")
    port: Port = Field(default=22, description="SSH port on the host's address.")
    key_path: LocalPath = Field(description="Private key file used to log in; relative to cluster.yml.")
    host_key: HostKey | None = Field(
        default=None,
        description="Pinned public host key as one OpenSSH line ('ssh-ed25519 AAAA...'); "
        "when unset the key is trusted on first use and recorded in the state directory.",
    )
    bastion: BastionConfig | None = Field(default=None, description="Jump host to reach this host through.")

    @model_validator(mode="after")
    def _bastion_inherits_login(self) -> SshConfig:
        if self.bastion is not None and (self.bastion.user is None or self.bastion.key_path is None):
            bastion = self.bastion.model_copy(
                update={
                    "user": self.bastion.user or self.user,
                    "key_path": self.bastion.key_path or self.key_path,
                }
            )
            return self.model_copy(update={"bastion": bastion})
        return self


# --- hosts ---------------------------------------------------------------------------------------


class HostConfig(_Model):
    """One machine of the cluster."""

    name: DnsLabel = Field(description="Host name (RFC 1123 label, lower case); becomes the node name.")
    address: Address = Field(description="IP address or DNS name the operator's machine uses for SSH.")
    private_address: IPv4 = Field(description="IPv4 address on the private network; cluster traffic uses it.")
    private_interface: InterfaceName = Field(
        default="eth1", description="Network interface that holds private_address."
    )
    role: Role = Field(description="control-plane (runs etcd and the API server) or worker.")
    ssh: SshConfig = Field(description="SSH settings for this host; merged over the top-level ssh defaults.")
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict, description="Kubernetes node labels.")

    @property
    def is_control_plane(self) -> bool:
        return self.role == "control-plane"


# --- admin ---------------------------------------------------------------------------------------


class AdminConfig(_Model):
    """The cluster administrator account created, identically, on every host."""

    name: AdminName = Field(description="POSIX user name of the admin, the same on every host.")
    uid: Id = Field(description="User id, 1000-60000, the same on every host.")
    gid: Id = Field(description="Primary group id, 1000-60000; defaults to uid.")
    ssh_public_key: Ed25519Key = Field(
        description="The admin's OpenSSH public key line; must be ssh-ed25519 "
        "(the hardened sshd accepts no other)."
    )
    groups: tuple[PosixName, ...] = Field(default=("sudo",), description="Supplementary groups of the admin.")

    @model_validator(mode="before")
    @classmethod
    def _gid_defaults_to_uid(cls, data: Any) -> Any:
        if isinstance(data, dict) and "gid" not in data:
            uid = data.get("uid")
            valid = isinstance(uid, int) and not isinstance(uid, bool) and 1000 <= uid <= 60000
            # A missing or bad uid is reported at admin.uid; a stand-in gid keeps it from being
            # reported twice, and never escapes because validation fails anyway.
            return {**data, "gid": uid if valid else 1000}
        return data


# --- network -------------------------------------------------------------------------------------


class NetworkConfig(_Model):
    """Addresses, CIDRs and who may reach what from outside."""

    private_subnet: IPv4Cidr = Field(
        description="IPv4 CIDR of the private network every private_address is in."
    )
    admin_cidrs: tuple[SourceCidr, ...] = Field(
        min_length=1,
        description="Networks allowed to reach SSH and the API server; required "
        "(write 0.0.0.0/0 to allow anyone).",
    )
    trusted_subnets: tuple[SourceCidr, ...] = Field(
        default=(), description="Networks whose traffic the CNI may carry unencrypted."
    )
    pod_cidr: IPv4Cidr = Field(
        default=IPv4Network("10.244.0.0/16"), description="IPv4 CIDR pods get addresses from."
    )
    service_cidr: IPv4Cidr = Field(
        default=IPv4Network("10.96.0.0/12"), description="IPv4 CIDR of Service cluster IPs."
    )
    cni: Literal["routes"] = Field(
        default="routes",
        description="Pod network: routes = a CNI bridge per node (host-local addresses from the node's "
        "pod CIDR) and static routes to every other node's pod CIDR via its private address; no "
        "overlay, no encapsulation (the private network carries pod traffic as it is).",
    )
    nodeport_range: PortRangeField = Field(
        default=PortRange(30001, 30099),
        json_schema_extra={"default": "30001-30099"},
        description="NodePort range as 'lo-hi'; kube-proxy opens these ports on every node.",
    )
    nodeport_sources: tuple[SourceCidr, ...] = Field(
        default=(IPv4Network("0.0.0.0/0"),),
        description="Networks allowed to reach NodePorts.",
    )
    ipv6: Literal["drop", "allow"] = Field(default="drop", description="drop all IPv6 traffic, or allow it.")
    api_port: Port = Field(default=6443, description="Port of the Kubernetes API server.")

    @property
    def nodeport_lo(self) -> int:
        return self.nodeport_range.lo

    @property
    def nodeport_hi(self) -> int:
        return self.nodeport_range.hi


# --- addons, firewall, etcd, pki -----------------------------------------------------------------


class IngressNginxConfig(_Model):
    """The ingress-nginx addon: serves HTTP(S) on ports 80 and 443 of the selected nodes."""

    enabled: Flag = Field(default=False, description="Install ingress-nginx.")
    node_selector: dict[LabelKey, LabelValue] = Field(
        default_factory=dict, description="Node labels choosing where it runs (all workers when empty)."
    )


class AddonsConfig(_Model):
    """Optional cluster addons."""

    ingress_nginx: IngressNginxConfig = Field(
        default_factory=IngressNginxConfig, description="ingress-nginx addon."
    )


class ExtraPort(_Model):
    """A port, beyond kubeward's own, that the host firewall opens."""

    name: DnsLabel = Field(description="Short unique name of the rule, like 'https'.")
    port: PortRangeField = Field(description="A port (8443) or an inclusive range ('9000-9100').")
    protocol: Literal["tcp", "udp"] = Field(default="tcp", description="tcp or udp.")
    roles: tuple[Role, ...] = Field(
        default=("control-plane", "worker"), min_length=1, description="Hosts whose firewall opens the port."
    )
    sources: tuple[FirewallSource, ...] = Field(
        min_length=1,
        description="Who may connect: CIDRs, or nodes, control-planes, admin (network.admin_cidrs), world.",
    )
    description: str = Field(default="", description="Why the port is open; shown in audits.")


class FirewallConfig(_Model):
    """The nftables host firewall kubeward installs on every host."""

    enabled: Flag = Field(default=True, description="Install and manage the host firewall.")
    rollback_seconds: RollbackSeconds = Field(
        default=60,
        description="A new ruleset is rolled back unless SSH still works within this many seconds.",
    )
    extra_ports: tuple[ExtraPort, ...] = Field(default=(), description="Extra ports to open.")


class EtcdConfig(_Model):
    """The etcd cluster on the control-plane hosts."""

    data_dir: RemoteDir = Field(
        default=PurePosixPath("/var/lib/etcd"), description="etcd data directory on the hosts."
    )
    client_port: Port = Field(default=2379, description="etcd client port.")
    peer_port: Port = Field(default=2380, description="etcd peer port.")
    metrics_port: Port = Field(default=2381, description="etcd metrics port (bound to localhost).")
    source: EtcdSource = Field(
        default="apt",
        description="Install etcd from Debian packages (apt); installing an upstream release (binary) "
        "is not implemented yet.",
    )
    binary_path: LocalPath | None = Field(
        default=None, description="Local etcd release tarball to upload instead of downloading (air-gapped)."
    )


class PkiConfig(_Model):
    """Certificate authorities and certificates kubeward issues."""

    key_type: Literal["ecdsa-p256", "rsa-2048", "rsa-3072", "rsa-4096"] = Field(
        default="ecdsa-p256", description="Key algorithm for CAs and certificates."
    )
    ca_validity_days: Days = Field(default=3650, description="Lifetime of CA certificates, in days.")
    cert_validity_days: Days = Field(default=365, description="Lifetime of leaf certificates, in days.")
    renew_before_days: Days = Field(
        default=30, description="Renew a leaf certificate this many days before expiry."
    )
    extra_sans: tuple[San, ...] = Field(
        default=(), description="Extra DNS names or IPs in the API server certificate (e.g. a load balancer)."
    )
    ca_keys_on_nodes: Flag = Field(
        default=False,
        description="Keep CA private keys on control-plane hosts (off: they stay with the operator).",
    )


class AuditConfig(_Model):
    """The audit at the end of every `kubeward up`."""

    reuse_probes_hours: ReuseHours = Field(
        default=24,
        description="A no-op `kubeward up` reuses the previous run's live outside, peer and SSH probes for "
        "this many hours while every node's ruleset, listening sockets, addresses, routes and sshd are "
        "unchanged (0: always probe live). `kubeward audit` and `up --audit-full` always probe live.",
    )


def _parse_kube_version(value: object) -> str:
    text = value if isinstance(value, str) else None
    if text is None or not re.fullmatch(r"v?\d+\.\d+\.\d+", text):
        hint = " (quote it)" if isinstance(value, int | float) else ""
        raise ValueError(f"expected a Kubernetes version like '1.20.2', got {show(value)}{hint}")
    return text.removeprefix("v")


def _parse_base_url(value: object) -> str:
    text = value if isinstance(value, str) else ""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"expected an http(s) URL like https://dl.k8s.io/release, got {show(value)}")
    return text.rstrip("/")


KubeVersion = Annotated[
    str, PlainValidator(_parse_kube_version), WithJsonSchema({"type": "string", "pattern": r"^v?\d+\.\d+\.\d+$"})
]
BaseUrl = Annotated[
    str, PlainValidator(_parse_base_url), WithJsonSchema({"type": "string", "format": "uri", "pattern": "^https?://"})
]


class KubernetesArtifactsConfig(_Model):
    """Where the Kubernetes binaries and images come from; every file is checked against a SHA-256."""

    source: Literal["release", "bundle", "dir"] = Field(
        default="release",
        description="release: the official release layout at base_url, each file checked against its "
        "published .sha256; bundle: an air-gap tar (kubeward bundle create); dir: a local directory in "
        "the release layout with a manifest.json (kubeward artifacts build makes one).",
    )
    base_url: BaseUrl = Field(
        default="https://dl.k8s.io/release",
        description="Root of the release layout: <base_url>/v<version>/bin/linux/<arch>/<binary>.",
    )
    download: Literal["operator", "on-node"] = Field(
        default="operator",
        description="operator: download once on this machine, cache, verify, upload over SSH; "
        "on-node: each node downloads itself (nodes need a route to base_url).",
    )
    bundle: LocalPath | None = Field(default=None, description="The bundle tar, for source: bundle.")
    dir: LocalPath | None = Field(default=None, description="The artifact directory, for source: dir.")
    images: LocalPath | None = Field(
        default=None,
        description="A directory of docker-archive image tars to import into containerd "
        "(default: the images of the bundle or dir).",
    )


class KubeComponentConfig(_Model):
    """Settings of one control-plane component."""

    extra_args: dict[str, str] = Field(
        default_factory=dict,
        description="Extra command-line flags ('name': 'value', with or without the leading dashes), merged "
        "last over kubeward's; a flag the configured version no longer accepts is refused.",
    )


class KubernetesConfig(_Model):
    """Kubernetes itself: its version and where its binaries come from (off by default)."""

    enabled: Flag = Field(default=False, description="Install Kubernetes components on the hosts.")
    version: KubeVersion | None = Field(
        default=None, description="Kubernetes version like '1.20.2'; required once enabled."
    )
    artifacts: KubernetesArtifactsConfig = Field(
        default_factory=KubernetesArtifactsConfig, description="Where binaries and images come from."
    )
    apiserver: KubeComponentConfig = Field(default_factory=KubeComponentConfig, description="kube-apiserver.")
    controller_manager: KubeComponentConfig = Field(
        default_factory=KubeComponentConfig, description="kube-controller-manager."
    )
    scheduler: KubeComponentConfig = Field(default_factory=KubeComponentConfig, description="kube-scheduler.")


# --- the cluster ---------------------------------------------------------------------------------


class ClusterConfig(_Model):
    """kubeward cluster.yml: the hosts, the admin account, the network and how kubeward secures them."""

    model_config = ConfigDict(title="kubeward cluster.yml")

    name: DnsLabel = Field(default="kubeward", description="Cluster name (lower-case letters, digits, '-').")
    state_dir: StateDir = Field(
        default=Path(".kubeward"),
        description="Directory for kubeward's state (CAs, pinned host keys); relative to cluster.yml.",
    )
    ssh: SshDefaults = Field(
        default_factory=SshDefaults, description="SSH defaults merged under every host's ssh."
    )
    hosts: tuple[HostConfig, ...] = Field(min_length=1, description="The machines of the cluster.")
    admin: AdminConfig = Field(description="The admin account created on every host.")
    network: NetworkConfig = Field(description="Networks, CIDRs and exposure.")
    addons: AddonsConfig = Field(default_factory=AddonsConfig, description="Optional addons.")
    firewall: FirewallConfig = Field(default_factory=FirewallConfig, description="Host firewall.")
    etcd: EtcdConfig = Field(default_factory=EtcdConfig, description="etcd settings.")
    pki: PkiConfig = Field(default_factory=PkiConfig, description="Certificates and keys.")
    audit: AuditConfig = Field(default_factory=AuditConfig, description="The audit of `kubeward up`.")
    kubernetes: KubernetesConfig = Field(
        default_factory=KubernetesConfig, description="Kubernetes version and artifacts (off by default)."
    )
    packages: tuple[DebianPackage, ...] = Field(
        default=(), description="Extra Debian packages for every host."
    )

    _base_dir: Path = PrivateAttr(default=Path("."))

    @model_validator(mode="before")
    @classmethod
    def _merge_ssh_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        defaults, hosts = data.get("ssh"), data.get("hosts")
        if not isinstance(defaults, dict) or not isinstance(hosts, list):
            return data
        usable = _usable_ssh_defaults(defaults)
        merged_hosts: list[Any] = []
        for host in hosts:
            if isinstance(host, dict):
                own = host.get("ssh")
                if own is None:
                    own = {}
                if isinstance(own, dict):
                    merged = {**usable, **own}
                    if isinstance(usable.get("bastion"), dict) and isinstance(own.get("bastion"), dict):
                        merged["bastion"] = {**usable["bastion"], **own["bastion"]}
                    host = {**host, "ssh": merged}
            merged_hosts.append(host)
        return {**data, "hosts": merged_hosts}

    @model_validator(mode="after")
    def _remember_base_dir(self, info: ValidationInfo) -> ClusterConfig:
        base = info.context.get("base_dir") if isinstance(info.context, dict) else None
        if isinstance(base, Path):
            self._base_dir = base
        return self

    @property
    def base_dir(self) -> Path:
        """Directory relative paths in cluster.yml are resolved against."""
        return self._base_dir

    def resolve_path(self, path: str | Path) -> Path:
        """A local path as cluster.yml means it: '~' expanded, relative ones under base_dir."""
        p = _expand_home(Path(path))
        return p if p.is_absolute() else self._base_dir / p

    @property
    def control_planes(self) -> tuple[HostConfig, ...]:
        return tuple(h for h in self.hosts if h.role == "control-plane")

    @property
    def workers(self) -> tuple[HostConfig, ...]:
        return tuple(h for h in self.hosts if h.role == "worker")

    def host(self, name: str) -> HostConfig:
        """The host called name; KeyError naming the known hosts otherwise."""
        for h in self.hosts:
            if h.name == name:
                return h
        raise KeyError(f"no host {name!r} in cluster.yml (hosts: {', '.join(h.name for h in self.hosts)})")


def _usable_ssh_defaults(defaults: dict[Any, Any]) -> dict[Any, Any]:
    """The top-level ssh defaults minus the keys that are invalid themselves.

    Invalid defaults are reported once, at ssh.<key>; not merging them keeps every host from
    repeating the same error.
    """
    try:
        SshDefaults.model_validate(defaults)
        return dict(defaults)
    except ValidationError as exc:
        bad = [err["loc"] for err in exc.errors()]
    usable = dict(defaults)
    for loc in bad:
        if not loc:
            return {}
        if loc[0] == "bastion" and len(loc) > 1 and isinstance(usable.get("bastion"), dict):
            usable["bastion"] = {k: v for k, v in usable["bastion"].items() if k != loc[1]}
        else:
            usable.pop(loc[0], None)
    return usable


# --- walking the model by key path ---------------------------------------------------------------


def model_at(path: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The model class that validates the mapping at a key path of cluster.yml, if any."""
    current: Any = ClusterConfig
    for seg in path:
        model = _as_model(current)
        if isinstance(seg, str) and model is not None and seg in model.model_fields:
            current = model.model_fields[seg].annotation
        elif isinstance(seg, int):
            current = _element_type(current)
        else:
            return None
    return _as_model(current)


def all_models() -> tuple[type[BaseModel], ...]:
    """ClusterConfig and every model nested in it, parents first."""
    found: list[type[BaseModel]] = []
    todo: list[type[BaseModel]] = [ClusterConfig]
    while todo:
        model = todo.pop(0)
        if model in found:
            continue
        found.append(model)
        for info in model.model_fields.values():
            for candidate in (_as_model(info.annotation), _as_model(_element_type(info.annotation))):
                if candidate is not None:
                    todo.append(candidate)
    return tuple(found)


def _as_model(tp: Any) -> type[BaseModel] | None:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    if typing.get_origin(tp) in (typing.Union, types.UnionType, typing.Annotated):
        for arg in typing.get_args(tp):
            found = _as_model(arg)
            if found is not None:
                return found
    return None


def _element_type(tp: Any) -> Any:
    args = typing.get_args(tp)
    return args[0] if typing.get_origin(tp) in (tuple, list) and args else None
