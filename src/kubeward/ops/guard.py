"""Guarded changes on a node (pure): the shell that saves what a change replaces, arms a rollback
timer, applies, and later commits (disarms) or restores; and the fact that tells a later run about a
guard an unfinished run left behind.

A change that could lock the operator out (sshd's configuration, the firewall) is made in one
round-trip by :func:`render_arm_script`: save the current state into ``STATE/NAME/``, stage and
validate the new one, write the rollback script ``LIB/rollback-NAME.sh`` (root, 0700), arm a
transient timer ``kubeward-NAME-rollback.timer`` that runs it, and apply. The caller then proves a
fresh SSH login and runs :func:`render_disarm_script` (commit) or :func:`render_restore_script`.

Why a script file: a transient unit whose command is ``/bin/sh -c '...'`` is re-read from
/run/systemd/transient on every ``systemctl daemon-reload`` (apt and kubeward run it) with its
escapes mangled, and then fails with "Syntax error" instead of restoring anything. A path to a file
survives any reload. Why ``AccuracySec=1ms``: a timer's default accuracy is one minute, so a 60 s
rollback used to fire up to 97 s after it was armed; now it fires in the second before the deadline
the arm script prints (and saves, for later runs to read).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

#: where rollback scripts live (root, 0700 each)
LIB = "/usr/local/lib/kubeward"
#: where each guard keeps the state it restores (0700), beside its deadline
STATE = "/var/lib/kubeward/rollback"
#: systemd's timer accuracy for the rollback (its default, 1 min, made 60 s rollbacks fire at ~97 s);
#: a one-off timer costs nothing to wake precisely, and the printed deadline is then the real one
ACCURACY = "1ms"


@dataclass(frozen=True)
class Guard:
    """What a guarded change saves and how it is restored; the shell runs as root under ``/bin/sh``.

    ``save`` copies what a change replaces into the directory ``$S``; ``restore`` puts it back and
    makes it live (it runs from the rollback script, long after kubeward may be gone); ``settle``
    makes the live service use what is on disk before a later run proves a login with it (e.g.
    ``sshd -t && systemctl reload ssh``); ``legacy`` are files an older kubeward kept its saved state
    in, removed on disarm.
    """

    name: str
    what: str
    save: str
    restore: str
    settle: str = "true"
    legacy: tuple[str, ...] = ()

    @property
    def unit(self) -> str:
        return f"kubeward-{self.name}-rollback"

    @property
    def script_path(self) -> str:
        return f"{LIB}/rollback-{self.name}.sh"

    @property
    def state_dir(self) -> str:
        return f"{STATE}/{self.name}"


@dataclass(frozen=True)
class Step:
    """One guarded change: ``stage`` puts the new state in place or aside (not live yet), ``check``
    validates it (non-zero exit, with the reason on stdout/stderr, when invalid), ``undo`` takes the
    staged state away again, ``apply`` makes it live."""

    stage: str
    check: str
    undo: str
    apply: str


def render_rollback_file(guard: Guard) -> str:
    """The rollback script itself: restore the saved state, then forget it (kept when restoring fails)."""
    return f"""#!/bin/sh
# Managed by kubeward: restores the {guard.what} saved before a guarded change.
# Run by {guard.unit}.timer when kubeward did not prove a fresh SSH login in time,
# or by kubeward itself when that proof failed.
S={shlex.quote(guard.state_dir)}
[ -d "$S" ] || {{ echo "kubeward: nothing saved in $S, nothing to restore"; exit 0; }}
restore() {{
{guard.restore}
}}
if restore; then
  rm -rf "$S"
  echo "kubeward: restored the {guard.what} saved before an unproven change"
else
  echo "kubeward: restoring the {guard.what} failed; the saved state stays in $S" >&2
  exit 1
fi
"""


def _stop_timer(guard: Guard) -> str:
    u = guard.unit
    return (f"systemctl stop {u}.timer >/dev/null 2>&1 || true\n"
            f"systemctl reset-failed {u}.service {u}.timer >/dev/null 2>&1 || true")


def render_arm_script(guard: Guard, step: Step, seconds: int) -> str:
    """Save, stage, check, arm the rollback timer, apply; prints ``@@armed DEADLINE`` (epoch seconds).

    An invalid change exits 3 with ``@@invalid REASON`` on stderr, with nothing changed and nothing
    armed.
    """
    s = shlex.quote(guard.state_dir)
    script = shlex.quote(guard.script_path)
    return f"""set -e
umask 077
mkdir -p {LIB} {STATE} && chmod 0700 /var/lib/kubeward {STATE}
S={s}
rm -rf "$S" "$S.tmp" && mkdir -m 0700 "$S.tmp"
(S="$S.tmp"
{guard.save}
)
mv "$S.tmp" "$S"
{step.stage}
if ! out=$( ( {step.check}
) 2>&1); then
  {step.undo}
  rm -rf "$S"
  echo "@@invalid $out" >&2
  exit 3
