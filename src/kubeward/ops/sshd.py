"""The hardened sshd drop-in (pure): what it says, and how to check sshd's effective settings.

Follows the seed's sshd overrides: public keys only (ed25519), no root, no passwords, modern
key exchange (post-quantum hybrids first where the installed OpenSSH offers them), AEAD ciphers,
EtM SHA-2 MACs, no X11/agent/tunnel-device forwarding, TCP forwarding kept for kubeward's tunnels.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from kubeward.ops.guard import Guard, Step

#: sshd reads sshd_config.d/*.conf in name order (C collation) and the first value of an option wins:
#: "!" sorts before digits and letters, so kubeward's values win over "00-*.conf" files for the global
#: context (Match blocks elsewhere are judged by the audit and reported by `up`)
DROPIN = "/etc/ssh/sshd_config.d/!kubeward-hardening.conf"
#: where kubeward before the guard module kept the previous drop-in (removed on disarm)
LEGACY_BACKUP = "/var/lib/kubeward/sshd-hardening.prev"
PQ_KEX = ("mlkem768x25519-sha256", "sntrup761x25519-sha512@openssh.com", "sntrup761x25519-sha512")
CLASSIC_KEX = ("curve25519-sha256", "curve25519-sha256@libssh.org")
CIPHERS = ("chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com")
MACS = ("hmac-sha2-512-etm@openssh.com", "hmac-sha2-256-etm@openssh.com")
ED25519_ALGS = ("ssh-ed25519-cert-v01@openssh.com", "ssh-ed25519")


def kex_algorithms(offered: list[str]) -> tuple[str, ...]:
    return tuple(k for k in PQ_KEX if k in offered) + CLASSIC_KEX


def hardening_settings(offered_kex: list[str]) -> list[tuple[str, str]]:
    return [
        ("AuthenticationMethods", "publickey"),
        ("PubkeyAuthentication", "yes"),
        ("PasswordAuthentication", "no"),
        ("PermitEmptyPasswords", "no"),
        ("KbdInteractiveAuthentication", "no"),
        ("HostbasedAuthentication", "no"),
        ("IgnoreRhosts", "yes"),
        ("PermitRootLogin", "no"),
        # every other way a login can be granted: kubeward's keys in authorized_keys, nothing else
        ("AuthorizedKeysFile", ".ssh/authorized_keys"),
        ("AuthorizedKeysCommand", "none"),
        ("AuthorizedPrincipalsFile", "none"),
        ("AuthorizedPrincipalsCommand", "none"),
        ("TrustedUserCAKeys", "none"),
        ("GSSAPIAuthentication", "no"),
        ("KerberosAuthentication", "no"),
        ("PermitUserEnvironment", "no"),
        ("UsePAM", "yes"),
        ("StrictModes", "yes"),
        ("HostKey", "/etc/ssh/ssh_host_ed25519_key"),
        ("HostKeyAlgorithms", ",".join(ED25519_ALGS)),
        ("PubkeyAcceptedAlgorithms", ",".join(ED25519_ALGS)),
        ("KexAlgorithms", ",".join(kex_algorithms(offered_kex))),
        ("Ciphers", ",".join(CIPHERS)),
        ("MACs", ",".join(MACS)),
        ("AllowTcpForwarding", "yes"),
        ("GatewayPorts", "no"),
        ("X11Forwarding", "no"),
        ("AllowAgentForwarding", "no"),
        ("AllowStreamLocalForwarding", "no"),
        ("PermitTunnel", "no"),
        ("LoginGraceTime", "30"),
        ("MaxStartups", "10:30:60"),
        ("MaxAuthTries", "3"),
        ("UseDNS", "no"),
        ("TCPKeepAlive", "yes"),
        ("LogLevel", "VERBOSE"),
    ]


#: put the saved drop-in back (or remove it when there was none), without touching sshd
_REVERT = (f"if [ -f \"$S/absent\" ]; then rm -f {shlex.quote(DROPIN)}; "
           f"else cp -a \"$S/dropin\" {shlex.quote(DROPIN)}; fi")


def render_dropin(offered_kex: list[str], extra: str = "") -> str:
    lines = [
        "# Managed by kubeward (SSH hardening). Do not edit: change cluster.yml and run `kubeward up`.",
        "# Files in sshd_config.d are read in name order and the first value of an option wins.",
    ]
    lines += [f"{k} {v}" for k, v in hardening_settings(offered_kex)]
    if extra:
        lines.append(extra.rstrip())
    return "\n".join(lines) + "\n"


def expected_effective(offered_kex: list[str]) -> dict[str, str]:
    """What `sshd -T` must print (lower-case keys) once the drop-in is in force."""
    skip = {"HostKey", "AuthenticationMethods", "UsePAM", "StrictModes"}
    out = {k.lower(): v.lower() for k, v in hardening_settings(offered_kex) if k not in skip}
    out["maxstartups"] = "10:30:60"
    out["authenticationmethods"] = "publickey"
    return out


def parse_sshd_t(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.strip().split(None, 1)
        if len(parts) == 2 and parts[0].lower() not in out:
            out[parts[0].lower()] = parts[1].strip().lower()
    return out


def effective_mismatches(effective: dict[str, str], offered_kex: list[str]) -> list[str]:
    out = []
    for k, v in expected_effective(offered_kex).items():
        got = effective.get(k)
        if got != v:
            out.append(f"{k} is {got!r}, wanted {v!r}")
    return out


#: prints sshd's effective global settings, then "@@file PATH" and the text of every file sshd reads,
#: each line indented by one space so that no line of a file can pass for a marker
#: (sshd resolves the Include globs itself: its debug log names each file it loads)
CONFIG_DUMP = r"""t=$(mktemp); sshd -T -dd 2>"$t"; echo "@@sshd-rc $?"
sed -n 's/.*load_server_config: filename //p' "$t" | tr -d '\r' | while IFS= read -r f; do
  echo "@@file $f"; head -c 262144 "$f" | sed 's/^/ /'; echo; done; rm -f "$t"
