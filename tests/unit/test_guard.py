"""The guarded change's node-side shell (kubeward.ops.guard) with the sshd and firewall guards.

No sshd, nft or systemd here: the scripts run with /bin/sh against tmp_path (paths relocated), with
stand-ins for sshd, nft, systemctl and systemd-run that log their arguments. What systemd does with
the timer is tested on real nodes in tests/lab/test_up_guard.py.
"""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
from pathlib import Path

import pytest

from kubeward.ops.guard import (
    ACCURACY,
    ROLLED_BACK,
    GuardFact,
    parse_arm_output,
    parse_guard_fact,
    render_arm_script,
    render_commit_script,
    render_disarm_script,
    render_guard_fact_script,
    render_restore_script,
    render_rollback_file,
)
from kubeward.ops.sshd import DROPIN, GUARD, LEGACY_BACKUP, render_dropin, render_install_step
from kubeward.phases.firewall import GUARD as FW_GUARD
from kubeward.phases.firewall import render_apply_step

DROPIN_NAME = "!kubeward-hardening.conf"


def _relocate(script: str, root: Path) -> str:
    return (script.replace("/etc/ssh/sshd_config.d", str(root / "etc"))
            .replace("/var/lib/kubeward", str(root / "var"))
            .replace("/usr/local/lib/kubeward", str(root / "lib"))
            .replace("/etc/kubeward", str(root / "fw")))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "etc").mkdir()
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for name in ("sshd", "systemctl", "systemd-run", "nft"):
        exe = stubs / name
        exe.write_text(f'#!/bin/sh\necho "{name} $*" >> {tmp_path}/calls\n'
                       + ('[ -z "$CHECK_FAILS" ] || { echo "bad option" >&2; exit 255; }\n'
                          if name in ("sshd", "nft") else "")
                       + ('[ "$1" != is-active ] || { echo "${TIMER_STATE:-inactive}"; '
                          '[ "${TIMER_STATE:-inactive}" = active ]; exit $?; }\n' if name == "systemctl" else "")
                       + "exit 0\n")
        exe.chmod(0o755)
    return tmp_path


def _run(script: str, root: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["/bin/sh", "-c", _relocate(script, root)], capture_output=True, text=True, timeout=10,
                          env={**os.environ, "PATH": f"{root / 'bin'}:{os.environ['PATH']}", **env})


def _calls(root: Path) -> list[str]:
    p = root / "calls"
    return p.read_text().splitlines() if p.exists() else []


def _dropin(root: Path) -> Path:
    return root / "etc" / DROPIN_NAME


def _rollback_file(root: Path, name: str = "sshd") -> Path:
    return root / "lib" / f"rollback-{name}.sh"


# ----- arming ---------------------------------------------------------------------------------------


def test_the_timer_runs_a_script_file_precisely_not_an_inline_shell() -> None:
    s = render_arm_script(GUARD, render_install_step("# new\n"), 90)
    arm = s[s.index("systemd-run"):].split("\n", 2)
    line = arm[0] + arm[1]
    # a path survives daemon-reload; an inline `/bin/sh -c '...'` was re-read with mangled escapes
    assert "/bin/sh -c" not in line and line.rstrip().endswith("/usr/local/lib/kubeward/rollback-sshd.sh")
    assert "--on-active=90 " in line and f"--timer-property=AccuracySec={ACCURACY}" in line
    assert ACCURACY in ("1s", "100ms", "1ms")
    # save, stage, check, arm, apply: nothing becomes live before the timer is armed
    order = [s.index(x) for x in (f'cp -a {shlex.quote(DROPIN)} "$S/dropin"',
                                   'mv -f "$tmp"', "sshd -t", "systemd-run", "\nsystemctl reload ssh\n", "@@armed")]
    assert order == sorted(order)


