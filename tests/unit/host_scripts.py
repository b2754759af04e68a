"""Every script kubeward sends to hosts, by name, for one cluster.yml: the catalog that the
golden-file test and the shell-quoting test walk. A new host script must appear here."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from kubeward.artifacts.manifest import FileEntry, new_manifest
from kubeward.artifacts.nodes import (
    ALL_BINARIES,
    NodeFacts,
    plan_node_changes,
    render_finish_script,
    render_node_facts_script,
    render_node_plan,
)
from kubeward.artifacts.rollout import (
    CORDONED,
    plan_host_rollout,
    render_install_script,
    render_mark_script,
    render_restart_script,
    render_unmark_script,
)
from kubeward.audit.probe import render_peer_script
from kubeward.components.certificates import installed_certs
from kubeward.components.control_plane import ControlPlaneInputs, api_proxy_component, control_plane_components
from kubeward.components.etcd import etcd_component
from kubeward.components.node import (
    TRAITS_FACT,
    NodeContext,
    NodeTraits,
    containerd_component,
    kube_proxy_component,
    kubelet_component,
    pod_network_component,
    pod_routes,
)
from kubeward.components.plan import plan_work, render_apply, render_restart
from kubeward.components.retire import render_retire_script
from kubeward.components.version import v
from kubeward.config import ClusterConfig
from kubeward.config.loader import LoadedConfig
from kubeward.etcd import scripts as etcd_scripts
from kubeward.etcd.config import new_cluster_bootstrap
from kubeward.firewall.compile import render_ruleset
from kubeward.hostscripts.reset import RESET_SCRIPT
from kubeward.ops.base import Change, render_apply_script
from kubeward.ops.guard import (
    render_arm_script,
    render_commit_script,
    render_disarm_script,
    render_guard_fact_script,
    render_resolve_script,
    render_restore_script,
)
from kubeward.ops.sshd import GUARD as SSHD_GUARD
from kubeward.ops.sshd import render_install_step, render_remove_step
from kubeward.phases.base import OpsPhase, RunContext, render_prefetch_script
from kubeward.phases.component import render_component_facts
from kubeward.phases.departures import etcd_facts_script
from kubeward.phases.firewall import GUARD as FIREWALL_GUARD
from kubeward.phases.firewall import render_apply_step, render_persist_script
from kubeward.phases.nodes import JOINED_FACT, SERVING_FACT
from kubeward.phases.preflight import preflight_facts_script
from kubeward.phases.runner import PHASES
from kubeward.pki.installed import render_installed_script
from kubeward.preflight.facts import render_probe_script
from kubeward.remote.ssh import Session, Trust
from kubeward.remote.targets import targets_for


def fresh_host_changes(ops: list[Any]) -> list[Change]:
    """What each operation does on a host that has none of it (a stat says "absent", a lookup nothing)."""
    out: list[Change] = []
    for op in ops:
        try:
            outcomes = op.evaluate("absent")
        except (IndexError, ValueError):
            outcomes = op.evaluate("")
        out += [c for c in outcomes if isinstance(c, Change)]
    return out


def absent_facts(comp: Any) -> dict[str, str]:
    facts: dict[str, str] = {}
    for op in comp.ops():
        try:
            op.evaluate("absent")
            facts[op.id] = "absent"
        except (IndexError, ValueError):
            facts[op.id] = ""
    return facts


def node_context_for(config: ClusterConfig, host: str) -> NodeContext:
    h = config.host(host)
    lab = NodeTraits(cgroup_driver="cgroupfs", can_lower_oom_score=False, conntrack_settable=False)
    return NodeContext(v("1.20.2"), h.name, str(h.address), str(h.private_address), str(config.network.pod_cidr),
                       str(config.network.service_cidr), lab)


#: stand-ins for the bytes the control-plane files embed (the golden files must not hold real keys)
FAKE_INPUTS = ControlPlaneInputs(
    ca_pem=b"-----CA-----\n", signer_pem=b"-----SIGNER-----\n",
    controller_manager=(b"-----CM CERT-----\n", b"-----CM KEY-----\n"),
    scheduler=(b"-----SCHED CERT-----\n", b"-----SCHED KEY-----\n"),
    encryption_keys=(("key-1", "AAAA"),),
)


def control_plane_scripts(config: ClusterConfig) -> dict[str, str]:
    """The control-plane phase's facts and fresh-host apply scripts, for a Kubernetes 1.20 cluster."""
    kube = config.model_copy(update={"kubernetes": config.kubernetes.model_copy(
        update={"enabled": True, "version": "1.20.2"})})
    out: dict[str, str] = {}
    for h in kube.hosts[:1] + kube.workers[:1]:
        comps = [api_proxy_component(kube)]
        if h.is_control_plane:
            comps += control_plane_components(kube, h, FAKE_INPUTS)
        out[f"{h.name} facts control-plane"] = render_component_facts(comps)
        for comp in comps:
            facts = {}
            for op in comp.ops():
                try:
                    op.evaluate("absent")
                    facts[op.id] = "absent"
                except (IndexError, ValueError):
                    facts[op.id] = ""
            out[f"{h.name} {comp.name} apply"] = render_apply(plan_work(comp, facts))
            out[f"{h.name} {comp.name} restart"] = render_restart(comp)
        out[f"{h.name} pki installed certificates"] = render_installed_script(installed_certs(kube, h))
    return out


