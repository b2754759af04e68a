"""Guarded changes on real nodes: the rollback timer survives `systemctl daemon-reload` and fires at
the deadline it announced, and a run killed between arming and disarming is noticed and resolved by
the next `up` instead of being undone minutes later.

The killed run is simulated deterministically: the test arms the rollback on the node with the
phases' own scripts (save, stage, check, arm, apply) and stops there, as a run killed right after
applying would. (Named test_up_*.py so it runs on the converged session lab.)
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import replace
from pathlib import Path

from kubeward.lab.lab import Lab, LabState
from kubeward.ops.guard import parse_arm_output, render_arm_script
from kubeward.ops.sshd import DROPIN, render_install_step
from kubeward.ops.sshd import GUARD as SSHD_GUARD
from kubeward.phases.firewall import GUARD as FW_GUARD
from kubeward.phases.firewall import RULESET, render_apply_step
from tests.lab.conftest import up_json


def _sh(lab: Lab, node: str, script: str) -> str:
    r = lab.exec(node, ["sh", "-c", script])
    assert r.returncode == 0, (script[-300:], r.stdout, r.stderr)
    return r.stdout


def _effective(lab: Lab, node: str) -> dict[str, str]:
    out = _sh(lab, node, "sshd -T")
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


def _wait_until(epoch: float) -> None:
    while time.time() < epoch:
        time.sleep(min(1.0, max(0.05, epoch - time.time())))


def test_the_rollback_survives_daemon_reload_and_fires_at_the_announced_deadline(
    lab: Lab, lab_state: LabState, converged: Path
) -> None:
    node = lab_state.nodes[1].name
    hardened = _sh(lab, node, f"cat {DROPIN}")
    armed_at = time.time()
    out = _sh(lab, node, render_arm_script(SSHD_GUARD, render_install_step(hardened + "# unproven\n"), 3))
    deadline = parse_arm_output(out)
    assert deadline is not None
    assert _sh(lab, node, f"tail -1 {DROPIN}") == "# unproven\n"
    try:
        # apt and kubeward itself reload systemd: the transient unit is re-read from disk
        _sh(lab, node, "systemctl daemon-reload")
        assert _sh(lab, node, f"systemctl is-active {SSHD_GUARD.unit}.timer || true").strip() == "active"
        _wait_until(deadline + 1)
        started = done = 0.0
        for _ in range(50):  # generous: the promise is "it happened", the timing is measured below
            log = _sh(lab, node, f"journalctl -u {SSHD_GUARD.unit}.service -o short-unix --no-pager "
                                 f"--since=@{int(armed_at) - 1} | grep -e 'Started {SSHD_GUARD.unit}' "
                                 "-e 'restored the sshd' || true").splitlines()
            if len(log) >= 2:
                started, done = float(log[0].split()[0]), float(log[-1].split()[0])
                break
            time.sleep(0.2)
        # the previous (hardened) drop-in is back and live, and nothing is left armed or saved
        assert _sh(lab, node, f"cat {DROPIN}") == hardened
        assert done, _sh(lab, node, f"journalctl -u {SSHD_GUARD.unit}.service --no-pager | tail -20")
        assert _effective(lab, node)["passwordauthentication"] == "no"
        assert _sh(lab, node, f"ls {SSHD_GUARD.state_dir} 2>/dev/null || true") == ""
        # it fired within the second before the announced deadline, not a timer accuracy (1 min) later
        print(f"rollback window 3 s: the timer fired {started - armed_at:.2f} s after arming, "
              f"{started - deadline:+.2f} s from the announced deadline; restored {done - started:.2f} s later")
        assert deadline - 2 <= started <= deadline + 5, (started, deadline)  # generous: a loaded machine
    finally:
        _sh(lab, node, f"systemctl stop {SSHD_GUARD.unit}.timer 2>/dev/null; rm -rf {SSHD_GUARD.state_dir}; "
                       f"printf %s {shlex.quote(hardened)} > {DROPIN}; systemctl reload-or-restart ssh")


def test_a_killed_run_is_noticed_its_rollback_disarmed_and_the_hardening_stays(
    lab: Lab, lab_state: LabState, converged: Path
) -> None:
    node = lab_state.nodes[0].name
    hardened = _sh(lab, node, f"cat {DROPIN}")
    ruleset = _sh(lab, node, f"cat {RULESET}")
    window = 30
    # the state before hardening: no drop-in (Debian's defaults: passwords on), no kubeward table
    _sh(lab, node, f"rm -f {DROPIN} && systemctl reload ssh && nft delete table inet kubeward")
    assert _effective(lab, node)["passwordauthentication"] == "yes"
    try:
        # a run killed right after applying: both guards armed, nothing disarmed
        d1 = parse_arm_output(_sh(lab, node, render_arm_script(SSHD_GUARD, render_install_step(hardened), window)))
        d2 = parse_arm_output(_sh(lab, node, render_arm_script(FW_GUARD, render_apply_step(ruleset), window)))
        assert d1 and d2
        assert _effective(lab, node)["passwordauthentication"] == "no"
        rc, report = up_json(converged, "--only", "harden-ssh,firewall")
        assert rc == 0, json.dumps(report, indent=1)
        assert time.time() < min(d1, d2), "up took longer than the rollback window: the test proves nothing"
        summaries = [c["summary"] for c in report["hosts"][node]["changes"]]
        for unit in (SSHD_GUARD.unit, FW_GUARD.unit):
            assert any(f"found an armed rollback timer ({unit}.timer" in s and "disarmed" in s for s in summaries), \
                summaries
        assert all(h["changed"] == 0 for name, h in report["hosts"].items() if name != node), report["hosts"]
        # past the deadline the killed run had set: the hardening and the firewall are still in place
        _wait_until(max(d1, d2) + 2)
        eff = _effective(lab, node)
        assert eff["passwordauthentication"] == "no" and eff["permitrootlogin"] == "no"
        assert _sh(lab, node, f"cat {DROPIN}") == hardened
        assert _sh(lab, node, "nft list table inet kubeward >/dev/null && echo present") == "present\n"
        timers = _sh(lab, node, f"systemctl is-active {SSHD_GUARD.unit}.timer {FW_GUARD.unit}.timer || true")
        assert timers.split() == ["inactive", "inactive"], timers
        assert _sh(lab, node, "ls -A /var/lib/kubeward/rollback /usr/local/lib/kubeward | grep -v : || true").split() == []
        # and the next run has nothing left to do
        rc, report = up_json(converged, "--only", "harden-ssh,firewall")
        assert rc == 0 and report["hosts"][node]["changed"] == 0, report["hosts"][node]
    finally:
        for g in (SSHD_GUARD, FW_GUARD):
            _sh(lab, node, f"systemctl stop {g.unit}.timer 2>/dev/null; rm -rf {g.state_dir} {g.script_path}; true")
        _sh(lab, node, f"printf %s {shlex.quote(hardened)} > {DROPIN} && systemctl reload-or-restart ssh && nft -f {RULESET}")


def test_a_leftover_that_does_not_let_kubeward_log_in_is_restored_deliberately(
    lab: Lab, lab_state: LabState, converged: Path
) -> None:
    node = lab_state.nodes[2].name
    hardened = _sh(lab, node, f"cat {DROPIN}")
    try:
        # a run killed after saving and staging, before the timer: the hardened drop-in is saved, an
        # invalid one is on disk (sshd still runs the hardened config), no timer is armed
        # (staged without the reload: a reload is a SIGHUP that sshd acts on a moment later, when it
        # would already read the broken file below and exit)
        staged = replace(render_install_step(hardened), apply="true")
        _sh(lab, node, render_arm_script(SSHD_GUARD, staged, 3600))
        _sh(lab, node, f"systemctl stop {SSHD_GUARD.unit}.timer && printf 'NoSuchOption yes\\n' >> {DROPIN}")
        rc, report = up_json(converged, "--only", "harden-ssh")
        assert rc == 1
        error = report["hosts"][node]["error"]
        assert "found a saved sshd configuration without a timer" in error, error
        assert "rolled the previous sshd configuration back" in error, error
        assert _sh(lab, node, f"cat {DROPIN}") == hardened
        assert _sh(lab, node, f"ls -A {SSHD_GUARD.state_dir} 2>/dev/null || true") == ""
        assert all(h["changed"] == 0 for name, h in report["hosts"].items() if name != node), report["hosts"]
        rc, report = up_json(converged, "--only", "harden-ssh")
        assert rc == 0 and report["hosts"][node]["changed"] == 0, report["hosts"][node]
    finally:
        _sh(lab, node, f"systemctl stop {SSHD_GUARD.unit}.timer 2>/dev/null; rm -rf {SSHD_GUARD.state_dir}; "
                       f"printf %s {shlex.quote(hardened)} > {DROPIN}; systemctl reload-or-restart ssh")