def test_arm_saves_absence_installs_and_the_rollback_file_restores_it(root: Path) -> None:
    content = render_dropin(["curve25519-sha256"])
    res = _run(render_arm_script(GUARD, render_install_step(content), 60), root)
    assert res.returncode == 0, res.stderr
    deadline = parse_arm_output(res.stdout)
    assert deadline is not None and deadline == int((root / "var/rollback/sshd/deadline").read_text())
    assert _dropin(root).read_text() == content and oct(_dropin(root).stat().st_mode & 0o777) == "0o644"
    assert (root / "var/rollback/sshd/absent").exists()
    rb = _rollback_file(root)
    assert stat.S_IMODE(rb.stat().st_mode) == 0o700
    assert stat.S_IMODE((root / "var/rollback/sshd").stat().st_mode) == 0o700
    calls = _calls(root)
    assert calls[0] == "sshd -t" and calls[-1] == "systemctl reload ssh"
    assert any(c.startswith("systemd-run") and c.endswith(str(rb)) for c in calls)
    # what the timer would run: the file itself
    (root / "calls").unlink()
    res = subprocess.run([str(rb)], capture_output=True, text=True, timeout=10,
                         env={**os.environ, "PATH": f"{root / 'bin'}:{os.environ['PATH']}"})
    assert res.returncode == 0, res.stderr
    assert not _dropin(root).exists()
    assert _calls(root) == ["systemctl reload ssh"]
    assert not (root / "var/rollback/sshd").exists()  # forgotten once restored
    # run again (e.g. the timer after kubeward restored): nothing saved, nothing done
    assert subprocess.run([str(rb)], capture_output=True, timeout=10).returncode == 0


def test_the_previous_dropin_is_what_the_rollback_restores(root: Path) -> None:
    _dropin(root).write_text("# previous\nPasswordAuthentication no\n")
    assert _run(render_arm_script(GUARD, render_install_step("# new\n"), 60), root).returncode == 0
    assert _dropin(root).read_text() == "# new\n"
    res = _run(render_restore_script(GUARD), root)
    assert res.returncode == 0, res.stderr
    assert _dropin(root).read_text() == "# previous\nPasswordAuthentication no\n"
    assert not (root / "var/rollback/sshd").exists() and not _rollback_file(root).exists()
    assert "systemctl stop kubeward-sshd-rollback.timer" in _calls(root)


def test_an_invalid_config_is_undone_and_nothing_is_armed_or_saved(root: Path) -> None:
    _dropin(root).write_text("# previous\n")
    res = _run(render_arm_script(GUARD, render_install_step("Bogus yes\n"), 60), root, CHECK_FAILS="1")
    assert res.returncode == 3 and "@@invalid bad option" in res.stderr
    assert _dropin(root).read_text() == "# previous\n"
    assert _calls(root) == ["sshd -t"]  # no timer, no reload
    assert sorted(p.name for p in (root / "etc").iterdir()) == [DROPIN_NAME]  # no temporary left
    assert not (root / "var/rollback/sshd").exists()  # no leftover for the next run to find


def test_an_invalid_first_install_removes_the_dropin(root: Path) -> None:
    res = _run(render_arm_script(GUARD, render_install_step("Bogus yes\n"), 60), root, CHECK_FAILS="1")
    assert res.returncode == 3 and not _dropin(root).exists()


def test_disarm_forgets_the_saved_state_the_script_and_a_legacy_backup(root: Path) -> None:
    assert _run(render_arm_script(GUARD, render_install_step("# new\n"), 60), root).returncode == 0
    legacy = Path(_relocate(LEGACY_BACKUP, root))
    legacy.write_text("@@absent\n")
    res = _run(render_disarm_script(GUARD), root)
    assert res.returncode == 0, res.stderr
    assert not (root / "var/rollback/sshd").exists() and not _rollback_file(root).exists() and not legacy.exists()
    assert _dropin(root).read_text() == "# new\n"
    assert "systemctl stop kubeward-sshd-rollback.timer" in _calls(root)


def test_commit_runs_the_commit_and_disarms(root: Path) -> None:
    assert _run(render_arm_script(GUARD, render_install_step("# new\n"), 60), root).returncode == 0
    res = _run(render_commit_script(GUARD, f"touch {root}/committed"), root)
    assert res.returncode == 0, res.stderr
    assert (root / "committed").exists() and not (root / "var/rollback/sshd").exists()
    assert _dropin(root).read_text() == "# new\n"


