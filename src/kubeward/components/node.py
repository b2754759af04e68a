"""What every Kubernetes node runs, as pure renderers: containerd's configuration, the kubelet's
KubeletConfiguration and flags, kube-proxy's KubeProxyConfiguration, the CNI conflist and the
pod-network script (routes to the other nodes' pod CIDRs, one masquerade rule).

Everything host-dependent that is not in cluster.yml is a *fact* read from the node and parsed here
(:func:`parse_node_traits`): the cgroup version (cgroup v2 -> the systemd driver, v1 -> cgroupfs),
whether processes may lower their OOM score (``CAP_SYS_RESOURCE`` in ``CapEff``; without it runc
needs containerd's ``restrict_oom_score_adj``), and whether the node's network namespace may set
``nf_conntrack_max`` (not inside a lab node: kube-proxy must leave conntrack sizing alone there).
Version differences are rows with spans (:mod:`kubeward.components.fields`, :mod:`.flags`).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import tomli_w
import yaml

from kubeward.components.fields import Field, FieldTable, render_fields
from kubeward.components.flags import Flag, FlagTable, Removed, render_args, render_argv, unit_exec
from kubeward.components.kube import TLS_CIPHER_SUITES
from kubeward.components.spec import Component, Health
from kubeward.components.version import Span, Version, v
from kubeward.ops.ops import Directory, File
from kubeward.pki.nodes import K8S_PKI_DIR, KUBELET_PKI_DIR

CONTAINERD_CONFIG = "/etc/containerd/config.toml"
CONTAINERD_SOCKET = "unix:///run/containerd/containerd.sock"
KUBELET_CONFIG = "/var/lib/kubelet/config.yaml"
KUBELET_KUBECONFIG = "/etc/kubernetes/kubelet.conf"
KUBELET_BOOTSTRAP_KUBECONFIG = "/etc/kubernetes/bootstrap-kubelet.conf"
KUBE_PROXY_CONFIG = "/etc/kubernetes/kube-proxy.yaml"
KUBE_PROXY_KUBECONFIG = "/etc/kubernetes/kube-proxy.conf"
CNI_BIN_DIR = "/usr/lib/cni"
CNI_CONF_DIR = "/etc/cni/net.d"
CNI_CONFLIST = f"{CNI_CONF_DIR}/10-kubeward.conflist"
CNI_BRIDGE = "cni0"
#: the CNI network's name: host-local keeps its leases in CNI_STATE/networks/NAME, libcni its cache in
#: CNI_STATE/results/NAME-*
CNI_NETWORK = "kubeward"
CNI_STATE = "/var/lib/cni"
POD_NETWORK_SCRIPT = "/usr/local/lib/kubeward/pod-network.sh"
CLIENT_CA = f"{K8S_PKI_DIR}/ca.crt"
#: the node-local API proxy every node runs (issue 16): components never name a control plane
LOCAL_API_SERVER = "https://127.0.0.1:6443"
#: the routing-table protocol number marking kubeward's pod routes (``ip route ... proto 77``), so
#: routes to removed nodes are found and deleted without touching anyone else's
ROUTE_PROTO = 77
#: the pod network's nftables table (family, name): one masquerade rule
POD_NAT_TABLE = ("ip", "kubeward_pods")
#: containerd's namespace of the CRI plugin: only the kubelet's pods and the images they run live there
CRI_NAMESPACE = "k8s.io"
#: the CRI plugin's own state under containerd's root and state directories, and the loopback
#: network's libcni cache (per pod sandbox; nothing else of containerd's lives there)
CRI_STATE = ("/var/lib/containerd/io.containerd.grpc.v1.cri", "/run/containerd/io.containerd.grpc.v1.cri",
             f"{CNI_STATE}/results/cni-loopback-*")
#: the CRI plugin names each pod's network namespace cni-UUID (in /run/netns)
POD_NETNS_PREFIX = "cni-"
#: the iptables chains the kubelet and kube-proxy (iptables mode) create, and only they
KUBE_CHAIN_PREFIX = "KUBE-"
CAP_SYS_RESOURCE = 24

CgroupDriver = Literal["cgroupfs", "systemd"]


# ----- facts ---------------------------------------------------------------------------------------

#: one fact script: the cgroup file system type, CapEff, nf_conntrack_max's mode in this namespace
TRAITS_FACT = (
    "echo cgroupfs=$(stat -fc %T /sys/fs/cgroup 2>/dev/null); "
    "echo capeff=$(awk '/^CapEff:/ {print $2}' /proc/self/status); "
    "echo conntrack=$(stat -c %a /proc/sys/net/netfilter/nf_conntrack_max 2>/dev/null || echo absent)"
)


@dataclass(frozen=True)
class NodeTraits:
    """What kubeward decides from the node itself (see the module docstring)."""

    cgroup_driver: CgroupDriver = "systemd"
    can_lower_oom_score: bool = True
    conntrack_settable: bool = True


def parse_node_traits(text: str) -> NodeTraits:
    kv = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    cgroup: CgroupDriver = "systemd" if kv.get("cgroupfs", "").strip() == "cgroup2fs" else "cgroupfs"
    try:
        cap = bool(int(kv.get("capeff", "").strip(), 16) >> CAP_SYS_RESOURCE & 1)
    except ValueError:
        cap = True  # unknown: assume a normal host (containerd's default)
    mode = kv.get("conntrack", "").strip()
    settable = mode not in ("absent", "") and int(mode[-3], 8) & 0o2 != 0 if mode.isdigit() else True
    return NodeTraits(cgroup, cap, settable)


# ----- the node's context --------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeContext:
    """What node components depend on, for one node."""

    version: Version
    node_name: str
    address: str  # public
    private_address: str
    pod_cidr: str  # the cluster's
    service_cidr: str
    traits: NodeTraits = NodeTraits()
    pause_image: str = "kubeward.local/pause:3.2"
    extra_args: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # component -> args

    @property
    def node_addresses(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((self.address, self.private_address)))


# ----- containerd ----------------------------------------------------------------------------------


def render_containerd_config(ctx: NodeContext) -> str:
    """containerd 1.6 (config version 2): CRI on, runc with the kubelet's cgroup driver, the pause
    image the artifacts phase imports, CNI from Debian's containernetworking-plugins."""
    cri: dict[str, Any] = {
        "sandbox_image": ctx.pause_image,
        "containerd": {
            "default_runtime_name": "runc",
            "runtimes": {"runc": {
                "runtime_type": "io.containerd.runc.v2",
                "options": {"SystemdCgroup": ctx.traits.cgroup_driver == "systemd"},
            }},
        },
        "cni": {"bin_dir": CNI_BIN_DIR, "conf_dir": CNI_CONF_DIR},
    }
    if not ctx.traits.can_lower_oom_score:
        # no CAP_SYS_RESOURCE on this node: runc could not lower a sandbox's oom_score_adj
        cri["restrict_oom_score_adj"] = True
    doc = {"version": 2, "disabled_plugins": [], "plugins": {"io.containerd.grpc.v1.cri": cri}}
    return "# Managed by kubeward.\n" + tomli_w.dumps(doc)


