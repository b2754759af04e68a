"""What the audit observes (filled by ``probe``) and what it concludes (filled by ``evaluate``).

Plain data, JSON-serialisable: the ``--output json`` schema is ``AuditReport.to_dict()`` (documented
in docs/audit.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from kubeward.audit.sampling import PeerPlan

if TYPE_CHECKING:
    from kubeward.audit.kube_api import KubeObservation

Severity = Literal["critical", "high", "medium", "low", "info"]
SEVERITIES: tuple[Severity, ...] = ("critical", "high", "medium", "low", "info")
Vantage = Literal["outside", "peer", "local"]
EXIT_FINDINGS = 1
EXIT_INCOMPLETE = 3


@dataclass(frozen=True)
class Listener:
    protocol: str  # tcp | udp
    address: str  # bind address, "*" or "0.0.0.0" or "::" for all
    port: int
    process: str


@dataclass(frozen=True)
class FileStat:
    path: str
    owner: str
    group: str
    mode: int
    sha256: str


@dataclass(frozen=True)
class SshdContext:
    """sshd's effective settings for one connection context (``sshd -T -C spec``)."""

    spec: str  # "user=root,host=...,addr=..."
    source: str  # the Match block that made kubeward ask about this context
    settings: dict[str, str]


@dataclass(frozen=True)
class PrivateKeyFile:
    """A file on a node that holds a private key, judged by what it is, wherever it is."""

    path: str
    owner: str
    group: str
    mode: int
    fingerprints: tuple[str, ...]  # "spki:SHA256-OF-DER-PUBLIC-KEY" or "ssh:SHA256-OF-SSH-PUBLIC-BLOB"
    marker: bool  # the file says "PRIVATE KEY" (else it was found by name or as kubeconfig key data)


@dataclass(frozen=True)
class AuthorizedKey:
    """One key line of an authorized_keys file sshd would read for ``user``."""

    user: str
    path: str
    line: int
    key_type: str
    blob: str  # base64 as written
    options: str
    owner: str = ""
    mode: int = 0


@dataclass(frozen=True)
class ConfigFile:
    """A configuration file a running component reads, as the node had it (secret values redacted)."""

    flag: str  # the flag that names it: config, config-file, encryption-provider-config
    path: str
    text: str


@dataclass(frozen=True)
class RunningComponent:
    """A Kubernetes or etcd process as it really runs: /proc/PID/cmdline, ETCD_* environment,
    ``/proc/PID/exe --version`` and the configuration files its flags name."""

    name: str  # kube-apiserver, kube-controller-manager, kube-scheduler, etcd, kubelet, kube-proxy
    pid: int
    args: tuple[str, ...]
    version: str = ""  # as the binary printed it ("Kubernetes v1.20.2", "etcd Version: 3.4.23"), "" if not
    env: tuple[str, ...] = ()
    configs: tuple[ConfigFile, ...] = ()


@dataclass
class LocalObservation:
    """What a node says about itself (one round-trip; a second only for sshd Match contexts)."""

    listeners: list[Listener] = field(default_factory=list)
    sshd: dict[str, str] = field(default_factory=dict)
    sshd_files: dict[str, str] = field(default_factory=dict)  # every file sshd reads -> its text
    sshd_contexts: list[SshdContext] = field(default_factory=list)
    users: dict[str, tuple[int, int, str]] = field(default_factory=dict)  # name -> (uid, gid, home)
    groups: dict[str, tuple[int, tuple[str, ...]]] = field(default_factory=dict)  # name -> (gid, members)
    authorized_keys: list[AuthorizedKey] = field(default_factory=list)
    private_keys: list[PrivateKeyFile] = field(default_factory=list)
    #: what could not be observed on the node, and why: the proof is incomplete
    gaps: list[tuple[str, str]] = field(default_factory=list)  # (check, reason)
    files: list[FileStat] = field(default_factory=list)
    firewall_live_sha: str = ""  # sha256 of `nft -s list table inet kubeward`, "" when absent
    firewall_recorded_sha: str = ""  # what kubeward recorded after its last apply
    firewall_persisted_sha: str = ""  # sha256 of the ruleset file kubeward persisted
    components: list[RunningComponent] = field(default_factory=list)
    #: path -> not_after (ISO 8601) of certificates read on the node (the kubelet's client certificate)
    cert_expiry: dict[str, str] = field(default_factory=dict)
    #: digests of what the outside, peer and SSH probes depend on (ruleset, sockets, net, sshd,
    #: sshd-bin): a no-op `up` may reuse earlier live probes only while none changed (``evidence``)
    state: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PortProbe:
    vantage: Vantage
    source: str  # the probing node's name, or "operator"
    source_address: str
    target: str  # node name
    address: str
    port: int
    protocol: str
    state: str  # open | closed | filtered (tcp); open | closed | open|filtered (udp)


@dataclass(frozen=True)
class TlsProbe:
    target: str
    port: int
    row: str  # matrix key
    handshake: str  # "ok" or the error
    legacy_tls_accepted: str  # "" when TLS 1.0/1.1 were refused, else the version accepted
    chain_ok: bool
    chain_error: str
    expected_ca: str  # store name of the CA the chain must lead to
    san_ok: bool
    sans: tuple[str, ...]
    client_cert_required: bool | None  # None: not determined
    http_status: int | None  # anonymous request's status, when HTTP
    http_path: str = ""
    not_after: str = ""  # the served certificate's expiry, ISO 8601 UTC


@dataclass(frozen=True)
class SshAuthProbe:
    target: str
    methods: tuple[str, ...]  # what sshd offers to an unauthenticated client
    error: str = ""