def test_commit_refuses_when_the_rollback_already_ran(root: Path) -> None:
    # a proof slower than the window: the timer restored the saved state (and forgot it) meanwhile;
    # committing now (the firewall persists the new ruleset) would record what is no longer live
    assert _run(render_arm_script(FW_GUARD, render_apply_step("table inet kubeward {}\n"), 30), root).returncode == 0
    rb = subprocess.run([str(_rollback_file(root, "firewall"))], capture_output=True, text=True, timeout=10,
                        env={**os.environ, "PATH": f"{root / 'bin'}:{os.environ['PATH']}"})
    assert rb.returncode == 0, rb.stderr
    res = _run(render_commit_script(FW_GUARD, f"touch {root}/committed"), root)
    assert res.returncode == ROLLED_BACK and "@@rolled-back" in res.stderr
    assert not (root / "committed").exists()


def test_restore_without_a_rollback_script_says_so(root: Path) -> None:
    res = _run(render_restore_script(GUARD), root)
    assert res.returncode == 4


# ----- the firewall guard -------------------------------------------------------------------------------


def test_firewall_saves_the_absent_table_and_restores_by_deleting_it(root: Path) -> None:
    res = _run(render_arm_script(FW_GUARD, render_apply_step("table inet kubeward {}\n"), 30), root)
    assert res.returncode == 0, res.stderr
    prev = (root / "var/rollback/firewall/prev.nft").read_text()
    # the stub's `nft list table` succeeds with no output: the saved file replaces the table by that
    assert prev.startswith("table inet kubeward {}\ndelete table inet kubeward\n")
    assert (root / "fw/firewall.nft.new").read_text() == "table inet kubeward {}\n"
    assert _calls(root)[-1] == f"nft -f {root}/fw/firewall.nft.new"
    res = _run(render_restore_script(FW_GUARD), root)
    assert res.returncode == 0, res.stderr
    assert f"nft -f {root}/var/rollback/firewall/prev.nft" in _calls(root)
    assert not (root / "fw/firewall.nft.new").exists() and not (root / "var/rollback/firewall").exists()


def test_firewall_invalid_ruleset_changes_nothing(root: Path) -> None:
    res = _run(render_arm_script(FW_GUARD, render_apply_step("garbage\n"), 30), root, CHECK_FAILS="1")
    assert res.returncode == 3 and "@@invalid" in res.stderr
    assert not (root / "fw/firewall.nft.new").exists() and not (root / "var/rollback/firewall").exists()
    assert not any(c.startswith(("systemd-run", f"nft -f {root}/fw")) for c in _calls(root))


# ----- the fact a later run reads ---------------------------------------------------------------------


def test_guard_fact_nothing_left(root: Path) -> None:
    res = _run(render_guard_fact_script(GUARD), root)
    assert res.returncode == 0
    assert parse_guard_fact(res.stdout, GUARD) == GuardFact(False, False, 0)


def test_guard_fact_armed_and_saved(root: Path) -> None:
    res = _run(render_arm_script(GUARD, render_install_step("# new\n"), 60), root)
    deadline = parse_arm_output(res.stdout)
    res = _run(render_guard_fact_script(GUARD), root, TIMER_STATE="active")
    fact = parse_guard_fact("kex line\n" + res.stdout + "@@\n", GUARD)
    assert fact == GuardFact(True, True, deadline or -1) and fact.leftover


def test_guard_fact_legacy_backup_counts_as_saved(root: Path) -> None:
    legacy = Path(_relocate(LEGACY_BACKUP, root))
    legacy.parent.mkdir(parents=True)
    legacy.write_text("@@absent\n")
    fact = parse_guard_fact(_run(render_guard_fact_script(GUARD), root).stdout, GUARD)
    assert fact == GuardFact(False, True, 0)


def test_guard_fact_parsing() -> None:
    assert parse_guard_fact("@@guard firewall active  1790000000\n", FW_GUARD) == GuardFact(True, False, 1790000000)
    assert parse_guard_fact("@@guard sshd active saved 5\n", FW_GUARD) == GuardFact(False, False, 0)  # not ours


def test_rollback_file_keeps_the_state_when_restoring_fails() -> None:
    text = render_rollback_file(GUARD)
    assert text.startswith("#!/bin/sh\n")
    assert 'if restore; then\n  rm -rf "$S"' in text and "exit 1" in text
