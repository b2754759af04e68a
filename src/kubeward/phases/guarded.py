"""The guarded change, once for every phase that could lock the operator out (sshd, the firewall).

:func:`apply_guarded`: arm a rollback timer and apply (one round-trip), prove a *fresh* SSH login
(a new connection, never the cached one), then commit (disarm) or restore at once.

:func:`resolve_leftover`: a run killed between arming and disarming leaves the timer armed (it would
undo the change minutes later, after a next run said "nothing to change") or a saved state without a
timer. The phases read the guard's fact with their own (prefetched) facts; when it shows such a
leftover, this makes what is on disk live, proves a fresh login with it and disarms, or restores the
saved state deliberately. Either way the run reports what it found.

The node-side shell is in :mod:`kubeward.ops.guard`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from kubeward.errors import KubewardError, RemoteError
from kubeward.ops.base import Change
from kubeward.ops.guard import (
    ROLLED_BACK,
    Guard,
    GuardFact,
    Step,
    parse_arm_output,
    render_arm_script,
    render_commit_script,
    render_disarm_script,
    render_resolve_script,
    render_restore_script,
)
from kubeward.phases.base import RunContext
from kubeward.remote.ssh import CommandError, ConnectError, Session

log = logging.getLogger("kubeward.phases")

#: a proof: None when the fresh login showed what was wanted, else what is wrong
Prove = Callable[[], Awaitable[str | None]]


class InvalidChange(KubewardError):
    """The node's validator (``sshd -t``, ``nft -c``) rejected the change; nothing was changed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def render_deadline(deadline: int) -> str:
    if deadline <= 0:
        return "at an unknown time"
    left = deadline - time.time()
    at = datetime.fromtimestamp(deadline, UTC).strftime("%H:%M:%S UTC")
    return f"at {at} (in {left:.0f} s)" if left >= 0 else f"at {at} ({-left:.0f} s ago)"


async def fresh_login(s: Session, host: str, command: str, *, sudo: bool, what: str,
                      refused_grace: float = 0.0, timeout: float = 15) -> tuple[str | None, str]:
    """Run ``command`` over a NEW SSH connection: (problem or None, its stdout).

    ``refused_grace``: sshd re-executes itself on reload, so for a moment nothing listens; a refused
    connection is retried that long.
    """
    deadline = time.monotonic() + refused_grace
    while True:
        fresh = Session([s.targets[host]], s.trust, connect_timeout=s.connect_timeout, connect_retries=0)
        try:
            async with fresh:
                res = await fresh.run(host, command, sudo=sudo, label=f"fresh login after {what}", timeout=timeout)
            return None, res.stdout
        except ConnectError as exc:
            if exc.kind == "refused" and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                continue
            return f"a new SSH connection failed after {what} ({exc.kind}: {exc.detail})", ""
        except RemoteError as exc:
            return f"a new SSH connection failed after {what}: {exc}", ""
        except TimeoutError:
            return f"a new SSH connection timed out after {what}", ""


@dataclass
class Applied:
    deadline: int  # when the node would have rolled back by itself (epoch seconds)


async def apply_guarded(ctx: RunContext, host: str, guard: Guard, step: Step, prove: Prove, *,
                        commit: str = "") -> Applied:
    """Arm, apply, prove a fresh login, then commit (``commit`` shell, then disarm) or restore.

    Raises :class:`InvalidChange` when the validator refused the change (nothing changed), and
    RemoteError with what happened (restored, or restoring by itself at the deadline) otherwise.
    """
    s = ctx.session
    seconds = ctx.config.firewall.rollback_seconds
    ctx.changed_hosts.add(host)
    try:
        res = await s.run(host, render_arm_script(guard, step, seconds), label=f"arm the {guard.name} rollback, apply")
    except CommandError as exc:
        if "@@invalid" in exc.stderr:
            raise InvalidChange(exc.stderr.split("@@invalid", 1)[-1].strip()[-400:]) from exc
        raise
    deadline = parse_arm_output(res.stdout) or 0
    log.info("%s: %s changed; rolls back by itself %s unless disarmed", host, guard.what, render_deadline(deadline))
    problem = await prove()
    if problem:
        raise GuardError(host, f"{problem}; {await _restore(s, host, guard, deadline)}")
    await _commit(s, host, guard, commit, deadline)
    return Applied(deadline)


async def resolve_leftover(ctx: RunContext, host: str, guard: Guard, fact: GuardFact, prove: Prove) -> Change:
    """Deal with what an unfinished run left (``fact.leftover``): prove and disarm, or restore.

    Returns the change to report; raises GuardError when the saved state had to be restored (the
    host then needs attention: the state that run left does not let kubeward log in).
    """
    found = (f"an armed rollback timer ({guard.unit}.timer, due {render_deadline(fact.deadline)})"
             if fact.armed else f"a saved {guard.what} without a timer")
    if fact.armed and fact.saved:
        found += f" and the {guard.what} saved"
    found += " left by an unfinished run"
    op = f"guard:{guard.name}"
    if not ctx.apply:
        return Change(op, f"found {found}: would prove a fresh SSH login and disarm it, or restore the saved "
                          f"{guard.what}", "")
    s = ctx.session
    try:
        await s.run(host, render_resolve_script(guard), label=f"make the {guard.what} on disk live")
        problem = await prove()
    except CommandError as exc:
        problem = f"the {guard.what} left on disk does not take effect ({exc.reason}: {exc.stderr.strip()[-300:]})"
    if problem:
        ctx.changed_hosts.add(host)
        raise GuardError(host, f"found {found}; {problem}; {await _restore(s, host, guard, fact.deadline)}")
    if fact.deadline > 0:  # this kubeward armed it: the timer may fire while we prove
        await _commit(s, host, guard, "", fact.deadline, found=found)
    else:
        await s.run(host, render_disarm_script(guard), label=f"disarm the {guard.name} rollback left behind")
    log.info("%s: found %s; proved a fresh SSH login and disarmed it", host, found)
    return Change(op, f"found {found}: proved a fresh SSH login with the {guard.what} in place and disarmed it", "")


async def _commit(s: Session, host: str, guard: Guard, commit: str, deadline: int, found: str = "") -> None:
    try:
        await s.run(host, render_commit_script(guard, commit), label=f"commit the {guard.name} change")
    except CommandError as exc:
        if exc.exit_status == ROLLED_BACK:
            what = f"found {found}; " if found else ""
            raise GuardError(host, f"{what}the node rolled the {guard.what} back by itself (due "
                             f"{render_deadline(deadline)}) before kubeward could disarm it: the fresh login "
                             "took longer than firewall.rollback_seconds; run again") from exc
        raise


async def _restore(s: Session, host: str, guard: Guard, deadline: int) -> str:
    try:
        await s.run(host, render_restore_script(guard), label=f"restore the previous {guard.what}", timeout=20)
        return f"rolled the previous {guard.what} back"
    except CommandError as exc:
        if exc.exit_status == 4:
            return (f"nothing saved to restore the {guard.what} from (an older kubeward's leftover?): the "
                    f"{guard.what} on disk is kept, check the host by hand")
        return f"restoring the previous {guard.what} failed ({exc.reason}): check the host by hand"
    except RemoteError:
        return (f"the existing connection is gone too: the node restores its previous {guard.what} by itself "
                f"{render_deadline(deadline)}")


class GuardError(RemoteError):
    """A guarded change (or what an unfinished one left) failed its proof; says what was restored."""

    def __init__(self, host: str, message: str) -> None:
        super().__init__(message)
        self.host = host
        self.message = message
