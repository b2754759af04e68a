"""The rollout phase: changed Kubernetes binaries installed node by node, each drained and health-gated.

Runs after ``artifacts`` (which staged every new build on the nodes that run services) and before the
phases that render configuration by version. Per node the facts are the artifacts phase's
(:mod:`kubeward.artifacts.nodes`), the decisions pure (:mod:`kubeward.artifacts.rollout`,
:mod:`kubeward.artifacts.skew`). With anything to roll out, under ``up``:

1. the version change is checked against the skew policy (also under ``plan``, and by the artifacts
   phase before it uploads anything);
2. an etcd snapshot is saved to ``STATE_DIR/backups/etcd-before-rollout-<UTC time>.db`` (0600)
   before any node is touched;
3. batches in order (control planes one at a time, then workers ``--max-unavailable`` at a time):
   mark, cordon and drain (``kube.drain``), install, restart with health gates, wait until the Node
   is Ready again (a heartbeat after the restart), uncordon, unmark. The nodes of a batch go at once.

A node that fails stops the roll-out after its batch: its error names it, the nodes done and the
nodes untouched; it stays cordoned (its mark says kubeward cordoned it), and the next ``up``
continues with it. Every step is stamped with its UTC time in the report.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from lightkube import AsyncClient

from kubeward.artifacts.manifest import Manifest
from kubeward.artifacts.nodes import (
    BINARY_UNITS,
    NodeFacts,
    NodePlan,
    binary_name,
    parse_node_facts,
    render_node_facts_script,
    render_node_plan,
)
from kubeward.artifacts.rollout import (
    CORDONED,
    NODE_SERVICES,
    WAS_CORDONED,
    Batch,
    HostRollout,
    plan_batches,
    plan_host_rollout,
    render_install_script,
    render_mark_script,
    render_order,
    render_restart_script,
    render_unmark_script,
)
from kubeward.artifacts.skew import SkewVerdict, check_version_change
from kubeward.components.node import NodeTraits, parse_node_traits
from kubeward.components.plan import plan_work, render_apply, render_wait
from kubeward.components.spec import Component
from kubeward.components.version import Version
from kubeward.errors import KubewardError, RemoteError
from kubeward.etcd.admin import save_snapshot
from kubeward.kube.client import api_client
from kubeward.kube.drain import drain, set_unschedulable
from kubeward.kube.node_status import NodeStatus, read_node_statuses, wait_node_ready
from kubeward.ops.base import Change, HostOutcome, Note, Unchanged
from kubeward.phases.base import Phase, RunContext
from kubeward.phases.component import error_tail, parse_component_facts, render_component_facts
from kubeward.phases.nodes import TRAITS, Nodes

log = logging.getLogger("kubeward.phases")

#: how long a drain may take (PodDisruptionBudgets, grace periods), and a Node to be Ready again
DRAIN_TIMEOUT = 300.0
READY_TIMEOUT = 120.0
BACKUP_DIR = "backups"


def utc_stamp(t: datetime | None = None) -> str:
    return (t or datetime.now(UTC)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def installed_version(facts: NodeFacts, plan: NodePlan) -> Version | None:
    """The version a node's ``current`` link points at (None: nothing installed yet)."""
    target = facts.links.get(plan.current_link)
    try:
        return Version.parse(target) if target else None
    except ValueError:
        return None


def version_verdict(ctx: RunContext, plans: Mapping[str, NodePlan], facts: Mapping[str, NodeFacts]) -> SkewVerdict:
    """The skew policy's verdict on moving these nodes to cluster.yml's version."""
    assert ctx.config.kubernetes.version is not None
    installed = {h: (ctx.config.host(h).role, installed_version(f, plans[h])) for h, f in facts.items()}
    return check_version_change(Version.parse(ctx.config.kubernetes.version), installed,
                                allow_downgrade=ctx.allow_downgrade)


def render_skew_error(verdict: SkewVerdict) -> str:
    return "version skew policy: " + "; ".join(verdict.problems) + " (nothing was changed)"


