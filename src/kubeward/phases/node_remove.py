"""`kubeward node remove NAME`: one host out of a running cluster, the others converged without it.

1. connect to every host (NAME must be reachable: its services are stopped there);
2. plan the departure against the cluster.yml *without* NAME (:mod:`kubeward.phases.departures`):
   its Node, its pods, its etcd member; refused with the reason when a control plane's removal
   would break etcd's quorum or leave no control plane;
3. ask (the question names the host and every step);
4. drain it, remove its etcd member through another member, stop and disable kubeward's services
   on it, delete its Node;
5. run `up`'s phases (not preflight and audit) on the other hosts with the cluster.yml without NAME:
   firewall sets, certificates (the API server's names), the API servers' ``--etcd-servers``, the
   node-local API proxies' backends and the pod routes follow, one path for `up` and `node remove`.

NAME stays in cluster.yml until the operator removes it (until then `up` would add it back).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from kubeward.config import LoadedConfig
from kubeward.errors import KubewardError
from kubeward.phases.base import RunContext
from kubeward.phases.departures import (
    DRAIN_TIMEOUT,
    Departure,
    DepartureError,
    DeparturePlan,
    DepartureReport,
    Progress,
    carry_out,
    plan_departures,
    reach_api,
)
from kubeward.phases.runner import ProgressFn, RunReport, run_phases, select_phases
from kubeward.remote.ssh import Session

#: the phases that converge the other hosts (preflight and the audit only read; `kubeward audit` proves)
CONVERGE_SKIP = ("preflight", "audit")
FOLLOWS = ("firewall sets", "pod routes")
FOLLOWS_CONTROL_PLANE = ("the node-local API proxies' backends", "the API servers' --etcd-servers and certificate")


def without_host(loaded: LoadedConfig, name: str) -> LoadedConfig:
    """The same cluster.yml with host ``name`` left out (what `up` would see once it is deleted)."""
    hosts = tuple(h for h in loaded.config.hosts if h.name != name)
    return dataclasses.replace(loaded, config=loaded.config.model_copy(update={"hosts": hosts}))


@dataclass
class Removal:
    """What `node remove` planned and did."""

    host: str
    role: str
    steps: list[str] = field(default_factory=list)
    plan: DeparturePlan | None = None
    departures: list[DepartureReport] = field(default_factory=list)
    converge: RunReport | None = None
    converge_hosts: list[str] = field(default_factory=list)
    skipped_hosts: dict[str, str] = field(default_factory=dict)  # unreachable: not converged
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and (self.converge is None or self.converge.ok)


def removal_steps(plan: DeparturePlan, d: Departure, loaded: LoadedConfig, others: list[str]) -> list[str]:
    host = loaded.config.host(d.name)
    steps = plan.steps(d, retire=host)
    follows = [*FOLLOWS, *(FOLLOWS_CONTROL_PLANE if host.is_control_plane else ())]
    steps.append(f"converge {', '.join(others)} without {d.name} (`up`'s phases: {', '.join(follows)})")
    return steps


async def remove_host(loaded: LoadedConfig, session: Session, name: str, *,
                      confirm: Callable[[str], bool] | None, force: bool = False, timeout: float = DRAIN_TIMEOUT,
                      progress: Progress = lambda _m: None, phase_progress: ProgressFn | None = None,
                      result: Removal | None = None) -> Removal:
    """Remove host ``name`` (see the module docstring); raises :class:`KubewardError` for a refusal
    or a failure before the convergence, saying what was done. ``result`` is filled as it goes."""
    started = time.monotonic()
    try:
        host = loaded.config.host(name)
    except KeyError as exc:
        raise KubewardError(f"{exc.args[0]}; a host already removed from cluster.yml is drained and removed by "
                            "`kubeward up` (after a confirmation)") from None
    res = result if result is not None else Removal(name, host.role)
    res.host, res.role = name, host.role
    rest = without_host(loaded, name)
    if host.is_control_plane and not rest.config.control_planes:
        raise DepartureError(f"refusing to remove {name}: it is the only control plane (etcd and the API server "
                             "run there); add another control plane first")
    progress(f"connecting to {len(loaded.config.hosts)} hosts")
    errors = await session.connect_all([h.name for h in loaded.config.hosts])
    if errors.get(name) is not None:
        raise KubewardError(f"cannot reach {name} ({errors[name]}): `node remove` stops its services there. To "
                            f"remove a host that is gone, delete it from {loaded.filename} and run `kubeward up` "
                            "(it drains and deletes its Node without touching the host)")
    res.skipped_hosts = {h: str(e) for h, e in errors.items() if e is not None and h != name}
    others = [h.name for h in rest.config.hosts if h.name not in res.skipped_hosts]
    res.converge_hosts = others
    cps = [h.name for h in rest.config.control_planes if h.name in others]
    ctx = RunContext(rest, session, apply=True)
    try:
        if host.is_control_plane:
            # etcd's verdict first: without a quorum the API servers do not answer either (a request
            # waits for etcd's timeout), and the reason to give is etcd's
            early = await plan_departures(ctx, None, cps, only=host)
            if early.refusal:
                raise DepartureError(f"refusing to remove {name}: {early.refusal}")
        async with reach_api(ctx, cps) as view_api:
            progress(f"planning: {name}'s Node, pods and etcd member")
            plan = await plan_departures(ctx, view_api, cps, only=host, force=force)
            res.plan = plan
            if not plan.departures:
                plan.departures.append(Departure(name))  # nothing in the cluster knows it: still stop its services
            d = plan.departures[0]
            res.steps = removal_steps(plan, d, loaded, others)
            # etcd's verdict first: without a quorum there is no API server to drain through either
            if plan.refusal:
                raise DepartureError(f"refusing to remove {name}: {plan.refusal}")
            if view_api is None and rest.config.kubernetes.enabled:
                raise KubewardError(f"no API server answers through {', '.join(cps) or 'a control plane'}: "
                                    f"{name} cannot be drained; fix the control plane first (`kubeward up`)")
            question = (f"Remove {name} ({host.role}) from cluster {loaded.config.name}?\n"
                        + "".join(f"  {i}. {s}\n" for i, s in enumerate(res.steps, 1))
                        + f"{name} keeps its files; remove it from {loaded.filename} afterwards. Continue?")
            if confirm is None:
                raise KubewardError(f"refusing to remove {name} without a confirmation: no terminal to ask on; "
                                    "pass --yes (it will: " + "; ".join(res.steps) + ")")
            if not confirm(question):
                raise KubewardError(f"not confirmed: nothing was changed on {name} or in the cluster")
            await carry_out(ctx, plan, view_api, retire={name: host}, force=force, timeout=timeout,
                            progress=progress, reports=res.departures)
        progress(f"converging {', '.join(others)} without {name}")
        phases = select_phases([], list(CONVERGE_SKIP))
        cctx = RunContext(rest, session, apply=True)
        res.converge = await run_phases(cctx, phases, phase_progress, others)
        if not res.converge.ok:
            failed = {h: res.converge.host_failed(h) for h in others if res.converge.host_failed(h)}
            res.error = (f"{name} left the cluster, but converging the others failed: "
                         + "; ".join(f"{h}: {why}" for h, why in failed.items())
                         + f". Remove {name} from {loaded.filename} and run `kubeward up` to finish")
    except KubewardError as exc:
        res.error = str(exc)
        raise
    finally:
        res.seconds = time.monotonic() - started
    return res
