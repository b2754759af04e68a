"""From a component and a host's facts to the work of one apply round-trip (pure).

:func:`plan_work` compares every operation of a :class:`Component` with the facts read from the
host and decides what the apply round-trip does: the changes, a daemon-reload when a unit file or a
package changed, enabling, a start (``--no-block``, then the health probe), and whether a running
service needs a restart (done later by the phase, by the component's restart policy).
:func:`render_apply` turns that into one script.
"""

from __future__ import annotations

import shlex
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace

from kubeward.components.spec import Component, Health
from kubeward.hostscripts.sections import marker_line
from kubeward.hostscripts.service import wait_until
from kubeward.ops.base import DONE, Change, Note, Outcome, Refusal, Unchanged, evaluate_all
from kubeward.ops.ops import ENABLED, Service, ServiceState, parse_service_state


@dataclass
class HostWork:
    """What one host's apply round-trip does for one component."""

    component: Component
    state: ServiceState
    changes: list[Change] = field(default_factory=list)
    unchanged: list[Unchanged] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    stop_first: bool = False
    start: bool = False
    wait: bool = False  # run the health probe after the round-trip's start
    daemon_reload: bool = False
    needs_restart: bool = False  # running, and a file it reads changed: the phase restarts it
    needs_reload: bool = False  # running, and only files it reloads changed: the phase reloads it
    restart_reason: str = "its configuration changed"
    wait_for: Health | None = None  # another probe than the component's (a learner only "serves")

    @property
    def idle(self) -> bool:
        return not (self.changes or self.start or self.wait or self.stop_first)

    def shown(self) -> list[Change]:
        """The changes as the operator sees them, with the start and restart the phase does."""
        out = list(self.changes)
        unit = self.component.unit
        if self.start:
            out.append(Change(f"service:{unit}", f"start {unit} (now {self.state.active or 'unknown'})", ""))
        if self.needs_restart:
            out.append(Change(f"service:{unit}", f"restart {unit} ({self.restart_reason}; "
                                                 f"{restart_manner(self.component)})", ""))
        elif self.needs_reload:
            out.append(Change(f"service:{unit}", f"reload {unit} (its configuration changed; no restart)", ""))
        return out


def plan_work(component: Component, facts: Mapping[str, str], *, start: bool = True, wait: bool = True,
              restart: bool = True) -> HostWork:
    """The work for ``component`` on a host whose facts (``op id -> fact``) are given.

    ``start``: start the service when it does not run; ``wait``: probe its health after that start;
    ``restart``: whether a changed file of a running service asks for a restart (the caller decides
    when: a member of a cluster that is being formed is not restarted, say).
    """
    service = component.service_op()
    ops = [op for op in component.ops() if not isinstance(op, Service)]
    state = parse_service_state(facts.get(service.id, ""))
    work = HostWork(component, state)
    outcomes: list[Outcome] = evaluate_all(ops, facts)
    for o in outcomes:
        if isinstance(o, Change):
            if o.op.startswith("packages:") and component.package_guard:
                o = replace(o, script=component.package_guard.replace("{script}", o.script))
            work.changes.append(o)
            work.daemon_reload = work.daemon_reload or component.reloads_units(o.op)
        elif isinstance(o, Unchanged):
            work.unchanged.append(o)
        elif isinstance(o, Refusal):
            work.refusals.append(o)
        else:
            work.notes.append(o)
    if not component.enabled:
        if state.enabled == "enabled" or state.running:
            work.changes.append(Change(service.id, f"stop and disable {component.unit}",
                                       f"systemctl disable --now {component.unit} 2>/dev/null"))
        return work
    if state.enabled not in ENABLED:
        work.changes.append(Change(service.id, f"enable {component.unit}",
                                   f"systemctl enable --quiet {component.unit} 2>/dev/null"))
    if state.running:
        work.needs_restart = restart and any(component.restarts_on(c.op) for c in work.changes)
        work.needs_reload = not work.needs_restart and any(component.reloads_on(c.op) for c in work.changes)
        if not work.needs_restart and not work.needs_reload:
            work.unchanged.append(Unchanged(service.id, f"{state.enabled}, {state.active}"))
    elif start:
        work.start = True
        work.wait = wait and component.health is not None
    return work


def restart_for_files(work: HostWork, changed: Collection[str]) -> tuple[str, ...]:
    """A running service whose ``reads`` are among ``changed`` (files an earlier phase of the run
    changed on the host: certificates) is restarted by its policy; returns those files."""
    hit = work.component.reads_changed(changed)
    if hit and work.state.running and not work.start and not work.needs_restart:
        work.needs_restart, work.needs_reload = True, False
        service = work.component.service_op().id
        work.unchanged = [u for u in work.unchanged if u.op != service]
        work.restart_reason = reads_reason(hit)
        return hit
    return ()


def restart_manner(component: Component) -> str:
    """How a component's restarts go, in the words plans show."""
    return "one host at a time" if component.restart == "rolling" else "all hosts at once"


def reads_reason(hit: Collection[str]) -> str:
    """Why a service restarts for files an earlier phase of the run changed."""
    return f"it reads {', '.join(p.rsplit('/', 1)[-1] for p in hit)}, changed in this run"


def render_wait(component: Component, probe: Health | None = None) -> str:
    h = probe or component.health
    if h is None:
        return ""
    return wait_until(component.unit, h.script, h.timeout, h.what, done=marker_line("health", component.unit))


def render_apply(work: HostWork, offset: int = 0) -> str:
    """One script: stop (if asked), each change with a ``done`` marker (numbered from ``offset``, for
    several works in one round-trip), daemon-reload, start, wait."""
    unit = work.component.unit
    lines = ["set -e", "export DEBIAN_FRONTEND=noninteractive LC_ALL=C"]
    if work.stop_first:
        lines.append(f"systemctl stop {unit}")
    for i, c in enumerate(work.changes, offset):
        lines += ["# " + " ".join(c.summary.split()), c.script, f"echo '{marker_line(DONE, str(i))}'"]
    if work.daemon_reload:
        lines.append("systemctl daemon-reload")
    if work.start:
        lines.append(f"systemctl start --no-block {unit}")
    if work.wait:
        lines.append(render_wait(work.component, work.wait_for))
    return "\n".join(lines) + "\n"


def render_reload(component: Component) -> str:
    """Reload the service (it takes its changed configuration without a restart), then wait until
    its health probe passes."""
    return f"systemctl reload {component.unit}\n{render_wait(component)}\n"


#: how long a restart may take until the new process starts (the old one's stop included)
RESTART_START_TIMEOUT = 120


def render_restart(component: Component) -> str:
    """Restart the service and wait until its health probe passes, against the new process: the
    probe waits until systemd started a new invocation (the old process may still answer while it
    stops, and would pass a probe that ran at once)."""
    u = shlex.quote(component.unit)
    wait = render_wait(component)
    return (f"kw_old=$(systemctl show -p InvocationID --value {u})\n"
            f"systemctl restart --no-block {u}\n"
            f"kw_n=0\n"
            f"while [ \"$(systemctl show -p InvocationID --value {u})\" = \"$kw_old\" ] && "
            f"[ $kw_n -lt {RESTART_START_TIMEOUT * 5} ]; do sleep 0.2; kw_n=$((kw_n + 1)); done\n"
            f"{wait}\n")
