"""SSH hardening without ever locking the operator out.

Per host: one round-trip reads the drop-in, what the installed OpenSSH offers, and `sshd -T`. When
the drop-in must change: one round-trip installs it behind `sshd -t` and an armed rollback timer and
reloads sshd; kubeward then opens a *fresh* SSH connection and reads `sshd -T` through it; only if
that works is the rollback disarmed. If the fresh login fails, the previous config is restored at
once through the old connection (and the timer would do it anyway).
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import asyncssh

from kubeward.errors import RemoteError
from kubeward.ops.base import Change, HostOutcome, Unchanged
from kubeward.ops.ops import File
from kubeward.ops.sshd import (
    CONFIG_DUMP,
    DROPIN,
    effective_mismatches,
    match_loosenings,
    parse_config_dump,
    parse_sshd_t,
    render_disarm_script,
    render_dropin,
    render_install_script,
    render_restore_script,
)
from kubeward.phases.base import PerHostPhase, RunContext
from kubeward.remote.ssh import CommandError, ConnectError, Session

#: test hook only: extra text appended to the drop-in (to prove a broken option is caught)
EXTRA_ENV = "KUBEWARD_TEST_SSHD_EXTRA"
#: how long a refused fresh login is retried after a reload, seconds
REFUSED_GRACE = 5.0

FACTS = f"""ssh -Q kex 2>/dev/null | tr '\\n' ' '; echo
echo @@
{File(DROPIN, b"").fact_script()}
echo @@
sshd -T 2>/dev/null
echo @@
{CONFIG_DUMP}"""


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
        text = await ctx.read_facts(host, self.name, FACTS, label="read sshd facts")
        kex_line, dropin_fact, sshd_t, dump = (text.split("@@\n", 3) + ["", "", ""])[:4]
        offered = kex_line.split()
        # kubeward owns the global context; a Match block elsewhere that loosens it is reported
        for loose in match_loosenings(parse_config_dump(dump)[1], offered):
            ctx.notes.setdefault(host, []).append(f"sshd: {loose}; kubeward hardens the global context only "
                                                  "(the audit reports it as KW-SSHD-MATCH)")
        content = render_dropin(offered, os.environ.get(EXTRA_ENV, ""))
        file_op = File(DROPIN, content.encode())
        changes = [o for o in file_op.evaluate(dropin_fact.strip()) if isinstance(o, Change)]
        effective = parse_sshd_t(sshd_t)
        if not changes:
            mism = effective_mismatches(effective, offered)
            if mism:
                return HostOutcome(host, error="the drop-in is in place but sshd's effective settings differ "
                                   f"(another file in sshd_config.d wins?): {'; '.join(mism[:4])}")
            return HostOutcome(host, unchanged=[Unchanged(file_op.id, "drop-in in place; sshd -T as hardened")])
        verb = "install" if changes[0].summary.startswith("create") else "update"
        change = Change(file_op.id, f"{verb} the hardened sshd drop-in {DROPIN} (validated, reload, fresh login)",
                        "", changes[0].diff)
        out = HostOutcome(host, [change])
        if not ctx.apply:
            return out
        target = s.targets[host]
        risks = lockout_risks(target.user, target.key_path)
        if risks:
            out.error = "refusing to harden sshd: " + "; ".join(risks)
            return out
        rollback = ctx.config.firewall.rollback_seconds
        ctx.changed_hosts.add(host)
        try:
            await s.run(host, render_install_script(content, rollback), label="install sshd drop-in")
        except CommandError as exc:
            why = exc.stderr.split("@@invalid", 1)[-1].strip() if "@@invalid" in exc.stderr else str(exc)
            out.error = f"sshd rejected the new configuration (sshd -t), kept the previous one: {why[-400:]}"
            return out
        problem = await _fresh_login_check(s, host, offered)
        if problem:
            await _restore(s, host)
            out.error = f"{problem}; the previous sshd configuration was restored"
            return out
        await s.run(host, render_disarm_script(), label="disarm sshd rollback")
        out.applied = 1
        return out


async def _fresh_login_check(s: Session, host: str, offered: list[str]) -> str | None:
    """Log in anew (not over the existing connection) and check sshd's effective settings."""
    # sshd re-executes itself on reload: for a moment nothing listens, so "refused" is retried briefly
    deadline = time.monotonic() + REFUSED_GRACE
    while True:
        fresh = Session([s.targets[host]], s.trust, connect_timeout=s.connect_timeout, connect_retries=1)
        try:
            async with fresh:
                res = await fresh.run(host, "sshd -T", label="sshd -T over a fresh connection")
            break
        except ConnectError as exc:
            if exc.kind == "refused" and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                continue
            return f"a fresh SSH login failed after reloading sshd: {exc}"
        except RemoteError as exc:
            return f"a fresh SSH login failed after reloading sshd: {exc}"
    mism = effective_mismatches(parse_sshd_t(res.stdout), offered)
    if mism:
        return f"sshd's effective settings differ from the drop-in: {'; '.join(mism[:4])}"
    return None


async def _restore(s: Session, host: str) -> None:
    await s.run(host, render_restore_script() + " && systemctl reload ssh && " + render_disarm_script(),
                label="restore previous sshd configuration", check=False)
