"""Judging an existing certificate against its row: ok, expiring, expired, missing or mismatch.

``assess_cert`` compares what is on disk (already parsed) with the ``DesiredCert`` and says why it
no longer fits: subject, SANs, key usages, CA flags, key type, the key pair, the signature of its
CA, and how long it is still valid. ``describe_cert`` extracts what ``pki status`` shows. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from ipaddress import IPv4Address, IPv6Address
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from kubeward.config import PkiConfig
from kubeward.pki.errors import PkiError
from kubeward.pki.issue import EKU_NAMES, KEY_USAGE_NAMES, parse_cert
from kubeward.pki.keys import PrivateKey, key_type_of, parse_private_key, public_key_der
from kubeward.pki.table import DesiredCert, SanValue, as_san

State = Literal["ok", "expiring", "expired", "missing", "mismatch"]
#: worst first: the state of a certificate with several findings is the worst of them
STATE_ORDER: tuple[State, ...] = ("missing", "mismatch", "expired", "expiring", "ok")


@dataclass(frozen=True)
class Assessment:
    state: State
    reasons: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.state == "ok"


def _worst(states: list[State]) -> State:
    return min(states, key=STATE_ORDER.index) if states else "ok"


def _texts(values: set[SanValue] | frozenset[SanValue]) -> str:
    return ", ".join(sorted(str(v) for v in values))


def cert_sans(cert: x509.Certificate) -> tuple[SanValue, ...]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    values: list[SanValue] = [as_san(v) for v in ext.get_values_for_type(x509.DNSName)]
    values += [v for v in ext.get_values_for_type(x509.IPAddress) if isinstance(v, IPv4Address | IPv6Address)]
    return tuple(values)


def cert_key_usages(cert: x509.Certificate) -> frozenset[str]:
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return frozenset()
    return frozenset(name for name in KEY_USAGE_NAMES if getattr(ku, name))


def cert_ext_key_usages(cert: x509.Certificate) -> frozenset[str]:
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return frozenset()
    return frozenset(EKU_NAMES.get(oid, oid.dotted_string) for oid in eku)


def cert_basic_constraints(cert: x509.Certificate) -> tuple[bool, int | None] | None:
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return None
    return bc.ca, bc.path_length


def _attr(name: x509.Name, oid: x509.ObjectIdentifier) -> tuple[str, ...]:
    return tuple(str(a.value) for a in name.get_attributes_for_oid(oid))


def cert_subject(cert: x509.Certificate) -> tuple[str, tuple[str, ...]]:
    """(common name, organisations) of a certificate's subject."""
    cns = _attr(cert.subject, NameOID.COMMON_NAME)
    return (cns[0] if cns else ""), _attr(cert.subject, NameOID.ORGANIZATION_NAME)


def verifies_against(cert: x509.Certificate, ca: x509.Certificate) -> str | None:
    """None when ca issued cert (names match and the signature verifies), else why not."""
    try:
        cert.verify_directly_issued_by(ca)
    except ValueError as exc:
        return f"issuer does not match its CA ({exc})"
    except InvalidSignature:
        return "signature does not verify against its CA"
    except TypeError as exc:
        return f"cannot be verified against its CA ({exc})"
    return None


@dataclass(frozen=True)
class StoredCert:
    """A certificate and key as found in the store; ``*_error`` when a file is there but unusable."""

    cert: x509.Certificate | None = None
    key: PrivateKey | None = None
    cert_error: str | None = None
    key_error: str | None = None


def parse_stored(desired: DesiredCert, files: Mapping[str, bytes]) -> StoredCert:
    """Parse a certificate's .crt and .key from the store's files (path -> bytes; absent: missing)."""
    cert = key = None
    cert_error = key_error = None
    if desired.cert_path in files:
        try:
            cert = parse_cert(files[desired.cert_path], desired.cert_path)
        except PkiError as exc:
            cert_error = str(exc)
    if desired.key_path in files:
        try:
            key = parse_private_key(files[desired.key_path], desired.key_path)
        except PkiError as exc:
            key_error = str(exc)
    return StoredCert(cert, key, cert_error, key_error)