def artifact_scripts(config: ClusterConfig) -> dict[str, str]:
    """The artifacts phase's facts and finish scripts and the roll-out's, for a 1.20.2 manifest:
    uploads, staged new builds, a rollback staged from the previous build, the install, a restart."""
    def sha(name: str) -> str:
        return (name.encode().hex() * 64)[:64]

    m = new_manifest("1.20.2", "amd64", [FileEntry(f"v1.20.2/bin/linux/amd64/{b}", sha(b), 1000) for b in ALL_BINARIES])
    out: dict[str, str] = {}
    for h in config.hosts[:1] + config.workers[:1]:
        plan = render_node_plan(m, h.role)
        out[f"{h.name} artifacts facts"] = render_node_facts_script(plan)
        kubelet, proxy = plan.binaries[0], plan.binaries[1]
        facts = NodeFacts(sums={f.remote: sha("old") for f in plan.binaries}, links=dict(plan.links),
                          previous={proxy.remote + ".kubeward-previous": proxy.sha256},
                          units={"kubelet": ("active", kubelet.remote), "kube-proxy": ("active", proxy.remote)})
        out[f"{h.name} artifacts finish"] = render_finish_script(plan_node_changes(plan, facts))
        facts.staged = {f.remote + ".kubeward-staged": f.sha256 for f in plan.binaries}
        roll = plan_host_rollout(h.name, h.role, plan, facts)
        out[f"{h.name} rollout install"] = render_install_script(roll)
        out[f"{h.name} rollout restart"] = render_restart_script("kubelet.service", roll.executable("kubelet"))
    out["rollout mark"] = render_mark_script(CORDONED)
    out["rollout unmark"] = render_unmark_script()
    return out


