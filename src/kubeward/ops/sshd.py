"""The hardened sshd drop-in (pure): what it says, and how to check sshd's effective settings.

Follows the seed's sshd overrides: public keys only (ed25519), no root, no passwords, modern
key exchange (post-quantum hybrids first where the installed OpenSSH offers them), AEAD ciphers,
EtM SHA-2 MACs, no X11/agent/tunnel-device forwarding, TCP forwarding kept for kubeward's tunnels.
"""

from __future__ import annotations

import shlex

from kubeward.ops.guard import Guard, Step

DROPIN = "/etc/ssh/sshd_config.d/00-kubeward-hardening.conf"
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
