"""What sshd may allow, judged for every connection context that can apply (pure).

``sshd -T`` alone prints the global context: settings inside ``Match`` blocks only show with
``sshd -T -C user=...,host=...,addr=...``. The contexts worth asking about are derived from the
Match blocks themselves (a witness value for each criterion), crossed with the users that matter.
The settings that can grant a login are judged against an allow-list of what kubeward expects.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass

from kubeward.ops.sshd import ED25519_ALGS, MatchBlock

#: every sshd -T setting that can grant (or widen) a login, and the values kubeward accepts (lower case).
#: An option missing from an older sshd's output is not judged.
SSHD_ALLOWED: dict[str, frozenset[str]] = {
    "passwordauthentication": frozenset({"no"}),
    "permitrootlogin": frozenset({"no"}),
    "kbdinteractiveauthentication": frozenset({"no"}),
    "challengeresponseauthentication": frozenset({"no"}),
    "permitemptypasswords": frozenset({"no"}),
    "pubkeyauthentication": frozenset({"yes"}),
    "hostbasedauthentication": frozenset({"no"}),
    "ignorerhosts": frozenset({"yes"}),
    "gssapiauthentication": frozenset({"no"}),
    "kerberosauthentication": frozenset({"no"}),
    "authenticationmethods": frozenset({"publickey"}),
    "trustedusercakeys": frozenset({"none"}),
    "authorizedkeysfile": frozenset({".ssh/authorized_keys", ".ssh/authorized_keys .ssh/authorized_keys2"}),
    "authorizedkeyscommand": frozenset({"none"}),
    "authorizedprincipalsfile": frozenset({"none"}),
    "authorizedprincipalscommand": frozenset({"none"}),
    "permituserenvironment": frozenset({"no"}),
    "strictmodes": frozenset({"yes"}),
    "x11forwarding": frozenset({"no"}),
    "allowagentforwarding": frozenset({"no"}),
    "allowstreamlocalforwarding": frozenset({"no"}),
    "permittunnel": frozenset({"no"}),
    "gatewayports": frozenset({"no"}),
}
#: list-valued settings: every element must be in the set
SSHD_ALLOWED_LISTS: dict[str, frozenset[str]] = {
    "pubkeyacceptedalgorithms": frozenset(ED25519_ALGS),
    "casignaturealgorithms": frozenset(),  # judged only when TrustedUserCAKeys is set (it is not allowed)
}
MAX_CONTEXTS = 96


def sshd_deviations(settings: dict[str, str]) -> list[tuple[str, str, str]]:
    """(option, observed, expected) for each access-granting setting outside the allow-list."""
    out = []
    for k, allowed in SSHD_ALLOWED.items():
        got = settings.get(k)
        if got is not None and got.lower() not in allowed:
            out.append((k, got, " or ".join(sorted(allowed))))
    got = settings.get("pubkeyacceptedalgorithms")
    if got is not None:
        extra = sorted(set(got.lower().split(",")) - SSHD_ALLOWED_LISTS["pubkeyacceptedalgorithms"] - {""})
        if extra:
            out.append(("pubkeyacceptedalgorithms", ",".join(extra), ",".join(ED25519_ALGS)))
    return out


@dataclass(frozen=True)
class ContextDefaults:
    """Where kubeward's own connections come from, used for criteria a Match block does not name."""

    users: tuple[str, ...]  # root, the admin, the SSH user
    addr: str  # the operator's address
    laddr: str  # the node's public address
    lport: int


def _split(patterns: str) -> tuple[list[str], list[str]]:
    items = [p for p in patterns.split(",") if p]
    return [p for p in items if not p.startswith("!")], [p[1:] for p in items if p.startswith("!")]


