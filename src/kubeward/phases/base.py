"""What a phase is, and the shared way an operations phase reads facts and applies changes.

A phase has a name (for ``--only``/``--skip``), a title, and ``run_all`` over the hosts; most phases
are :class:`OpsPhase`: per host, one round-trip reads every fact, the changes are computed without
I/O, and (unless this is a plan) one more round-trip applies them all.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from kubeward.config import ClusterConfig, LoadedConfig
from kubeward.errors import RemoteError
from kubeward.hostscripts.sections import parse_sections, render_marker
from kubeward.ops.base import (
    HostOutcome,
    Op,
    Outcome,
    applied_count,
    evaluate_all,
    parse_facts_output,
    render_apply_script,
    render_facts_script,
    strip_markers,
)
from kubeward.ops.shell import render_nested
from kubeward.remote.ssh import CommandError, Session

log = logging.getLogger("kubeward.phases")


@dataclass
class RunContext:
    loaded: LoadedConfig
    session: Session
    apply: bool  # False for `plan`
    notes: dict[str, list[str]] = field(default_factory=dict)  # host -> remarks for the summary
    #: every phase's facts, read in one round-trip per host before the first phase (see prefetch)
    prefetched: dict[str, dict[str, str]] = field(default_factory=dict)
    prefetch_window: dict[str, tuple[float, float]] = field(default_factory=dict)
    #: hosts an earlier phase changed: their prefetched facts are stale
    changed_hosts: set[str] = field(default_factory=set)
    #: host -> files an earlier phase of this run changed there (certificates and keys): a running
    #: component that ``reads`` one is restarted by its own phase, by its restart policy
    changed_files: dict[str, set[str]] = field(default_factory=dict)
    #: the phases of this run, in order
    phase_names: tuple[str, ...] = ()
    #: the audit phase also sweeps every TCP port from outside (`up --audit-sweep`)
    audit_sweep: bool = False
    audit_full: bool = False  # the audit's peer scan probes from every node, not a sample
    #: asks the operator (the question in words) before something that cannot be undone, e.g. the
    #: departures phase draining hosts gone from cluster.yml; None: nobody to ask (no terminal, no --yes)
    confirm: Callable[[str], bool] | None = None
    #: the roll-out of changed binaries: workers drained at once (`up --max-unavailable`), and
    #: whether an older kubernetes.version may be rolled out (`--allow-downgrade`)
    max_unavailable: int = 1
    allow_downgrade: bool = False

    @property
    def config(self) -> ClusterConfig:
        return self.loaded.config

    def prefetched_facts(self, host: str, key: str) -> str | None:
        if host in self.changed_hosts:
            return None
        return self.prefetched.get(host, {}).pop(key, None)

    async def read_facts(self, host: str, key: str, script: str, *, label: str) -> str:
        """A phase's facts: from the prefetch when still fresh, else one round-trip now."""
        cached = self.prefetched_facts(host, key)
        if cached is not None:
            return cached
        return (await self.session.run(host, script, label=label, reads_only=True)).stdout


class Phase(ABC):
    """A step of `kubeward up` over a set of hosts; ``run_all`` returns each host's outcome."""

    name: str = ""
    title: str = ""

    async def prepare(self, ctx: RunContext) -> None:  # noqa: B027 - an optional hook, not abstract
        """Local work before any host is touched (e.g. issuing certificates)."""

    def facts_script(self, ctx: RunContext, host: str) -> str | None:
        """The shell (run as root) whose output ``read_facts`` will want first, for the prefetch."""
        return None

    @abstractmethod
    async def run_all(self, ctx: RunContext, hosts: Sequence[str]) -> dict[str, HostOutcome]: ...

    async def cleanup(self, ctx: RunContext, hosts: Sequence[str]) -> None:  # noqa: B027 - optional hook
        """Called (in reverse order) on phases that ran when a later phase failed: undo what must not
        stay half-done (temporary files, staged uploads). Hosts already converged stay as they are."""


