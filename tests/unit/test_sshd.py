"""The hardened sshd drop-in: its text and the effective settings it implies.

Its guarded install (backup, `sshd -t`, rollback timer, reload) is tested in test_guard.py.
"""

from __future__ import annotations

from kubeward.ops.sshd import (
    CIPHERS,
    CLASSIC_KEX,
    MACS,
    effective_mismatches,
    expected_effective,
    kex_algorithms,
    parse_sshd_t,
    render_dropin,
)

OFFERED_PQ = ["sntrup761x25519-sha512@openssh.com", "curve25519-sha256", "mlkem768x25519-sha256",
              "diffie-hellman-group14-sha256"]
OFFERED_CLASSIC = ["curve25519-sha256", "curve25519-sha256@libssh.org", "diffie-hellman-group14-sha256"]


def settings(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, v = line.split(" ", 1)
            assert k not in out, f"{k} twice"
            out[k] = v
    return out


# ----- the drop-in ---------------------------------------------------------------------------------


def test_dropin_offers_pq_kex_first_only_when_offered() -> None:
    pq = settings(render_dropin(OFFERED_PQ))["KexAlgorithms"].split(",")
    # PQ hybrids in kubeward's preference order, then the classic ones; nothing the host does not offer
    assert pq == ["mlkem768x25519-sha256", "sntrup761x25519-sha512@openssh.com", *CLASSIC_KEX]
    classic = settings(render_dropin(OFFERED_CLASSIC))["KexAlgorithms"].split(",")
    assert classic == list(CLASSIC_KEX)
    assert kex_algorithms([]) == CLASSIC_KEX


def test_dropin_settings() -> None:
    s = settings(render_dropin(OFFERED_CLASSIC))
    assert s["PasswordAuthentication"] == "no"
    assert s["KbdInteractiveAuthentication"] == "no"
    assert s["PermitEmptyPasswords"] == "no"
    assert s["AuthenticationMethods"] == "publickey"
    assert s["PermitRootLogin"] == "no"
    assert s["AllowTcpForwarding"] == "yes"  # kubeward's tunnels need it
    assert s["GatewayPorts"] == "no"
    assert s["X11Forwarding"] == "no" and s["AllowAgentForwarding"] == "no" and s["PermitTunnel"] == "no"
    assert s["Ciphers"] == ",".join(CIPHERS) == "chacha20-poly1305@openssh.com,aes256-gcm@openssh.com"
    assert s["MACs"] == ",".join(MACS)
    assert all(m.endswith("-etm@openssh.com") for m in s["MACs"].split(","))
    assert s["HostKeyAlgorithms"] == s["PubkeyAcceptedAlgorithms"] == "ssh-ed25519-cert-v01@openssh.com,ssh-ed25519"


def test_dropin_header_and_extra() -> None:
    text = render_dropin(OFFERED_CLASSIC, extra="Match User backup\n  ForceCommand internal-sftp\n\n")
    assert text.startswith("# Managed by kubeward")
    assert text.endswith("Match User backup\n  ForceCommand internal-sftp\n")
    # Match blocks must come last: nothing of kubeward's after the extra text
    assert text.index("LogLevel VERBOSE") < text.index("Match User")
    assert render_dropin(OFFERED_CLASSIC).endswith("LogLevel VERBOSE\n")


# ----- expected effective settings ---------------------------------------------------------------------

SSHD_T_GOOD = """port 22
addressfamily any
permitrootlogin no
pubkeyauthentication yes
passwordauthentication no
permitemptypasswords no
kbdinteractiveauthentication no
hostbasedauthentication no
ignorerhosts yes
hostkeyalgorithms ssh-ed25519-cert-v01@openssh.com,ssh-ed25519
pubkeyacceptedalgorithms ssh-ed25519-cert-v01@openssh.com,ssh-ed25519
kexalgorithms curve25519-sha256,curve25519-sha256@libssh.org
ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com
macs hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com
allowtcpforwarding yes
gatewayports no
x11forwarding no
allowagentforwarding no
allowstreamlocalforwarding no
permittunnel no
logingracetime 30
maxstartups 10:30:60
maxauthtries 3
usedns no
tcpkeepalive yes
loglevel VERBOSE
authenticationmethods publickey
usepam yes
authorizedkeysfile .ssh/authorized_keys
authorizedkeyscommand none
authorizedprincipalsfile none
authorizedprincipalscommand none
trustedusercakeys none
gssapiauthentication no
kerberosauthentication no
permituserenvironment no
"""


def test_expected_effective() -> None:
    e = expected_effective(OFFERED_PQ)
    assert e["kexalgorithms"] == "mlkem768x25519-sha256,sntrup761x25519-sha512@openssh.com,curve25519-sha256," \
                                 "curve25519-sha256@libssh.org"
    assert e["loglevel"] == "verbose"  # lower-cased, as compared
    assert e["maxstartups"] == "10:30:60"
    assert e["authenticationmethods"] == "publickey"
    assert e["allowtcpforwarding"] == "yes"
    # what sshd -T does not print as written is not expected
    assert "hostkey" not in e and "usepam" not in e and "strictmodes" not in e
    assert all(k == k.lower() and v == v.lower() for k, v in e.items())


def test_parse_sshd_t() -> None:
    p = parse_sshd_t("Port 22\nLogLevel VERBOSE\nport 2222\n\nbare\n  listenaddress 0.0.0.0:22\n")
    assert p == {"port": "22", "loglevel": "verbose", "listenaddress": "0.0.0.0:22"}  # first value wins


def test_effective_mismatches_clean() -> None:
    assert effective_mismatches(parse_sshd_t(SSHD_T_GOOD), OFFERED_CLASSIC) == []


def test_effective_mismatches_reports_each_difference() -> None:
    text = SSHD_T_GOOD.replace("passwordauthentication no", "passwordauthentication yes").replace(
        "allowtcpforwarding yes\n", "")
    got = effective_mismatches(parse_sshd_t(text), OFFERED_CLASSIC)
    assert got == ["passwordauthentication is 'yes', wanted 'no'", "allowtcpforwarding is None, wanted 'yes'"]


def test_effective_mismatches_kex_depends_on_what_is_offered() -> None:
    # the effective list without PQ is wrong for a host that offers PQ
    assert effective_mismatches(parse_sshd_t(SSHD_T_GOOD), OFFERED_PQ) == [
        "kexalgorithms is 'curve25519-sha256,curve25519-sha256@libssh.org', wanted "
        "'mlkem768x25519-sha256,sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org'"
    ]


# the install, rollback and disarm shell: tests/unit/test_guard.py
