"""What the Kubernetes API and etcd say about the cluster's access paths, and what that proves (pure).

Observed (by ``audit.kube_probe``, through the lightkube module and kubeward's etcd client):
what ``system:anonymous`` in ``system:unauthenticated`` may do (SubjectAccessReviews), every
ClusterRoleBinding and RoleBinding, bootstrap-token Secrets, CSRs, one Secret read raw from etcd.
Evaluated here, without I/O, into findings; certificate expiry of the state directory's
certificates and of the kubelets' served certificates too.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from kubeward.audit.model import Finding, Severity
from kubeward.kube.csr_policy import SERVING_SIGNER, CsrRecord, HostIdentity, decide_serving_csr

#: (verb, resource, subresource, namespace) asked of the API as system:anonymous
ANONYMOUS_PROBES: tuple[tuple[str, str, str, str], ...] = (
    ("list", "pods", "", ""), ("get", "secrets", "", "kube-system"), ("list", "nodes", "", ""),
    ("create", "pods", "", "default"), ("get", "nodes", "proxy", ""), ("list", "configmaps", "", "kube-public"),
    ("list", "namespaces", "", ""), ("create", "certificatesigningrequests", "", ""),
)
ANONYMOUS_SUBJECTS = frozenset({("User", "system:anonymous"), ("Group", "system:unauthenticated")})
#: bindings of anonymous subjects Kubernetes makes itself: /healthz, /version, /livez, /readyz only
ANONYMOUS_ALLOWED = frozenset({"system:public-info-viewer"})
ADMIN_ROLES = frozenset({"cluster-admin"})
ADMIN_GROUPS = frozenset({"system:masters"})
#: Kubernetes' own binding of system:masters to cluster-admin, and kubeward's daily admin
ADMIN_ALLOWED = frozenset({"cluster-admin", "kubeward:cluster-admins"})


@dataclass(frozen=True)
class Binding:
    kind: str  # ClusterRoleBinding | RoleBinding
    name: str
    namespace: str
    role: str  # roleRef name
    subjects: tuple[tuple[str, str], ...]  # (kind, name)


@dataclass(frozen=True)
class AccessReview:
    verb: str
    resource: str
    subresource: str
    namespace: str
    allowed: bool


@dataclass
class KubeObservation:
    via: str = ""  # the control plane whose API server was asked
    anonymous: list[AccessReview] = field(default_factory=list)
    bindings: list[Binding] = field(default_factory=list)
    bootstrap_tokens: dict[str, str] = field(default_factory=dict)  # secret name -> expiration ("" none)
    csrs: list[CsrRecord] = field(default_factory=list)
    secret_key: str = ""  # the etcd key of the Secret read raw
    secret_prefix: bytes = b""  # its first bytes as stored


def _when(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def evaluate_kube(kube: KubeObservation, inventory: Mapping[str, HostIdentity], now: datetime) -> Iterator[Finding]:
    via = kube.via
    for r in kube.anonymous:
        if r.allowed:
            what = f"{r.verb} {r.resource}{'/' + r.subresource if r.subresource else ''}" + (
                f" in {r.namespace}" if r.namespace else "")
            yield Finding("KW-RBAC-ANONYMOUS", "high", via, "anonymous requests are authorized",
                          f"system:anonymous may {what} (SubjectAccessReview)",
                          "remove the bindings that grant system:anonymous or system:unauthenticated", 6443, "tcp",
                          "api")
    for b in kube.bindings:
        anon = [f"{k} {n}" for k, n in b.subjects if (k, n) in ANONYMOUS_SUBJECTS]
        if anon and b.name not in ANONYMOUS_ALLOWED:
            yield Finding("KW-RBAC-ANONYMOUS", "high", via, "a binding grants anonymous requests",
                          f"{b.kind} {b.namespace + '/' if b.namespace else ''}{b.name} binds {b.role} to "
                          f"{', '.join(anon)}", f"kubeward kubectl -- delete {b.kind.lower()} {b.name}", 6443, "tcp",
                          "api")
        masters = [n for k, n in b.subjects if k == "Group" and n in ADMIN_GROUPS]
        if (b.role in ADMIN_ROLES or masters) and b.name not in ADMIN_ALLOWED:
            who = ", ".join(f"{k} {n}" for k, n in b.subjects)
            yield Finding("KW-RBAC-ADMIN-BINDING", "high", via, "an unlisted binding grants cluster-admin",
                          f"{b.kind} {b.namespace + '/' if b.namespace else ''}{b.name}: {b.role} to {who}",
                          "remove it, or give the subject a narrower role", 6443, "tcp", "api")
    for name, exp in sorted(kube.bootstrap_tokens.items()):
        when = _when(exp) if exp else None
        if when is None or when > now:
            yield Finding("KW-BOOTSTRAP-TOKEN", "high", via, "a bootstrap token is still valid",
                          f"kube-system/{name} " + (f"expires {exp}" if exp else "never expires"),
                          f"kubeward kubectl -- -n kube-system delete secret {name}", 6443, "tcp", "api")
    for csr in kube.csrs:
        if csr.signer != SERVING_SIGNER or csr.state not in ("Pending", "Approved"):
            continue
        d = decide_serving_csr(csr, inventory)
        if not d.approve:
            sev: Severity = "critical" if csr.state == "Approved" else "medium"
            yield Finding("KW-CSR-FOREIGN", sev, via, f"a {csr.state.lower()} serving CSR fails the node policy",
                          f"{csr.name} from {csr.username}: {d.reason}",
                          f"kubeward csr deny {csr.name}" if csr.state == "Pending"
                          else "revoke: rotate the cluster CA's kubelet-signer", 10250, "tcp", "api")
    if kube.secret_key and not kube.secret_prefix.startswith(b"k8s:enc:"):
        yield Finding("KW-SECRETS-PLAINTEXT", "critical", via, "a Secret is stored unencrypted in etcd",
                      f"{kube.secret_key} starts with {kube.secret_prefix[:12]!r}",
                      "kubeward secrets rotate-key (rewrites every Secret with the encryption provider)", 2379, "tcp",
                      "api")


@dataclass(frozen=True)
class CertExpiry:
    node: str  # "" for the state directory's certificates
    name: str  # certificate name or "kubelet serving (10250)"
    not_after: datetime
    port: int | None = None


def evaluate_expiry(certs: Iterable[CertExpiry], renew_before_days: int, now: datetime) -> Iterator[Finding]:
    """A finding before the renewal window: expired is high, inside the window medium."""
    for c in certs:
        left = c.not_after - now
        if left <= timedelta(0):
            yield Finding("KW-CERT-EXPIRY", "high", c.node or "state-dir", f"{c.name} has expired",
                          f"expired {c.not_after:%Y-%m-%d %H:%M} UTC", "kubeward pki renew (kubelets: up rotates)",
                          c.port, "tcp" if c.port else None, "local")
        elif left <= timedelta(days=renew_before_days):
            yield Finding("KW-CERT-EXPIRY", "medium", c.node or "state-dir", f"{c.name} is due for renewal",
                          f"expires {c.not_after:%Y-%m-%d} (in {left.days} days, within pki.renew_before_days "
                          f"{renew_before_days})", "kubeward pki renew", c.port, "tcp" if c.port else None, "local")


def utcnow() -> datetime:
    return datetime.now(UTC)
