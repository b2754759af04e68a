"""Host-key trust: kubeward's own known_hosts file and the verdict on a presented key.

Pure except ``read_known_hosts`` / ``write_known_hosts``. The file is OpenSSH-compatible
(``[addr]:port keytype base64 comment``), so ``ssh -o UserKnownHostsFile=STATE/known_hosts`` works
with it too.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kubeward.fileutil import write_private


@dataclass(frozen=True)
class HostKey:
    """An OpenSSH public key: type and base64 blob (comment dropped)."""

    type: str
    blob: str

    @classmethod
    def parse(cls, line: str) -> HostKey:
        parts = line.split()
        if len(parts) < 2:
            raise ValueError(f"not an OpenSSH public key: {line!r}")
        base64.b64decode(parts[1], validate=True)
        return cls(parts[0], parts[1])

    @property
    def fingerprint(self) -> str:
        """OpenSSH-style SHA256 fingerprint, e.g. ``SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8``."""
        digest = hashlib.sha256(base64.b64decode(self.blob)).digest()
        return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")

    def line(self) -> str:
        return f"{self.type} {self.blob}"


def host_pattern(address: str, port: int) -> str:
    return address if port == 22 else f"[{address}]:{port}"


@dataclass(frozen=True)
class KnownHost:
    pattern: str
    key: HostKey
    comment: str = ""


def parse_known_hosts(text: str) -> list[KnownHost]:
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or line.startswith("@"):
            continue
        parts = line.split(None, 3)
        if len(parts) < 3:
            continue
        try:
            key = HostKey.parse(f"{parts[1]} {parts[2]}")
        except ValueError:
            continue
        for pattern in parts[0].split(","):
            out.append(KnownHost(pattern, key, parts[3] if len(parts) > 3 else ""))
    return out


def render_known_hosts(entries: list[KnownHost]) -> str:
    header = "# kubeward known_hosts: host keys kubeward trusts (OpenSSH format). Edit with `kubeward trust`.\n"
    return header + "".join(f"{e.pattern} {e.key.line()} {e.comment}".rstrip() + "\n" for e in entries)


Verdict = Literal["trusted", "pinned", "unknown", "changed", "pin-mismatch"]


@dataclass(frozen=True)
class TrustDecision:
    verdict: Verdict
    presented: HostKey
    expected: HostKey | None = None  # the pin or the recorded key, when there is one

    @property
    def ok(self) -> bool:
        return self.verdict in ("trusted", "pinned")


def decide(
    presented: HostKey, pattern: str, pin: HostKey | None, known: list[KnownHost]
) -> TrustDecision:
    """Whether a presented host key may be used.

    A pin (cluster.yml ``host_key``) wins over the known_hosts file; a recorded key of the same type
    that differs is a *changed* key; no key of that type on record is *unknown*.
    """
    if pin is not None:
        if presented == pin:
            return TrustDecision("pinned", presented, pin)
        return TrustDecision("pin-mismatch", presented, pin)
    same_host = [k for k in known if k.pattern == pattern]
    if any(k.key == presented for k in same_host):
        return TrustDecision("trusted", presented, presented)
    same_type = [k for k in same_host if k.key.type == presented.type]
    if same_type:
        return TrustDecision("changed", presented, same_type[0].key)
    return TrustDecision("unknown", presented, None)


def read_known_hosts(path: Path) -> list[KnownHost]:
    try:
        return parse_known_hosts(path.read_text())
    except FileNotFoundError:
        return []


def write_known_hosts(path: Path, entries: list[KnownHost]) -> None:
    """Atomically replace the file (0600, in a 0700 directory)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_private(path, render_known_hosts(entries))
