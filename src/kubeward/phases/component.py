"""The one phase type that puts components on hosts.

A :class:`ComponentPhase` declares which :class:`~kubeward.components.spec.Component` values a host
gets; this module does the rest for any of them: reading every operation's fact (from the facts
prefetch when still fresh), planning each host's work without I/O
(:func:`kubeward.components.plan.plan_work`), one apply round-trip per host (files, packages,
daemon-reload, enable, start, health probe), then restarts of running services whose files changed,
by the component's policy: all hosts at once, or one host at a time with each healthy before the
next. Hosts it changed are marked stale for later phases. Under ``plan`` it stops after planning
(and the session refuses changes anyway).

Phases with cluster-wide decisions (etcd's membership) reuse the same steps: :meth:`read_all`,
:func:`plan_work`, :meth:`apply_work`, :meth:`restart`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import abstractmethod
from collections.abc import Sequence

from kubeward.components.plan import (
    HostWork,
    plan_work,
    render_apply,
    render_reload,
    render_restart,
    restart_for_files,
)
from kubeward.components.spec import Component
from kubeward.errors import RemoteError
from kubeward.hostscripts.sections import parse_sections, render_sections, strip_markers
from kubeward.ops.base import FACT, HostOutcome, Note, applied_count, fact_key
from kubeward.phases.base import Phase, RunContext
from kubeward.remote.ssh import CommandError

log = logging.getLogger("kubeward.phases")


def render_component_facts(components: Sequence[Component]) -> str:
    """Every operation's fact and every extra fact of ``components`` as ``fact`` sections."""
    bodies: dict[str, str] = {}
    for c in components:
        for op in c.ops():
            bodies.setdefault(fact_key(op.id), op.fact_script())
        for key, script in c.extra_facts.items():
            bodies.setdefault(key, script)
    return render_sections(FACT, bodies, merge_stderr=False)


def parse_component_facts(text: str, components: Sequence[Component]) -> dict[str, str]:
    """``op id or extra key -> fact``; raises ValueError when the script did not get to the end."""
    sections = parse_sections(text, FACT)
    out: dict[str, str] = {}
    missing: list[str] = []
    for c in components:
        for op in c.ops():
            key = fact_key(op.id)
            if key in sections:
                out[op.id] = sections[key]
            else:
                missing.append(op.id)
        for key in c.extra_facts:
            out[key] = sections.get(key, "")
    if missing:
        raise ValueError(f"facts output is missing operations {missing}")
    return out


def error_tail(exc: RemoteError) -> str:
    if isinstance(exc, CommandError):
        return strip_markers(exc.stderr.strip() or exc.stdout.strip()).strip()[-600:] or exc.reason
    return str(exc)


class ComponentPhase(Phase):
    """A phase that declares components; see the module docstring."""

    @abstractmethod
    def components(self, ctx: RunContext, host: str) -> list[Component]:
        """The components ``host`` gets ([] when the phase does not concern it)."""

    def facts_script(self, ctx: RunContext, host: str) -> str | None:
        comps = self.components(ctx, host)
        return render_component_facts(comps) if comps else None

    async def read_all(self, ctx: RunContext, hosts: Sequence[str], out: dict[str, HostOutcome],
                       *, cluster_wide: bool = False) -> dict[str, dict[str, str]]:
        """Facts of every host that has components. ``cluster_wide``: the facts describe the whole
        cluster (a member list), so one changed host makes every host's prefetched facts stale."""
        stale = cluster_wide and any(h in ctx.changed_hosts for h in hosts)

        async def one(h: str) -> dict[str, str]:
            comps = self.components(ctx, h)
            cached = None if stale else ctx.prefetched_facts(h, self.name)
            if cached is None:
                script = render_component_facts(comps)
                cached = (await ctx.session.run(h, script, label=f"read {self.name} facts", reads_only=True)).stdout
            return parse_component_facts(cached, comps)

        concerned = [h for h in hosts if self.components(ctx, h)]
        facts: dict[str, dict[str, str]] = {}
        for h, r in (await ctx.session.each(one, concerned)).items():
            if isinstance(r, dict):
                facts[h] = r
            elif isinstance(r, RemoteError | ValueError):
                out[h].error = str(r)
            else:
                raise r
        return facts

    @staticmethod
    def record(out: HostOutcome, works: Sequence[HostWork]) -> None:
        for w in works:
            out.changes += w.shown()
            out.unchanged += w.unchanged
            out.notes += w.notes
            out.refusals += w.refusals
        if out.refusals:
            out.error = "; ".join(r.reason for r in out.refusals)

    async def apply_work(self, ctx: RunContext, host: str, works: Sequence[HostWork], out: HostOutcome,
                         what: str, timeout: float = 600) -> bool:
        """One round-trip doing every work of ``host``; False (and ``out.error``) on failure."""
        todo = [w for w in works if not w.idle]
        if not ctx.apply or not todo:
            return True
        for w in todo:
            for c in w.changes:
                log.info("%s: %s: %s", host, self.name, c.summary)
        ctx.changed_hosts.add(host)
        offsets = [sum(len(w.changes) for w in todo[:i]) for i in range(len(todo))]
        script = "".join(render_apply(w, off) for w, off in zip(todo, offsets, strict=True))
        try:
            await ctx.session.run(host, script, label=what, timeout=timeout)
            out.applied = len(out.changes)
            return True
        except RemoteError as exc:
            changes = [c for w in todo for c in w.changes]
            done = applied_count(exc.stdout) if isinstance(exc, CommandError) else 0
            at = changes[done].summary if done < len(changes) else "starting the service"
            if isinstance(exc, CommandError) and exc.exit_status is None:  # connection lost or timed out
                out.error = f"{what}: {exc.reason} at '{at}' after {done} of {len(changes)} change(s)"
            else:
                out.error = f"{what} stopped at '{at}' after {done} of {len(changes)} change(s): {error_tail(exc)}"
            out.applied = done
            return False

    async def restart(self, ctx: RunContext, component_of: dict[str, Component], out: dict[str, HostOutcome]) -> bool:
        return await restart_components(ctx, component_of, out)

    async def run_all(self, ctx: RunContext, hosts: Sequence[str]) -> dict[str, HostOutcome]:
        out = {h: HostOutcome(h) for h in hosts}
        facts = await self.read_all(ctx, hosts, out)
        works: dict[str, list[HostWork]] = {}
        for h, f in facts.items():
            works[h] = [plan_work(c, f) for c in self.components(ctx, h)]
            for w in works[h]:
                restart_for_files(w, ctx.changed_files.get(h, ()))
            self.record(out[h], works[h])
        if any(o.error for o in out.values()) or not ctx.apply:
            return out
        results = await asyncio.gather(*(self.apply_work(ctx, h, w, out[h], f"apply {self.name}")
                                         for h, w in works.items()))
        if not all(results):
            return out
        # restarts: per component, by its policy
        names = list(dict.fromkeys(w.component.name for ws in works.values() for w in ws))
        for name in names:
            due = {h: w.component for h, ws in works.items() for w in ws
                   if w.component.name == name and w.needs_restart}
            if not await self.restart(ctx, due, out):
                return out
        await reload_components(ctx, {(h, w.component.name): w.component for h, ws in works.items() for w in ws
                                      if w.needs_reload}, out)
        return out


