"""Rolling changed Kubernetes binaries out node by node: what each node needs, in which order (pure).

When a binary a running service executes changes (a new build of the same version, or a new
version), the ``artifacts`` phase only *stages* it on every node (:mod:`kubeward.artifacts.nodes`);
the ``rollout`` phase then, per node in turn:

1. cordons and drains it (when its kubelet or kube-proxy restarts), after writing a mark on the node
   (``ROLLOUT_MARK``) so that a later run knows the node is kubeward's to finish and uncordon;
2. installs: each staged build is checked once more and renamed over the binary (the old one stays
   as ``<binary>.kubeward-previous``, a hard link), or the ``current`` link moves to the new
   version's directory (the old version's directory stays);
3. restarts the services whose executable changed, each healthy before the next
   (API server, controller-manager, scheduler, kubelet, kube-proxy);
4. waits until the Node is Ready, uncordons it (unless the operator had cordoned it) and removes the
   mark.

Order (:func:`plan_batches`): control planes one at a time, then workers in batches of
``--max-unavailable``; nodes an interrupted roll-out left cordoned come first in their group. A
downgrade (``--allow-downgrade``) goes workers first, so no kubelet is newer than an API server.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from kubeward.artifacts.nodes import (
    BINARY_UNITS,
    INSTALL_ROOT,
    PREVIOUS_SUFFIX,
    ROLLOUT_DIR,
    ROLLOUT_MARK,
    RUNNING_STATES,
    NodeFacts,
    NodeFile,
    NodePlan,
    binary_name,
    staged_file,
    stamp_path,
)
from kubeward.hostscripts.service import wait_until

#: services restarted on a node in this order: the API server first (the others talk to it)
RESTART_ORDER = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy")
#: a restart of these affects the node's pods: the node is drained first
NODE_SERVICES = ("kubelet", "kube-proxy")
#: the mark's values: kubeward cordoned the node, or the operator had (then it stays cordoned)
CORDONED = "cordoned"
WAS_CORDONED = "was-cordoned"


@dataclass(frozen=True)
class HostRollout:
    """What the roll-out does on one node."""

    host: str
    role: str
    installs: tuple[NodeFile, ...] = ()  # new builds renamed from their staged path over the binary
    switch_to: str | None = None  # the version the `current` link moves to
    restarts: tuple[str, ...] = ()  # binaries whose service restarts, in RESTART_ORDER
    drain: bool = False
    resume: str | None = None  # the mark an unfinished roll-out left on this node
    unstaged: tuple[str, ...] = ()  # changed binaries without a verified staged build
    #: (binary, path) of what each restarted service must run afterwards
    executables: tuple[tuple[str, str], ...] = ()

    def executable(self, binary: str) -> str:
        return dict(self.executables)[binary]

    @property
    def empty(self) -> bool:
        return not (self.installs or self.switch_to or self.restarts or self.resume)

    def render_steps(self) -> list[str]:
        """The steps in words, for the plan and the report."""
        steps = []
        if self.drain:
            steps.append("cordon and drain")
        for f in self.installs:
            steps.append(f"install the new build of {binary_name(f)} (sha256 {f.sha256[:12]}...)")
        if self.switch_to:
            steps.append(f"switch to v{self.switch_to}")
        for b in self.restarts:
            steps.append(f"restart {BINARY_UNITS[b]}")
        if self.drain:
            steps.append("wait until Ready")
            if self.resume != WAS_CORDONED:
                steps.append("uncordon")
        return steps


def plan_host_rollout(host: str, role: str, plan: NodePlan, facts: NodeFacts) -> HostRollout:
    """Compare a node's facts with its plan: the binaries to install, the version switch, the
    services to restart (running ones whose executable is not the one the plan installs: a replaced
    binary reads ``PATH (deleted)``), whether to drain, and a mark left by an unfinished roll-out."""
    installs: list[NodeFile] = []
    unstaged: list[str] = []
    for f in plan.binaries:
        have = facts.sums.get(f.remote)
        if have is None or have == f.sha256 or not facts.running:
            continue  # absent, or in place, or nothing runs here: the artifacts phase installs it directly
        installs.append(f)
        if facts.staged.get(staged_file(f).remote) != f.sha256:
            unstaged.append(binary_name(f))
    current = facts.links.get(plan.current_link)
    switch = plan.version if facts.running and current is not None and current != f"v{plan.version}" else None
    changed = {binary_name(f) for f in installs}
    restarts: list[tuple[str, str]] = []
    for b in RESTART_ORDER:
        target = next((f.remote for f in plan.binaries if binary_name(f) == b), None)
        state, exe = facts.units.get(b, ("inactive", "-"))
        if target is None or state not in RUNNING_STATES:
            continue
        if b in changed or switch or exe not in ("-", target):
            restarts.append((b, target))
    drain = facts.mark is not None or any(b in NODE_SERVICES for b, _ in restarts)
    return HostRollout(host, role, tuple(installs), switch, tuple(b for b, _ in restarts), drain, facts.mark,
                       tuple(unstaged), tuple(restarts))


@dataclass(frozen=True)
class Batch:
    number: int  # from 1
    kind: Literal["control plane", "workers"]
    hosts: tuple[str, ...]


def plan_batches(rollouts: Sequence[HostRollout], max_unavailable: int, *, workers_first: bool = False) -> list[Batch]:
    """Control planes one at a time, then workers ``max_unavailable`` at a time (cluster.yml order;
    a node an unfinished roll-out left cordoned first in its group). ``workers_first`` for a downgrade."""
    if max_unavailable < 1:
        raise ValueError("--max-unavailable must be at least 1")
    todo = [r for r in rollouts if not r.empty]

    def group(role: str) -> list[str]:
        hosts = [r for r in todo if r.role == role]
        return [r.host for r in sorted(hosts, key=lambda r: r.resume is None)]  # stable: resumed first

    cps = [Batch(0, "control plane", (h,)) for h in group("control-plane")]
    ws = group("worker")
    workers = [Batch(0, "workers", tuple(ws[i:i + max_unavailable])) for i in range(0, len(ws), max_unavailable)]
    ordered = workers + cps if workers_first else cps + workers
    return [replace(b, number=i) for i, b in enumerate(ordered, 1)]


def render_order(batches: Sequence[Batch], snapshot: str) -> str:
    """One line: the snapshot, then each batch (for the plan and the log)."""
    parts = [f"{b.number}. {', '.join(b.hosts)} ({b.kind})" for b in batches]
    return f"roll-out order: etcd snapshot to {snapshot}; then " + "; ".join(parts)


def render_restart_script(unit: str, executable: str, timeout: int = 120) -> str:
    """Restart ``unit`` and wait until a new process runs ``executable`` (the health probe follows):
    a probe alone could be answered by the old process while it stops."""
    u = shlex.quote(unit)
    new_process = (f"p=$(systemctl show -p MainPID --value {u}); [ \"$p\" != 0 ] && [ \"$p\" != \"$kw_old\" ] && "
                   f"[ \"$(readlink /proc/$p/exe)\" = {shlex.quote(executable)} ]")
    return (f"kw_old=$(systemctl show -p MainPID --value {u})\nsystemctl restart --no-block {u}\n"
            + wait_until(unit, new_process, timeout, f"running {executable}") + "\n")


def render_mark_script(value: str) -> str:
    """Mark the node before it is cordoned; an existing mark (an earlier, unfinished roll-out) stays."""
    mark = shlex.quote(ROLLOUT_MARK)
    return (f"set -e; mkdir -p -m 0700 {shlex.quote(ROLLOUT_DIR)}; "
            f"[ -f {mark} ] || printf '%s\\n' {shlex.quote(value)} > {mark}\n")


def render_unmark_script() -> str:
    """The mark goes, and its directory with it (nothing of a finished roll-out stays on the node)."""
    return f"rm -f {shlex.quote(ROLLOUT_MARK)}; rmdir {shlex.quote(ROLLOUT_DIR)} 2>/dev/null || true\n"


def render_install_script(rollout: HostRollout) -> str:
    """Each staged build checked once more (it was verified when it was uploaded) and renamed over the
    binary, the old one kept as ``<binary>.kubeward-previous``; then the version switch. Each step is
    a rename: a restart (or a crash) finds the old binary or the new one, never a partial file."""
    lines = ["set -e"]
    for f in rollout.installs:
        t, s = shlex.quote(f.remote), shlex.quote(staged_file(f).remote)
        lines += [
            f"got=$(sha256sum < {s} | cut -d' ' -f1)",
            # a staged file that changed is removed with its stamp, so the next run stages it anew; so is
            # the previous build's stamp (a rollback stages by a hard link: the same file may have changed)
            f"if [ \"$got\" != {f.sha256} ]; then rm -f {s} {shlex.quote(stamp_path(staged_file(f).remote))} "
            f"{shlex.quote(stamp_path(f.remote + PREVIOUS_SUFFIX))}; "
            f"echo \"{staged_file(f).remote}: SHA-256 $got, expected {f.sha256} (it changed since it was staged; "
            "removed: run kubeward up again to stage it anew)\" >&2; exit 3; fi",
            # the binary in place stays as the previous build, with its stamp (a rollback stages it
            # by a hard link, no upload); no stamp, no record of its sum
            f"if [ -e {t} ]; then ln -f {t} {shlex.quote(f.remote + PREVIOUS_SUFFIX)}; "
            f"cp {shlex.quote(stamp_path(f.remote))} {shlex.quote(stamp_path(f.remote + PREVIOUS_SUFFIX))} 2>/dev/null "
            f"|| rm -f {shlex.quote(stamp_path(f.remote + PREVIOUS_SUFFIX))}; fi",
            f"mv -f {s} {t}",
            # the stamp of the staged file is true of the renamed one (same inode, size and mtime)
            f"mv -f {shlex.quote(stamp_path(staged_file(f).remote))} {shlex.quote(stamp_path(f.remote))} 2>/dev/null"
            f" || rm -f {shlex.quote(stamp_path(f.remote))}",
        ]
    if rollout.switch_to:
        link = f"{INSTALL_ROOT}/current"
        lines.append(f"ln -sfn {shlex.quote('v' + rollout.switch_to)} {link}.kubeward-new && "
                     f"mv -Tf {link}.kubeward-new {link}")
    return "\n".join(lines) + "\n"