class PerHostPhase(Phase):
    """A phase whose hosts are independent: ``run`` per host, all hosts at once."""

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

    @abstractmethod
    async def run(self, ctx: RunContext, host: str) -> HostOutcome: ...


class OpsPhase(PerHostPhase):
    """A phase made of operations; subclasses say which operations a host gets."""

    @abstractmethod
    def ops_for(self, ctx: RunContext, host: str) -> list[Op]: ...

    def facts_script(self, ctx: RunContext, host: str) -> str | None:
        return render_facts_script(self.ops_for(ctx, host))

    async def run(self, ctx: RunContext, host: str) -> HostOutcome:
        ops = self.ops_for(ctx, host)
        return await run_ops(ctx, host, ops, self.name)


async def read_outcomes(ctx: RunContext, host: str, ops: Sequence[Op], what: str) -> list[Outcome]:
    text = await ctx.read_facts(host, what, render_facts_script(ops), label=f"read facts for {what}")
    return evaluate_all(ops, parse_facts_output(text, ops))


async def run_ops(ctx: RunContext, host: str, ops: Sequence[Op], what: str) -> HostOutcome:
    outcomes = await read_outcomes(ctx, host, ops, what)
    result = HostOutcome(host)
    result.add(outcomes)
    changes = result.changes
    if result.refusals or not ctx.apply or not changes:
        return result
    for c in changes:
        log.info("%s: %s: %s", host, what, c.summary)
    ctx.changed_hosts.add(host)
    try:
        res = await ctx.session.run(host, render_apply_script(changes), label=f"apply {len(changes)} change(s) of {what}")
        result.applied = applied_count(res.stdout)
    except CommandError as exc:
        result.applied = applied_count(exc.stdout)
        if exc.exit_status is None or not ctx.session.connected(host):  # the link or the host died
            result.error = (f"connection to {host} lost during {what} after {result.applied} of {len(changes)} "
                            f"change(s) ({exc.reason})")
            return result
        failed = changes[result.applied].summary if result.applied < len(changes) else "a handler"
        said = strip_markers(exc.stderr.strip() or exc.stdout.strip()).strip() or exc.reason
        result.error = (f"applying {what} stopped at '{failed}' after {result.applied} of {len(changes)} "
                        f"change(s): {said[-500:]}")
    return result


PHASE = "phase"


def render_prefetch_script(scripts: dict[str, tuple[str, bool]], user: str) -> str:
    """One script printing every phase's facts as ``phase`` sections; (script, as_root) per phase key.

    stdout only, as when each phase reads its own facts: warnings on stderr (sudo's "unable to
    resolve host", say) must not reach the parsers.
    """
    parts = []
    for key, (script, as_root) in scripts.items():
        # the phase's script travels in a here-document: it may not be an argument of sudo or sh
        run = render_nested(script, sudo=as_root and user != "root")
        parts.append(f"{render_marker(PHASE, key)}\n{run}")
    parts.append(render_marker(PHASE, "end"))
    return "\n".join(parts) + "\n"


def parse_prefetch_output(text: str) -> dict[str, str]:
    return parse_sections(text, PHASE)


async def prefetch(ctx: RunContext, hosts: Sequence[str], scripts: dict[str, dict[str, tuple[str, bool]]]) -> None:
    """Read every phase's facts from each host in one round-trip (all hosts at once)."""

    async def one(host: str) -> None:
        before = time.time()
        user = ctx.session.targets[host].user
        res = await ctx.session.run(host, render_prefetch_script(scripts[host], user), sudo=False, check=False,
                                    label="read facts for every phase", reads_only=True)
        ctx.prefetch_window[host] = (before, time.time())
        ctx.prefetched[host] = parse_prefetch_output(res.stdout)

    await ctx.session.each(one, [h for h in hosts if scripts.get(h)])
