"""Runs phases in order over all hosts concurrently; stops before the next phase when a host failed.

Also: the connect and preflight phases of `up`, phase selection (--only/--skip), the run log in the
state directory, and the per-host summary.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kubeward.errors import KubewardError
from kubeward.ops.base import HostOutcome
from kubeward.phases.artifacts import Artifacts
from kubeward.phases.audit import Audit
from kubeward.phases.base import Phase, RunContext, prefetch
from kubeward.phases.control_plane import ControlPlane
from kubeward.phases.departures import Departures
from kubeward.phases.etcd import Etcd
from kubeward.phases.firewall import Firewall
from kubeward.phases.harden_ssh import HardenSsh
from kubeward.phases.nodes import Containerd, Nodes
from kubeward.phases.pki import Pki
from kubeward.phases.preflight import preflight_facts_script, run_preflight
from kubeward.phases.provision import Provision
from kubeward.phases.rollout import Rollout

log = logging.getLogger("kubeward.phases")

#: phases that only read hosts: interrupting them leaves nothing half-changed
READ_ONLY_PHASES = frozenset({"connect", "preflight", "audit"})

#: preflight failures that a later phase of `up` fixes, so they do not stop `up`
FIXED_BY_UP = {"hostname": "provision", "ssh-forwarding": "harden-ssh"}


class Connect(Phase):
    name = "connect"
    title = "Connect over SSH"

    async def run_all(self, ctx: RunContext, hosts: Sequence[str]) -> dict[str, HostOutcome]:
        errors = await ctx.session.connect_all(list(hosts))
        return {h: HostOutcome(h, error=None if e is None else str(e)) for h, e in errors.items()}


class Preflight(Phase):
    name = "preflight"
    title = "Check host requirements"

    def facts_script(self, ctx: RunContext, host: str) -> str | None:
        return preflight_facts_script(ctx.config, host)

    async def run_all(self, ctx: RunContext, hosts: Sequence[str]) -> dict[str, HostOutcome]:
        def cached(host: str) -> tuple[str, tuple[float, float]] | None:
            text = ctx.prefetched_facts(host, self.name)
            return None if text is None else (text, ctx.prefetch_window[host])

        report = await run_preflight(ctx.config, ctx.session, hosts, cached)
        out: dict[str, HostOutcome] = {}
        for h in hosts:
            if h in report.unreachable:
                out[h] = HostOutcome(h, error=report.unreachable[h])
                continue
            fails = [r for r in report.results if r.host == h and r.status == "fail"]
            blocking = [r for r in fails if r.check not in FIXED_BY_UP]
            for r in fails:
                if r.check in FIXED_BY_UP:
                    ctx.notes.setdefault(h, []).append(f"preflight {r.check}: {r.observed} "
                                                       f"(fixed by {FIXED_BY_UP[r.check]})")
            for r in report.results:
                if r.host == h and r.status == "warn":
                    ctx.notes.setdefault(h, []).append(f"preflight {r.check}: {r.observed}")
            err = "; ".join(f"{r.check}: {r.observed}" + (f" ({r.message})" if r.message else "") for r in blocking)
            out[h] = HostOutcome(h, error=err or None)
        return out


PHASES: tuple[Phase, ...] = (Connect(), Preflight(), Departures(), Provision(), HardenSsh(), Firewall(), Pki(),
                              Containerd(), Artifacts(), Rollout(), Etcd(), ControlPlane(), Nodes(), Audit())
PHASE_NAMES = tuple(p.name for p in PHASES)
#: phases that would cut a host gone from cluster.yml off (the firewall) or take it out of etcd
#: unasked: the departures phase (confirmation, drain, etcd member removal while the member still
#: runs) comes first, implied unless skipped by name
NEEDS_DEPARTURES = frozenset({"firewall", "etcd"})


def select_phases(only: Sequence[str], skip: Sequence[str]) -> list[Phase]:
    for name in [*only, *skip]:
        if name not in PHASE_NAMES:
            raise KubewardError(f"unknown phase {name!r}; phases are: {', '.join(PHASE_NAMES)}")
    implied = {"departures"} if NEEDS_DEPARTURES & (set(only) - set(skip)) and "departures" not in skip else set()
    chosen = [p for p in PHASES if (not only or p.name in only or p.name in implied) and p.name not in skip]
    # every run needs connections; connect is implied
    if chosen and chosen[0].name != "connect":
        chosen.insert(0, PHASES[0])
    return chosen


@dataclass
class RunReport:
    phases: list[str]
    outcomes: dict[str, dict[str, HostOutcome]] = field(default_factory=dict)  # phase -> host -> outcome
    stopped_after: str | None = None
    seconds: float = 0.0
    log_path: Path | None = None
    round_trips: dict[str, int] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)
    #: the phase under way and its hosts: after an interrupt (Ctrl-C), where hosts may be half-changed
    running: str | None = None
    running_hosts: list[str] = field(default_factory=list)

    def host_failed(self, host: str) -> str | None:
        for phase, hosts in self.outcomes.items():
            o = hosts.get(host)
            if o is not None and o.error:
                return f"{phase}: {o.error}"
        return None

    def changed(self, host: str) -> int:
        return sum(len(hosts[host].changes) for hosts in self.outcomes.values() if host in hosts
                   and hosts[host].error is None)

    def unchanged(self, host: str) -> int:
        return sum(len(hosts[host].unchanged) for hosts in self.outcomes.values() if host in hosts)

    def half_changed(self, apply: bool) -> list[str]:
        """The hosts an interrupt may have left half-changed: those of a changing phase under way."""
        if not apply or self.running is None or self.running in READ_ONLY_PHASES:
            return []
        return list(self.running_hosts)

    @property
    def ok(self) -> bool:
        return self.stopped_after is None and not any(
            o.error for hosts in self.outcomes.values() for o in hosts.values())


ProgressFn = Callable[[str, str, str], None]  # phase, host, state

#: phases whose facts are read as the SSH user (the others as root)
AS_USER = {"preflight"}


async def _prefetch(ctx: RunContext, phases: Sequence[Phase], hosts: Sequence[str]) -> None:
    """Local preparation of every phase, then all their facts in one round-trip per host."""
    for phase in phases:
        await phase.prepare(ctx)
    scripts: dict[str, dict[str, tuple[str, bool]]] = {}
    for h in hosts:
        for phase in phases:
            script = phase.facts_script(ctx, h)
            if script is not None:
                scripts.setdefault(h, {})[phase.name] = (script, phase.name not in AS_USER)
    await prefetch(ctx, hosts, scripts)


async def run_phases(
    ctx: RunContext,
    phases: Sequence[Phase],
    progress: ProgressFn | None = None,
    hosts: Sequence[str] | None = None,
    report: RunReport | None = None,
) -> RunReport:
    """Run ``phases`` in order on ``hosts`` (default: every host of cluster.yml).

    Pass ``report`` to keep what was done so far when the run is interrupted (it is filled as the run
    goes: finished phases in ``outcomes``, the phase under way in ``running``).

    The runner owns ``plan``: with ``ctx.apply`` false the session only runs commands marked as
    reads, whatever a phase tries. When a phase fails, the phases that ran before it get their
    :meth:`Phase.cleanup` (latest first).
    """
    report = report if report is not None else RunReport([p.name for p in phases])
    report.phases = [p.name for p in phases]
    started = time.monotonic()
    hosts = list(hosts) if hosts else [h.name for h in ctx.config.hosts]
    ctx.phase_names = tuple(p.name for p in phases)
    was_read_only = ctx.session.read_only
    ctx.session.read_only = not ctx.apply
    try:
        await _run_in_order(ctx, phases, hosts, report, progress)
    finally:
        ctx.session.read_only = was_read_only
        report.seconds = time.monotonic() - started
        report.round_trips = dict(ctx.session.round_trips)
        report.notes = ctx.notes
    return report


async def _run_in_order(ctx: RunContext, phases: Sequence[Phase], hosts: list[str], report: RunReport,
                        progress: ProgressFn | None) -> None:
    ran: list[Phase] = []
    for phase in phases:
        report.running, report.running_hosts = phase.name, list(hosts)
        for h in hosts:
            if progress:
                progress(phase.name, h, "running")
        log.info("phase %s (%s) on %d hosts", phase.name, phase.title, len(hosts))
        ran.append(phase)
        outcomes = await phase.run_all(ctx, hosts)
        report.outcomes[phase.name] = outcomes
        report.running, report.running_hosts = None, []
        for h, o in outcomes.items():
            state = "failed" if o.error else ("changed" if o.changes else "ok")
            log.info("%s: %s: %s%s", phase.name, h, state, f": {o.error}" if o.error else "")
            for c in o.changes:
                log.info("%s: %s: %s %s", phase.name, h, "changed" if ctx.apply else "would change", c.summary)
            for n in o.notes:
                ctx.notes.setdefault(h, []).append(f"{phase.name}: {n.text}")
            if progress:
                progress(phase.name, h, state)
        if any(o.error for o in outcomes.values()):
            if phase is not phases[-1]:
                report.stopped_after = phase.name
            await _cleanup(ctx, ran[:-1], hosts)
            break
        if phase.name == "connect":
            report.running, report.running_hosts = "connect", list(hosts)  # reading facts: no change yet
            await _prefetch(ctx, phases, hosts)
            report.running, report.running_hosts = None, []


async def _cleanup(ctx: RunContext, ran: Sequence[Phase], hosts: Sequence[str]) -> None:
    for phase in reversed(ran):
        try:
            await phase.cleanup(ctx, hosts)
        except KubewardError as exc:
            log.warning("clean-up of %s failed: %s", phase.name, exc)
            for h in hosts:
                ctx.notes.setdefault(h, []).append(f"{phase.name}: clean-up failed: {exc}")