def every_script(config: ClusterConfig, tmp: Path, payload: str = "snap") -> dict[str, str]:
    """Every node script kubeward renders for ``config``, with every change applied."""
    loaded = LoadedConfig(config, "cluster.yml")
    session = Session(targets_for(config), Trust(tmp / "known_hosts"))
    ctx = RunContext(loaded, session, apply=True)
    ctx.phase_names = tuple(p.name for p in PHASES)  # as the runner sets it: the prefetch of a full `up`
    out: dict[str, str] = {}

    async def prepare() -> None:
        for phase in PHASES:
            await phase.prepare(ctx)

    asyncio.run(prepare())
    for h in config.hosts:
        per_phase = {}
        for phase in PHASES:
            facts = phase.facts_script(ctx, h.name)
            if facts is not None:
                out[f"{h.name} facts {phase.name}"] = facts
                per_phase[phase.name] = (facts, phase.name != "preflight")
            if isinstance(phase, OpsPhase):
                ops = phase.ops_for(ctx, h.name)
                changes = fresh_host_changes(ops)
                out[f"{h.name} apply {phase.name}"] = render_apply_script(changes)
        out[f"{h.name} prefetch"] = render_prefetch_script(per_phase, "debian")
        if h.is_control_plane:  # what the departures phase reads when the etcd phase does not run
            out[f"{h.name} facts departures"] = etcd_facts_script(config)
        out[f"{h.name} preflight"] = preflight_facts_script(config, h.name)
        out[f"{h.name} firewall arm"] = render_arm_script(FIREWALL_GUARD, render_apply_step(render_ruleset(config, h)), 60)
        if h.is_control_plane:
            comp = etcd_component(config, h, new_cluster_bootstrap(config))
            facts = {}
            for op in comp.ops():
                try:
                    op.evaluate("absent")
                    facts[op.id] = "absent"
                except (IndexError, ValueError):
                    facts[op.id] = ""
            work = plan_work(comp, facts)
            d = str(config.etcd.data_dir)
            work.changes.insert(0, Change("etcd-data", f"move the stale etcd data in {d} aside",
                                          etcd_scripts.move_aside_script(d, "s1")))
            work.stop_first = True
            out[f"{h.name} etcd apply"] = render_apply(work)
            out[f"{h.name} etcd decommission"] = etcd_scripts.decommission_script(d, "s1")
            out[f"{h.name} etcd restore"] = etcd_scripts.restore_script(
                snapshot=f"/var/lib/kubeward/{payload}", data_dir=d, stamp="s1", name=h.name,
                initial_cluster="a=https://10.0.0.10:2380", token="t", peer_url="https://10.0.0.10:2380")
            out[f"{h.name} etcd rollback"] = etcd_scripts.rollback_restore_script(d, "s1")
    # Kubernetes nodes (issue 17): the example leaves kubernetes off, so render them for 1.20.2 here
    for h in config.hosts:
        nctx = node_context_for(config, h.name)
        routes = pod_routes(h.name, {x.name: f"10.244.{i}.0/24" for i, x in enumerate(config.hosts)},
                            {x.name: str(x.private_address) for x in config.hosts})
        bootstrap = "apiVersion: v1\nkind: Config\n# <token>\n"
        for comp in (containerd_component(nctx), kubelet_component(nctx, bootstrap),
                     kube_proxy_component(nctx, "apiVersion: v1\nkind: Config\n# <client certificate>\n"),
                     pod_network_component(str(config.network.pod_cidr), "10.244.0.0/24", routes)):
            out[f"{h.name} {comp.name} apply"] = render_apply(plan_work(comp, absent_facts(comp)))
        out[f"{h.name} node facts"] = f"{TRAITS_FACT}\n{JOINED_FACT}\n{SERVING_FACT}\n"
        out[f"{h.name} node remove retire"] = render_retire_script(config, h, "s1")
    out.update(control_plane_scripts(config))
    out.update(artifact_scripts(config))
    out["sshd install"] = render_arm_script(SSHD_GUARD, render_install_step(f"# {payload}\n"), 60)
    out["sshd remove"] = render_arm_script(SSHD_GUARD, render_remove_step(), 60)
    out["firewall persist"] = render_persist_script()
    out["reset"] = RESET_SCRIPT  # its steps are data on stdin: golden in tests/unit/golden/reset/
    for name, guard in (("sshd", SSHD_GUARD), ("firewall", FIREWALL_GUARD)):
        out[f"{name} guard commit"] = render_commit_script(guard)
        out[f"{name} guard disarm"] = render_disarm_script(guard)
        out[f"{name} guard restore"] = render_restore_script(guard)
        out[f"{name} guard resolve"] = render_resolve_script(guard)
        out[f"{name} guard fact"] = render_guard_fact_script(guard)
    out["peer probe"] = render_peer_script([("10.0.0.10", 22)]) + render_probe_script([("10.0.0.10", 22)])
    return out