def _name_matches(value: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(value, pattern)


def _addr_matches(value: str, pattern: str) -> bool:
    if "/" in pattern:
        try:
            return ipaddress.ip_address(value) in ipaddress.ip_network(pattern, strict=False)
        except ValueError:
            return False
    return fnmatch.fnmatchcase(value, pattern)


def _addr_candidates(pattern: str) -> list[str]:
    if "/" in pattern:
        try:
            net = ipaddress.ip_network(pattern, strict=False)
        except ValueError:
            return []
        first = int(net.network_address)
        return [str(ipaddress.ip_address(first + i)) for i in (1, 2, 0, 3) if first + i <= int(net.broadcast_address)]
    if ":" in pattern:
        return [pattern.replace("*", "1").replace("?", "1")]
    parts = pattern.split(".")
    # "10.1.*" stands for any address starting so: complete it to four octets
    filled = [p.replace("*", "1").replace("?", "1") or "1" for p in parts]
    if "*" in pattern and len(filled) < 4:
        filled += ["1"] * (4 - len(filled))
    return [".".join(filled[:4]) if len(filled) >= 4 else ".".join(filled)]


def witnesses(criterion: str, patterns: str, groups: dict[str, tuple[int, tuple[str, ...]]],
              users: dict[str, tuple[int, int, str]]) -> list[str] | None:
    """Values of ``criterion`` that the pattern list matches (a few), or None when nothing can match."""
    pos, neg = _split(patterns)
    if criterion in ("address", "localaddress"):
        cands = [c for p in pos for c in _addr_candidates(p)]
        out = [c for c in cands if not any(_addr_matches(c, n) for n in neg)]
        return out[:1] or None
    if criterion == "group":
        names = [g for g in groups if any(_name_matches(g, p) for p in pos)
                 and not any(_name_matches(g, n) for n in neg)]
        members: list[str] = []
        for g in names:
            gid, extra = groups[g]
            members += list(extra) + [u for u, (_, ugid, _) in users.items() if ugid == gid]
        return sorted(set(members))[:8] or None
    cands = [p.replace("*", "kw").replace("?", "k") for p in pos]
    if criterion == "user":
        # a wildcard stands for every user: the users that exist and match are the witnesses
        for p in pos:
            if any(ch in p for ch in "*?["):
                cands += [u for u in users if _name_matches(u, p)]
    if criterion == "localport":
        cands = [c for c in cands if c.isdigit()]
    out = [c for c in dict.fromkeys(cands) if not any(_name_matches(c, n) for n in neg)]
    return out[:8] or None


_FIELD = {"user": "user", "group": "user", "host": "host", "address": "addr", "localaddress": "laddr",
          "localport": "lport", "rdomain": "rdomain"}


def derive_contexts(blocks: Iterable[MatchBlock], defaults: ContextDefaults,
                    users: dict[str, tuple[int, int, str]],
                    groups: dict[str, tuple[int, tuple[str, ...]]]) -> tuple[list[tuple[str, str]], list[str]]:
    """(``sshd -T -C`` spec, why) for every context a Match block can select, and what was not derivable."""
    specs: dict[str, str] = {}
    gaps: list[str] = []
    for b in blocks:
        fixed: dict[str, list[str]] = {}
        impossible = False
        for crit, patterns in b.criteria:
            if crit == "all":
                continue
            name = _FIELD.get(crit)
            if name is None:
                gaps.append(f"{b.where}: criterion {crit!r} is not derived (its contexts are not judged)")
                impossible = True
                break
            w = witnesses(crit, patterns, groups, users)
            merged = w if w is None or name not in fixed else [x for x in fixed[name] if x in w]
            if not merged:  # only negations, a group nobody is in, or criteria that exclude each other
                impossible = True
                break
            fixed[name] = merged
        if impossible:
            continue
        for user in fixed.get("user") or list(defaults.users):
            addr = (fixed.get("addr") or [defaults.addr])[0]
            spec = {"user": user, "host": (fixed.get("host") or [addr])[0], "addr": addr,
                    "laddr": (fixed.get("laddr") or [defaults.laddr])[0],
                    "lport": (fixed.get("lport") or [str(defaults.lport)])[0]}
            if "rdomain" in fixed:
                spec["rdomain"] = fixed["rdomain"][0]
            text = ",".join(f"{k}={v}" for k, v in spec.items())
            specs.setdefault(text, b.where)
    items = list(specs.items())
    if len(items) > MAX_CONTEXTS:
        gaps.append(f"{len(items)} sshd contexts derived from Match blocks; only the first {MAX_CONTEXTS} judged")
        items = items[:MAX_CONTEXTS]
    return items, gaps


def render_contexts_script(specs: Iterable[str]) -> str:
    return "".join(f"echo '@@ctx {s}'; sshd -T -C {shlex.quote(s)} 2>&1; echo \"@@rc $?\"\n" for s in specs)


def parse_settings(text: str) -> dict[str, str]:
    """``sshd -T`` output: lower-case keys, values as printed (paths keep their case)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.strip().split(None, 1)
        if len(parts) == 2 and parts[0].lower() not in out:
            out[parts[0].lower()] = parts[1].strip()
    return out


def parse_contexts(text: str) -> dict[str, tuple[dict[str, str] | None, str]]:
    """spec -> (settings, "") or (None, error) per context."""
    out: dict[str, tuple[dict[str, str] | None, str]] = {}
    for chunk in re.split(r"^@@ctx ", text, flags=re.M)[1:]:
        spec, _, body = chunk.partition("\n")
        body, _, rc = body.rpartition("@@rc ")
        if rc.strip() == "0" and body.strip():
            out[spec.strip()] = (parse_settings(body), "")
        else:
            out[spec.strip()] = (None, body.strip()[-300:] or f"sshd -T -C exited {rc.strip() or '?'}")
    return out
