"""Deciding what to issue: the pure core of ``ensure_pki`` and ``pki status``.

``plan_refresh(config, files, now)`` gets the store's files as a mapping (relative path -> bytes),
walks the certificate table and decides, per certificate, to reuse it or to (re)issue it and why.
It returns the report and the files to write; ``store.ensure_pki`` does the reading and writing.
A CA that is re-issued re-issues every certificate it signed. ``pki_status`` reports the state of
each certificate without changing anything. Pure apart from fresh keys and serial numbers.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from cryptography import x509

from kubeward.config import ClusterConfig
from kubeward.pki.check import (
    Assessment,
    State,
    StoredCert,
    assess_cert,
    cert_sans,
    parse_stored,
)
from kubeward.pki.errors import PkiError
from kubeward.pki.issue import Issued, KeyPair, new_key_pair, sign_ca, sign_cert
from kubeward.pki.keys import PrivateKey, parse_private_key, parse_public_key, public_key_der
from kubeward.pki.table import (
    CA_NAMES,
    CERT_TABLE,
    RETIRED_ROWS,
    ROWS,
    SA_KEY,
    DesiredCert,
    desired_certs,
    expected_paths,
)

Action = Literal["issued", "reused", "reissued"]
Kind = Literal["ca", "cert", "key-pair"]
KEY_MODE = 0o600
CERT_MODE = 0o644
#: what the store may hold besides certificates and keys is not ours to call orphaned
MATERIAL_SUFFIXES = (".crt", ".key", ".pub")


@dataclass(frozen=True)
class ReportEntry:
    name: str
    kind: Kind
    action: Action
    reason: str
    path: str  # store path of the certificate (or of the private key, for the sa key pair)

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "kind": self.kind, "action": self.action, "reason": self.reason,
                "path": self.path}


@dataclass(frozen=True)
class PkiReport:
    """What ensure_pki did: one entry per certificate and key pair, plus files no row wants any more."""

    entries: tuple[ReportEntry, ...]
    orphaned: tuple[str, ...] = ()
    modes_fixed: tuple[str, ...] = ()

    @property
    def changed(self) -> tuple[ReportEntry, ...]:
        return tuple(e for e in self.entries if e.action != "reused")

    def action_of(self, name: str) -> Action:
        for e in self.entries:
            if e.name == name:
                return e.action
        raise KeyError(name)

    def to_dict(self) -> dict[str, object]:
        return {
            "entries": [e.to_dict() for e in self.entries],
            "issued": sum(e.action == "issued" for e in self.entries),
            "reissued": sum(e.action == "reissued" for e in self.entries),
            "reused": sum(e.action == "reused" for e in self.entries),
            "orphaned": list(self.orphaned),
            "modes_fixed": list(self.modes_fixed),
        }


@dataclass(frozen=True)
class FileWrite:
    path: str  # relative to the store
    data: bytes
    mode: int


@dataclass(frozen=True)
class Refresh:
    """The outcome of plan_refresh: the report and the files the store must write, in order."""

    report: PkiReport
    writes: tuple[FileWrite, ...]
    issued: Mapping[str, Issued] = field(default_factory=dict)  # every certificate, new or reused


def resolve_renew(
    config: ClusterConfig, names: Collection[str], *, all_leaves: bool = False, include_cas: bool = False
) -> frozenset[str]:
    """The certificate names a renewal request means. A name may be a certificate (etcd-server-cp-1)
    or a per-host row (etcd-server: every host's). CAs and the sa key pair only with include_cas."""
    desired = desired_certs(config)
    by_name = {d.name: d for d in desired}
    guarded = set(CA_NAMES) | {SA_KEY.name}
    chosen: set[str] = set()
    if all_leaves:
        chosen |= {d.name for d in desired if not d.is_signer}
        if include_cas:
            chosen |= guarded
    for name in names:
        if name in by_name or name == SA_KEY.name:
            chosen.add(name)
        elif name in ROWS:
            chosen |= {d.name for d in desired if d.row.name == name}
        elif row := next((r for r in RETIRED_ROWS if name == r or name.startswith(f"{r}-")), None):
            raise PkiError(f"{name}: not in the state directory: the kubelet renews it itself ({RETIRED_ROWS[row]}); "
                           "`kubeward pki status` shows where its rotation stands")
        else:
            single = [r.name for r in CERT_TABLE if r.per == "cluster"] + [SA_KEY.name]
            per_host = [f"{r.name}[-HOST]" for r in CERT_TABLE if r.per != "cluster"]
            raise PkiError(f"no certificate called {name!r}; known: {', '.join(single + per_host)}")
    refused = sorted(chosen & guarded)
    if refused and not include_cas:
        why = []
        if set(refused) & set(CA_NAMES):
            why.append("a new CA re-issues every certificate it signed and every host must get it")
        if SA_KEY.name in refused:
            why.append("renewing sa invalidates every service-account token")
        raise PkiError(f"{', '.join(refused)}: {'; '.join(why)}; add --include-cas if that is what you want")
    return frozenset(chosen)


def _ca_key_lost(stored: StoredCert) -> bool:
    return stored.cert is not None and stored.key is None and stored.key_error is None


def plan_refresh(
    config: ClusterConfig, files: Mapping[str, bytes], now: datetime, renew: Collection[str] = ()
) -> Refresh:
    """Reuse every certificate that still fits its row; issue or re-issue the rest, saying why.

    renew: names to re-issue even when they fit (see resolve_renew). A CA certificate whose key
    is missing is an error rather than a reason to start a new CA: every node trusts that CA.
    """
    pki = config.pki
    entries: list[ReportEntry] = []
    writes: list[FileWrite] = []
    signers: dict[str, Issued] = {}
    issued: dict[str, Issued] = {}
    new_cas: dict[str, Action] = {}

    for d in desired_certs(config):
        stored = parse_stored(d, files)
        reasons: list[str] = []
        if d.is_ca:
            if _ca_key_lost(stored) and d.name not in renew:
                raise PkiError(
                    f"{d.cert_path} exists but {d.key_path} is missing, so no certificate it signs can be "
                    f"issued; put {d.key_path} back (it stays on the operator's machine), or start a new "
                    f"{d.name} with `kubeward pki renew {d.name} --include-cas` (every node must then "
                    "get the new CA)"
                )
            assessment = assess_cert(d, stored, None, pki, now)
        else:
            assert d.ca is not None
            if d.ca in new_cas:
                reasons.append(f"its CA {d.ca} was {new_cas[d.ca]}")
            assessment = assess_cert(d, stored, signers[d.ca].cert, pki, now)
        reasons += assessment.reasons
        if d.name in renew:
            reasons.append("renewal requested")
        if not reasons and stored.cert is not None and stored.key is not None:
            kept = Issued(stored.cert, stored.key)
            entries.append(ReportEntry(d.name, "ca" if d.is_signer else "cert", "reused", "valid", d.cert_path))
        else:
            kept = sign_ca(d, pki, now) if d.is_ca else sign_cert(d, signers[d.ca or ""], pki, now)
            writes.append(FileWrite(d.key_path, kept.key_pem(), KEY_MODE))
            writes.append(FileWrite(d.cert_path, kept.cert_pem(), CERT_MODE))
            action: Action = "issued" if d.cert_path not in files else "reissued"
            if d.is_signer:
                new_cas[d.name] = action
            reason = "; ".join(reasons) if action == "reissued" else "new"
            entries.append(ReportEntry(d.name, "ca" if d.is_signer else "cert", action, reason, d.cert_path))
        issued[d.name] = kept
        if d.is_signer:
            signers[d.name] = kept

    sa_entry, sa_writes = _refresh_sa(config, files, SA_KEY.name in renew)
    entries.append(sa_entry)
    writes += sa_writes
    report = PkiReport(tuple(entries), orphaned=find_orphans(config, files.keys()))
    return Refresh(report, tuple(writes), issued)


def _refresh_sa(
    config: ClusterConfig, files: Mapping[str, bytes], renew: bool
) -> tuple[ReportEntry, list[FileWrite]]:
    key: PrivateKey | None = None
    reasons: list[str] = []
    if SA_KEY.key_path in files:
        try:
            key = parse_private_key(files[SA_KEY.key_path], SA_KEY.key_path)
        except PkiError as exc:
            reasons.append(str(exc))
    if renew:
        reasons.append("renewal requested")
    if key is None or reasons:
        pair = new_key_pair(config.pki)
        action: Action = "reissued" if SA_KEY.key_path in files else "issued"
        reason = "; ".join(reasons) if action == "reissued" else "new"
        entry = ReportEntry(SA_KEY.name, "key-pair", action, reason, SA_KEY.key_path)
        return entry, [FileWrite(SA_KEY.key_path, pair.key_pem(), KEY_MODE),
                       FileWrite(SA_KEY.public_path, pair.public_pem(), CERT_MODE)]
    pair = KeyPair(key)
    pub_ok = False
    if SA_KEY.public_path in files:
        try:
            pub = parse_public_key(files[SA_KEY.public_path], SA_KEY.public_path)
            pub_ok = public_key_der(pub) == public_key_der(key)
        except PkiError:
            pub_ok = False
    if pub_ok:
        return ReportEntry(SA_KEY.name, "key-pair", "reused", "valid", SA_KEY.key_path), []
    return (
        ReportEntry(SA_KEY.name, "key-pair", "reused",
                    f"{SA_KEY.public_path} re-derived from {SA_KEY.key_path}", SA_KEY.key_path),
        [FileWrite(SA_KEY.public_path, pair.public_pem(), CERT_MODE)],
    )


def find_orphans(config: ClusterConfig, present: Collection[str]) -> tuple[str, ...]:
    """Certificates and keys in the store that no row of the table wants (say, of a removed host)."""
    wanted = expected_paths(config)
    return tuple(sorted(p for p in present if p.endswith(MATERIAL_SUFFIXES) and p not in wanted))


# --- status ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CertStatus:
    """One line of ``pki status``."""

    name: str
    kind: Kind
    path: str
    subject: str
    issuer: str
    sans: tuple[str, ...]
    not_after: datetime | None
    days_left: int | None
    state: State
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name, "kind": self.kind, "path": self.path, "subject": self.subject,
            "issuer": self.issuer, "sans": list(self.sans),
            "not_after": self.not_after.isoformat() if self.not_after else None,
            "days_left": self.days_left, "state": self.state, "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class PkiStatus:
    certs: tuple[CertStatus, ...]
    orphaned: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return all(c.state == "ok" for c in self.certs)

    def to_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "certs": [c.to_dict() for c in self.certs], "orphaned": list(self.orphaned)}