# ----- kubelet -------------------------------------------------------------------------------------

KUBELET_CONFIG_TABLE: FieldTable[NodeContext] = FieldTable("KubeletConfiguration", "kubelet.config.k8s.io/v1beta1", (
    Field("address", lambda c: c.private_address, why="the kubelet API on the private network only"),
    Field("port", 10250),
    Field("readOnlyPort", 0, why="CIS 4.2.4: no unauthenticated read-only port"),
    Field("healthzBindAddress", "127.0.0.1"),
    Field("healthzPort", 10248),
    Field("authentication.anonymous.enabled", False, why="CIS 4.2.1"),
    Field("authentication.webhook.enabled", True),
    Field("authentication.webhook.cacheTTL", "2m0s"),
    Field("authentication.x509.clientCAFile", CLIENT_CA, why="CIS 4.2.3"),
    Field("authorization.mode", "Webhook", why="CIS 4.2.2"),
    Field("authorization.webhook.cacheAuthorizedTTL", "5m0s"),
    Field("authorization.webhook.cacheUnauthorizedTTL", "30s"),
    Field("cgroupDriver", lambda c: c.traits.cgroup_driver, why="the same driver as containerd's runc"),
    Field("containerRuntimeEndpoint", CONTAINERD_SOCKET, Span(v("1.27")),
          why="a config field from 1.27 (the flag before)"),
    Field("rotateCertificates", True, why="CIS 4.2.10"),
    Field("serverTLSBootstrap", True, why="CIS 4.2.9: serving certificate by CSR, approved by kubeward's policy"),
    Field("featureGates.RotateKubeletServerCertificate", True, Span(until=v("1.24")), why="CIS 4.2.11"),
    Field("tlsMinVersion", "VersionTLS12"),
    Field("tlsCipherSuites", list(TLS_CIPHER_SUITES), why="CIS 4.2.12"),
    Field("protectKernelDefaults", True, why="CIS 4.2.6 (cis-1.20)"),
    Field("makeIPTablesUtilChains", True, why="CIS 4.2.6"),
    Field("streamingConnectionIdleTimeout", "4h0m0s", why="CIS 4.2.5: not 0"),
    Field("podPidsLimit", 4096, why="CIS 4.2.13"),
    Field("seccompDefault", True, Span(v("1.27")), why="CIS 4.2.14 (GA in 1.27)"),
    Field("clusterDomain", "cluster.local"),
    Field("eventRecordQPS", 5),
    Field("serializeImagePulls", True),
    Field("staticPodPath", None, why="no static pods: kubeward runs components as systemd units"),
))

