"""The etcd phase: etcd on every control plane, one cluster, client and peer mutual TLS.

etcd is a component (:func:`kubeward.components.etcd.etcd_component`) applied by the component
phase's steps; this module adds only what is etcd's own, the membership decisions:

* no member answers and no control plane has data: **form a new cluster**. Every control plane,
  concurrently and in one round-trip: write the config file (``initial-cluster-state: new``) and the
  drop-in *before* installing etcd-server (whose own start is held back), then start with
  ``--no-block`` and probe health until the quorum forms.
* a cluster answers: converge the running members' files (a changed file or drop-in restarts them
  by the component's rolling policy: one member at a time, each healthy before the next), then
  apply the membership plan of :mod:`kubeward.etcd.membership`: remove, add as learner / start with
  ``existing`` / promote, one step at a time.
* no member answers but some have data: start those members and look again.

A converged cluster costs no round-trip beyond the facts prefetch and changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from kubeward.components.etcd import DATA, HEALTH, MEMBERS, etcd_component
from kubeward.components.plan import HostWork, plan_work, restart_for_files
from kubeward.components.spec import Component, Health
from kubeward.config import ClusterConfig, HostConfig
from kubeward.errors import RemoteError
from kubeward.etcd import scripts
from kubeward.etcd.config import (
    CONFIG_PATH,
    UNIT,
    Bootstrap,
    cluster_token,
    data_dir_change,
    desired_initial_cluster,
    initial_cluster,
    new_cluster_bootstrap,
    parse_bootstrap,
    peer_url,
)
from kubeward.etcd.membership import (
    AddMember,
    Desired,
    Member,
    MembershipPlan,
    PromoteMember,
    RemoveMember,
    StartMember,
    parse_member,
    parse_member_list,
    plan_membership,
)
from kubeward.ops.base import Change, HostOutcome, Unchanged
from kubeward.ops.ops import parse_service_state, parse_stat_fact
from kubeward.phases.base import RunContext
from kubeward.phases.component import ComponentPhase, error_tail

log = logging.getLogger("kubeward.phases")


@dataclass
class NodeFacts:
    host: str
    facts: dict[str, str]  # op id or extra key -> fact
    enabled: str
    active: str
    has_data: bool
    current_config: bytes | None
    cluster_id: int | None = None
    members: list[Member] | None = None
    health: dict[str, bool] = field(default_factory=dict)  # client URL -> healthy, as this node saw it

    @property
    def bootstrap_in_file(self) -> Bootstrap | None:
        return parse_bootstrap(self.current_config.decode(errors="replace")) if self.current_config else None


def node_facts(host: str, facts: dict[str, str], component: Component) -> NodeFacts:
    state = parse_service_state(facts.get(component.service_op().id, ""))
    cfg = parse_stat_fact(facts.get(f"file:{CONFIG_PATH}", "absent"))
    nf = NodeFacts(host, facts, state.enabled, state.active, facts.get(DATA, "").strip() == "data",
                   cfg.content if cfg else None)
    members_text = facts.get(MEMBERS, "").strip()
    if members_text.startswith("{"):
        try:
            nf.cluster_id, nf.members = parse_member_list(json.loads(members_text))
        except (ValueError, TypeError):
            pass
    health_text = facts.get(HEALTH, "").strip()
    if health_text.startswith("["):
        try:
            for e in json.loads(health_text):
                nf.health[str(e.get("endpoint"))] = bool(e.get("health"))
        except (ValueError, TypeError, AttributeError):
            pass
    return nf


@dataclass
class ClusterView:
    members: list[Member] | None
    healthy: set[int]
    asked: str | None  # a host whose member list this is
    error: str | None = None
    #: members whose own node answered with the member list: running, healthy or not (without a
    #: quorum no member passes a health check)
    answering: set[int] = field(default_factory=set)


def cluster_view(facts: dict[str, NodeFacts]) -> ClusterView:
    """The member list and which members are healthy, from what every reachable control plane said."""
    with_list = {h: f for h, f in facts.items() if f.members is not None}
    if not with_list:
        return ClusterView(None, set(), None)
    clusters = {f.cluster_id for f in with_list.values()}
    if len(clusters) > 1:
        detail = ", ".join(f"{h}: {f.cluster_id or 0:x}" for h, f in sorted(with_list.items()))
        return ClusterView(None, set(), None, f"the control planes run different etcd clusters ({detail}); "
                           "restore one cluster's snapshot (kubeward etcd snapshot restore) or fix them by hand")
    # prefer the list of a node that saw a healthy quorum
    asked = next((h for h, f in sorted(with_list.items()) if any(f.health.values())), sorted(with_list)[0])
    members = with_list[asked].members or []
    healthy: set[int] = set()
    for f in with_list.values():
        for m in members:
            if any(f.health.get(u) for u in m.client_urls):
                healthy.add(m.id)
    answering = {m.id for m in members if m.name in with_list}
    return ClusterView(members, healthy, asked, answering=answering)


def desired_members(config: ClusterConfig) -> list[Desired]:
    return [Desired(h.name, peer_url(config, h)) for h in config.control_planes]


def started_probe(config: ClusterConfig) -> Health:
    return Health(scripts.started_probe(config.etcd.client_port), scripts.HEALTH_TIMEOUT, "serving")


def host_work(config: ClusterConfig, host: HostConfig, facts: NodeFacts, bootstrap: Bootstrap,
              *, start: bool, learner: bool = False, stale_data: bool = False, stamp: str = "") -> HostWork:
    """The component's work on one control plane, with etcd's own variants: a learner is waited for
    until it serves (not until healthy), and stale data of a host that is not a member is moved aside
    (etcd stopped first) before it joins."""
    work = plan_work(etcd_component(config, host, bootstrap), facts.facts, start=start, restart=facts.has_data)
    if learner:
        work.wait_for = started_probe(config)
    if stale_data:
        work.stop_first = facts.active in ("active", "activating", "reloading")
        work.changes.insert(0, Change("etcd-data", f"move the stale etcd data in {config.etcd.data_dir} aside "
                                      f"({config.etcd.data_dir}.kubeward-{stamp}): this host is not a member",
                                      scripts.move_aside_script(str(config.etcd.data_dir), stamp)))
        if work.stop_first and start:
            work.needs_restart = False
            work.start, work.wait = True, True
    return work


class Etcd(ComponentPhase):
    name = "etcd"
    title = "Run etcd"

    def components(self, ctx: RunContext, host: str) -> list[Component]:
        h = ctx.config.host(host)
        if not h.is_control_plane or ctx.config.etcd.source != "apt":
            return []
        return [etcd_component(ctx.config, h, new_cluster_bootstrap(ctx.config))]

    async def run_all(self, ctx: RunContext, hosts: Sequence[str]) -> dict[str, HostOutcome]:
        config = ctx.config
        out = {h: HostOutcome(h) for h in hosts}
        cps = [h.name for h in config.control_planes]
        run_cps = [h for h in hosts if h in cps]
        for h in hosts:
            if h not in cps:
                out[h].unchanged.append(Unchanged("etcd", "not a control plane"))
        if not run_cps:
            return out
        if config.etcd.source != "apt":
            for h in run_cps:
                out[h].error = ("etcd.source: binary is not implemented yet; use etcd.source: apt "
                                "(Debian's etcd-server and etcd-client)")
            return out
        self.stamp = time.strftime("%Y%m%d-%H%M%S")
        for attempt in range(2):
            facts = await self._read_facts(ctx, run_cps, out)
            if not facts:
                return out
            moved = {h: why for h, f in facts.items() if (why := data_dir_change(config, f.current_config))}
            if moved:
                for h in run_cps:
                    out[h].error = moved.get(h) or f"not converged: {', '.join(sorted(moved))} keep etcd data elsewhere"
                return out
            view = cluster_view(facts)
            if view.error:
                for h in run_cps:
                    out[h].error = view.error
                return out
            if view.members is not None:
                await self._converge_cluster(ctx, facts, view, out, run_cps)
                return out
            if any(f.has_data for f in facts.values()):
                if attempt == 0:
                    # the cluster exists but no member answers: start the members that have data, look again
                    if not await self._start_down_members(ctx, facts, out) or not ctx.apply:
                        return out
                    continue
                for h in run_cps:
                    if not out[h].error:
                        out[h].error = "etcd members have data but none answers; see `kubeward etcd status`"
                return out
            await self._form_cluster(ctx, facts, out, run_cps)
            return out
        return out

    async def _read_facts(self, ctx: RunContext, run_cps: list[str], out: dict[str, HostOutcome]
                          ) -> dict[str, NodeFacts]:
        """Every control plane's facts (the member list and health are cluster-wide: one changed
        member makes all of them stale)."""
        raw = await self.read_all(ctx, run_cps, out, cluster_wide=True)
        return {h: node_facts(h, f, self.components(ctx, h)[0]) for h, f in raw.items()}

    async def _apply(self, ctx: RunContext, host: str, work: HostWork, out: HostOutcome, what: str) -> bool:
        return await self.apply_work(ctx, host, [work], out, what)

    # ----- a new cluster ------------------------------------------------------------------------------
    async def _form_cluster(self, ctx: RunContext, facts: dict[str, NodeFacts], out: dict[str, HostOutcome],
                            run_cps: list[str]) -> None:
        config = ctx.config
        missing = [h.name for h in config.control_planes if h.name not in facts]
        if missing:
            for h in facts:
                out[h].error = (f"no etcd cluster yet, and {', '.join(missing)} cannot take part (unreachable or "
                                "not in --host): a new cluster forms with every control plane at once")
            return
        bootstrap = new_cluster_bootstrap(config)
        names = ", ".join(h.name for h in config.control_planes)
        plan = plan_membership(desired_members(config), None)
        works: dict[str, HostWork] = {}
        for h, f in facts.items():
            work = host_work(config, config.host(h), f, bootstrap, start=True)
            work.needs_restart = False
            works[h] = work
            out[h].changes += work.changes
            out[h].unchanged += work.unchanged
            out[h].refusals += work.refusals
            if work.refusals:
                out[h].error = "; ".join(r.reason for r in work.refusals)
            out[h].changes.append(Change(f"service:{UNIT}", f"start etcd: form a new cluster of "
                                         f"{len(facts)} members ({names})", ""))
            ctx.notes.setdefault(h, []).extend(f"etcd: {w}" for w in plan.warnings)
        if any(out[h].error for h in facts):
            return
        started = time.monotonic()
        await asyncio.gather(*(self._apply(ctx, h, works[h], out[h], "form the etcd cluster") for h in facts))
        if ctx.apply and not any(out[h].error for h in facts):
            log.info("etcd: a cluster of %d members formed in %.1f s", len(facts), time.monotonic() - started)

    async def _start_down_members(self, ctx: RunContext, facts: dict[str, NodeFacts],
                                  out: dict[str, HostOutcome]) -> bool:
        """Start every member that has data at once (each needs the others for a quorum)."""
        config = ctx.config
        fallback = Bootstrap("existing", desired_initial_cluster(config), cluster_token(config))
        works: dict[str, HostWork] = {}
        for h, f in facts.items():
            if not f.has_data:
                continue
            work = host_work(config, config.host(h), f, f.bootstrap_in_file or fallback, start=True)
            work.needs_restart = False
            works[h] = work
            out[h].changes += work.shown()
        results = await asyncio.gather(*(self._apply(ctx, h, w, out[h], "start etcd") for h, w in works.items()))
        return all(results)

    # ----- an existing cluster -----------------------------------------------------------------------
    async def _converge_cluster(self, ctx: RunContext, facts: dict[str, NodeFacts], view: ClusterView,
                                out: dict[str, HostOutcome], run_cps: list[str]) -> None:
        config = ctx.config
        assert view.members is not None
        members = view.members
        plan = plan_membership(desired_members(config), members, view.healthy)
        for h in run_cps:
            ctx.notes.setdefault(h, []).extend(f"etcd: {w}" for w in plan.warnings)
        if not plan.ok:
            for h in run_cps:
                out[h].error = "; ".join(plan.errors)
            return
        current = initial_cluster([(m.name, m.peer_urls[0]) for m in members if m.started and m.peer_urls])
        existing = Bootstrap("existing", current, cluster_token(config))

        # 1. members that run: files, and a start when stopped; restarts later, one at a time
        restarts: dict[str, Component] = {}
        works: dict[str, HostWork] = {}
        for h, f in facts.items():
            m = plan.matched.get(h)
            if m is None or not m.started:
                continue
            b = f.bootstrap_in_file if f.has_data and f.bootstrap_in_file else existing
            work = host_work(config, config.host(h), f, b, start=True)
            works[h] = work
            self.record(out[h], [work])
            if restart_for_files(work, ctx.changed_files.get(h, ())):
                # the pki phase changed its certificates earlier in this run
                out[h].changes.append(Change(f"service:{UNIT}", "restart etcd (its certificates changed; "
                                             "one member at a time)", ""))
            if work.needs_restart:
                restarts[h] = work.component
            if not work.start and not work.needs_restart and m.id not in view.healthy:
                work.wait = True  # running but not healthy (yet): wait for it, fail if it stays so
        if any(out[h].error for h in works):
            return
        results = await asyncio.gather(*(self._apply(ctx, h, w, out[h], "converge etcd") for h, w in works.items()))
        if not all(results):
            return

        # 2. membership, one step at a time
        for step in plan.steps:
            if not await self._step(ctx, step, facts, out, existing, view, plan):
                return

        # 3. restarts for changed configuration, by the component's policy (one member at a time)
        await self.restart(ctx, restarts, out)

    def _operator(self, facts: dict[str, NodeFacts], plan: MembershipPlan, view: ClusterView,
                  exclude: str = "") -> str | None:
        """A control plane of this run whose member is wanted, started, voting and healthy."""
        for h in facts:
            m = plan.matched.get(h)
            if h != exclude and m is not None and m.started and not m.is_learner and m.id in view.healthy:
                return h
        return None

    async def _step(self, ctx: RunContext, step: RemoveMember | AddMember | StartMember | PromoteMember,
                    facts: dict[str, NodeFacts], out: dict[str, HostOutcome], existing: Bootstrap,
                    view: ClusterView, plan: MembershipPlan) -> bool:
        config = ctx.config
        port = config.etcd.client_port
        op = self._operator(facts, plan, view)
        if isinstance(step, RemoveMember):
            if op is None:
                for h in facts:
                    out[h].error = f"cannot {step.describe()}: no healthy voting member among this run's hosts"
                return False
            out[op].changes.append(Change("etcd-member", step.describe(), ""))
            if not ctx.apply:
                return True
            ctx.changed_hosts.add(op)
            try:
                await ctx.session.run(op, scripts.member_remove_script(port, step.member.id), label="etcd member remove")
            except RemoteError as exc:
                out[op].error = f"{step.describe()}: {error_tail(exc)}"
                return False
            await self._decommission(ctx, step.member, out)
            return True

        host = step.host
        if host not in facts:
            for h in facts:
                ctx.notes.setdefault(h, []).append(f"etcd: skipped ({host} is not in this run): {step.describe()}")
            return True
        f = facts[host]
        hc = config.host(host)
        if isinstance(step, PromoteMember):
            if not any(isinstance(s, StartMember) and s.host == host for s in plan.steps):
                out[host].changes.append(Change("etcd-member", step.describe(), ""))
                return await self._promote(ctx, op, host, step.member.id, out)
            return True  # done together with its start
        if op is None:
            out[host].error = f"cannot {step.describe()}: no healthy voting member among this run's hosts"
            return False
        out[host].changes.append(Change("etcd-member", step.describe(), ""))
        member_id: int
        learner = True
        if isinstance(step, AddMember):
            if not ctx.apply:
                work = host_work(config, hc, f, existing, start=True, learner=True, stale_data=f.has_data,
                                 stamp=self.stamp)
                out[host].changes += work.changes
                return True
            ctx.changed_hosts.add(op)
            try:
                res = await ctx.session.run(op, scripts.member_add_script(port, host, step.peer_url),
                                            label="etcd member add --learner")
                added = json.loads(res.stdout)
                new = parse_member(added.get("member") or {})
                member_id = new.id
                listed = [parse_member(m) for m in added.get("members") or ()]
            except (RemoteError, ValueError) as exc:
                tail = error_tail(exc) if isinstance(exc, RemoteError) else str(exc)
                out[host].error = f"etcd member add {host}: {tail}"
                return False
        else:
            member_id, learner = step.member.id, step.member.is_learner
            listed = list(view.members or [])
        pairs = [(host if m.id == member_id else m.name, m.peer_urls[0]) for m in listed
                 if m.peer_urls and (m.name or m.id == member_id)]
        b = Bootstrap("existing", initial_cluster(pairs), cluster_token(config))
        if f.has_data and isinstance(step, StartMember) and f.bootstrap_in_file:
            b = f.bootstrap_in_file
        stale = f.has_data and isinstance(step, AddMember)
        work = host_work(config, hc, f, b, start=True, learner=learner, stale_data=stale, stamp=self.stamp)
        work.needs_restart = False
        out[host].changes += work.changes
        if not await self._apply(ctx, host, work, out[host], f"join {host} to etcd"):
            return False
        if learner:
            return await self._promote(ctx, op, host, member_id, out)
        return True

    async def _promote(self, ctx: RunContext, op: str | None, host: str, member_id: int,
                       out: dict[str, HostOutcome]) -> bool:
        if not ctx.apply:
            return True
        if op is None:
            out[host].error = "cannot promote: no healthy voting member among this run's hosts"
            return False
        port = ctx.config.etcd.client_port
        try:
            await ctx.session.run(op, scripts.promote_script(port, member_id), label="etcd member promote",
                                  timeout=300)
            await ctx.session.run(host, scripts.wait_healthy_script(port), label="wait until etcd is healthy",
                                  timeout=300)
        except RemoteError as exc:
            out[host].error = f"promoting {host}: {error_tail(exc)}"
            return False
        return True

    async def _decommission(self, ctx: RunContext, member: Member, out: dict[str, HostOutcome]) -> None:
        """Stop etcd on a removed member's host when cluster.yml still lists it (as a worker)."""
        config = ctx.config
        for h in config.hosts:
            if h.is_control_plane or h.name not in out:
                continue
            if h.name == member.name or peer_url(config, h) in member.peer_urls:
                out[h.name].changes.append(Change("etcd-member", "stop and disable etcd (no longer a member); data "
                                                  f"kept at {config.etcd.data_dir}.kubeward-{self.stamp}", ""))
                ctx.changed_hosts.add(h.name)
                try:
                    await ctx.session.run(h.name, scripts.decommission_script(str(config.etcd.data_dir), self.stamp),
                                          label="stop etcd on a former member")
                except RemoteError as exc:
                    ctx.notes.setdefault(h.name, []).append(f"etcd: could not stop etcd here: {exc}")
