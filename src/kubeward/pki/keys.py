"""Private keys: generating them per ``pki.key_type``, PEM in and out, telling their type.

Pure: bytes in, keys out, and the reverse. ECDSA P-256 is the default; RSA keys use e=65537.
"""

from __future__ import annotations

from typing import Literal, get_args

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from kubeward.pki.errors import PkiError

KeyType = Literal["ecdsa-p256", "rsa-2048", "rsa-3072", "rsa-4096"]
KEY_TYPES: tuple[KeyType, ...] = get_args(KeyType)

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey


def new_private_key(key_type: KeyType) -> PrivateKey:
    """A fresh private key of the given type."""
    if key_type == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    bits = int(key_type.removeprefix("rsa-"))
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def key_type_of(key: PrivateKey | CertificatePublicKeyTypes) -> KeyType | None:
    """The ``pki.key_type`` spelling of a key, or None for a key kubeward would not make."""
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return "ecdsa-p256" if isinstance(key.curve, ec.SECP256R1) else None
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        name = f"rsa-{key.key_size}"
        for known in KEY_TYPES:
            if known == name:
                return known
    return None


def render_private_key(key: PrivateKey) -> bytes:
    """PKCS#8 PEM, unencrypted (the store protects it by file mode 0600)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def render_public_key(key: PublicKey) -> bytes:
    """SubjectPublicKeyInfo PEM, as kube-apiserver's --service-account-key-file reads it."""
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def public_key_der(key: PrivateKey | CertificatePublicKeyTypes) -> bytes:
    """The DER SubjectPublicKeyInfo of a key (of a private key: its public half), for comparing keys."""
    public = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) else key
    return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def parse_private_key(pem: bytes, what: str = "private key") -> PrivateKey:
    """A PEM private key (PKCS#8, SEC1 or PKCS#1); PkiError if it is not one kubeward can use."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise PkiError(f"{what} is not an unencrypted PEM private key ({exc})") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise PkiError(f"{what} is a {type(key).__name__}; kubeward uses ECDSA or RSA keys")
    return key


def parse_public_key(pem: bytes, what: str = "public key") -> PublicKey:
    """A PEM SubjectPublicKeyInfo; PkiError if it is not ECDSA or RSA."""
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise PkiError(f"{what} is not a PEM public key ({exc})") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise PkiError(f"{what} is a {type(key).__name__}; kubeward uses ECDSA or RSA keys")
    return key