KUBELET_FLAGS: FlagTable[NodeContext] = FlagTable("kubelet", (
    Flag("config", KUBELET_CONFIG),
    Flag("kubeconfig", KUBELET_KUBECONFIG, why="written by the kubelet itself once its client CSR is signed"),
    Flag("bootstrap-kubeconfig", KUBELET_BOOTSTRAP_KUBECONFIG, why="TLS bootstrap with a short-lived token"),
    Flag("cert-dir", KUBELET_PKI_DIR, why="keys generated here, on the node; they never leave it"),
    Flag("node-ip", lambda c: c.private_address),
    Flag("hostname-override", lambda c: c.node_name, why="the Node is named as in cluster.yml"),
    Flag("container-runtime", "remote", Span(until=v("1.27"))),
    Flag("container-runtime-endpoint", CONTAINERD_SOCKET, Span(until=v("1.27")),
         why="a config field (containerRuntimeEndpoint) from 1.27"),
), removed=(
    Removed("container-runtime", v("1.27"), "containerd is the only runtime path; remove the flag"),
    Removed("network-plugin", v("1.24"), "dockershim is gone; containerd runs CNI"),
    Removed("cni-bin-dir", v("1.24"), "set in containerd's config"),
    Removed("cni-conf-dir", v("1.24"), "set in containerd's config"),
    Removed("logtostderr", v("1.26"), "klog flags were removed"),
    Removed("log-dir", v("1.26"), "klog flags were removed"),
))


def render_kubelet_config(ctx: NodeContext) -> str:
    doc = render_fields(KUBELET_CONFIG_TABLE, ctx.version, ctx)
    return "# Managed by kubeward.\n" + yaml.safe_dump(doc, sort_keys=False)


def kubelet_args(ctx: NodeContext) -> dict[str, str]:
    return render_args(KUBELET_FLAGS, ctx.version, ctx, ctx.extra_args.get("kubelet"))


# ----- kube-proxy ----------------------------------------------------------------------------------


