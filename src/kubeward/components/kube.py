"""The Kubernetes control plane as components (pure): kube-apiserver, kube-controller-manager and
kube-scheduler, their flags by version, and the files they read.

Every flag is a row of a :class:`~kubeward.components.flags.FlagTable` with the versions it applies
to; :func:`render_args` walks the table and merges the user's ``extra_args`` last. The rows are the
CIS Kubernetes Benchmark floor (ids in ``why``), not options: anonymous auth off, Node and RBAC
authorization, NodeRestriction, no profiling, TLS 1.2+ with AEAD suites, kubelets verified by the
API server, etcd over mutual TLS, secrets encrypted at rest, an audit log, and controller-manager
and scheduler bound to loopback. Differences between 1.20 and current releases live in the spans.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import yaml

from kubeward.components.flags import Flag, FlagTable, Removed, render_args
from kubeward.components.version import Span, Version, v
from kubeward.etcd.config import PKI_DIR as ETCD_PKI_DIR
from kubeward.pki.nodes import K8S_PKI_DIR

PKI = K8S_PKI_DIR
ETCD_PKI = ETCD_PKI_DIR
ENCRYPTION_CONFIG = "/etc/kubernetes/encryption-config.yaml"
AUDIT_POLICY = "/etc/kubernetes/audit-policy.yaml"
ADMISSION_CONFIG = "/etc/kubernetes/admission-config.yaml"
AUDIT_LOG = "/var/log/kubernetes/audit/audit.log"
#: the cluster CA and the kubelet-signer intermediate: what client and kubelet certificates chain to
CA_BUNDLE = f"{PKI}/ca-bundle.crt"
CONTROLLER_MANAGER_CONF = "/etc/kubernetes/controller-manager.conf"
SCHEDULER_CONF = "/etc/kubernetes/scheduler.conf"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
#: seconds a stopping API server keeps serving with /readyz failing: more than the node-local API
#: proxy needs to take it out (two failed checks 2 s apart, see control_plane.render_haproxy_config)
SHUTDOWN_DELAY = 8

#: AEAD, forward-secret TLS 1.2 suites (Go names); TLS 1.3 suites are not configurable in Go
TLS_CIPHER_SUITES = (
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
)


@dataclass(frozen=True)
class ControlPlaneContext:
    """What the control-plane flags depend on, for one control plane."""

    version: Version
    node_name: str
    private_address: str
    api_port: int
    service_cidr: str
    pod_cidr: str
    node_cidr_mask: int
    etcd_servers: tuple[str, ...]
    cluster_name: str
    extra_args: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # component -> args
    nodeport_range: str = "30000-32767"  # network.nodeport_range: the firewall guards only this range
    api_servers: int = 1  # control planes in cluster.yml (an API server on each)


_TLS = (
    Flag[ControlPlaneContext]("tls-min-version", "VersionTLS12", why="TLS 1.2 or newer"),
    Flag[ControlPlaneContext]("tls-cipher-suites", ",".join(TLS_CIPHER_SUITES), why="CIS 1.2.29: AEAD suites only"),
)

APISERVER: FlagTable[ControlPlaneContext] = FlagTable("kube-apiserver", (
    Flag("advertise-address", lambda c: c.private_address),
    Flag("bind-address", lambda c: c.private_address, why="private network only; admins tunnel over SSH"),
    Flag("secure-port", lambda c: str(c.api_port)),
    Flag("insecure-port", "0", Span(until=v("1.24")), why="CIS 1.2.19 (cis-1.20): no insecure port"),
    Flag("anonymous-auth", "false", why="CIS 1.2.1"),
    Flag("authorization-mode", "Node,RBAC", why="CIS 1.2.6-1.2.8"),
    Flag("enable-admission-plugins", "NodeRestriction", Span(until=v("1.25")), why="CIS 1.2.14"),
    Flag("enable-admission-plugins", "NodeRestriction,PodSecurity", Span(v("1.25")),
         why="CIS 1.2.14; Pod Security admission (GA in 1.25)"),
    Flag("admission-control-config-file", ADMISSION_CONFIG, Span(v("1.25")),
         why="Pod Security admission defaults: enforce baseline, warn and audit restricted"),
    Flag("profiling", "false", why="CIS 1.2.15"),
    Flag("allow-privileged", "true", why="CNI and kube-proxy pods may need it; Pod Security decides per namespace"),
    Flag("client-ca-file", CA_BUNDLE, why="CIS 1.2.25; the cluster CA and the kubelet-signer intermediate"),
    Flag("tls-cert-file", f"{PKI}/apiserver.crt", why="CIS 1.2.24"),
    Flag("tls-private-key-file", f"{PKI}/apiserver.key", why="CIS 1.2.24"),
    *_TLS,
    Flag("kubelet-client-certificate", f"{PKI}/apiserver-kubelet-client.crt", why="CIS 1.2.4"),
    Flag("kubelet-client-key", f"{PKI}/apiserver-kubelet-client.key", why="CIS 1.2.4"),
    Flag("kubelet-certificate-authority", CA_BUNDLE,
         why="CIS 1.2.5: the API server verifies kubelets (serving certificates come from kubelet-signer)"),
    Flag("kubelet-preferred-address-types", "InternalIP", why="kubelets are reached on the private network"),
    Flag("etcd-servers", lambda c: ",".join(c.etcd_servers)),
    Flag("etcd-cafile", f"{ETCD_PKI}/ca.crt", why="CIS 1.2.26"),
    Flag("etcd-certfile", f"{PKI}/apiserver-etcd-client.crt", why="CIS 1.2.23"),
    Flag("etcd-keyfile", f"{PKI}/apiserver-etcd-client.key", why="CIS 1.2.23"),
    Flag("requestheader-client-ca-file", f"{PKI}/front-proxy-ca.crt"),
    Flag("requestheader-allowed-names", "front-proxy-client"),
    Flag("requestheader-extra-headers-prefix", "X-Remote-Extra-"),
    Flag("requestheader-group-headers", "X-Remote-Group"),
    Flag("requestheader-username-headers", "X-Remote-User"),
    Flag("proxy-client-cert-file", f"{PKI}/front-proxy-client.crt"),
    Flag("proxy-client-key-file", f"{PKI}/front-proxy-client.key"),
    Flag("service-account-issuer", SERVICE_ACCOUNT_ISSUER),
    Flag("service-account-key-file", f"{PKI}/sa.pub", why="CIS 1.2.22"),
    Flag("service-account-signing-key-file", f"{PKI}/sa.key"),
    Flag("service-account-lookup", "true", why="CIS 1.2.21"),
    Flag("service-cluster-ip-range", lambda c: c.service_cidr),
    Flag("service-node-port-range", lambda c: c.nodeport_range,
         why="NodePorts only in network.nodeport_range, the range the firewall's NodePort guard filters"),
    Flag("enable-bootstrap-token-auth", "true", why="kubelets join by TLS bootstrap with short-lived tokens"),
    Flag("encryption-provider-config", ENCRYPTION_CONFIG, why="CIS 1.2.27/1.2.28: secrets encrypted at rest"),
    Flag("audit-policy-file", AUDIT_POLICY),
    Flag("audit-log-path", AUDIT_LOG, why="CIS 1.2.16"),
    Flag("audit-log-maxage", "30", why="CIS 1.2.17"),
    Flag("audit-log-maxbackup", "10", why="CIS 1.2.18"),
    Flag("audit-log-maxsize", "100", why="CIS 1.2.19"),
    Flag("shutdown-delay-duration", lambda c: f"{SHUTDOWN_DELAY}s" if c.api_servers > 1 else None,
         why="with more than one control plane: a stopping API server fails /readyz but keeps serving this "
             "long, so every node's API proxy takes it out before it stops (rolling restarts without failed "
             "requests); the only API server would just be unavailable that much longer"),
), removed=(
    Removed("insecure-port", v("1.24"), "the insecure port is gone; kubeward never opens it"),
    Removed("insecure-bind-address", v("1.24"), "the insecure port is gone"),
    Removed("logtostderr", v("1.26"), "klog flags were removed: components log to stderr (journald)"),
    Removed("log-dir", v("1.26"), "klog flags were removed: components log to stderr (journald)"),
    Removed("log-file", v("1.26"), "klog flags were removed: components log to stderr (journald)"),
    Removed("alsologtostderr", v("1.26"), "klog flags were removed: components log to stderr (journald)"),
    Removed("cloud-provider", v("1.31"), "in-tree cloud providers are gone; omit it on bare metal"),
))

_LOCAL_AUTH = (
    Flag[ControlPlaneContext]("bind-address", "127.0.0.1", why="CIS 1.3.7 / 1.4.2: loopback only"),
)

CONTROLLER_MANAGER: FlagTable[ControlPlaneContext] = FlagTable("kube-controller-manager", (
    *_LOCAL_AUTH,
    Flag("port", "0", Span(until=v("1.22")), why="no insecure port 10252 (removed in 1.22)"),
    Flag("secure-port", "10257"),
    Flag("kubeconfig", CONTROLLER_MANAGER_CONF),
    Flag("authentication-kubeconfig", CONTROLLER_MANAGER_CONF),
    Flag("authorization-kubeconfig", CONTROLLER_MANAGER_CONF),
    Flag("client-ca-file", CA_BUNDLE),
    Flag("requestheader-client-ca-file", f"{PKI}/front-proxy-ca.crt"),
    Flag("tls-cert-file", f"{PKI}/controller-manager-serving.crt", why="a certificate the audit can verify"),
    Flag("tls-private-key-file", f"{PKI}/controller-manager-serving.key"),
    Flag("root-ca-file", f"{PKI}/ca.crt", why="CIS 1.3.5"),
    Flag("service-account-private-key-file", f"{PKI}/sa.key", why="CIS 1.3.4"),
    Flag("use-service-account-credentials", "true", why="CIS 1.3.3"),
    Flag("cluster-name", lambda c: c.cluster_name),
    Flag("cluster-signing-cert-file", f"{PKI}/kubelet-signer.crt",
         why="kubelet certificates are signed by an intermediate CA; the cluster CA key stays off nodes"),
    Flag("cluster-signing-key-file", f"{PKI}/kubelet-signer.key"),
    Flag("controllers", "*,bootstrapsigner,tokencleaner", why="expired bootstrap tokens are deleted"),
    Flag("allocate-node-cidrs", "true"),
    Flag("cluster-cidr", lambda c: c.pod_cidr),
    Flag("service-cluster-ip-range", lambda c: c.service_cidr),
    Flag("node-cidr-mask-size", lambda c: str(c.node_cidr_mask)),
    Flag("profiling", "false", why="CIS 1.3.2"),
    Flag("leader-elect", "true"),
    Flag("feature-gates", "RotateKubeletServerCertificate=true", Span(until=v("1.24")),
         why="CIS 1.3.6 (GA and locked on from 1.24)"),
    *_TLS,
), removed=(
    Removed("port", v("1.22"), "the insecure port 10252 is gone"),
    Removed("address", v("1.24"), "use --bind-address"),
    Removed("logtostderr", v("1.26"), "klog flags were removed: components log to stderr (journald)"),
    Removed("log-dir", v("1.26"), "klog flags were removed"),
    Removed("cloud-provider", v("1.31"), "in-tree cloud providers are gone; omit it on bare metal"),
))

SCHEDULER: FlagTable[ControlPlaneContext] = FlagTable("kube-scheduler", (
    *_LOCAL_AUTH,
    Flag("port", "0", Span(until=v("1.23")), why="no insecure port 10251 (removed in 1.23)"),
    Flag("secure-port", "10259"),
    Flag("kubeconfig", SCHEDULER_CONF),
    Flag("authentication-kubeconfig", SCHEDULER_CONF),
    Flag("authorization-kubeconfig", SCHEDULER_CONF),
    Flag("client-ca-file", CA_BUNDLE),
    Flag("tls-cert-file", f"{PKI}/scheduler-serving.crt", why="a certificate the audit can verify"),
    Flag("tls-private-key-file", f"{PKI}/scheduler-serving.key"),
    Flag("profiling", "false", why="CIS 1.4.1"),
    Flag("leader-elect", "true"),
    *_TLS,
), removed=(
    Removed("port", v("1.23"), "the insecure port 10251 is gone"),
    Removed("address", v("1.24"), "use --bind-address"),
    Removed("logtostderr", v("1.26"), "klog flags were removed: components log to stderr (journald)"),
))

TABLES: dict[str, FlagTable[ControlPlaneContext]] = {
    t.component: t for t in (APISERVER, CONTROLLER_MANAGER, SCHEDULER)
}


def control_plane_args(component: str, ctx: ControlPlaneContext) -> dict[str, str]:
    """A control-plane component's flags for ``ctx.version``, the user's extra args last."""
    return render_args(TABLES[component], ctx.version, ctx, ctx.extra_args.get(component))


# ----- the files the API server reads ---------------------------------------------------------------


def render_encryption_config(keys: list[tuple[str, str]], provider: str = "aescbc") -> str:
    """EncryptionConfiguration for secrets: ``keys`` are (name, base64 32-byte secret), the first
    one encrypts, all of them decrypt; ``identity`` last so secrets written before encryption was on
    stay readable until they are rewritten."""
    doc = {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "EncryptionConfiguration",
        "resources": [{
            "resources": ["secrets"],
            "providers": [{provider: {"keys": [{"name": n, "secret": s} for n, s in keys]}}, {"identity": {}}],
        }],
    }
    return "# Managed by kubeward: secrets encrypted at rest. Key material: keep 0600.\n" + \
        yaml.safe_dump(doc, sort_keys=False)


def render_audit_policy() -> str:
    """Metadata for everything; never a request or response body of secrets, tokens or CSRs'
    keys; health and version probes not logged."""
    doc = {
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "omitStages": ["RequestReceived"],
        "rules": [
            {"level": "None", "nonResourceURLs": ["/healthz*", "/livez*", "/readyz*", "/version"]},
            {"level": "None", "users": ["system:kube-proxy"], "verbs": ["watch"],
             "resources": [{"group": "", "resources": ["endpoints", "services", "services/status"]}]},
            {"level": "Metadata", "resources": [
                {"group": "", "resources": ["secrets", "configmaps", "serviceaccounts/token"]},
                {"group": "authentication.k8s.io", "resources": ["tokenreviews"]},
                {"group": "certificates.k8s.io", "resources": ["certificatesigningrequests"]},
            ]},
            {"level": "Metadata"},
        ],
    }
    return "# Managed by kubeward: metadata only, no request bodies.\n" + yaml.safe_dump(doc, sort_keys=False)


def render_admission_config() -> str:
    """Pod Security admission defaults (1.25+): enforce baseline, warn and audit restricted;
    kube-system exempt (the node-level components kubeward runs are not pods)."""
    doc = {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "AdmissionConfiguration",
        "plugins": [{
            "name": "PodSecurity",
            "configuration": {
                "apiVersion": "pod-security.admission.config.k8s.io/v1",
                "kind": "PodSecurityConfiguration",
                "defaults": {"enforce": "baseline", "enforce-version": "latest", "audit": "restricted",
                             "audit-version": "latest", "warn": "restricted", "warn-version": "latest"},
                "exemptions": {"usernames": [], "runtimeClasses": [], "namespaces": ["kube-system"]},
            },
        }],
    }
    return yaml.safe_dump(doc, sort_keys=False)
