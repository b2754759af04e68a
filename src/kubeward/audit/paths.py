"""One map of every communication path, and what this run proved about each (pure).

A path is a flow between two actors (operator -> sshd, node -> API server, API server -> kubelet,
...) with its port, authentication, encryption and firewall limit, all from the port matrix and
cluster.yml. Its status comes from this run's probes only: ``proven`` when the probes named in
``proof`` succeeded from the vantage they name, ``finding`` when a finding sits on its port, else
``configured`` (what kubeward set up, not proven by this run: never shown green). When a no-op
`up` reused an earlier run's outside, peer and SSH probes (``evidence``), the evidence of each
path that rests on them says so, with the time of those probes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from kubeward.audit.model import AuditReport, Observations

Status = Literal["proven", "finding", "configured"]


@dataclass(frozen=True)
class PathSpec:
    name: str  # "operator -> sshd"
    src: str
    dst: str
    ports: tuple[int, ...]
    auth: str
    encryption: str
    firewall: str
    #: a check of this run's observations: (proven?, how and from which vantage)
    prove: Callable[[Observations], tuple[bool, str]]
    #: the probes of ``evidence.REUSED_PROBES`` the proof rests on (said when they were reused)
    reusable: tuple[str, ...] = ()


@dataclass(frozen=True)
class PathStatus:
    spec: PathSpec
    status: Status
    evidence: str


def _tls(obs: Observations, row: str, need_401: bool = False, need_mtls: bool = False) -> tuple[bool, str]:
    probes = [t for t in obs.tls if t.row == row]
    if not probes:
        return False, f"no TLS probe of {row} ran"
    ok = [t for t in probes if t.handshake == "ok" and t.chain_ok and t.san_ok and not t.legacy_tls_accepted
          and (not need_401 or t.http_status == 401) and (not need_mtls or t.client_cert_required)]
    what = "chain, SANs, no TLS 1.0/1.1" + (", anonymous 401" if need_401 else "") + (
        ", client certificate required" if need_mtls else "")
    return len(ok) == len(probes), f"TLS through SSH on {', '.join(sorted({t.target for t in probes}))}: {what}"


def _peer_open(obs: Observations, port: int) -> tuple[bool, str]:
    hits = [p for p in obs.ports if p.vantage == "peer" and p.port == port and p.state == "open"]
    srcs = sorted({p.source for p in hits})
    return bool(hits), f"peer connect from {', '.join(srcs) or 'no node'}"


def _both(*results: tuple[bool, str]) -> tuple[bool, str]:
    return all(ok for ok, _ in results), "; ".join(why for _, why in results)


def _ssh(obs: Observations) -> tuple[bool, str]:
    auth = [a for a in obs.ssh_auth if a.methods]
    ok = bool(auth) and all(a.methods == ("publickey",) for a in auth) and len(auth) == len(obs.local)
    return ok, f"outside (operator): sshd offers {sorted({m for a in auth for m in a.methods}) or 'nothing'}"


def _nodeport(obs: Observations) -> tuple[bool, str]:
    if obs.swept and not obs.sweep_error:
        return True, f"outside sweep of every TCP port of {len(obs.swept)} nodes (NodePorts open only to nodeport_sources)"
    return False, "the outside sweep did not run (kubeward audit without --no-sweep runs it)"


def _secrets(obs: Observations) -> tuple[bool, str]:
    if obs.kube is None or not obs.kube.secret_key:
        return False, "no Secret read from etcd"
    return obs.kube.secret_prefix.startswith(b"k8s:enc:"), f"{obs.kube.secret_key} read raw from etcd"


def _not_proven(why: str) -> Callable[[Observations], tuple[bool, str]]:
    return lambda obs: (False, why)


PATHS: tuple[PathSpec, ...] = (
    PathSpec("operator -> sshd", "operator", "sshd", (22,), "public key (ed25519) only", "SSH (AEAD, PQ hybrid kex)",
             "admin_cidrs", _ssh, ("ssh-auth",)),
    PathSpec("node -> API server", "nodes", "kube-apiserver", (6443,), "x509 client certificate / token; anonymous off",
             "TLS 1.2+", "nodes, pods", lambda o: _both(_peer_open(o, 6443), _tls(o, "kube-apiserver", True)),
             ("peer",)),
    PathSpec("API server -> kubelet", "kube-apiserver", "kubelet", (10250,),
             "apiserver-kubelet-client certificate, Webhook authz", "TLS 1.2+ (kubelet serving cert verified)",
             "nodes (control planes), pods", lambda o: _both(_peer_open(o, 10250), _tls(o, "kubelet", True)),
             ("peer",)),
    PathSpec("API server -> etcd", "kube-apiserver", "etcd", (2379,), "mTLS (etcd CA)", "TLS 1.2+",
             "control planes", lambda o: _tls(o, "etcd-client", need_mtls=True)),
    PathSpec("etcd -> etcd", "etcd", "etcd", (2380,), "mTLS (etcd CA)", "TLS 1.2+", "control planes",
             lambda o: _tls(o, "etcd-peer", need_mtls=True)),
    PathSpec("API server -> etcd (Secrets at rest)", "kube-apiserver", "etcd", (2379,), "-",
             "aescbc encryption provider", "-", _secrets),
    PathSpec("pod -> pod", "pods", "pods", (), "application", "none (plaintext on the private network)",
             "forward chain: pod CIDRs only",
             _not_proven("no pod traffic in the audit (`kubeward check` proves it)")),
    PathSpec("outside -> NodePort", "outside", "NodePort", (30000, 32767), "application", "application",
             "nodeport_sources, filtered before kube-proxy's DNAT", _nodeport),
)


def path_status(report: AuditReport, paths: tuple[PathSpec, ...] = PATHS) -> list[PathStatus]:
    out = []
    for spec in paths:
        lo, hi = (min(spec.ports), max(spec.ports)) if spec.ports else (0, -1)
        bad = [f for f in report.findings if f.port is not None and lo <= f.port <= hi
               and f.severity in ("critical", "high", "medium")]
        proven, why = spec.prove(report.observations)
        if report.observations.reused_from and spec.reusable:
            why += (f" ({', '.join(spec.reusable)} probe of {report.observations.reused_from}, reused: every node's "
                    "ruleset, sockets, routes and sshd unchanged since)")
        if bad:
            out.append(PathStatus(spec, "finding", "; ".join(sorted({f"{f.id} on {f.node}" for f in bad}))))
        else:
            out.append(PathStatus(spec, "proven" if proven else "configured", why))
    return out
