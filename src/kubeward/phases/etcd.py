"""The etcd phase: etcd on every control plane, one cluster, client and peer mutual TLS.

Per control plane, one round-trip reads every fact: kubeward's config file and drop-in, the data
directory, the packages, the unit's state, and (when etcd runs) the member list and every member's
health as the local member sees them. The phase then decides for the whole cluster:

* no member answers and no control plane has data: **form a new cluster**. Every control plane,
  concurrently and in one round-trip: write the config file (``initial-cluster-state: new``) and the
  drop-in *before* installing etcd-server (whose own start is held back, see
  :func:`kubeward.etcd.scripts.without_autostart`), then ``systemctl start --no-block`` and poll
  ``endpoint health`` until the quorum forms.
* a cluster answers: converge the running members' files (a changed file or drop-in restarts them,
  one member at a time, each waiting until healthy), then apply the membership plan of
  :mod:`kubeward.etcd.membership`: remove, add as learner / start with ``existing`` / promote, one
  step at a time.
* no member answers but some have data: start those members and look again.

A converged cluster costs one round-trip per control plane and changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from kubeward.config import ClusterConfig, HostConfig
from kubeward.errors import RemoteError
from kubeward.etcd import scripts
from kubeward.etcd.config import (
    CONFIG_DIR,
    CONFIG_PATH,
    DROPIN_PATH,
    PACKAGES,
    UNIT,
    Bootstrap,
    cluster_token,
    data_dir_change,
    desired_initial_cluster,
    initial_cluster,
    new_cluster_bootstrap,
    parse_bootstrap,
    peer_url,
    render_config,
    render_dropin,
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
from kubeward.ops.base import (
    Change,
    HostOutcome,
    Op,
    Unchanged,
    applied_count,
    evaluate_all,
    parse_facts_output,
    render_facts_script,
)
from kubeward.ops.ops import Directory, File, Packages, Service, SystemUser, parse_stat_fact
from kubeward.ops.shell import render_comment
from kubeward.phases.base import Phase, RunContext
from kubeward.remote.ssh import CommandError

log = logging.getLogger("kubeward.phases")

Wait = Literal["healthy", "started"] | None


@dataclass
class NodeFacts:
    host: str
    op_facts: list[str]
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


#: positions in :func:`fact_ops`
CONFIG_OP, SERVICE_OP = 2, 6


def fact_ops(config: ClusterConfig, host: HostConfig, bootstrap: Bootstrap) -> list[Op]:
    """The operations of a control plane, in the order they are read and applied."""
    data_dir = str(config.etcd.data_dir)
    return [
        SystemUser("etcd", data_dir),  # the pki phase creates it too, before the keys it owns
        Directory(CONFIG_DIR, "root", "root", 0o755),
        File(CONFIG_PATH, render_config(config, host, bootstrap).encode(), "root", "etcd", 0o640),
        File(DROPIN_PATH, render_dropin().encode(), notify=("daemon-reload",)),
        Directory(data_dir, "etcd", "etcd", 0o700),
        Packages(PACKAGES),
        Service(UNIT),
    ]


def facts_script(config: ClusterConfig, host: HostConfig) -> str:
    ops = fact_ops(config, host, new_cluster_bootstrap(config))
    data_dir = scripts.q(f"{config.etcd.data_dir}/member")
    return render_facts_script(ops) + f"""{scripts.etcdctl_function(config.etcd.client_port)}
echo @@kw-data
[ -d {data_dir} ] && echo data || echo none
kw_up=no
command -v etcdctl >/dev/null 2>&1 && systemctl is-active -q {UNIT} && kw_up=yes
echo @@kw-members
[ $kw_up = yes ] && kw_etcdctl --dial-timeout=1s --command-timeout=3s member list -w json 2>/dev/null | tr -d '\\n'
echo
echo @@kw-health
[ $kw_up = yes ] && kw_etcdctl --dial-timeout=1s --command-timeout=3s endpoint health --cluster -w json 2>/dev/null | tr -d '\\n'
echo
echo @@kw-end
"""


def parse_facts(host: str, text: str, n_ops: int) -> NodeFacts:
    op_facts = parse_facts_output(text, n_ops)
    sections: dict[str, str] = {}
    cur: str | None = None
    for line in text.splitlines():
        if line.startswith("@@kw-"):
            cur = line[5:]
            sections[cur] = ""
        elif cur is not None:
            sections[cur] += line + "\n"
    svc = op_facts[SERVICE_OP].split() + ["", ""]
    cfg = parse_stat_fact(op_facts[CONFIG_OP])
    facts = NodeFacts(host, op_facts, svc[0], svc[1], sections.get("data", "").strip() == "data",
                      cfg.content if cfg else None)
    members_text = sections.get("members", "").strip()
    if members_text.startswith("{"):
        try:
            facts.cluster_id, facts.members = parse_member_list(json.loads(members_text))
        except (ValueError, TypeError):
            pass
    health_text = sections.get("health", "").strip()
    if health_text.startswith("["):
        try:
            for e in json.loads(health_text):
                facts.health[str(e.get("endpoint"))] = bool(e.get("health"))
        except (ValueError, TypeError, AttributeError):
            pass
    return facts


@dataclass
class ClusterView:
    members: list[Member] | None
    healthy: set[int]
    asked: str | None  # a host whose member list this is
    error: str | None = None


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
    return ClusterView(members, healthy, asked)


def desired_members(config: ClusterConfig) -> list[Desired]:
    return [Desired(h.name, peer_url(config, h)) for h in config.control_planes]


@dataclass
class HostWork:
    """What one control plane's apply round-trip does."""

    changes: list[Change]
    unchanged: list[Unchanged] = field(default_factory=list)
    stop_first: bool = False
    start: bool = False
    wait: Wait = None
    needs_restart: bool = False