fi
printf %s {shlex.quote(render_rollback_file(guard))} > {script}.tmp
chown root:root {script}.tmp && chmod 0700 {script}.tmp && mv -f {script}.tmp {script}
{_stop_timer(guard)}
systemd-run --quiet --unit {guard.unit} --on-active={int(seconds)} --timer-property=AccuracySec={ACCURACY} \\
  --description={shlex.quote(f"kubeward: roll the {guard.what} back unless a fresh SSH login was proven")} {script}
# the timer started before this line: it fires within the second before this deadline
deadline=$(( $(date +%s) + {int(seconds)} + 1 ))
echo "$deadline" > "$S/deadline"
{step.apply}
echo "@@armed $deadline"
"""


def render_disarm_script(guard: Guard) -> str:
    """Commit: stop the timer and forget the saved state (and what an older kubeward saved)."""
    legacy = " ".join(shlex.quote(p) for p in guard.legacy)
    return f"""{_stop_timer(guard)}
rm -rf {shlex.quote(guard.state_dir)} {shlex.quote(guard.state_dir)}.tmp {shlex.quote(guard.script_path)} {legacy}
"""


#: exit status of the commit script when the timer restored the saved state before the commit
ROLLED_BACK = 7


def render_commit_script(guard: Guard, commit: str = "") -> str:
    """Stop the timer, then make the change permanent (``commit``) and disarm, but only if the
    rollback has not run meanwhile (a proof slower than the window): committing then would record
    a change that is no longer live. Exits :data:`ROLLED_BACK` in that case, committing nothing."""
    u = guard.unit
    return f"""set -e
systemctl stop {u}.timer >/dev/null 2>&1 || true
i=0
while systemctl is-active --quiet {u}.service && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
if [ ! -d {shlex.quote(guard.state_dir)} ]; then echo "@@rolled-back" >&2; exit {ROLLED_BACK}; fi
{commit}
{render_disarm_script(guard)}"""


def render_restore_script(guard: Guard) -> str:
    """Restore now (the proof failed): stop the timer, run the rollback script, then disarm; exit 4
    when nothing is saved (e.g. only an older kubeward's backup, which is left alone)."""
    return f"""{_stop_timer(guard)}
if [ ! -d {shlex.quote(guard.state_dir)} ] || [ ! -x {shlex.quote(guard.script_path)} ]; then
  echo "nothing saved to restore" >&2; exit 4
fi
{shlex.quote(guard.script_path)} || exit 5  # the saved state stays for the next run (or by hand)
{render_disarm_script(guard)}"""


def render_resolve_script(guard: Guard) -> str:
    """Before proving a login with what an unfinished run left: make it live (``settle``)."""
    return f"""set -e
{guard.settle}
"""


def parse_arm_output(text: str) -> int | None:
    """The deadline (epoch seconds) the arm script printed, if it got that far."""
    for line in text.splitlines():
        if line.startswith("@@armed "):
            try:
                return int(line.split()[1])
            except (IndexError, ValueError):
                return None
    return None


# ----- the fact a later run reads -----------------------------------------------------------------


@dataclass(frozen=True)
class GuardFact:
    """What a node holds of a guarded change: an armed timer, saved state, and the deadline."""

    armed: bool
    saved: bool
    deadline: int  # epoch seconds; 0 when unknown

    @property
    def leftover(self) -> bool:
        return self.armed or self.saved


def render_guard_fact_script(guard: Guard) -> str:
    """One line, ``@@guard NAME ACTIVE-STATE saved|none DEADLINE``: cheap enough for every prefetch."""
    files = " ".join(shlex.quote(p) for p in (guard.state_dir, *guard.legacy))
    return (f"printf '@@guard {guard.name} %s %s %s\\n' "
            f"\"$(systemctl is-active {guard.unit}.timer 2>/dev/null || true)\" "
            f"\"$(for f in {files}; do [ -e \"$f\" ] && {{ echo saved; break; }}; done)\" "
            f"\"$(cat {shlex.quote(guard.state_dir)}/deadline 2>/dev/null || echo 0)\"\n")


def parse_guard_fact(text: str, guard: Guard) -> GuardFact:
    """Find the guard's line anywhere in a phase's facts (absent: nothing armed, nothing saved)."""
    for line in text.splitlines():
        parts = line.split()
        if parts[:2] == ["@@guard", guard.name]:
            rest = parts[2:]
            armed = bool(rest) and rest[0] == "active"
            saved = "saved" in rest
            try:
                deadline = int(rest[-1]) if rest else 0
            except ValueError:
                deadline = 0
            return GuardFact(armed, saved, deadline)
    return GuardFact(False, False, 0)
