"""Hosts leaving the cluster: drained, out of etcd, stopped, their Node deleted (`up` and `kubeward node remove`).

A host *departs* when the cluster still knows it (a Node, an etcd member, its kubelet's CSRs) but
the cluster.yml being converged does not list it: removed from the file before `up`, or left out by `kubeward node remove`,
which converges the cluster.yml without the host. Per departing host, in this order:

1. cordon and drain its Node (:mod:`kubeward.kube.drain`: the Eviction API, PodDisruptionBudgets
   honoured, bare pods only with ``force``);
2. a control plane: remove its etcd member through a remaining healthy member while the departing
   one still runs and is reachable (a member cut off first, by the firewall, would count against
   the quorum until it is removed);
3. only when the host is reachable (`node remove`): stop and disable kubeward's services there
   (:mod:`kubeward.components.retire`);
4. delete its Node and its kubelet's CSRs (records of certificates a host outside cluster.yml
   holds: the audit judges every approved serving CSR against cluster.yml).

Refused before any step, with the reason: removing a control plane that would break etcd's quorum
or leave none (:func:`kubeward.etcd.membership.removal_refusal`). Everything else that follows from
the host being gone (the other nodes' firewall sets, pod routes, local API proxies' backends, the
API servers' ``--etcd-servers``) is what the other phases converge anyway on the cluster.yml
without it, so there is one path for it, not two.

The departures phase of `up` runs before every phase that changes hosts and asks for confirmation
(``RunContext.confirm``) naming what it will drain and remove; under `plan` it only lists it.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from lightkube import AsyncClient

from kubeward.components.etcd import HEALTH, MEMBERS, etcd_component, extra_facts
from kubeward.components.retire import parse_still_active, render_retire_script, retired_units
from kubeward.components.spec import Component
from kubeward.config import ClusterConfig, HostConfig
from kubeward.errors import KubewardError, RemoteError
from kubeward.etcd import scripts as etcd_scripts
from kubeward.etcd.config import new_cluster_bootstrap, peer_url
from kubeward.etcd.membership import Member, removal_refusal
from kubeward.hostscripts.sections import parse_sections, render_sections
from kubeward.kube import client as api
from kubeward.kube.csr_policy import csrs_by_node
from kubeward.kube.drain import DrainReport, PodInfo, drain, eviction_plan, node_pods
from kubeward.ops.base import FACT, Change, HostOutcome, Note, Unchanged
from kubeward.phases.base import Phase, RunContext
from kubeward.phases.component import error_tail, parse_component_facts
from kubeward.phases.etcd import ClusterView, Etcd, cluster_view, node_facts

log = logging.getLogger("kubeward.phases")
Progress = Callable[[str], None]
#: how long a drain may take by default (evictions refused by a PodDisruptionBudget are retried)
DRAIN_TIMEOUT = 300.0


class DepartureError(KubewardError):
    pass


@dataclass
class Departure:
    """One host the cluster knows that the cluster.yml being converged does not list."""

    name: str
    node: bool = False  # a Node object of this name exists
    member: Member | None = None  # its etcd member
    csrs: list[str] = field(default_factory=list)  # CSRs made for its kubelet (records of its certificates)
    evict: list[str] = field(default_factory=list)  # pods the drain evicts
    keep: list[str] = field(default_factory=list)  # pods that stay (DaemonSet, mirror)
    blocked: list[str] = field(default_factory=list)  # pods that stop the drain (without force)


@dataclass
class DeparturePlan:
    departures: list[Departure] = field(default_factory=list)
    #: a remaining control plane whose member is healthy and votes: it runs `etcdctl member remove`
    operator: str | None = None
    refusal: str | None = None
    notes: list[str] = field(default_factory=list)

    def names(self) -> list[str]:
        return [d.name for d in self.departures]

    def steps(self, d: Departure, *, retire: HostConfig | None = None) -> list[str]:
        """What happens to ``d``, in order, in words (the confirmation and `plan` show these)."""
        out = []
        if d.node:
            pods = f"evict {len(d.evict)} pod(s)" if d.evict else "no pod to evict"
            if d.keep:
                pods += f"; {len(d.keep)} stay (DaemonSet or static)"
            if d.blocked:
                pods += f"; BLOCKED by {', '.join(d.blocked)}"
            out.append(f"cordon and drain Node {d.name} ({pods})")
        if d.member is not None:
            out.append(f"remove etcd member {d.member.label} (through {self.operator or '?'}), before its etcd stops")
        if retire is not None:
            out.append(f"stop and disable on {d.name}: {', '.join(retired_units(retire))}"
                       + (", etcd (its data moved aside)" if retire.is_control_plane else ""))
        if d.node:
            out.append(f"delete Node {d.name}" + (f" and its kubelet's {len(d.csrs)} CSR(s)" if d.csrs else ""))
        elif d.csrs:
            out.append(f"delete the {len(d.csrs)} CSR(s) of {d.name}'s kubelet (its Node is gone already)")
        return out


# ----- reading --------------------------------------------------------------------------------------


def etcd_facts_script(config: ClusterConfig) -> str:
    """The member list and health as a control plane's member sees them (two of the etcd phase's facts)."""
    facts = extra_facts(config)
    return render_sections(FACT, {k: facts[k] for k in (MEMBERS, HEALTH)}, merge_stderr=False)


async def read_etcd_view(ctx: RunContext, cps: Sequence[str], config: ClusterConfig | None = None) -> ClusterView:
    """etcd's members and which are healthy, from every control plane in ``cps`` (hosts of
    ``config``, by default the run's): the etcd phase's prefetched facts when this run has them
    (read, not taken: the etcd phase still wants them), else one read per control plane."""
    config = config or ctx.config
    if config.etcd.source != "apt":
        return ClusterView(None, set(), None)
    script = etcd_facts_script(config)
    bootstrap = new_cluster_bootstrap(config)

    def component(h: str) -> Component:
        return etcd_component(config, config.host(h), bootstrap)

    async def one(h: str) -> dict[str, str]:
        text = None if h in ctx.changed_hosts else ctx.prefetched.get(h, {}).get(Etcd.name)
        if text is not None:
            with contextlib.suppress(ValueError):
                return parse_component_facts(text, [component(h)])
        text = ctx.prefetched.get(h, {}).get(Departures.name) if h not in ctx.changed_hosts else None
        if text is None:
            text = (await ctx.session.run(h, script, label="read etcd's members and health", reads_only=True)).stdout
        return parse_sections(text, FACT)

    facts = {}
    for h, r in (await ctx.session.each(one, list(cps))).items():
        if isinstance(r, dict):
            facts[h] = node_facts(h, r, component(h))
        elif not isinstance(r, RemoteError):
            raise r
    return cluster_view(facts)


def departing_nodes(config: ClusterConfig, node_names: Sequence[str], only: HostConfig | None = None) -> list[str]:
    """The Nodes ``config`` does not list (only ``only``'s, when given)."""
    wanted = {h.name for h in config.hosts}
    return sorted(n for n in node_names if n not in wanted and (only is None or n == only.name))


def decide_departures(config: ClusterConfig, view: ClusterView, node_pods: Mapping[str, Sequence[PodInfo]],
                      cps: Sequence[str], *, only: HostConfig | None = None, force: bool = False,
                      csrs: Mapping[str, Sequence[str]] | None = None) -> DeparturePlan:
    """Who departs and whether that is refused (pure): the etcd members ``config``'s control planes
    do not account for (only ``only``'s, when given), the departing Nodes with their pods, and the
    CSRs made for kubelets of hosts ``config`` does not list (``csrs``: node -> CSR names)."""
    plan = DeparturePlan()
    if view.error:
        plan.refusal = view.error
        return plan
    by_name: dict[str, Departure] = {}
    if view.members is not None:
        kept_urls = {peer_url(config, h) for h in config.control_planes}
        for m in view.members:
            if set(m.peer_urls) & kept_urls:
                continue
            if only is not None and m.name != only.name and peer_url(config, only) not in m.peer_urls:
                continue
            name = m.name or (only.name if only is not None else f"etcd member {m.hex_id}")
            by_name.setdefault(name, Departure(name)).member = m
    for name, pods in node_pods.items():
        d = by_name.setdefault(name, Departure(name))
        d.node = True
        ev = eviction_plan(pods, force=force)
        d.evict = [p.ref for p in ev.evict]
        d.keep = [p.ref for p, _ in ev.keep]
        d.blocked = [f"{p.ref} ({why})" for p, why in ev.blocked]
    for name in departing_nodes(config, list(csrs or {}), only):
        by_name.setdefault(name, Departure(name)).csrs = list((csrs or {})[name])
    plan.departures = [by_name[n] for n in sorted(by_name)]
    leaving = [d.member for d in plan.departures if d.member is not None]
    if leaving and view.members is not None:
        plan.refusal = removal_refusal(view.members, view.healthy, leaving, len(config.control_planes),
                                       view.answering)
        kept = {peer_url(config, h): h.name for h in config.control_planes if h.name in cps}
        plan.operator = next((kept[u] for m in view.members if m.id in view.healthy and not m.is_learner
                              for u in m.peer_urls if u in kept), None)
        if plan.refusal is None and plan.operator is None:
            plan.refusal = ("no remaining control plane of this run has a healthy voting etcd member to remove "
                            f"{', '.join(m.name or m.hex_id for m in leaving)} through")
    blocked = [b for d in plan.departures for b in d.blocked]
    if blocked and plan.refusal is None:
        plan.refusal = ("a drain would stop at pods no controller recreates: " + "; ".join(blocked)
                        + " (delete them first; `kubeward node remove --force` deletes them)")
    return plan


@dataclass
class ApiView:
    """A client of an API server that answered, and the Nodes it listed then."""

    client: AsyncClient
    nodes: list[api.NodeState]


async def plan_departures(ctx: RunContext, view_api: ApiView | None, cps: Sequence[str], *,
                          only: HostConfig | None = None, force: bool = False) -> DeparturePlan:
    """Read etcd's members (through ``cps``, and ``only`` when it is a control plane: its member
    sees what the others cannot say when they are down) and the departing Nodes' pods (through the
    API), then :func:`decide_departures`."""
    if only is not None and only.is_control_plane:
        full = ctx.config.model_copy(update={"hosts": (*ctx.config.hosts, only)})
        view = await read_etcd_view(ctx, [*cps, only.name], full)
    else:
        view = await read_etcd_view(ctx, cps)
    pods: dict[str, list[PodInfo]] = {}
    csrs: dict[str, list[str]] = {}
    if view_api is not None:
        names = departing_nodes(ctx.config, [n.name for n in view_api.nodes], only)
        pods = {n: await node_pods(view_api.client, n) for n in names}
        csrs = csrs_by_node(await api.list_csrs(view_api.client))
    return decide_departures(ctx.config, view, pods, cps, only=only, force=force, csrs=csrs)


@contextlib.asynccontextmanager
async def reach_api(ctx: RunContext, cps: Sequence[str]) -> AsyncIterator[ApiView | None]:
    """The first control plane of ``cps`` whose API server answers (its Nodes listed), or None when
    Kubernetes is off or none answers (a new cluster has no API server yet)."""
    if not (ctx.config.kubernetes.enabled and ctx.config.kubernetes.version):
        yield None
        return
    for cp in cps:
        stack = contextlib.AsyncExitStack()
        try:
            client = await stack.enter_async_context(
                api.api_client(ctx.session, ctx.config, ctx.loaded.state_dir, cp, "cluster-admin"))
            nodes = await api.read_nodes(client)
        except Exception as exc:  # noqa: BLE001 - an API server that does not answer: try the next
            log.info("departures: the API server of %s does not answer: %s", cp, exc)
            await stack.aclose()
            continue
        async with stack:
            yield ApiView(client, nodes)
        return
    yield None


# ----- doing ----------------------------------------------------------------------------------------


@dataclass
class DepartureReport:
    name: str
    drain: DrainReport | None = None
    member_removed: str | None = None  # the member's hex id
    stopped: list[str] = field(default_factory=list)
    node_deleted: bool = False
    csrs_deleted: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        d = self.drain
        return {"name": self.name, "seconds": round(self.seconds, 2), "node_deleted": self.node_deleted,
                "csrs_deleted": self.csrs_deleted,
                "etcd_member_removed": self.member_removed, "stopped": self.stopped,
                "drain": None if d is None else {"evicted": d.evicted, "kept": d.kept, "unconfirmed": d.unconfirmed,
                                                 "seconds": round(d.seconds, 2)}}


async def carry_out(ctx: RunContext, plan: DeparturePlan, view_api: ApiView | None, *,
                    retire: Mapping[str, HostConfig] | None = None, force: bool = False,
                    timeout: float = DRAIN_TIMEOUT, progress: Progress = lambda _m: None,
                    reports: list[DepartureReport] | None = None) -> list[DepartureReport]:
    """Drain, remove from etcd, stop (the hosts of ``retire``, reachable through ``ctx.session``) and
    delete each departure, one host after the other; raises :class:`DepartureError` saying what was
    done before the step that failed. ``reports`` (when given) is filled as the steps finish."""
    if plan.refusal:
        raise DepartureError(plan.refusal)
    reports = reports if reports is not None else []
    for d in plan.departures:
        started = time.monotonic()
        rep = DepartureReport(d.name)
        reports.append(rep)
        try:
            await _depart(ctx, plan, d, rep, view_api.client if view_api else None, retire or {}, force, timeout,
                          progress)
        finally:
            rep.seconds = time.monotonic() - started
    return reports


async def _depart(ctx: RunContext, plan: DeparturePlan, d: Departure, rep: DepartureReport,
                  client: AsyncClient | None, retire: Mapping[str, HostConfig], force: bool, timeout: float,
                  progress: Progress) -> None:
    def failed(step: str, why: str) -> DepartureError:
        done = [s for s, ok in (("drained", rep.drain is not None), ("out of etcd", rep.member_removed),
                                ("its services stopped", rep.stopped)) if ok]
        state = f"{d.name} is {', '.join(done)}" if done else f"nothing was changed for {d.name}"
        if rep.drain is not None and not rep.node_deleted:
            state += " (its Node stays cordoned)"
        return DepartureError(f"{step}: {why}; {state}")

    if d.node:
        assert client is not None
        progress(f"{d.name}: cordon and drain")
        try:
            rep.drain = await drain(client, d.name, force=force, timeout=timeout, progress=progress,
                                    version=ctx.config.kubernetes.version)
        except KubewardError as exc:
            raise failed(f"draining {d.name}", str(exc)) from exc
        progress(f"{d.name}: drained in {rep.drain.seconds:.1f} s ({len(rep.drain.evicted)} pod(s) evicted)")
    if d.member is not None:
        op = plan.operator
        assert op is not None
        progress(f"{d.name}: remove etcd member {d.member.hex_id} through {op}")
        ctx.changed_hosts.add(op)  # etcd's member list, read by later phases, changed
        try:
            await ctx.session.run(op, etcd_scripts.member_remove_script(ctx.config.etcd.client_port, d.member.id),
                                  label="etcd member remove")
        except RemoteError as exc:
            raise failed(f"removing etcd member {d.member.label}", error_tail(exc)) from exc
        rep.member_removed = d.member.hex_id
    host = retire.get(d.name)
    if host is not None:
        units = retired_units(host)
        progress(f"{d.name}: stop and disable {', '.join(units)}")
        try:
            script = render_retire_script(ctx.config, host, time.strftime("%Y%m%d-%H%M%S"))
            res = await ctx.session.run(d.name, script, label="stop kubeward's services", timeout=300)
        except RemoteError as exc:
            raise failed(f"stopping kubeward's services on {d.name}", error_tail(exc)) from exc
        still = parse_still_active(res.stdout)
        if still:
            raise failed(f"stopping kubeward's services on {d.name}", f"{', '.join(still)} still active")
        rep.stopped = units
    if d.node or d.csrs:
        assert client is not None
        try:
            if d.node:
                progress(f"{d.name}: delete Node")
                await api.delete_node(client, d.name)
                rep.node_deleted = True
            # its CSRs are the records of certificates a host outside cluster.yml holds (valid until
            # they expire; the firewall keeps the host out): the audit judges every approved serving
            # CSR against cluster.yml, so they go too (with any its kubelet made since the plan)
            rep.csrs_deleted = csrs_by_node(await api.list_csrs(client)).get(d.name, [])
            await api.delete_csrs(client, rep.csrs_deleted)
        except KubewardError as exc:
            raise failed(f"deleting Node {d.name}" + (" (deleted) and its CSRs" if rep.node_deleted else ""),
                         str(exc)) from exc


# ----- the phase of `up` ----------------------------------------------------------------------------


class Departures(Phase):
    name = "departures"
    title = "Drain and remove hosts gone from cluster.yml"

    def facts_script(self, ctx: RunContext, host: str) -> str | None:
        # the etcd phase reads the member list anyway; only without it does this phase read its own
        if "etcd" in ctx.phase_names or not ctx.config.host(host).is_control_plane:
            return None
        return etcd_facts_script(ctx.config) if ctx.config.etcd.source == "apt" else None

    async def run_all(self, ctx: RunContext, hosts: Sequence[str]) -> dict[str, HostOutcome]:
        out = {h: HostOutcome(h) for h in hosts}
        cps = [h.name for h in ctx.config.control_planes if h.name in hosts]
        if not cps:
            for h in hosts:
                out[h].notes.append(Note("departures", "no control plane in this run: hosts gone from cluster.yml "
                                                       "are not looked for"))
            return out
        row = out[cps[0]]
        try:
            async with reach_api(ctx, cps) as view_api:
                plan = await plan_departures(ctx, view_api, cps)
                if view_api is None and ctx.config.kubernetes.enabled and plan.departures:
                    row.notes.append(Note("departures", "the API does not answer: Nodes of hosts gone from "
                                                        "cluster.yml are not drained or deleted in this run"))
                if not plan.departures:
                    row.unchanged.append(Unchanged("departures", "every Node and etcd member is in cluster.yml"))
                    return out
                for d in plan.departures:
                    row.changes += [Change(f"departure:{d.name}", f"{s} ({d.name} is not in cluster.yml)", "")
                                    for s in plan.steps(d)]
                for n in plan.notes:
                    row.notes.append(Note("departures", n))
                if plan.refusal:
                    row.error = f"refusing to remove {', '.join(plan.names())}: {plan.refusal}"
                    return out
                if not ctx.apply:
                    return out
                if not self._confirmed(ctx, plan, row):
                    return out
                reports = await carry_out(ctx, plan, view_api, progress=lambda m: log.info("departures: %s", m))
                row.applied = len(row.changes)
                for r in reports:
                    ctx.notes.setdefault(cps[0], []).append(
                        f"departures: {r.name} left the cluster; its services still run on it (kubeward no "
                        "longer reaches it): stop them there, or use `kubeward node remove` next time")
        except KubewardError as exc:
            row.error = str(exc)
        return out

    @staticmethod
    def _confirmed(ctx: RunContext, plan: DeparturePlan, row: HostOutcome) -> bool:
        what = "; ".join(f"{d.name}: " + ", ".join(plan.steps(d)) for d in plan.departures)
        question = (f"{len(plan.departures)} host(s) are gone from cluster.yml: {what}. "
                    "Drain and remove them now?")
        if ctx.confirm is None:
            row.error = (f"{', '.join(plan.names())} left cluster.yml ({what}); `up` removes them from the cluster "
                         "only when confirmed: run it at a terminal, or with --yes")
            return False
        if not ctx.confirm(question):
            row.error = f"not confirmed: {', '.join(plan.names())} stay in the cluster and nothing was changed"
            return False
        return True
