"""`kubeward reset` on hosts: the plans of :mod:`kubeward.reset.plan` run by the host script of
:mod:`kubeward.hostscripts.reset`, every host at once.

Per host, one round-trip runs the script in ``check`` mode: it lists exactly what is there to
remove and changes nothing (that is all of ``--dry-run``, and what the confirmation shows). Then,
for hosts that have something to remove, one more round-trip runs it in ``apply`` mode. With
``--all``, the sshd drop-in goes first, as a guarded change (:func:`kubeward.phases.guarded.apply_guarded`:
``sshd -t`` without it, a rollback timer armed, reload, a fresh SSH login proven, then disarmed), so
neither a broken configuration nor a refused login can lock the operator out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from kubeward.errors import RemoteError
from kubeward.hostscripts.reset import RESET_SCRIPT, Item, parse_reset_output
from kubeward.hostscripts.sections import strip_markers
from kubeward.ops.sshd import GUARD as SSHD_GUARD
from kubeward.ops.sshd import render_remove_step
from kubeward.phases.base import RunContext
from kubeward.phases.guarded import GuardError, InvalidChange, apply_guarded, fresh_login
from kubeward.remote.ssh import CommandError
from kubeward.reset.plan import Mode, ResetPlan, render_reset_input

log = logging.getLogger("kubeward.reset")

#: seconds one host's reset may take (stopping the control plane and etcd, removing ~1 GB of images)
TIMEOUT = 600
#: how long a refused fresh login is retried after sshd's reload, seconds
REFUSED_GRACE = 5.0

Progress = Callable[[str, str], None]  # host, message


@dataclass
class HostReset:
    """What reset found (check) or did (apply) on one host."""

    host: str
    items: list[Item] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.items)


@dataclass
class ResetReport:
    dry_run: bool
    checked: dict[str, HostReset] = field(default_factory=dict)
    done: dict[str, HostReset] = field(default_factory=dict)  # hosts reset (apply), by host
    confirmed: bool = False
    seconds: float = 0.0
    round_trips: dict[str, int] = field(default_factory=dict)

    @property
    def result(self) -> dict[str, HostReset]:
        """Each host's final state: what was removed, or (dry run, nothing to do) what was found."""
        return {h: self.done.get(h, c) for h, c in self.checked.items()}

    @property
    def ok(self) -> bool:
        return not any(r.error for r in self.result.values())


def _failure(exc: RemoteError, what: str, done: int) -> str:
    if isinstance(exc, CommandError):
        said = strip_markers(exc.stderr.strip() or exc.stdout.strip()).strip() or exc.reason
        if exc.exit_status is None:
            said = exc.reason
        return f"{what} stopped after {done} removal(s): {said[-500:]}; run reset again to finish"
    return f"{what}: {exc}"


async def run_script(ctx: RunContext, plan: ResetPlan, mode: Mode) -> HostReset:
    """The host script in ``mode`` on the plan's host (one round-trip)."""
    started = time.monotonic()
    out = HostReset(plan.host, kept=list(plan.kept))
    what = "check what reset would remove" if mode == "check" else "reset"
    try:
        res = await ctx.session.run(plan.host, RESET_SCRIPT, input=render_reset_input(plan, mode), label=what,
                                    timeout=TIMEOUT, reads_only=mode == "check")
        parsed = parse_reset_output(res.stdout)
        if not parsed.finished:
            out.error = f"{what}: the script ended before its last step (output cut short?)"
    except CommandError as exc:
        parsed = parse_reset_output(exc.stdout)
        out.error = _failure(exc, what, len(parsed.items))
    except RemoteError as exc:
        parsed = parse_reset_output("")
        out.error = _failure(exc, what, 0)
    out.items = parsed.items
    out.kept += parsed.kept
    out.seconds = time.monotonic() - started
    return out


async def remove_sshd_dropin(ctx: RunContext, host: str) -> str | None:
    """The guarded removal of the sshd hardening drop-in; None, or what went wrong (and what was
    restored)."""
    async def prove() -> str | None:
        problem, _ = await fresh_login(ctx.session, host, "sshd -T >/dev/null", sudo=True,
                                       what="removing the sshd hardening", refused_grace=REFUSED_GRACE)
        return problem

    try:
        await apply_guarded(ctx, host, SSHD_GUARD, render_remove_step(), prove)
    except InvalidChange as exc:
        return f"kept the sshd drop-in: sshd's configuration does not pass sshd -t without it: {exc.reason}"
    except GuardError as exc:
        return exc.message
    except RemoteError as exc:
        return f"removing the sshd drop-in: {exc}"
    return None


async def apply_host(ctx: RunContext, plan: ResetPlan, checked: HostReset, progress: Progress) -> HostReset:
    started = time.monotonic()
    sshd = [i for i in checked.items if i.kind == "sshd-dropin"]
    if plan.sshd_dropin and sshd:
        progress(plan.host, "removing the sshd hardening (guarded: sshd -t, fresh login)")
        problem = await remove_sshd_dropin(ctx, plan.host)
        if problem:
            return HostReset(plan.host, kept=list(checked.kept), error=problem,
                             seconds=time.monotonic() - started)
    progress(plan.host, f"removing {len(checked.items) - len(sshd)} thing(s)")
    out = await run_script(ctx, plan, "apply")
    out.items = sshd + out.items
    out.seconds = time.monotonic() - started
    progress(plan.host, f"failed: {out.error}" if out.error else f"removed {len(out.items)} in {out.seconds:.1f} s")
    return out


async def check_all(ctx: RunContext, plans: dict[str, ResetPlan], progress: Progress) -> dict[str, HostReset]:
    async def one(host: str) -> HostReset:
        try:
            await ctx.session.connect(host)
        except RemoteError as exc:
            return HostReset(host, kept=list(plans[host].kept), error=str(exc))
        r = await run_script(ctx, plans[host], "check")
        progress(host, f"check failed: {r.error}" if r.error else
                 (f"{len(r.items)} thing(s) to remove" if r.items else "nothing to remove"))
        return r

    results = await ctx.session.each(one, list(plans))
    out: dict[str, HostReset] = {}
    for h, r in results.items():
        if isinstance(r, HostReset):
            out[h] = r
        elif isinstance(r, RemoteError):
            out[h] = HostReset(h, error=str(r))
        else:
            raise r
    return out


async def reset_hosts(ctx: RunContext, plans: dict[str, ResetPlan], *, dry_run: bool,
                      confirm: Callable[[dict[str, HostReset]], Awaitable[bool]],
                      progress: Progress) -> ResetReport:
    """Check every host, then (not ``dry_run``, once ``confirm`` agreed) reset those with something
    to remove, all at once. A host whose check failed is not reset."""
    started = time.monotonic()
    report = ResetReport(dry_run)
    try:
        report.checked = await check_all(ctx, plans, progress)
        todo: Sequence[str] = [h for h, r in report.checked.items() if r.changed and not r.error]
        if dry_run or not todo or not await confirm(report.checked):
            return report
        report.confirmed = True
        log.info("reset confirmed for %s", ", ".join(todo))
        results = await asyncio.gather(*(apply_host(ctx, plans[h], report.checked[h], progress) for h in todo))
        report.done = {r.host: r for r in results}
        for r in results:
            for i in r.items:
                log.info("%s: removed %s %s", r.host, i.kind, i.what)
            if r.error:
                log.warning("%s: %s", r.host, r.error)
        return report
    finally:
        report.seconds = time.monotonic() - started
        report.round_trips = dict(ctx.session.round_trips)