class Rollout(Phase):
    name = "rollout"
    title = "Roll out changed Kubernetes binaries node by node"

    def __init__(self) -> None:
        self.manifest: Manifest | None = None
        self.nodes: Nodes | None = None  # renders kubelet and kube-proxy as the nodes phase does

    async def prepare(self, ctx: RunContext) -> None:
        self.manifest = None
        if not ctx.config.kubernetes.enabled:
            return
        from kubeward.artifacts.source import resolve_artifacts

        _, self.manifest = await asyncio.to_thread(resolve_artifacts, ctx.config, "amd64",
                                                   lambda m: log.info("rollout: %s", m))

    def plan(self, ctx: RunContext, host: str) -> NodePlan | None:
        if self.manifest is None:
            return None
        return render_node_plan(self.manifest, ctx.config.host(host).role)

    def facts_script(self, ctx: RunContext, host: str) -> str | None:
        plan = self.plan(ctx, host)
        return None if plan is None else render_node_facts_script(plan)

    def snapshot_path(self, ctx: RunContext) -> Path:
        return ctx.loaded.state_dir / BACKUP_DIR / f"etcd-before-rollout-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.db"

    async def run_all(self, ctx: RunContext, hosts: Sequence[str]) -> dict[str, HostOutcome]:
        if self.manifest is None:
            return {h: HostOutcome(h, unchanged=[Unchanged("rollout", "kubernetes.enabled is false")]) for h in hosts}
        out = {h: HostOutcome(h) for h in hosts}
        plans = {h: p for h in hosts if (p := self.plan(ctx, h)) is not None}

        async def read(h: str) -> NodeFacts:
            script = render_node_facts_script(plans[h])
            return parse_node_facts(await ctx.read_facts(h, self.name, script, label="read roll-out facts"))

        facts: dict[str, NodeFacts] = {}
        for h, r in (await ctx.session.each(read, hosts)).items():
            if isinstance(r, NodeFacts):
                facts[h] = r
            elif isinstance(r, RemoteError):
                out[h].error = str(r)
            else:
                raise r
        if any(o.error for o in out.values()):
            return out
        verdict = version_verdict(ctx, plans, facts)
        if not verdict.ok:
            for o in out.values():
                o.error = render_skew_error(verdict)
            return out
        rollouts = {h: plan_host_rollout(h, ctx.config.host(h).role, plans[h], facts[h]) for h in hosts}
        batches = plan_batches([rollouts[h] for h in hosts], ctx.max_unavailable, workers_first=verdict.downgrade)
        if not batches:
            for h in hosts:
                out[h].unchanged.append(Unchanged("rollout", "every service runs the binaries in place"))
            return out
        snapshot = self.snapshot_path(ctx)
        order = render_order(batches, str(snapshot))
        log.info("rollout: %s", order)
        out[batches[0].hosts[0]].notes.append(Note("rollout", order))
        for b in batches:
            for h in b.hosts:
                out[h].changes.append(Change("rollout", f"{self.label(b, len(batches))}: "
                                             + ", ".join(rollouts[h].render_steps()), ""))
        if not ctx.apply:
            return out
        unstaged = {h: r.unstaged for h, r in rollouts.items() if r.unstaged}
        for h, names in unstaged.items():
            out[h].error = (f"the new build of {', '.join(names)} is not staged on {h}: run `kubeward up` with the "
                            "artifacts phase (it stages it); nothing was rolled out")
        if unstaged:
            return out
        for o in out.values():
            o.changes = []  # replaced by what is done, step by step
        await self.roll(ctx, batches, rollouts, snapshot, out)
        return out

    @staticmethod
    def label(batch: Batch, total: int) -> str:
        return f"batch {batch.number}/{total} ({batch.kind})"

    # ----- apply -------------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def api(self, ctx: RunContext, avoid: str | None = None) -> AsyncIterator[AsyncClient]:
        """A client through a control plane's API server, another one than ``avoid`` when there is one."""
        cps = [h.name for h in ctx.config.control_planes]
        node = next((c for c in cps if c != avoid), cps[0])
        async with api_client(ctx.session, ctx.config, ctx.loaded.state_dir, node, "cluster-admin") as client:
            yield client

    async def roll(self, ctx: RunContext, batches: Sequence[Batch], rollouts: Mapping[str, HostRollout],
                   snapshot: Path, out: dict[str, HostOutcome]) -> None:
        first = batches[0].hosts[0]
        try:
            info = await self.save_snapshot(ctx, snapshot)
        except KubewardError as exc:
            out[first].error = (f"the etcd snapshot before the roll-out failed: {exc}; nothing was rolled out "
                                "(every node still runs its previous binaries, the new ones are staged)")
            return
        out[first].changes.append(Change("rollout:etcd-snapshot", f"etcd snapshot saved to {info['file']} "
                                         f"({info['bytes']} bytes from {info['member']}, revision "
                                         f"{info['revision']}) at {utc_stamp()}", ""))
        if any(set(r.restarts) & set(NODE_SERVICES) for r in rollouts.values()):
            self.nodes = Nodes()
            await self.nodes.prepare(ctx)  # the CA and kube-proxy's kubeconfig, from the state directory
        nodes: dict[str, NodeStatus] = {}
        if any(r.drain for r in rollouts.values()):
            try:
                async with self.api(ctx) as client:
                    nodes = await read_node_statuses(client)
            except Exception as exc:  # noqa: BLE001 - the API is needed to drain: this node's error
                out[first].error = f"reading the Nodes before the roll-out: {exc}; nothing was rolled out"
                return
        done: list[str] = []
        for i, batch in enumerate(batches):
            log.info("rollout: %s: %s", self.label(batch, len(batches)), ", ".join(batch.hosts))
            ok = await asyncio.gather(*(self.roll_host(ctx, rollouts[h], self.label(batch, len(batches)),
                                                       nodes.get(h), out[h]) for h in batch.hosts))
            done += [h for h, good in zip(batch.hosts, ok, strict=True) if good]
            if all(ok):
                continue
            untouched = [h for b in batches[i + 1:] for h in b.hosts]
            for h in batch.hosts:
                if out[h].error:
                    out[h].error = (f"the roll-out stopped at {h} in {self.label(batch, len(batches))}: "
                                    f"{out[h].error}. Done: {', '.join(done) or 'none'}; untouched: "
                                    f"{', '.join(untouched) or 'none'}. Fix the cause and run `kubeward up` "
                                    f"again: the roll-out continues with {h}")
            stopped = ", ".join(h for h in batch.hosts if out[h].error)
            for h in untouched:
                out[h].notes.append(Note("rollout", f"not rolled out: the roll-out stopped at {stopped}; {h} "
                                                    "still runs its previous binaries (the new ones are staged)"))
            return

    async def save_snapshot(self, ctx: RunContext, path: Path) -> dict[str, object]:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
        log.info("rollout: saving an etcd snapshot to %s", path)
        return await save_snapshot(ctx.session, ctx.config, path, lambda m: log.info("rollout: %s", m))

    def components(self, ctx: RunContext, host: str, binaries: Sequence[str],
                   traits: NodeTraits | None = None) -> list[Component]:
        """The services ``binaries`` run on ``host``, as the control-plane and nodes phases declare them
        for cluster.yml's version: their units and health probes, and (for a new version) the files
        written before they restart. ``traits``: the node's (a fact), for the kubelet's files."""
        from kubeward.components.control_plane import control_plane_components
        from kubeward.phases.control_plane import read_inputs

        by_name: dict[str, Component] = {}
        if any(b not in NODE_SERVICES for b in binaries):
            by_name.update({c.name: c for c in control_plane_components(ctx.config, ctx.config.host(host),
                                                                        read_inputs(ctx, create_keys=False))})
        if any(b in NODE_SERVICES for b in binaries):
            assert self.nodes is not None, "prepared by roll()"
            self.nodes.traits[host] = traits or NodeTraits()
            by_name.update({c.name: c for c in self.nodes.components(ctx, host)[:2]})  # kubelet, kube-proxy
        return [by_name[b] for b in binaries]

    async def write_configuration(self, ctx: RunContext, host: str, binaries: Sequence[str]) -> list[str]:
        """The flags and files of cluster.yml's version for the services about to restart, as the
        control-plane and nodes phases would write them (without their restart): one round-trip for
        the facts, one more only if something differs. Returns what changed."""
        comps = self.components(ctx, host, binaries)
        text = (await ctx.session.run(host, render_component_facts(comps), label="read the services' configuration",
                                      reads_only=True)).stdout
        facts = parse_component_facts(text, comps)
        comps = self.components(ctx, host, binaries, parse_node_traits(facts.get(TRAITS, "")))
        works = [w for c in comps if not (w := plan_work(c, facts, start=False, restart=False)).idle]
        if not works:
            return []
        offsets = [sum(len(w.changes) for w in works[:i]) for i in range(len(works))]
        await ctx.session.run(host, "".join(render_apply(w, off) for w, off in zip(works, offsets, strict=True)),
                              label="write the new version's configuration")
        return [c.summary for w in works for c in w.changes]

    async def roll_host(self, ctx: RunContext, r: HostRollout, label: str, node: NodeStatus | None,
                        out: HostOutcome) -> bool:
        host = r.host
        ctx.changed_hosts.add(host)
        drain_it = r.drain and node is not None
        mark = r.resume or (WAS_CORDONED if node is not None and node.unschedulable else CORDONED)
        cordoned = False
        step = "starting"
        try:
            if r.drain and node is None:
                out.notes.append(Note("rollout", f"no Node {host} in the API: nothing to drain"))
            if drain_it:
                step = "marking the node"
                await ctx.session.run(host, render_mark_script(mark), label="mark the node for the roll-out")
                step = "cordoning and draining"
                async with self.api(ctx, avoid=host) as client:
                    start = utc_stamp()
                    cordoned = True  # the drain cordons first; a failure after that leaves it cordoned
                    report = await drain(client, host, timeout=DRAIN_TIMEOUT, progress=lambda m: log.info("rollout: %s", m),
                                         version=ctx.config.kubernetes.version)
                evicted = f"evicted {len(report.evicted)} pod(s)" + (f": {', '.join(report.evicted)}" if report.evicted else "")
                out.changes.append(Change("rollout:drain", f"{label}: cordoned at {start}, drained at {utc_stamp()} "
                                          f"({evicted})", ""))
            if r.installs or r.switch_to:
                step = "installing the new binaries"
                await ctx.session.run(host, render_install_script(r), label="install the new Kubernetes binaries")
                what = [f"{binary_name(f)} (sha256 {f.sha256[:12]}..., previous kept as {binary_name(f)}.kubeward-previous)"
                        for f in r.installs]
                if r.switch_to:
                    what.append(f"the switch to v{r.switch_to}")
                out.changes.append(Change("rollout:install", f"{label}: installed {', '.join(what)} at {utc_stamp()}", ""))
            if r.restarts:
                # what the later phases would write for these services (a new version's flags): now,
                # before their restart, so that the new binary never meets flags it does not accept
                step = "writing the services' configuration"
                written = await self.write_configuration(ctx, host, r.restarts)
                if written:
                    out.changes.append(Change("rollout:configure", f"{label}: {'; '.join(written)} at {utc_stamp()}", ""))
            restarted = datetime.now(UTC)
            # a restarted kubelet must post its status again; a node only resumed needs to be Ready
            since = restarted if "kubelet" in r.restarts else None
            if r.restarts:
                units = ", ".join(BINARY_UNITS[b] for b in r.restarts)
                step = f"restarting {units}"
                comps = self.components(ctx, host, r.restarts)
                script = "".join(render_restart_script(c.unit, r.executable(b)) + render_wait(c) + "\n"
                                 for b, c in zip(r.restarts, comps, strict=True))
                await ctx.session.run(host, script, label=f"restart {units}, each healthy before the next", timeout=900)
                out.changes.append(Change("rollout:restart", f"{label}: restarted {units} at {utc_stamp(restarted)}, "
                                          f"healthy at {utc_stamp()}", ""))
            if drain_it:
                step = "waiting until the Node is Ready"
                async with self.api(ctx, avoid=host) as client:
                    version = f"v{r.switch_to}" if r.switch_to else None
                    await wait_node_ready(client, host, since=since, kubelet_version=version, timeout=READY_TIMEOUT)
                    ready = utc_stamp()
                    if mark != WAS_CORDONED:
                        step = "uncordoning"
                        await set_unschedulable(client, host, False)
                how = "uncordoned" if mark != WAS_CORDONED else "left cordoned (it was cordoned before the roll-out)"
                out.changes.append(Change("rollout:uncordon", f"{label}: Ready at {ready}, {how} at {utc_stamp()}", ""))
            if drain_it or r.resume:  # (a mark for a Node that is gone is removed too)
                step = "removing the roll-out mark"
                await ctx.session.run(host, render_unmark_script(), label="remove the roll-out mark")
            out.applied = len(out.changes)
            return True
        except Exception as exc:  # noqa: BLE001 - any failure stops the roll-out at this node, with the reason
            why = error_tail(exc) if isinstance(exc, RemoteError) else str(exc) or type(exc).__name__
            state = " (it stays cordoned)" if cordoned or r.resume else ""
            out.error = f"{step} failed{state}: {why}"
            log.warning("rollout: %s: %s", host, out.error)
            return False