def host_work(config: ClusterConfig, host: HostConfig, facts: NodeFacts, bootstrap: Bootstrap,
              *, start: bool, wait: Wait, stale_data: bool = False, stamp: str = "") -> HostWork:
    ops = fact_ops(config, host, bootstrap)
    outcomes = evaluate_all(ops[:SERVICE_OP], facts.op_facts[:SERVICE_OP])
    changes: list[Change] = []
    unchanged: list[Unchanged] = []
    for o in outcomes:
        if isinstance(o, Change):
            if o.op.startswith("packages:"):
                o = replace(o, script=scripts.without_autostart(o.script))
            changes.append(o)
        else:
            unchanged.append(o)
    work = HostWork(changes, unchanged)
    if stale_data:
        work.stop_first = facts.active in ("active", "activating", "reloading")
        changes.insert(0, Change("etcd-data", f"move the stale etcd data in {config.etcd.data_dir} aside "
                                 f"({config.etcd.data_dir}.kubeward-{stamp}): this host is not a member",
                                 scripts.move_aside_script(str(config.etcd.data_dir), stamp)))
    running = facts.active in ("active", "activating", "reloading") and not work.stop_first
    file_changed = any(c.op in (f"file:{CONFIG_PATH}", f"file:{DROPIN_PATH}") for c in changes)
    if running and file_changed and facts.has_data:
        work.needs_restart = True
    if facts.enabled not in ("enabled", "alias", "static", "indirect"):
        changes.append(Change(f"service:{UNIT}", f"enable {UNIT}", f"systemctl enable --quiet {UNIT} 2>/dev/null"))
    if start and not running:
        work.start = True
        work.wait = wait
    return work


def render_apply(config: ClusterConfig, work: HostWork) -> str:
    lines = ["set -e", "export DEBIAN_FRONTEND=noninteractive LC_ALL=C"]
    if work.stop_first:
        lines.append(f"systemctl stop {UNIT}")
    for i, c in enumerate(work.changes):
        lines += [render_comment(c.summary), c.script, f"echo '@@done {i}'"]
    if any("daemon-reload" in c.notify or c.op.startswith("packages:") for c in work.changes):
        lines.append("systemctl daemon-reload")
    if work.start:
        lines.append(f"systemctl start --no-block {UNIT}")
    if work.wait == "healthy":
        lines.append(scripts.wait_healthy_script(config.etcd.client_port))
    elif work.wait == "started":
        lines.append(scripts.wait_started_script(config.etcd.client_port))
    return "\n".join(lines) + "\n"


def _tail(exc: CommandError) -> str:
    return (exc.stderr.strip() or exc.stdout.strip())[-600:]


