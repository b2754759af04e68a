"""The keys that encrypt Secrets at rest, kept in ``STATE_DIR/encryption-keys.json`` (0600).

The file holds the key list in the order the API servers' EncryptionConfiguration lists them: the
first one encrypts, every one decrypts. A key is generated once (32 random bytes, aescbc) and never
printed. ``kubeward secrets rotate-key`` walks the steps of :data:`ROTATION_STEPS`, saving the list
after each one, so an interrupted rotation resumes where it stopped.

Pure (``new_key`` draws its randomness unless given it); the file I/O is in
:mod:`kubeward.pki.store` (``read_keys``, ``write_keys``, ``ensure_keys``).
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass
from datetime import datetime

from kubeward.errors import KubewardError

FILE_NAME = "encryption-keys.json"
KEY_BYTES = 32


@dataclass(frozen=True)
class EncryptionKey:
    name: str
    secret: str  # base64 of KEY_BYTES bytes

    def __repr__(self) -> str:
        return f"EncryptionKey({self.name!r}, <secret>)"


@dataclass(frozen=True)
class KeyRing:
    keys: tuple[EncryptionKey, ...]
    #: a rotation under way: the key being rotated out and the step reached ("" when none)
    rotating_from: str = ""
    step: str = ""

    def pairs(self) -> tuple[tuple[str, str], ...]:
        return tuple((k.name, k.secret) for k in self.keys)


def new_key(now: datetime, random: bytes | None = None) -> EncryptionKey:
    raw = random if random is not None else secrets.token_bytes(KEY_BYTES)
    if len(raw) != KEY_BYTES:
        raise ValueError(f"an aescbc key is {KEY_BYTES} bytes")
    return EncryptionKey(f"key-{now:%Y%m%d%H%M%S}", base64.b64encode(raw).decode("ascii"))


def render_key_ring(ring: KeyRing) -> str:
    doc = {"keys": [{"name": k.name, "secret": k.secret} for k in ring.keys],
           "rotating_from": ring.rotating_from, "step": ring.step}
    return json.dumps(doc, indent=1)


def parse_key_ring(text: str, where: str) -> KeyRing:
    try:
        doc = json.loads(text)
        keys = tuple(EncryptionKey(str(k["name"]), str(k["secret"])) for k in doc["keys"])
        ring = KeyRing(keys, str(doc.get("rotating_from", "")), str(doc.get("step", "")))
    except (ValueError, KeyError, TypeError) as exc:
        raise KubewardError(f"{where}: cannot read the Secrets encryption keys ({exc}); restore it from a "
                            "backup: without it the API servers cannot decrypt Secrets") from exc
    if not keys:
        raise KubewardError(f"{where} lists no key; restore it from a backup")
    return ring


# ----- rotation, as data ----------------------------------------------------------------------------

#: add: the new key decrypts (second); promote: it encrypts (first); rewrite: every Secret is
#: written again through the API; drop: the old key is removed. Each ring change rolls out to the
#: API servers one at a time before the next step.
ROTATION_STEPS = ("add", "promote", "rewrite", "drop")


def rotation_add(ring: KeyRing, new: EncryptionKey) -> KeyRing:
    old = ring.keys[0]
    return KeyRing((old, new, *ring.keys[1:]), old.name, "add")


def rotation_promote(ring: KeyRing) -> KeyRing:
    old = next(k for k in ring.keys if k.name == ring.rotating_from)
    new = next(k for k in ring.keys if k.name != ring.rotating_from)
    rest = tuple(k for k in ring.keys if k.name not in (old.name, new.name))
    return KeyRing((new, old, *rest), ring.rotating_from, "promote")


def rotation_rewritten(ring: KeyRing) -> KeyRing:
    return KeyRing(ring.keys, ring.rotating_from, "rewrite")


def rotation_drop(ring: KeyRing) -> KeyRing:
    return KeyRing(tuple(k for k in ring.keys if k.name != ring.rotating_from), "", "")
