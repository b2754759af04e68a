"""Tokens: kubelet bootstrap tokens and the API server's static token file.

Bootstrap tokens are ``[a-z0-9]{6}.[a-z0-9]{16}``: a public id and a secret of 16 characters from
36 (about 82.7 bits, all the format allows), with an expiry. Static tokens, one line each of
``token,user,uid,"group1,group2"`` in kube-apiserver's --token-auth-file, are 32 hex characters
(128 bits). All randomness comes from ``secrets``. Pure otherwise.
"""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta

import yaml

from kubeward.pki.errors import PkiError

BOOTSTRAP_TOKEN_RE = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")
BOOTSTRAP_ALPHABET = string.ascii_lowercase + string.digits
#: the group kubelets join with a bootstrap token; RBAC lets it create and renew node CSRs
BOOTSTRAP_GROUP = "system:bootstrappers:kubeward:default-node-token"
#: the group of the per-node tokens ``kubeward up`` makes (auth-extra-groups); bound by kube.rbac
NODE_BOOTSTRAP_GROUP = "system:bootstrappers:kubeward"
DEFAULT_BOOTSTRAP_TTL = timedelta(hours=24)
#: a per-node join token lives only as long as a join takes; it is deleted once the node has its
#: client certificate, and the controller-manager's tokencleaner removes any that expire first
NODE_BOOTSTRAP_TTL = timedelta(minutes=15)
STATIC_TOKEN_RE = re.compile(r"^[0-9a-f]{32}$")
_FIELD_RE = re.compile(r'^[^,"\s]+$')


@dataclass(frozen=True)
class BootstrapToken:
    """A bootstrap token: ``id.secret``, valid until ``expires`` (timezone-aware)."""

    id: str
    secret: str
    expires: datetime

    def __post_init__(self) -> None:
        if not BOOTSTRAP_TOKEN_RE.match(f"{self.id}.{self.secret}"):
            raise PkiError("a bootstrap token is [a-z0-9]{6}.[a-z0-9]{16}; this one is not")
        if self.expires.tzinfo is None:
            raise PkiError("a bootstrap token's expiry must be timezone-aware")

    @property
    def token(self) -> str:
        return f"{self.id}.{self.secret}"

    def expired(self, now: datetime) -> bool:
        return now >= self.expires

    def __repr__(self) -> str:  # keep the secret out of logs and tracebacks
        return f"BootstrapToken(id={self.id!r}, secret='***', expires={self.expires.isoformat()!r})"


def _random_text(n: int) -> str:
    return "".join(secrets.choice(BOOTSTRAP_ALPHABET) for _ in range(n))


def new_bootstrap_token(now: datetime, ttl: timedelta = DEFAULT_BOOTSTRAP_TTL) -> BootstrapToken:
    """A fresh bootstrap token that expires ttl after now."""
    return BootstrapToken(_random_text(6), _random_text(16), now + ttl)


def parse_bootstrap_token(text: str, expires: datetime) -> BootstrapToken:
    m = BOOTSTRAP_TOKEN_RE.match(text.strip())
    if not m:
        raise PkiError("expected a bootstrap token like abcdef.0123456789abcdef")
    return BootstrapToken(m.group(1), m.group(2), expires)


def render_bootstrap_token_secret(token: BootstrapToken, groups: tuple[str, ...] = (BOOTSTRAP_GROUP,)) -> str:
    """The kube-system Secret that makes a bootstrap token valid, as YAML."""
    doc = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": f"bootstrap-token-{token.id}", "namespace": "kube-system"},
        "type": "bootstrap.kubernetes.io/token",
        "stringData": {
            "description": "kubeward kubelet bootstrap token",
            "token-id": token.id,
            "token-secret": token.secret,
            "expiration": token.expires.strftime("%Y-%m-%dT%H:%M:%SZ")
            if token.expires.utcoffset() == timedelta(0)
            else token.expires.isoformat(),
            "usage-bootstrap-authentication": "true",
            "usage-bootstrap-signing": "true",
            "auth-extra-groups": ",".join(groups),
        },
    }
    return yaml.safe_dump(doc, sort_keys=False)


@dataclass(frozen=True)
class StaticToken:
    """One line of kube-apiserver's --token-auth-file."""

    token: str
    user: str
    uid: str
    groups: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for what, value in (("token", self.token), ("user", self.user), ("uid", self.uid), *(
            ("group", g) for g in self.groups
        )):
            if not _FIELD_RE.match(value):
                raise PkiError(
                    f"static token {what} {value!r} must be non-empty, without commas, quotes or spaces"
                )

    def __repr__(self) -> str:
        return f"StaticToken(token='***', user={self.user!r}, uid={self.uid!r}, groups={self.groups!r})"


def new_static_token(user: str, uid: str, groups: tuple[str, ...] = ()) -> StaticToken:
    """A static token of 128 random bits, written as 32 hex characters."""
    return StaticToken(secrets.token_hex(16), user, uid, groups)


def render_static_token_file(tokens: list[StaticToken] | tuple[StaticToken, ...]) -> str:
    """The --token-auth-file text: ``token,user,uid,"group1,group2"``, one line per token."""
    lines = []
    for t in tokens:
        line = f"{t.token},{t.user},{t.uid}"
        if t.groups:
            line += ',"' + ",".join(t.groups) + '"'
        lines.append(line)
    return "".join(line + "\n" for line in lines)


def parse_static_token_file(text: str) -> tuple[StaticToken, ...]:
    """The tokens of a --token-auth-file; PkiError naming the line that is not one."""
    out = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        head, _, rest = line.partition(',"')
        parts = head.split(",")
        if len(parts) != 3 or (rest and not rest.endswith('"')):
            raise PkiError(f'line {n}: expected token,user,uid or token,user,uid,"group1,group2"')
        groups = tuple(g for g in rest[:-1].split(",") if g) if rest else ()
        try:
            out.append(StaticToken(parts[0], parts[1], parts[2], groups))
        except PkiError as exc:
            raise PkiError(f"line {n}: {exc}") from None
    return tuple(out)