def pki_status(config: ClusterConfig, files: Mapping[str, bytes], now: datetime) -> PkiStatus:
    """The state of every certificate and key pair of the table, changing nothing."""
    out: list[CertStatus] = []
    cas: dict[str, x509.Certificate] = {}
    for d in desired_certs(config):
        stored = parse_stored(d, files)
        ca = None if d.is_ca or d.ca is None else cas.get(d.ca)
        a = assess_cert(d, stored, ca, config.pki, now)
        if d.is_signer and stored.cert is not None:
            cas[d.name] = stored.cert
        if not d.is_ca and d.ca is not None and d.ca not in cas:
            a = Assessment(a.state if a.state == "missing" else "mismatch",
                           (*a.reasons, f"its CA {d.ca} is missing or unreadable"))
        out.append(_status_line(d, stored.cert, a, now))
    out.append(_sa_status(files))
    return PkiStatus(tuple(out), find_orphans(config, files.keys()))


def _status_line(d: DesiredCert, cert: x509.Certificate | None, a: Assessment, now: datetime) -> CertStatus:
    kind: Kind = "ca" if d.is_signer else "cert"
    if cert is None:
        return CertStatus(d.name, kind, d.cert_path, "", "", (), None, None, a.state, a.reasons)
    not_after = cert.not_valid_after_utc
    return CertStatus(
        d.name, kind, d.cert_path, cert.subject.rfc4514_string(), cert.issuer.rfc4514_string(),
        tuple(str(s) for s in cert_sans(cert)), not_after, (not_after - now).days, a.state, a.reasons,
    )


def _sa_status(files: Mapping[str, bytes]) -> CertStatus:
    state: State = "ok"
    reasons: list[str] = []
    key = None
    if SA_KEY.key_path not in files:
        state, reasons = "missing", [f"{SA_KEY.key_path} is missing"]
    else:
        try:
            key = parse_private_key(files[SA_KEY.key_path], SA_KEY.key_path)
        except PkiError as exc:
            state, reasons = "mismatch", [str(exc)]
    if key is not None:
        try:
            pub = parse_public_key(files.get(SA_KEY.public_path, b""), SA_KEY.public_path)
            if public_key_der(pub) != public_key_der(key):
                why = f"{SA_KEY.public_path} is not the public half of {SA_KEY.key_path}"
                state, reasons = "mismatch", [why]
        except PkiError as exc:
            state, reasons = "mismatch", [str(exc)]
    return CertStatus(SA_KEY.name, "key-pair", SA_KEY.key_path, "", "", (), None, None, state, tuple(reasons))