class Etcd(Phase):
    name = "etcd"
    title = "Run etcd"

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

    # ----- facts ------------------------------------------------------------------------------------
    def facts_script(self, ctx: RunContext, host: str) -> str | None:
        h = ctx.config.host(host)
        if not h.is_control_plane or ctx.config.etcd.source != "apt":
            return None
        return facts_script(ctx.config, h)

    async def _read_facts(self, ctx: RunContext, run_cps: list[str], out: dict[str, HostOutcome]
                          ) -> dict[str, NodeFacts]:
        """Every control plane's facts, from the prefetch when no control plane changed since (the
        member list and health are cluster-wide: one changed member makes all of them stale)."""
        config = ctx.config
        n_ops = len(fact_ops(config, config.control_planes[0], new_cluster_bootstrap(config)))
        fresh = any(h in ctx.changed_hosts for h in run_cps)

        async def one(h: str) -> NodeFacts:
            script = facts_script(config, config.host(h))
            cached = ctx.prefetched_facts(h, self.name)
            if fresh or cached is None:
                cached = (await ctx.session.run(h, script, label="read etcd facts")).stdout
            return parse_facts(h, cached, n_ops)

        facts: dict[str, NodeFacts] = {}
        for h, r in (await ctx.session.each(one, run_cps)).items():
            if isinstance(r, NodeFacts):
                facts[h] = r
            elif isinstance(r, RemoteError | ValueError):
                out[h].error = str(r)
            else:
                raise r
        return facts

    async def _apply(self, ctx: RunContext, host: str, work: HostWork, out: HostOutcome, what: str) -> bool:
        """One round-trip: the changes, daemon-reload, start, wait. False (and out.error) on failure."""
        if not ctx.apply:
            return True
        if not work.changes and not work.start and work.wait is None:
            return True
        for c in work.changes:
            log.info("%s: etcd: %s", host, c.summary)
        ctx.changed_hosts.add(host)
        try:
            await ctx.session.run(host, render_apply(ctx.config, work), label=what, timeout=600)
            out.applied = len(out.changes)
            return True
        except CommandError as exc:
            done = applied_count(exc.stdout)
            failed = work.changes[done].summary if done < len(work.changes) else "starting etcd"
            out.error = f"{what} stopped at '{failed}': {_tail(exc)}"
            return False
        except RemoteError as exc:
            out.error = f"{what}: {exc}"
            return False

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
            work = host_work(config, config.host(h), f, bootstrap, start=True, wait="healthy")
            works[h] = work
            out[h].changes += work.changes
            out[h].unchanged += work.unchanged
            out[h].changes.append(Change(f"service:{UNIT}", f"start etcd: form a new cluster of "
                                         f"{len(facts)} members ({names})", ""))
            ctx.notes.setdefault(h, []).extend(f"etcd: {w}" for w in plan.warnings)
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
            work = host_work(config, config.host(h), f, f.bootstrap_in_file or fallback, start=True, wait="healthy")
            works[h] = work
            out[h].changes += work.changes
            if work.start:
                out[h].changes.append(Change(f"service:{UNIT}", f"start {UNIT} (now {f.active or 'unknown'})", ""))
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
        restarts: list[str] = []
        works: dict[str, HostWork] = {}
        for h, f in facts.items():
            m = plan.matched.get(h)
            if m is None or not m.started:
                continue
            b = f.bootstrap_in_file if f.has_data and f.bootstrap_in_file else existing
            work = host_work(config, config.host(h), f, b, start=True, wait="healthy")
            works[h] = work
            out[h].changes += work.changes
            out[h].unchanged += work.unchanged
            if work.start:
                out[h].changes.append(Change(f"service:{UNIT}", f"start {UNIT} (now {f.active or 'unknown'})", ""))
            if work.needs_restart:
                restarts.append(h)
                out[h].changes.append(Change(f"service:{UNIT}", f"restart {UNIT} (configuration changed; "
                                             "one member at a time)", ""))
            if not work.start and m.id in view.healthy:
                out[h].unchanged.append(Unchanged(f"service:{UNIT}", f"member {m.hex_id} runs, healthy"))
            elif not work.start and not work.needs_restart:
                work.wait = "healthy"  # running but not healthy (yet): wait for it, fail if it stays so
        results = await asyncio.gather(*(self._apply(ctx, h, w, out[h], "converge etcd") for h, w in works.items()))
        if not all(results):
            return

        # 2. membership, one step at a time
        for step in plan.steps:
            if not await self._step(ctx, step, facts, out, existing, view, plan):
                return

        # 3. restarts for changed configuration, one member at a time
        for h in restarts:
            if not ctx.apply:
                continue
            script = f"systemctl restart --no-block {UNIT}\n" + scripts.wait_healthy_script(config.etcd.client_port)
            ctx.changed_hosts.add(h)
            try:
                await ctx.session.run(h, script, label="restart etcd and wait until healthy", timeout=600)
            except RemoteError as exc:
                out[h].error = f"restarting etcd: {_tail(exc) if isinstance(exc, CommandError) else exc}"
                return

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
                out[op].error = f"{step.describe()}: {_tail(exc) if isinstance(exc, CommandError) else exc}"
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
                work = host_work(config, hc, f, existing, start=True, wait="started", stale_data=f.has_data,
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
                tail = _tail(exc) if isinstance(exc, CommandError) else str(exc)
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
        work = host_work(config, hc, f, b, start=True, wait="started" if learner else "healthy",
                         stale_data=stale, stamp=self.stamp)
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
            out[host].error = f"promoting {host}: {_tail(exc) if isinstance(exc, CommandError) else exc}"
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

