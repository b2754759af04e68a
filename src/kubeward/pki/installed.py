"""The certificates as installed on the nodes, compared with the state directory (pure).

``pki status`` reads, in one round-trip per host, every certificate a host should have: the files
the pki phase places (``.crt`` only), the client certificates embedded in the kubeconfigs kubeward
writes, and the kubelet's own certificates (``kubelet-client-current.pem``,
``kubelet-server-current.pem``). The script prints only ``CERTIFICATE`` blocks: a private key
never leaves a host, also where it shares a file or a kubeconfig with its certificate. With each
file comes its modification time, and with each service that reads it the start of its main
process, so a certificate that is on the host but not yet in use shows too.

Per file the verdict is: ``in sync`` (the state directory's certificate, in use), ``pending
rollout`` (another certificate than the state directory's: renewed locally, not yet rolled out),
``restart pending`` (the right file, but a running service that reads it started before it
changed), ``missing`` or ``unreadable``. The kubelets' certificates have no copy in the state
directory: they are judged by themselves (issuer, lifetime, where the kubelet's rotation stands).
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from kubeward.hostscripts.sections import parse_sections, render_sections
from kubeward.pki.check import cert_sans, verifies_against

#: the section scope of the script
SCOPE = "cert"
Source = Literal["file", "kubeconfig"]
NodeState = Literal["in sync", "pending rollout", "restart pending", "missing", "unreadable"]
KubeletState = Literal["ok", "rotation due", "overdue", "expiring", "expired", "missing", "mismatch", "unreadable"]
#: the kubelet's certificate manager rotates at a random point between 70 % and 90 % of the lifetime
ROTATE_FROM, ROTATE_BY = 0.7, 0.9
CLIENT_RENEWAL = "the kubelet, by a CSR the controller-manager approves"
SERVING_RENEWAL = "the kubelet, by a CSR `kubeward up` or `kubeward csr approve` approves (kubeward's serving policy)"
_PEM = "sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p'"


@dataclass(frozen=True)
class InstalledCert:
    """One certificate to read on a host.

    ``name``: the certificate's name (a row of the table, or kubelet-client / kubelet-serving);
    ``store_path``: its copy in the state directory (None for the kubelet's own); ``readers``: the
    systemd units that read it when they start."""

    path: str
    name: str
    store_path: str | None
    source: Source = "file"
    readers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Observed:
    """What a host said about one file and the units that read it."""

    exists: bool
    pem: bytes = b""
    mtime: int | None = None


def _key(i: int) -> str:
    return f"c{i}"


def render_installed_script(certs: Sequence[InstalledCert]) -> str:
    """One script printing, per certificate, ``absent`` or its mtime and only its CERTIFICATE
    block(s); then, per reading unit, its state and the start of its main process."""
    bodies: dict[str, str] = {}
    for i, c in enumerate(certs):
        p = shlex.quote(c.path)
        if c.source == "kubeconfig":
            extract = f"sed -n 's/^ *client-certificate-data: *//p' {p} | head -n 1 | base64 -d | {_PEM}"
        else:
            extract = f"{_PEM} {p}"
        bodies[_key(i)] = f"if [ -e {p} ]; then stat -Lc %Y {p}; {extract}; else echo absent; fi"
    for unit in dict.fromkeys(u for c in certs for u in c.readers):
        bodies[f"unit-{unit}"] = (f"systemctl show -p ActiveState -p ExecMainStartTimestamp --timestamp=unix "
                                  f"{shlex.quote(unit)}")
    return render_sections(SCOPE, bodies)


def parse_installed(text: str, certs: Sequence[InstalledCert]) -> tuple[dict[str, Observed], dict[str, int | None]]:
    """(path -> what was found, unit -> start of its main process when it runs, else None).
    ValueError when the script did not get to its end."""
    sections = parse_sections(text, SCOPE)
    if not all(_key(i) in sections for i in range(len(certs))):
        raise ValueError("the certificate script did not finish")
    found: dict[str, Observed] = {}
    for i, c in enumerate(certs):
        body = sections[_key(i)]
        first, _, rest = body.partition("\n")
        if first.strip() == "absent":
            found[c.path] = Observed(False)
        else:
            mtime = int(first) if first.strip().isdigit() else None
            found[c.path] = Observed(True, rest.strip().encode(), mtime)
    started: dict[str, int | None] = {}
    for key, body in sections.items():
        if key.startswith("unit-"):
            kv = dict(line.split("=", 1) for line in body.splitlines() if "=" in line)
            stamp = kv.get("ExecMainStartTimestamp", "").strip().lstrip("@")
            running = kv.get("ActiveState", "").strip() in ("active", "reloading")
            started[key.removeprefix("unit-")] = int(stamp) if running and stamp.isdigit() else None
    return found, started


def fingerprint(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


def _first_cert(pem: bytes) -> x509.Certificate | None:
    if not pem:
        return None
    try:
        return x509.load_pem_x509_certificates(pem)[0]
    except ValueError:
        return None


def _serial(cert: x509.Certificate) -> str:
    return f"{cert.serial_number:x}"


@dataclass(frozen=True)
class NodeCert:
    """One certificate file on one host against the state directory."""

    host: str
    name: str
    path: str
    state: NodeState
    reason: str
    serial: str = ""  # on the host
    store_serial: str = ""
    not_after: datetime | None = None  # of the one on the host

    @property
    def ok(self) -> bool:
        return self.state == "in sync"

    def to_dict(self) -> dict[str, object]:
        return {"host": self.host, "name": self.name, "path": self.path, "state": self.state,
                "reason": self.reason, "serial": self.serial, "store_serial": self.store_serial,
                "not_after": self.not_after.isoformat() if self.not_after else None}


def compare_installed(host: str, cert: InstalledCert, seen: Observed, store_pem: bytes | None,
                      started: Mapping[str, int | None]) -> NodeCert:
    """A certificate on ``host`` against the state directory's copy (``store_pem``)."""
    if not seen.exists:
        return NodeCert(host, cert.name, cert.path, "missing", "not on the host: `kubeward up` places it")
    got = _first_cert(seen.pem)
    if got is None:
        return NodeCert(host, cert.name, cert.path, "unreadable", "no PEM certificate in it")
    want = _first_cert(store_pem or b"")

    def verdict(state: NodeState, reason: str) -> NodeCert:
        return NodeCert(host, cert.name, cert.path, state, reason, _serial(got),
                        _serial(want) if want is not None else "", got.not_valid_after_utc)

    if want is None:
        return verdict("unreadable", "the state directory has no copy to compare with: "
                       "`kubeward pki status --local` says why")
    if fingerprint(got) != fingerprint(want):
        newer = want.not_valid_before_utc > got.not_valid_before_utc
        return verdict("pending rollout", (
            f"the host has serial {_serial(got)} (valid from {got.not_valid_before_utc:%Y-%m-%d %H:%M}), the state "
            f"directory {'a newer one' if newer else 'another one'}, serial {_serial(want)} (valid from "
            f"{want.not_valid_before_utc:%Y-%m-%d %H:%M}): `kubeward up` (or `kubeward pki renew --apply`) "
            "rolls it out"))
    stale = [u for u in cert.readers
             if seen.mtime is not None and (s := started.get(u)) is not None and s < seen.mtime]
    if stale:
        return verdict("restart pending", f"{', '.join(stale)} started before this file changed and still uses "
                       "the previous certificate: `kubeward up` restarts it, one node at a time")
    return verdict("in sync", "")


# ----- the kubelets' own certificates -------------------------------------------------------------


@dataclass(frozen=True)
class KubeletCert:
    """A kubelet's client or serving certificate, as found on its node."""

    host: str
    name: str  # kubelet-client or kubelet-serving
    path: str
    state: KubeletState
    renewal: str  # where the kubelet's rotation stands, in words
    renewed_by: str  # who renews it
    subject: str = ""
    issuer: str = ""
    sans: tuple[str, ...] = ()
    not_after: datetime | None = None
    days_left: int | None = None

    @property
    def ok(self) -> bool:
        return self.state in ("ok", "rotation due")

    def to_dict(self) -> dict[str, object]:
        return {"host": self.host, "name": self.name, "path": self.path, "state": self.state,
                "renewal": self.renewal, "renewed_by": self.renewed_by, "subject": self.subject, "issuer": self.issuer, "sans": list(self.sans),
                "not_after": self.not_after.isoformat() if self.not_after else None, "days_left": self.days_left}


def assess_kubelet_cert(host: str, cert: InstalledCert, seen: Observed, signer_pem: bytes | None, now: datetime,
                        renew_before: timedelta) -> KubeletCert:
    """Judge a kubelet certificate by itself: signed by the state directory's ``kubelet-signer``,
    and where it stands in its lifetime. The kubelet rotates it from 70 % of its lifetime (client
    certificates are approved by the controller-manager; serving ones by `kubeward up` or `kubeward
    csr approve`)."""
    serving = cert.name == "kubelet-serving"
    how = (SERVING_RENEWAL if serving else CLIENT_RENEWAL)
    if not seen.exists:
        return KubeletCert(host, cert.name, cert.path, "missing", "the kubelet has not joined yet: `kubeward up`"
                           if not serving else "no approved serving CSR yet: `kubeward csr approve` or `kubeward up`",
                           how)
    got = _first_cert(seen.pem)
    if got is None:
        return KubeletCert(host, cert.name, cert.path, "unreadable", "no PEM certificate in it", how)
    start, end = got.not_valid_before_utc, got.not_valid_after_utc
    life = end - start
    rotate_from, rotate_by = start + life * ROTATE_FROM, start + life * ROTATE_BY
    signer = _first_cert(signer_pem or b"")
    why_not = verifies_against(got, signer) if signer is not None else "the state directory has no kubelet-signer"
    state: KubeletState
    if why_not:
        state, renewal = "mismatch", f"not signed by the state directory's kubelet-signer ({why_not})"
    elif now >= end:
        state, renewal = "expired", "expired: an expired client certificate cannot ask for a new one; join again"
    elif end - now <= renew_before and now < rotate_from:
        state, renewal = "expiring", f"rotates from {rotate_from:%Y-%m-%d}"
    elif now < rotate_from:
        state, renewal = "ok", f"rotates from {rotate_from:%Y-%m-%d}"
    elif now < rotate_by:
        state, renewal = "rotation due", f"due since {rotate_from:%Y-%m-%d}"
    else:
        state, renewal = "overdue", (f"not rotated by {rotate_by:%Y-%m-%d}: see `kubeward csr list` and the "
                                     "kubelet's journal")
    return KubeletCert(host, cert.name, cert.path, state, renewal, how, got.subject.rfc4514_string(),
                       got.issuer.rfc4514_string(), tuple(str(s) for s in cert_sans(got)), end,
                       (end - now).days)


# ----- one host ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class HostCerts:
    """Everything ``pki status`` found on one host (or why it could not look)."""

    host: str
    files: tuple[NodeCert, ...] = ()
    kubelet: tuple[KubeletCert, ...] = ()
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and all(f.ok for f in self.files) and all(k.ok for k in self.kubelet)

    def to_dict(self) -> dict[str, object]:
        return {"host": self.host, "ok": self.ok, "error": self.error, "files": [f.to_dict() for f in self.files],
                "kubelet": [k.to_dict() for k in self.kubelet]}


def assess_host(host: str, certs: Sequence[InstalledCert], text: str, store_files: Mapping[str, bytes],
                signer_path: str, now: datetime, renew_before: timedelta) -> HostCerts:
    """The verdict on every certificate of ``host`` from its script's output."""
    try:
        found, started = parse_installed(text, certs)
    except ValueError as exc:
        return HostCerts(host, error=str(exc))
    files: list[NodeCert] = []
    kubelet: list[KubeletCert] = []
    for c in certs:
        if c.store_path is None:
            kubelet.append(assess_kubelet_cert(host, c, found[c.path], store_files.get(signer_path), now, renew_before))
        else:
            files.append(compare_installed(host, c, found[c.path], store_files.get(c.store_path), started))
    return HostCerts(host, tuple(files), tuple(kubelet))
