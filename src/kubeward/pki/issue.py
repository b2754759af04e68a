"""Issuing: pure constructors for CAs, leaf certificates and the service-account key pair.

``new_ca(row, config, now)`` and ``new_cert(row, ca, config, host, now)`` take a row of the table;
``sign_ca`` and ``sign_cert`` take a ``DesiredCert`` (a row already bound to the cluster). Nothing
here reads or writes files: results are ``Issued`` values that render to PEM.

CAs: basicConstraints CA:true pathlen:0 (critical), keyUsage keyCertSign+cRLSign (critical),
subject and authority key identifiers. Leaves: CA:false, digitalSignature (+keyEncipherment for
RSA keys), the row's extended key usages, SANs when the row has any, and the authority key
identifier of the signing CA. Serial numbers are 128 random bits; signatures use SHA-256.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubeward.config import ClusterConfig, HostConfig, PkiConfig
from kubeward.pki.errors import PkiError
from kubeward.pki.keys import (
    PrivateKey,
    PublicKey,
    new_private_key,
    render_private_key,
    render_public_key,
)
from kubeward.pki.table import CertRow, DesiredCert, KeyUsageName, SanValue, desire

#: certificates start this long before "now", so a host whose clock is a little behind accepts them
BACKDATE = timedelta(minutes=5)

EKU_OIDS: dict[str, x509.ObjectIdentifier] = {
    "serverAuth": ExtendedKeyUsageOID.SERVER_AUTH,
    "clientAuth": ExtendedKeyUsageOID.CLIENT_AUTH,
}
EKU_NAMES: dict[x509.ObjectIdentifier, str] = {oid: name for name, oid in EKU_OIDS.items()}
KEY_USAGE_NAMES: tuple[KeyUsageName, ...] = (
    "digital_signature",
    "key_encipherment",
    "key_cert_sign",
    "crl_sign",
)


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: PrivateKey

    def cert_pem(self) -> bytes:
        return render_cert(self.cert)

    def key_pem(self) -> bytes:
        return render_private_key(self.key)


@dataclass(frozen=True)
class KeyPair:
    """A bare key pair (the service-account signing key)."""

    key: PrivateKey

    @property
    def public(self) -> PublicKey:
        return self.key.public_key()

    def key_pem(self) -> bytes:
        return render_private_key(self.key)

    def public_pem(self) -> bytes:
        return render_public_key(self.public)


def render_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.PEM)


def parse_cert(pem: bytes, what: str = "certificate") -> x509.Certificate:
    """One PEM certificate; PkiError when the bytes are not one."""
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise PkiError(f"{what} is not a PEM certificate ({exc})") from exc


def new_serial() -> int:
    """A random positive 128-bit serial number."""
    return secrets.randbits(128) or 1


def subject_name(common_name: str, organisation: tuple[str, ...] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organisation]
    return x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def general_names(sans: tuple[SanValue, ...]) -> list[x509.GeneralName]:
    return [x509.DNSName(v) if isinstance(v, str) else x509.IPAddress(v) for v in sans]


def key_usage(names: frozenset[KeyUsageName]) -> x509.KeyUsage:
    flags = {name: name in names for name in KEY_USAGE_NAMES}
    return x509.KeyUsage(
        content_commitment=False, data_encipherment=False, key_agreement=False,
        encipher_only=False, decipher_only=False, **flags,
    )


def _check_aware(now: datetime) -> None:
    if now.tzinfo is None:
        raise PkiError("'now' must be timezone-aware (datetime.now(UTC)); kubeward bug")


def sign_ca(desired: DesiredCert, pki: PkiConfig, now: datetime, key: PrivateKey | None = None) -> Issued:
    """A self-signed CA certificate for a CA row, valid pki.ca_validity_days from now."""
    if not desired.is_ca:
        raise PkiError(f"{desired.name} is not a CA row; use sign_cert (kubeward bug)")
    _check_aware(now)
    key = key or new_private_key(pki.key_type)
    name = subject_name(desired.common_name, desired.organisation)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(new_serial())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + timedelta(days=pki.ca_validity_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(key_usage(desired.row.key_usages(rsa=False)), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
    )
    return Issued(builder.sign(key, hashes.SHA256()), key)


def sign_cert(
    desired: DesiredCert, ca: Issued, pki: PkiConfig, now: datetime, key: PrivateKey | None = None
) -> Issued:
    """A leaf (or an intermediate CA) certificate signed by ca, valid pki.cert_validity_days
    (intermediates: pki.ca_validity_days), never beyond the CA's end."""
    if desired.is_ca:
        raise PkiError(f"{desired.name} is a CA row; use sign_ca (kubeward bug)")
    _check_aware(now)
    key = key or new_private_key(pki.key_type)
    days = pki.ca_validity_days if desired.is_signer else pki.cert_validity_days
    not_after = min(now + timedelta(days=days), ca.cert.not_valid_after_utc)
    try:
        ca_ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski)
    except x509.ExtensionNotFound:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key())
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject_name(desired.common_name, desired.organisation))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(new_serial())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0) if desired.is_signer
                       else x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage(desired.row.key_usages(isinstance(key, rsa.RSAPrivateKey))), critical=True)
        .add_extension(aki, critical=False)
    )
    if desired.row.ext_key_usages:  # an intermediate has none: it may sign client and server certificates
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([EKU_OIDS[e] for e in desired.row.ext_key_usages]), False)
    if desired.is_signer:
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    if desired.sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(general_names(desired.sans)), False)
    return Issued(builder.sign(ca.key, hashes.SHA256()), key)


def new_ca(row: CertRow, config: ClusterConfig, now: datetime) -> Issued:
    """A new self-signed CA for a CA row of the table."""
    return sign_ca(desire(row, config), config.pki, now)


def new_cert(
    row: CertRow, ca: Issued, config: ClusterConfig, host: HostConfig | None, now: datetime
) -> Issued:
    """A new leaf certificate for a row of the table (and the host, for per-host rows)."""
    return sign_cert(desire(row, config, host), ca, config.pki, now)


def new_key_pair(pki: PkiConfig) -> KeyPair:
    """A new service-account signing key of pki.key_type."""
    return KeyPair(new_private_key(pki.key_type))
