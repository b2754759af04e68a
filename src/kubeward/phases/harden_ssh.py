"""SSH hardening without ever locking the operator out.

Per host: one round-trip reads the drop-in, what the installed OpenSSH offers, `sshd -T`, and
whether an unfinished run left a rollback armed or a saved config (resolved first: see
:mod:`kubeward.phases.guarded`). When the drop-in must change, it is a guarded change: installed
behind `sshd -t` and an armed rollback timer, sshd reloaded, then a *fresh* SSH connection reads
`sshd -T`; only if that works is the rollback disarmed, else the previous config is restored at once
through the old connection (and the timer would do it anyway).
"""

from __future__ import annotations

import os
from pathlib import Path

import asyncssh

from kubeward.hostscripts.sections import parse_sections, render_sections
from kubeward.ops.base import Change, HostOutcome, Unchanged
from kubeward.ops.guard import parse_guard_fact, render_guard_fact_script
from kubeward.ops.ops import File
from kubeward.ops.sshd import (
    CONFIG_DUMP,
    DROPIN,
    GUARD,
    effective_mismatches,
    match_loosenings,
    parse_config_dump,
    parse_sshd_t,
    render_dropin,
    render_install_step,
)
from kubeward.phases.base import PerHostPhase, RunContext
from kubeward.phases.guarded import GuardError, InvalidChange, Prove, apply_guarded, fresh_login, resolve_leftover
from kubeward.remote.ssh import Session

#: test hook only: extra text appended to the drop-in (to prove a broken option is caught)
EXTRA_ENV = "KUBEWARD_TEST_SSHD_EXTRA"
#: how long a refused fresh login is retried after a reload, seconds
REFUSED_GRACE = 5.0

#: the phase's facts, as ``sshd`` sections: the guard's state, the key exchanges OpenSSH offers, the
#: drop-in, sshd's effective global settings, and the text of every file sshd reads
FACTS = render_sections("sshd", {
    "guard": render_guard_fact_script(GUARD),
    "kex": "ssh -Q kex 2>/dev/null | tr '\\n' ' '; echo",
    "dropin": File(DROPIN, b"").fact_script(),
    "effective": "sshd -T 2>/dev/null",
    "files": CONFIG_DUMP,
})


def lockout_risks(user: str, key_path: Path) -> list[str]:
    """Reasons why hardening would lock kubeward's own login out (checked before touching sshd)."""
    out = []
    if user == "root":
        out.append("hosts[].ssh.user is root, but hardening sets PermitRootLogin no: log in as a sudo user "
                   "(e.g. the admin account) instead")
    try:
        key = asyncssh.read_private_key(str(key_path))
        if key.get_algorithm() != "ssh-ed25519":
            out.append(f"the SSH key {key_path} is {key.get_algorithm()}, but hardening accepts only ed25519 "
                       "user keys: use an ed25519 key (ssh-keygen -t ed25519)")
    except (OSError, asyncssh.KeyImportError) as exc:
        out.append(f"cannot read the SSH key {key_path}: {exc}")
    return out


class HardenSsh(PerHostPhase):
    name = "harden-ssh"
    title = "Harden sshd"

    def facts_script(self, ctx: RunContext, host: str) -> str | None:
        return FACTS

    async def run(self, ctx: RunContext, host: str) -> HostOutcome:
        s = ctx.session
        facts = await ctx.read_facts(host, self.name, FACTS, label="read sshd facts")
        part = parse_sections(facts, "sshd")
        guard = parse_guard_fact(part.get("guard", ""), GUARD)
        kex_line, dropin_fact, sshd_t, dump = (part.get(k, "") for k in ("kex", "dropin", "effective", "files"))
        offered = kex_line.split()
        # kubeward owns the global context; a Match block elsewhere that loosens it is reported
        for loose in match_loosenings(parse_config_dump(dump)[1], offered):
            ctx.notes.setdefault(host, []).append(f"sshd: {loose}; kubeward hardens the global context only "
                                                  "(the audit reports it as KW-SSHD-MATCH)")
        found: list[Change] = []
        if guard.leftover:
            # what the unfinished run left needs only to let kubeward log in: if it is not the wanted
            # drop-in, the guarded change below replaces it
            try:
                found.append(await resolve_leftover(ctx, host, GUARD, guard, _prover(s, host, None)))
            except GuardError as exc:
                return HostOutcome(host, error=exc.message)
        content = render_dropin(offered, os.environ.get(EXTRA_ENV, ""))
        file_op = File(DROPIN, content.encode())
        changes = [o for o in file_op.evaluate(dropin_fact.strip()) if isinstance(o, Change)]
        effective = parse_sshd_t(sshd_t)
        if not changes:
            mism = effective_mismatches(effective, offered)
            if mism:
                return HostOutcome(host, found, error="the drop-in is in place but sshd's effective settings differ "
                                   f"(another file in sshd_config.d wins?): {'; '.join(mism[:4])}")
            return HostOutcome(host, found, [Unchanged(file_op.id, "drop-in in place; sshd -T as hardened")],
                               applied=len(found) if ctx.apply else 0)
        verb = "install" if changes[0].summary.startswith("create") else "update"
        change = Change(file_op.id, f"{verb} the hardened sshd drop-in {DROPIN} (validated, reload, fresh login)",
                        "", changes[0].diff)
        out = HostOutcome(host, [*found, change], applied=len(found) if ctx.apply else 0)
        if not ctx.apply:
            return out
        target = s.targets[host]
        risks = lockout_risks(target.user, target.key_path)
        if risks:
            out.error = "refusing to harden sshd: " + "; ".join(risks)
            return out
        try:
            await apply_guarded(ctx, host, GUARD, render_install_step(content), _prover(s, host, offered))
        except InvalidChange as exc:
            out.error = f"sshd rejected the new configuration (sshd -t), kept the previous one: {exc.reason}"
            return out
        except GuardError as exc:
            out.error = exc.message
            return out
        out.applied += 1
        return out


def _prover(s: Session, host: str, offered: list[str] | None) -> Prove:
    """Log in anew (not over the existing connection) and check sshd's effective settings (those the
    drop-in wants for ``offered``; with None, only that ``sshd -T`` answers)."""

    async def prove() -> str | None:
        problem, stdout = await fresh_login(s, host, "sshd -T", sudo=True, what="reloading sshd",
                                            refused_grace=REFUSED_GRACE)
        if problem or offered is None:
            return problem
        mism = effective_mismatches(parse_sshd_t(stdout), offered)
        if mism:
            return f"sshd's effective settings differ from the drop-in: {'; '.join(mism[:4])}"
        return None

    return prove
