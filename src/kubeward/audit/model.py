"""What the audit observes (filled by ``probe``) and what it concludes (filled by ``evaluate``).

Plain data, JSON-serialisable: the ``--output json`` schema is ``AuditReport.to_dict()`` (documented
in docs/audit.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Severity = Literal["critical", "high", "medium", "low", "info"]
SEVERITIES: tuple[Severity, ...] = ("critical", "high", "medium", "low", "info")
Vantage = Literal["outside", "peer", "local"]


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


@dataclass
class LocalObservation:
    """What a node says about itself (one round-trip)."""

    listeners: list[Listener] = field(default_factory=list)
    sshd: dict[str, str] = field(default_factory=dict)
    files: list[FileStat] = field(default_factory=list)
    firewall_live_sha: str = ""  # sha256 of `nft -s list table inet kubeward`, "" when absent
    firewall_recorded_sha: str = ""  # what kubeward recorded after its last apply
    firewall_persisted_sha: str = ""  # sha256 of the ruleset file kubeward persisted


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


@dataclass(frozen=True)
class SshAuthProbe:
    target: str
    methods: tuple[str, ...]  # what sshd offers to an unauthenticated client
    error: str = ""


@dataclass
class Observations:
    local: dict[str, LocalObservation] = field(default_factory=dict)
    ports: list[PortProbe] = field(default_factory=list)
    tls: list[TlsProbe] = field(default_factory=list)
    ssh_auth: list[SshAuthProbe] = field(default_factory=list)
    unreachable: dict[str, str] = field(default_factory=dict)
    operator_address: str = ""
    #: node -> TCP ports the outside sweep covered beyond the candidates (only answers are in ports)
    swept: dict[str, int] = field(default_factory=dict)
    sweep_error: str = ""  # why the outside sweep could not run, "" when it did


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class AuditReport:
    findings: list[Finding]
    observations: Observations
    nodes: list[dict[str, str]]  # name, role, address, private_address
    seconds: float = 0.0
    checks_run: int = 0

    def counts(self) -> dict[str, int]:
        return {s: sum(f.severity == s for f in self.findings) for s in SEVERITIES}

    def failed(self, fail_on: Severity) -> bool:
        limit = SEVERITIES.index(fail_on)
        return any(SEVERITIES.index(f.severity) <= limit for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        o = self.observations
        return {
            "schema": "kubeward.audit/v1",
            "seconds": round(self.seconds, 3),
            "checks_run": self.checks_run,
            "counts": self.counts(),
            "nodes": self.nodes,
            "unreachable": o.unreachable,
            "operator_address": o.operator_address,
            "findings": [f.to_dict() for f in self.findings],
            "probes": {
                "ports": [asdict(p) for p in o.ports],
                "tls": [asdict(t) for t in o.tls],
                "ssh_auth": [asdict(s) for s in o.ssh_auth],
                "listeners": {n: [asdict(x) for x in lo.listeners] for n, lo in o.local.items()},
                "swept": o.swept,
            },
        }