def _host_cidr(address: str) -> str:
    ip = ipaddress.ip_address(address)
    return f"{ip}/{ip.max_prefixlen}"


KUBE_PROXY_CONFIG_TABLE: FieldTable[NodeContext] = FieldTable(
    "KubeProxyConfiguration", "kubeproxy.config.k8s.io/v1alpha1", (
        Field("bindAddress", lambda c: c.private_address),
        Field("clientConnection.kubeconfig", KUBE_PROXY_KUBECONFIG),
        Field("hostnameOverride", lambda c: c.node_name),
        Field("mode", "iptables", why="no IPVS in these kernels; nftables mode only from 1.33"),
        Field("clusterCIDR", lambda c: c.pod_cidr),
        Field("metricsBindAddress", "127.0.0.1:10249", why="CIS 4.3.1"),
        Field("healthzBindAddress", "127.0.0.1:10256"),
        Field("nodePortAddresses", lambda c: [_host_cidr(a) for a in c.node_addresses],
              why="NodePorts only on the node's own addresses"),
        # inside a network namespace that may not set nf_conntrack_max, kube-proxy must not try
        Field("conntrack.maxPerCore", lambda c: None if c.traits.conntrack_settable else 0),
        Field("conntrack.min", lambda c: None if c.traits.conntrack_settable else 0),
        Field("iptables.masqueradeAll", False),
    ))


def render_kube_proxy_config(ctx: NodeContext) -> str:
    doc = render_fields(KUBE_PROXY_CONFIG_TABLE, ctx.version, ctx)
    return "# Managed by kubeward.\n" + yaml.safe_dump(doc, sort_keys=False)


KUBE_PROXY_FLAGS: FlagTable[NodeContext] = FlagTable("kube-proxy", (
    Flag("config", KUBE_PROXY_CONFIG),
))


def kube_proxy_args(ctx: NodeContext) -> dict[str, str]:
    return render_args(KUBE_PROXY_FLAGS, ctx.version, ctx, ctx.extra_args.get("kube-proxy"))


# ----- the pod network -----------------------------------------------------------------------------