def assess_cert(
    desired: DesiredCert, stored: StoredCert, ca: x509.Certificate | None, pki: PkiConfig, now: datetime
) -> Assessment:
    """How a stored certificate (and key) compares with its row; ca is the signing CA's certificate
    (for a CA row it is ignored: a CA must verify against itself)."""
    found: list[tuple[State, str]] = []
    for error in (stored.cert_error, stored.key_error):
        if error:
            found.append(("mismatch", error))
    if stored.cert is None and not stored.cert_error:
        found.append(("missing", f"{desired.cert_path} is missing"))
    if stored.key is None and not stored.key_error:
        found.append(("missing", f"{desired.key_path} is missing"))
    cert, key = stored.cert, stored.key
    if cert is None:
        return Assessment(_worst([s for s, _ in found]), tuple(r for _, r in found))

    def mismatch(text: str) -> None:
        found.append(("mismatch", text))

    if key is not None and public_key_der(cert.public_key()) != public_key_der(key):
        mismatch(f"{desired.key_path} is not the key of {desired.cert_path}")
    cn, orgs = cert_subject(cert)
    if cn != desired.common_name:
        mismatch(f"common name is {cn!r}, the table wants {desired.common_name!r}")
    if orgs != desired.organisation:
        mismatch(f"organisation is {list(orgs)}, the table wants {list(desired.organisation)}")
    have, want = set(cert_sans(cert)), set(desired.sans)
    if have != want:
        parts = []
        if want - have:
            parts.append(f"missing {_texts(want - have)}")
        if have - want:
            parts.append(f"no longer wanted {_texts(have - want)}")
        mismatch("SANs differ: " + "; ".join(parts))
    public = cert.public_key()
    is_rsa = isinstance(public, rsa.RSAPublicKey)
    want_ku = desired.row.key_usages(is_rsa)
    if cert_key_usages(cert) != want_ku:
        mismatch(f"key usages are {sorted(cert_key_usages(cert))}, the table wants {sorted(want_ku)}")
    want_eku = frozenset(desired.row.ext_key_usages)
    if cert_ext_key_usages(cert) != want_eku:
        mismatch(
            f"extended key usages are {sorted(cert_ext_key_usages(cert))}, the table wants {sorted(want_eku)}"
        )
    bc = cert_basic_constraints(cert)
    want_bc = (True, 0) if desired.is_signer else (False, None)
    if bc != want_bc:
        mismatch(f"basic constraints are {bc}, the table wants CA:{want_bc[0]} pathlen:{want_bc[1]}")
    if desired.is_ca:
        why = verifies_against(cert, cert)
        if why:
            mismatch(f"not a valid self-signed CA: {why}")
    else:
        kt = key_type_of(public)
        # like a root, an intermediate keeps its key type: what it signed must keep verifying
        if kt != pki.key_type and not desired.is_signer:
            mismatch(f"key is {kt or 'of an unknown type'}, pki.key_type is {pki.key_type}")
        if ca is not None:
            why = verifies_against(cert, ca)
            if why:
                mismatch(why)
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    if not_before > now:
        mismatch(f"not valid before {not_before:%Y-%m-%d %H:%M} UTC (is this machine's clock right?)")
    if not_after <= now:
        found.append(("expired", f"expired {not_after:%Y-%m-%d}"))
    elif not_after - now <= timedelta(days=pki.renew_before_days):
        days = (not_after - now).days
        found.append(("expiring", f"expires {not_after:%Y-%m-%d} (in {days} days, within "
                                  f"pki.renew_before_days {pki.renew_before_days})"))
    return Assessment(_worst([s for s, _ in found]), tuple(r for _, r in found))
