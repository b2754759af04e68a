"""The hardened sshd drop-in: its text, the effective settings it implies, and its install/rollback shell.

No sshd on this machine, so `sshd -t` is not run; the install and restore scripts run with /bin/sh
against tmp_path, with stand-ins for sshd, systemctl and systemd-run that only log their arguments.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from kubeward.ops.sshd import (
    BACKUP,
    CIPHERS,
    CLASSIC_KEX,
    DROPIN,
    MACS,
    ROLLBACK_UNIT,
    effective_mismatches,
    expected_effective,
    kex_algorithms,
    parse_sshd_t,
    render_disarm_script,
    render_dropin,
    render_install_script,
    render_restore_script,
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


# ----- install / restore scripts -----------------------------------------------------------------------


def test_install_script_validates_then_arms_then_reloads() -> None:
    s = render_install_script(render_dropin(OFFERED_CLASSIC), 90)
    assert s.startswith("set -e\n")
    i_backup = s.index(f"cp -a {shlex.quote(DROPIN)} {BACKUP}")
    i_write = s.index(f'mv -f "$tmp" {shlex.quote(DROPIN)}')
    i_test = s.index("sshd -t")
    i_arm = s.index(f"systemd-run --quiet --unit {ROLLBACK_UNIT} --on-active=90 ")
    i_reload = s.rindex("\nsystemctl reload ssh\n")
    assert i_backup < i_write < i_test < i_arm < i_reload
    assert s.rstrip().endswith("echo @@armed")
    # the timer's command restores, then reloads
    arm_line = next(line for line in s.splitlines() if line.startswith("systemd-run"))
    assert arm_line.endswith("systemctl reload ssh'")
    assert "@@absent" in arm_line


def test_restore_and_disarm_scripts_name_the_files() -> None:
    r = render_restore_script()
    assert f"rm -f {shlex.quote(DROPIN)}" in r and f"cp -a {BACKUP} {shlex.quote(DROPIN)}" in r
    d = render_disarm_script()
    assert f"systemctl stop {ROLLBACK_UNIT}.timer" in d and d.endswith(f"rm -f {BACKUP}")


def _relocate(script: str, root: Path) -> str:
    return (script.replace("/etc/ssh/sshd_config.d", str(root / "etc"))
            .replace("/var/lib/kubeward", str(root / "var")))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "etc").mkdir()
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for name in ("sshd", "systemctl", "systemd-run"):
        exe = stubs / name
        exe.write_text(f'#!/bin/sh\necho "{name} $*" >> {tmp_path}/calls\n'
                       + ('[ -z "$SSHD_FAILS" ] || { echo "bad option" >&2; exit 255; }\n' if name == "sshd" else "")
                       + "exit 0\n")
        exe.chmod(0o755)
    return tmp_path


def _run(script: str, root: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["/bin/sh", "-c", _relocate(script, root)], capture_output=True, text=True, timeout=10,
                          env={**os.environ, "PATH": f"{root / 'bin'}:{os.environ['PATH']}", **env})


def _calls(root: Path) -> list[str]:
    p = root / "calls"
    return p.read_text().splitlines() if p.exists() else []


def test_install_when_no_previous_dropin(root: Path) -> None:
    content = render_dropin(OFFERED_CLASSIC)
    res = _run(render_install_script(content, 60), root)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "@@armed"
    dropin = root / "etc" / Path(DROPIN).name
    assert dropin.read_text() == content
    assert oct(dropin.stat().st_mode & 0o777) == "0o644"
    assert (root / "var" / "sshd-hardening.prev").read_text() == "@@absent\n"
    calls = _calls(root)
    assert calls[0] == "sshd -t"
    assert calls[-1] == "systemctl reload ssh"
    assert [c.split()[0] for c in calls].index("systemd-run") < len(calls) - 1
    # the rollback restores the "absent" state: run its restore part
    res = _run(render_restore_script(), root)
    assert res.returncode == 0 and not dropin.exists()


def test_install_keeps_previous_dropin_for_rollback(root: Path) -> None:
    dropin = root / "etc" / Path(DROPIN).name
    dropin.write_text("# previous\nPasswordAuthentication no\n")
    res = _run(render_install_script("# new\n", 60), root)
    assert res.returncode == 0, res.stderr
    assert dropin.read_text() == "# new\n"
    assert (root / "var" / "sshd-hardening.prev").read_text() == "# previous\nPasswordAuthentication no\n"
    assert _run(render_restore_script(), root).returncode == 0
    assert dropin.read_text() == "# previous\nPasswordAuthentication no\n"


def test_invalid_config_is_restored_and_never_reloaded(root: Path) -> None:
    dropin = root / "etc" / Path(DROPIN).name
    dropin.write_text("# previous\n")
    res = _run(render_install_script("Bogus yes\n", 60), root, SSHD_FAILS="1")
    assert res.returncode == 3
    assert "@@invalid bad option" in res.stderr
    assert dropin.read_text() == "# previous\n"
    assert _calls(root) == ["sshd -t"]  # no timer, no reload
    assert [p.name for p in (root / "etc").iterdir()] == [Path(DROPIN).name]  # no temporary left


def test_invalid_first_install_removes_the_dropin(root: Path) -> None:
    res = _run(render_install_script("Bogus yes\n", 60), root, SSHD_FAILS="1")
    assert res.returncode == 3
    assert not (root / "etc" / Path(DROPIN).name).exists()


def test_restore_without_backup_does_nothing(root: Path) -> None:
    dropin = root / "etc" / Path(DROPIN).name
    dropin.write_text("# current\n")
    res = _run(render_restore_script(), root)
    assert res.returncode == 0 and dropin.read_text() == "# current\n"


def test_disarm_removes_the_backup(root: Path) -> None:
    (root / "var").mkdir()
    (root / "var" / "sshd-hardening.prev").write_text("@@absent\n")
    res = _run(render_disarm_script(), root)
    assert res.returncode == 0
    assert not (root / "var" / "sshd-hardening.prev").exists()
    assert _calls(root)[0] == f"systemctl stop {ROLLBACK_UNIT}.timer"