"""


def parse_config_dump(text: str) -> tuple[dict[str, str], dict[str, str], bool]:
    """``CONFIG_DUMP`` output -> (sshd -T settings, {path: config text}, whether sshd -T succeeded)."""
    head, _, rest = text.partition("@@sshd-rc ")
    rc, _, rest = rest.partition("\n")
    files: dict[str, str] = {}
    for chunk in re.split(r"^@@file ", rest, flags=re.M)[1:]:
        path, _, body = chunk.partition("\n")
        files[path] = "\n".join(line[1:] for line in body.splitlines())  # each line was indented
    return parse_sshd_t(head), files, rc.strip() == "0" and bool(head.strip())


@dataclass(frozen=True)
class MatchBlock:
    """One ``Match`` line (criteria as written) and the options set under it."""

    path: str
    line: int
    criteria: tuple[tuple[str, str], ...]  # (lower-case criterion, pattern list as written)
    options: tuple[tuple[str, str], ...]  # (lower-case option, value)

    @property
    def where(self) -> str:
        crit = " ".join(f"{k} {v}" if v else k for k, v in self.criteria)
        return f"Match {crit} ({self.path}:{self.line})"


def _config_words(line: str) -> list[str]:
    stripped = line.lstrip(" \t")
    if not stripped or stripped.startswith("#"):  # most of sshd_config; shlex is slow
        return []
    if line.isascii() and line.replace("\t", " ").isprintable() and not any(c in line for c in "\"'\\#"):
        return line.split()  # no quote, escape, comment or control character: words as shlex splits them
    try:
        return shlex.split(line, comments=True)
    except ValueError:
        return line.split()


def parse_match_blocks(files: dict[str, str]) -> list[MatchBlock]:
    """Every Match block of every file sshd reads (a block ends at the next Match or the file's end)."""
    out: list[MatchBlock] = []
    for path, text in files.items():
        cur: tuple[int, list[tuple[str, str]], list[tuple[str, str]]] | None = None
        for n, raw in enumerate(text.splitlines(), 1):
            words = _config_words(raw)
            if not words:
                continue
            if "=" in words[0]:  # "Key=value" is sshd_config syntax too
                k, _, v = words[0].partition("=")
                words = [k, *([v] if v else []), *words[1:]]
            key = words[0].lower()
            if key == "match":
                if cur:
                    out.append(MatchBlock(path, cur[0], tuple(cur[1]), tuple(cur[2])))
                crit: list[tuple[str, str]] = []
                rest = words[1:]
                while rest:
                    c = rest.pop(0).lower()
                    if c == "all":
                        crit.append(("all", ""))
                    elif rest:
                        crit.append((c, rest.pop(0)))
                    else:
                        crit.append((c, ""))
                cur = (n, crit, [])
            elif cur is not None:
                cur[2].append((key, " ".join(words[1:])))
        if cur:
            out.append(MatchBlock(path, cur[0], tuple(cur[1]), tuple(cur[2])))
    return out


#: hardened options a Match block may set to another value without widening who can log in
_LOOSE_OK = {"allowtcpforwarding", "loglevel", "maxstartups", "logingracetime", "usedns", "tcpkeepalive",
             "maxauthtries", "hostkey", "usepam"}


def match_loosenings(files: dict[str, str], offered_kex: list[str]) -> list[str]:
    """Match blocks that set an option kubeward hardens to another value (pure, from the files' text).

    ``up`` and ``plan`` report them: kubeward owns the global context, not other files' Match blocks.
    The audit judges their *effective* result with ``sshd -T -C`` for the contexts they select."""
    want = {k.lower(): v.lower() for k, v in hardening_settings(offered_kex)}
    out = []
    for b in parse_match_blocks(files):
        if b.path == DROPIN:
            continue
        loose = [f"{k} {v}" for k, v in b.options
                 if k in want and k not in _LOOSE_OK and v.lower() != want[k]]
        if loose:
            out.append(f"{b.where} sets {', '.join(loose)}")
    return out


#: the guarded change of the drop-in (see kubeward.ops.guard): what is saved, how it is restored
GUARD = Guard(
    name="sshd",
    what="sshd configuration",
    save=f"if [ -f {shlex.quote(DROPIN)} ]; then cp -a {shlex.quote(DROPIN)} \"$S/dropin\"; else : > \"$S/absent\"; fi",
    restore=f"{_REVERT} && systemctl reload ssh",
    settle="sshd -t && systemctl reload ssh",
    legacy=(LEGACY_BACKUP,),
)


def render_install_step(content: str) -> Step:
    """Install the drop-in (sshd reads it only on reload), check the whole config with ``sshd -t``,
    put the previous file back if invalid, and reload. Existing SSH sessions survive a reload."""
    d = shlex.quote(DROPIN)
    return Step(
        stage=(f"tmp=$(mktemp /etc/ssh/sshd_config.d/.kubeward.XXXXXX)\n"
               f"printf %s {shlex.quote(content)} > \"$tmp\" && chmod 0644 \"$tmp\" && chown root:root \"$tmp\" "
               f"&& mv -f \"$tmp\" {d}"),
        check="sshd -t",
        undo=_REVERT,
        apply="systemctl reload ssh",
    )


def render_remove_step() -> Step:
    """Remove the drop-in (``kubeward reset --all``): sshd's own configuration must pass ``sshd -t``
    without it, else the drop-in is put back; then reload."""
    return Step(stage=f"rm -f {shlex.quote(DROPIN)}", check="sshd -t", undo=_REVERT, apply="systemctl reload ssh")
