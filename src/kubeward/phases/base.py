"""What a phase is, and the shared way an operations phase reads facts and applies changes.

A phase has a name (for ``--only``/``--skip``), a title, and ``run_all`` over the hosts; most phases
are :class:`OpsPhase`: per host, one round-trip reads every fact, the changes are computed without
I/O, and (unless this is a plan) one more round-trip applies them all.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from kubeward.config import ClusterConfig, LoadedConfig
from kubeward.errors import RemoteError
from kubeward.ops.base import (
    Change,
    HostOutcome,
    Op,
    Unchanged,
    applied_count,
    evaluate_all,
    parse_facts_output,
    render_apply_script,
    render_facts_script,
)
from kubeward.remote.ssh import CommandError, Session

log = logging.getLogger("kubeward.phases")


@dataclass
class RunContext:
    loaded: LoadedConfig
    session: Session
    apply: bool  # False for `plan`
    notes: dict[str, list[str]] = field(default_factory=dict)  # host -> remarks for the summary

    @property
    def config(self) -> ClusterConfig:
        return self.loaded.config


class Phase:
    name: str = ""
    title: str = ""

    async def run_all(self, ctx: RunContext, hosts: Sequence[str]) -> dict[str, HostOutcome]:
        results = await ctx.session.each(lambda h: self.run(ctx, h), hosts)
        out = {}
        for h, r in results.items():
            if isinstance(r, HostOutcome):
                out[h] = r
            elif isinstance(r, RemoteError):
                out[h] = HostOutcome(h, error=str(r))
            else:
                raise r
        return out

    async def run(self, ctx: RunContext, host: str) -> HostOutcome:
        raise NotImplementedError


class OpsPhase(Phase):
    """A phase made of operations; subclasses say which operations a host gets."""

    def ops_for(self, ctx: RunContext, host: str) -> list[Op]:
        raise NotImplementedError

    async def run(self, ctx: RunContext, host: str) -> HostOutcome:
        ops = self.ops_for(ctx, host)
        return await run_ops(ctx, host, ops, self.name)


async def read_outcomes(ctx: RunContext, host: str, ops: Sequence[Op], what: str) -> list[Change | Unchanged]:
    res = await ctx.session.run(host, render_facts_script(ops), label=f"read facts for {what}")
    return evaluate_all(ops, parse_facts_output(res.stdout, len(ops)))


async def run_ops(ctx: RunContext, host: str, ops: Sequence[Op], what: str) -> HostOutcome:
    outcomes = await read_outcomes(ctx, host, ops, what)
    changes = [o for o in outcomes if isinstance(o, Change)]
    result = HostOutcome(host, changes, [o for o in outcomes if isinstance(o, Unchanged)])
    refused = [c for c in changes if c.script == "false"]
    if refused:
        result.error = "; ".join(c.summary for c in refused)
        return result
    if not ctx.apply or not changes:
        return result
    for c in changes:
        log.info("%s: %s: %s", host, what, c.summary)
    try:
        res = await ctx.session.run(host, render_apply_script(changes), label=f"apply {len(changes)} change(s) of {what}")
        result.applied = applied_count(res.stdout)
    except CommandError as exc:
        result.applied = applied_count(exc.stdout)
        failed = changes[result.applied].summary if result.applied < len(changes) else "a handler"
        result.error = (f"applying {what} stopped at '{failed}' after {result.applied} of {len(changes)} "
                        f"change(s): {(exc.stderr.strip() or exc.stdout.strip())[-500:]}")
    return result