async def reload_components(ctx: RunContext, due: dict[tuple[str, str], Component], out: dict[str, HostOutcome]) -> bool:
    """Reload ``(host, component name) -> component`` on every host at once (a reload drops nothing),
    each followed by its health probe; False when one failed (that host's error)."""
    if not ctx.apply or not due:
        return True

    async def one(h: str, c: Component) -> bool:
        ctx.changed_hosts.add(h)
        try:
            await ctx.session.run(h, render_reload(c), label=f"reload {c.unit}", timeout=300)
            log.info("%s: reloaded %s", h, c.unit)
            return True
        except RemoteError as exc:
            out[h].error = f"reloading {c.unit}: {error_tail(exc)}"
            return False

    return all(await asyncio.gather(*(one(h, c) for (h, _), c in due.items())))


_NOT_RUNNING = "kubeward-not-running"


def _clock(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t)) + f".{int(t % 1 * 1000):03d}"


async def restart_components(ctx: RunContext, component_of: dict[str, Component], out: dict[str, HostOutcome],
                             *, if_running: bool = False) -> bool:
    """Restart ``host -> component`` by the component's policy: ``all`` at once, ``rolling`` one host
    at a time, each healthy before the next. False when one failed: a rolling restart stops there
    and the hosts after it keep running their previous configuration (each is told so).
    ``if_running``: leave a stopped service stopped."""
    if not ctx.apply or not component_of:
        return True

    async def one(h: str) -> bool:
        c = component_of[h]
        ctx.changed_hosts.add(h)
        script = render_restart(c)
        if if_running:
            script = f"if systemctl is-active -q {c.unit}; then\n{script}else echo {_NOT_RUNNING}; fi\n"
        started = time.time()
        try:
            res = await ctx.session.run(h, script, label=f"restart {c.unit} and wait until "
                                        f"{c.health.what if c.health else 'started'}", timeout=600)
            if if_running and _NOT_RUNNING in res.stdout:
                return True
            log.info("%s: restarted %s", h, c.unit)
            done = time.time()
            out[h].notes.append(Note(f"service:{c.unit}", (
                f"restarted {c.unit} from {_clock(started)} to {_clock(done)} ({done - started:.1f} s, until "
                f"{c.health.what if c.health else 'started'})")))
            return True
        except RemoteError as exc:
            out[h].error = f"restarting {c.unit}: {error_tail(exc)}"
            return False

    rolling = [h for h, c in component_of.items() if c.restart == "rolling"]
    at_once = [h for h, c in component_of.items() if c.restart != "rolling"]
    ok = all(await asyncio.gather(*(one(h) for h in at_once)))
    for i, h in enumerate(rolling):
        if not await one(h):
            for x in rolling[i + 1:]:
                out[x].error = (f"not restarted: the rolling restart of {component_of[x].unit} stopped at {h}; "
                                f"{x} still runs its previous configuration")
            return False
    return ok