@dataclass(frozen=True)
class Incomplete:
    """A vantage point or check that could not run: what it would have proven is not proven."""

    node: str
    check: str  # local | outside | peer | tls | ssh-auth | sshd | keys | authorized-keys | ...
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Observations:
    local: dict[str, LocalObservation] = field(default_factory=dict)
    ports: list[PortProbe] = field(default_factory=list)
    tls: list[TlsProbe] = field(default_factory=list)
    ssh_auth: list[SshAuthProbe] = field(default_factory=list)
    unreachable: dict[str, str] = field(default_factory=dict)
    incomplete: list[Incomplete] = field(default_factory=list)
    operator_address: str = ""
    #: node -> TCP ports the outside sweep covered beyond the candidates (only answers are in ports)
    swept: dict[str, int] = field(default_factory=dict)
    sweep_error: str = ""  # why the outside sweep could not run, "" when it did
    #: which nodes the peer scan probed from, and why (a sample per role pair, or the full mesh)
    peer_plan: PeerPlan | None = None
    #: what the Kubernetes API and etcd said (None: Kubernetes is off, or the probe could not run)
    kube: KubeObservation | None = None
    #: wall-clock seconds of each probe (local, outside, peer, tls, ssh-auth, kube-api, recheck, sweep)
    seconds: dict[str, float] = field(default_factory=dict)
    #: (name, not_after ISO 8601) of every certificate in the state directory
    state_certs: list[tuple[str, str]] = field(default_factory=list)
    #: when the outside, peer and SSH probes are an earlier run's (``evidence``): that run's time
    #: (ISO 8601), else ""; ``reuse`` says in one sentence whether they were reused and why
    reused_from: str = ""
    reuse: str = ""

    def could_not(self, node: str, check: str, reason: str) -> None:
        self.incomplete.append(Incomplete(node, check, reason))


@dataclass(frozen=True)
class Finding:
    id: str
    severity: Severity
    node: str
    title: str
    observed: str
    fix: str
    port: int | None = None
    protocol: str | None = None
    vantage: str | None = None
    cis: str = ""  # the CIS Kubernetes Benchmark id, for component checks

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class AuditReport:
    findings: list[Finding]
    observations: Observations
    nodes: list[dict[str, str]]  # name, role, address, private_address
    seconds: float = 0.0
    checks_run: int = 0
    #: checks and vantage points that could not run (probes and evaluation): "not proven"
    incomplete: list[Incomplete] = field(default_factory=list)
    #: component checks that do not apply to the running version (kube_checks.Skipped)
    skipped: list[Any] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.incomplete

    def counts(self) -> dict[str, int]:
        return {s: sum(f.severity == s for f in self.findings) for s in SEVERITIES}

    def failed(self, fail_on: Severity) -> bool:
        limit = SEVERITIES.index(fail_on)
        return any(SEVERITIES.index(f.severity) <= limit for f in self.findings)

    def exit_code(self, fail_on: Severity) -> int:
        """1: a finding at ``fail_on`` or above (a proven problem wins); 3: nothing found, but some
        check could not run, so the absence of findings proves nothing there; 0: proven clean."""
        if self.failed(fail_on):
            return EXIT_FINDINGS
        return EXIT_INCOMPLETE if self.incomplete else 0

    def to_dict(self) -> dict[str, Any]:
        o = self.observations
        return {
            "schema": "kubeward.audit/v1",
            "seconds": round(self.seconds, 3),
            "checks_run": self.checks_run,
            "counts": self.counts(),
            "nodes": self.nodes,
            "unreachable": o.unreachable,
            "proof": "complete" if self.complete else "incomplete",
            "incomplete": [i.to_dict() for i in self.incomplete],
            "skipped": [x.to_dict() for x in self.skipped],
            "operator_address": o.operator_address,
            "findings": [f.to_dict() for f in self.findings],
            "probes": {
                "ports": [asdict(p) for p in o.ports],
                "tls": [asdict(t) for t in o.tls],
                "ssh_auth": [asdict(s) for s in o.ssh_auth],
                "listeners": {n: [asdict(x) for x in lo.listeners] for n, lo in o.local.items()},
                "sshd_contexts": {n: [{"spec": c.spec, "source": c.source} for c in lo.sshd_contexts]
                                  for n, lo in o.local.items()},
                "private_keys": {n: [{**asdict(k), "mode": f"{k.mode:04o}"} for k in lo.private_keys]
                                 for n, lo in o.local.items()},
                "authorized_keys": {n: [{"user": k.user, "path": k.path, "line": k.line, "key_type": k.key_type}
                                        for k in lo.authorized_keys] for n, lo in o.local.items()},
                "components": {n: [{"name": c.name, "pid": c.pid, "version": c.version, "args": list(c.args),
                                    "configs": [c2.path for c2 in c.configs]} for c in lo.components]
                               for n, lo in o.local.items() if lo.components},
                "kube": None if o.kube is None else {
                    "via": o.kube.via,
                    "anonymous": [asdict(r) for r in o.kube.anonymous],
                    "bindings": len(o.kube.bindings),
                    "bootstrap_tokens": o.kube.bootstrap_tokens,
                    "csrs": [{"name": c.name, "signer": c.signer, "username": c.username, "state": c.state}
                             for c in o.kube.csrs],
                    "secret_key": o.kube.secret_key,
                    "secret_encrypted": o.kube.secret_prefix.startswith(b"k8s:enc:"),
                },
                "seconds": o.seconds,
                "swept": o.swept,
                "peer_sampling": o.peer_plan.to_dict() if o.peer_plan else None,
                "reuse": {"reused": bool(o.reused_from), "proved_at": o.reused_from or None, "note": o.reuse}
                if o.reuse else None,
            },
        }