def render_cni_conflist(node_pod_cidr: str) -> str:
    """bridge + host-local for this node's pod CIDR, portmap for hostPorts. ``ipMasq`` is off: the
    pod-network script's one masquerade rule hides only traffic leaving the pod network, so pods
    see each other's own addresses across nodes."""
    doc = {
        "cniVersion": "0.4.0",
        "name": CNI_NETWORK,
        "plugins": [
            {"type": "bridge", "bridge": CNI_BRIDGE, "isGateway": True, "ipMasq": False, "hairpinMode": True,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": node_pod_cidr}]],
                      "routes": [{"dst": "0.0.0.0/0"}]}},
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


@dataclass(frozen=True)
class PodRoute:
    cidr: str
    via: str
    node: str


def pod_routes(self_name: str, pod_cidrs: Mapping[str, str], private_addresses: Mapping[str, str]) -> list[PodRoute]:
    """A route to every other node's pod CIDR via its private address (nodes without a CIDR yet are
    left out; they get one on the next run)."""
    return [PodRoute(cidr, private_addresses[n], n) for n, cidr in sorted(pod_cidrs.items())
            if n != self_name and n in private_addresses and cidr]


def render_pod_network_script(cluster_pod_cidr: str, routes: Sequence[PodRoute]) -> str:
    """Idempotent: replaces kubeward's routes (``proto 77``) with exactly ``routes``, and loads the
    one masquerade rule (table ``ip kubeward_pods``, replaced atomically). Run by a oneshot unit at
    boot and by kubeward whenever a node joins or leaves. Values are addresses validated by
    cluster.yml's model and the API server; the script quotes nothing from elsewhere."""
    want = [f"{r.cidr} via {r.via}" for r in routes]
    for r in routes:  # defence in depth: only addresses reach the shell
        ipaddress.ip_network(r.cidr)
        ipaddress.ip_address(r.via)
    ipaddress.ip_network(cluster_pod_cidr)
    table = " ".join(POD_NAT_TABLE)
    nft = (f"table {table}\ndelete table {table}\ntable {table} {{\n"
           f"\tchain postrouting {{\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
           f"\t\tip saddr {cluster_pod_cidr} ip daddr != {cluster_pod_cidr} masquerade comment \"pods leaving the pod network\"\n"
           f"\t}}\n}}\n")
    lines = [
        "#!/bin/sh",
        "# Managed by kubeward: routes to the other nodes' pod CIDRs and one masquerade rule.",
        "set -eu",
        "want=$(cat <<'EOF'",
        *want,
        "EOF",
        ")",
        f"ip -4 route show proto {ROUTE_PROTO} | while read -r dst _ via _; do",
        '  printf "%s\\n" "$want" | grep -qxF "$dst via $via" || ip route del "$dst" proto ' + str(ROUTE_PROTO),
        "done",
        *[f"ip route replace {r.cidr} via {r.via} proto {ROUTE_PROTO}" for r in routes],
        "nft -f - <<'EOF'",
        nft.rstrip("\n"),
        "EOF",
    ]
    return "\n".join(lines) + "\n"


POD_NETWORK_UNIT = "kubeward-pod-network.service"


def render_pod_network_unit() -> str:
    return (
        "# Managed by kubeward.\n[Unit]\nDescription=kubeward pod network (routes, masquerade)\n"
        "After=network-online.target\nWants=network-online.target\n\n"
        f"[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart={POD_NETWORK_SCRIPT}\n\n"
        "[Install]\nWantedBy=multi-user.target\n"
    )


# ----- the components ------------------------------------------------------------------------------

BIN_DIR = "/usr/local/bin"
UNIT_DIR = "/etc/systemd/system"
KUBELET_UNIT = "kubelet.service"
CONTAINERD_UNIT = "containerd.service"
KUBE_PROXY_UNIT = "kube-proxy.service"
#: what the nodes install from Debian: containerd and runc, the CNI plugins (bridge, host-local,
#: portmap, loopback), iptables and conntrack for kube-proxy, curl for health probes
CONTAINERD_PACKAGES = ("containerd", "runc", "containernetworking-plugins")
NODE_PACKAGES = ("iptables", "conntrack", "curl")
#: kubeward writes /etc/containerd/config.toml before the package is installed (so its first start
#: already has the right configuration); dpkg must keep that file rather than ask
KEEP_OUR_CONFFILES = ("printf 'Dpkg::Options { \"--force-confold\"; };\\n' > /run/kubeward-apt-confold.conf\n"
                      "( export APT_CONFIG=/run/kubeward-apt-confold.conf\n{script}\n)")


def render_node_unit(binary: str, description: str, args: Mapping[str, str], *, after: str) -> str:
    return (
        "# Managed by kubeward: changes are overwritten by `kubeward up`.\n"
        f"[Unit]\nDescription={description} (kubeward)\nAfter=network-online.target {after}\n"
        f"Wants=network-online.target\nRequires={after}\n\n"
        f"[Service]\nExecStart={unit_exec(f'{BIN_DIR}/{binary}', render_argv(args))}\n"
        "Restart=always\nRestartSec=3\n\n[Install]\nWantedBy=multi-user.target\n"
    )


def containerd_component(ctx: NodeContext) -> Component:
    return Component(
        name="containerd",
        unit=CONTAINERD_UNIT,
        directories=(Directory("/etc/containerd", "root", "root", 0o755),),
        files=(File(CONTAINERD_CONFIG, render_containerd_config(ctx).encode()),),
        packages=CONTAINERD_PACKAGES,
        package_guard=KEEP_OUR_CONFFILES,
        health=Health("ctr version >/dev/null 2>&1", 60, "serving CRI"),
        restart="all",
        state=CRI_STATE,
    )


def kubelet_component(ctx: NodeContext, bootstrap_kubeconfig: str | None) -> Component:
    """The kubelet; ``bootstrap_kubeconfig`` (a fresh token, 0600) only while the node has no client
    certificate of its own."""
    files = [File(KUBELET_CONFIG, render_kubelet_config(ctx).encode())]
    if bootstrap_kubeconfig is not None:
        files.append(File(KUBELET_BOOTSTRAP_KUBECONFIG, bootstrap_kubeconfig.encode(), mode=0o600, secret=True))
    return Component(
        name="kubelet",
        unit=KUBELET_UNIT,
        directories=(Directory("/etc/kubernetes", "root", "root", 0o755),
                     Directory("/var/lib/kubelet", "root", "root", 0o700),
                     Directory(KUBELET_PKI_DIR, "root", "root", 0o700)),
        files=tuple(files),
        unit_files=(File(f"{UNIT_DIR}/{KUBELET_UNIT}",
                         render_node_unit("kubelet", "Kubernetes node agent", kubelet_args(ctx),
                                          after=CONTAINERD_UNIT).encode()),),
        packages=NODE_PACKAGES,
        health=Health("curl -sf --max-time 3 http://127.0.0.1:10248/healthz >/dev/null", 180, "healthy"),
        restart="all",
        restart_on=(KUBELET_CONFIG, f"{UNIT_DIR}/{KUBELET_UNIT}"),  # not the bootstrap kubeconfig
        ports=("kubelet", "kubelet-healthz"),
        # its pods' volumes, its own keys and certificates, the kubeconfig its client CSR made
        state=(KUBELET_CONFIG.rsplit("/", 1)[0], KUBELET_KUBECONFIG),
    )


def kube_proxy_component(ctx: NodeContext, kubeconfig: str) -> Component:
    return Component(
        name="kube-proxy",
        unit=KUBE_PROXY_UNIT,
        directories=(Directory("/etc/kubernetes", "root", "root", 0o755),),
        files=(File(KUBE_PROXY_CONFIG, render_kube_proxy_config(ctx).encode()),
               File(KUBE_PROXY_KUBECONFIG, kubeconfig.encode(), mode=0o600, secret=True)),
        unit_files=(File(f"{UNIT_DIR}/{KUBE_PROXY_UNIT}",
                         render_node_unit("kube-proxy", "Kubernetes service proxy", kube_proxy_args(ctx),
                                          after="kubelet.service").encode()),),
        packages=NODE_PACKAGES,
        health=Health("curl -sf --max-time 3 http://127.0.0.1:10256/healthz >/dev/null", 120, "healthy"),
        restart="all",
        ports=("kube-proxy-metrics", "kube-proxy-healthz"),
    )


def pod_network_component(cluster_pod_cidr: str, node_pod_cidr: str, routes: Sequence[PodRoute]) -> Component:
    return Component(
        name="pod-network",
        unit=POD_NETWORK_UNIT,
        directories=(Directory(CNI_CONF_DIR, "root", "root", 0o755),
                     Directory(POD_NETWORK_SCRIPT.rsplit("/", 1)[0], "root", "root", 0o755)),
        files=(File(CNI_CONFLIST, render_cni_conflist(node_pod_cidr).encode()),
               File(POD_NETWORK_SCRIPT, render_pod_network_script(cluster_pod_cidr, routes).encode(), mode=0o755)),
        unit_files=(File(f"{UNIT_DIR}/{POD_NETWORK_UNIT}", render_pod_network_unit().encode()),),
        restart="all",
        restart_on=(POD_NETWORK_SCRIPT, f"{UNIT_DIR}/{POD_NETWORK_UNIT}"),  # the conflist is read per pod
        state=(f"{CNI_STATE}/networks/{CNI_NETWORK}", f"{CNI_STATE}/results/{CNI_NETWORK}-*"),
    )
