"""What `kubeward reset` removes from one host, and in which order (pure).

Nothing here is a second list of kubeward's files: every path, unit and table comes from what `up`
declares. The components (:mod:`kubeward.components`: files, unit files, directories, units, and
the ``state`` their services create) are rendered for this host as both roles and for the oldest
and newest Kubernetes version the tables know, so a file some version or role has is covered; the
PKI files come from :func:`kubeward.pki.nodes.files_for_node` (with CA keys, as a control plane);
the firewall's files and table from :mod:`kubeward.firewall`; the binaries, their links and an
unfinished roll-out's mark from :mod:`kubeward.artifacts.nodes`; the pod network's routes, table and bridge from
:mod:`kubeward.components.node`. The host script removes only what exists, so a superset costs
nothing, and a check run of the same script lists exactly what is there.

The order (:func:`plan_reset`):

1. stop the kubelet (it would restart pods), then the pods (containerd's CRI namespace), their
   network namespaces and the images; then every other unit in the reverse order `up` starts
   them (kube-proxy, the control plane, etcd, the API proxy, containerd), the firewall's boot unit
   and a rollback timer an unfinished run may have left; then the iptables chains of the kubelet
   and kube-proxy;
2. unmount what the services mounted below their state directories;
3. files and links, then state trees, then directories left empty (deepest first); daemon-reload;
4. kubeward's nftables tables (``inet kubeward``, ``ip kubeward_pods``: no other table), the pod
   routes (routing protocol 77), the CNI bridge;
5. with ``--all`` only: the admin's sudo rule, account and group (only when no SSH login kubeward
   makes to this host uses it; see :func:`admin_removable`). The sshd drop-in is removed before
   all this by a guarded change (proven by a fresh login), not by the script.

Kept on purpose (:attr:`ResetPlan.kept`): Debian packages (other software may need them), home
directories, the hostname, and, without ``--all``, the admin account and the sshd hardening.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from kubeward.artifacts.nodes import ALL_BINARIES, INSTALL_ROOT, LINK_DIR, ROLLOUT_DIR, STAMP_DIR
from kubeward.components.control_plane import ControlPlaneInputs, api_proxy_component, control_plane_components
from kubeward.components.etcd import etcd_component
from kubeward.components.node import (
    CNI_BRIDGE,
    CONTAINERD_SOCKET,
    CRI_NAMESPACE,
    KUBE_CHAIN_PREFIX,
    POD_NAT_TABLE,
    POD_NETNS_PREFIX,
    ROUTE_PROTO,
    NodeContext,
    containerd_component,
    kube_proxy_component,
    kubelet_component,
    pod_network_component,
)
from kubeward.components.spec import Component
from kubeward.components.version import Version
from kubeward.config import ClusterConfig, HostConfig
from kubeward.etcd.config import new_cluster_bootstrap
from kubeward.firewall.compile import TABLE as FIREWALL_TABLE
from kubeward.firewall.guard import GUARD as FIREWALL_GUARD
from kubeward.firewall.paths import DIR as FIREWALL_DIR
from kubeward.firewall.paths import LISTED, NEW, PREV, RULESET, UNIT_PATH
from kubeward.firewall.paths import UNIT as FIREWALL_UNIT
from kubeward.hostscripts.reset import KEEP_DIRS
from kubeward.ops.guard import LIB as GUARD_LIB
from kubeward.ops.guard import STATE as GUARD_STATE
from kubeward.ops.ops import Directory, sudoers_path
from kubeward.ops.sshd import DROPIN as SSHD_DROPIN
from kubeward.ops.sshd import LEGACY_BACKUP as SSHD_LEGACY_BACKUP
from kubeward.pki.nodes import RETIRED_NODE_FILES, files_for_node

#: the component whose unit stops first: the kubelet restarts pods that stop under it
STOP_FIRST = "kubelet"
#: Kubernetes versions the components are rendered for besides the configured one: the oldest and
#: newest the flag tables know (a file only some versions have, such as the admission
#: configuration from 1.25, is covered either way)
RENDERED_VERSIONS = ("1.20.2", "1.33.0")
#: stand-ins for the bytes control-plane files embed: reset needs their paths only
_NO_INPUTS = ControlPlaneInputs(b"", b"", (b"", b""), (b"", b""), (("reset", ""),))

Mode = Literal["check", "apply"]


@dataclass(frozen=True)
class Step:
    """One line of the host script's input: an action of :mod:`kubeward.hostscripts.reset` and its
    arguments."""

    action: str
    args: tuple[str, ...] = ()

    def render(self) -> str:
        for a in (self.action, *self.args):
            if not a or any(c in a for c in "\t\n\r"):
                raise ValueError(f"reset step {self.action} {self.args}: an empty argument or a tab or newline")
        return "\t".join((self.action, *self.args))


@dataclass(frozen=True)
class ResetPlan:
    """Everything `kubeward reset` does on one host."""

    host: str
    steps: tuple[Step, ...]
    #: the sshd drop-in to remove by a guarded change first (``--all``), else None
    sshd_dropin: str | None
    #: what stays on purpose, and why (for the operator)
    kept: tuple[str, ...]

    def args_of(self, action: str) -> list[tuple[str, ...]]:
        return [s.args for s in self.steps if s.action == action]

    def paths(self, action: str) -> list[str]:
        return [s.args[0] for s in self.steps if s.action == action]


def _kube_config(config: ClusterConfig, version: str) -> ClusterConfig:
    kube = config.kubernetes.model_copy(update={"enabled": True, "version": version})
    return config.model_copy(update={"kubernetes": kube})


def declared_components(config: ClusterConfig, host: HostConfig) -> list[Component]:
    """Every component `up` could put on ``host``, in the order `up` starts them, rendered for each
    version of :data:`RENDERED_VERSIONS` and the configured one (so names repeat): the node's,
    the API proxy, and a control plane's (etcd, the API server, controller-manager, scheduler),
    whatever the host's role is now."""
    versions = dict.fromkeys([*([config.kubernetes.version] if config.kubernetes.version else []),
                              *RENDERED_VERSIONS])
    cp = host.model_copy(update={"role": "control-plane"})
    out: list[Component] = []
    for version in versions:
        kube = _kube_config(config, version)
        nctx = NodeContext(Version.parse(version), host.name, str(host.address), str(host.private_address),
                           str(config.network.pod_cidr), str(config.network.service_cidr))
        out += [containerd_component(nctx), etcd_component(kube, cp, new_cluster_bootstrap(kube)),
                api_proxy_component(kube), *control_plane_components(kube, cp, _NO_INPUTS),
                kubelet_component(nctx, ""), kube_proxy_component(nctx, ""),
                pod_network_component(str(config.network.pod_cidr), "0.0.0.0/32", [])]
    return out


def pki_paths(config: ClusterConfig, host: HostConfig) -> list[str]:
    """Every PKI file kubeward could have placed on ``host`` (as a control plane, with CA keys)."""
    pki = config.pki.model_copy(update={"ca_keys_on_nodes": True})
    cfg = config.model_copy(update={"pki": pki})
    files = files_for_node(cfg, host.model_copy(update={"role": "control-plane"}))
    return [f.remote_path for f in files] + list(RETIRED_NODE_FILES)


def login_users(config: ClusterConfig, host: HostConfig) -> set[str]:
    """The users kubeward logs in as on ``host``: its ``ssh.user``, and the bastion user of every host
    reached through it."""
    names = {str(host.address), str(host.private_address), host.name}
    users = {str(host.ssh.user)}
    for h in config.hosts:
        b = h.ssh.bastion
        if b is not None and str(b.address) in names:
            users.add(str(b.user or h.ssh.user))
    return users


def admin_removable(config: ClusterConfig, host: HostConfig) -> str | None:
    """None when ``--all`` may remove the admin account from ``host``, else why not: kubeward (and so
    the operator) logs in as the admin there, directly or as a bastion. The host script also keeps
    an account that has processes (someone is logged in) or that sudo was started by."""
    name = config.admin.name
    if name in login_users(config, host):
        return (f"kubeward logs in to {host.name} as {name} (hosts[].ssh.user or a bastion's user): removing it "
                "would cut this access; log in as another sudo user first, or remove it by hand")
    return None


def _check_path(path: str) -> str:
    if not path.startswith("/") or posixpath.normpath(path) != path or path in KEEP_DIRS:
        raise ValueError(f"reset would remove {path!r}: not a normalized path of kubeward's")
    return path


def _parents(path: str, stop: set[str]) -> Iterable[str]:
    parent = posixpath.dirname(path)
    while parent not in KEEP_DIRS and parent not in stop and parent != "/":
        yield parent
        parent = posixpath.dirname(parent)


def _under(path: str, trees: Iterable[str]) -> bool:
    """``path`` is one of ``trees`` or inside one (removed with it)."""
    return any(path == t or path.startswith(t + "/") for t in trees)


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def plan_reset(config: ClusterConfig, host: str, *, everything: bool = False) -> ResetPlan:
    """The steps that remove kubeward from ``host`` (module docstring); ``everything``: ``--all``."""
    h = config.host(host)
    comps = declared_components(config, h)
    # units in the order up starts them; stopped in reverse, the kubelet first
    units = _unique(c.unit for c in comps)
    first = _unique(c.unit for c in comps if c.name == STOP_FIRST)
    rest = [u for u in reversed(units) if u not in first]
    steps: list[Step] = [Step("stop", (u,)) for u in first]
    cri = (CRI_NAMESPACE, CONTAINERD_SOCKET.removeprefix("unix://"))
    steps += [Step("pods", cri), Step("netns", (POD_NETNS_PREFIX,)), Step("images", cri)]
    steps += [Step("stop", (u,)) for u in rest]
    timer = f"{FIREWALL_GUARD.unit}.timer"
    steps += [Step("stop", (FIREWALL_UNIT,)), Step("stop", (timer,)), Step("iptables", (KUBE_CHAIN_PREFIX,))]

    state = _unique(p for c in comps for p in c.state)
    globs = [p for p in state if p.endswith("*")]
    # what the services mounted below their state (pod volumes, sandboxes' /dev/shm) goes first
    steps += [Step("umount", (_check_path(p),)) for p in state if p not in globs]
    trees = _unique([*(p for p in state if p not in globs), INSTALL_ROOT, STAMP_DIR, ROLLOUT_DIR,
                     FIREWALL_GUARD.state_dir])

    files = _unique([
        *(f.path for c in comps for f in (*c.files, *c.unit_files)),
        *pki_paths(config, h),
        RULESET, NEW, PREV, LISTED, UNIT_PATH, FIREWALL_GUARD.script_path,
        *([sudoers_path(config.admin.name), SSHD_LEGACY_BACKUP] if everything else []),
    ])
    admin_kept = admin_removable(config, h) if everything else None
    if admin_kept:
        files.remove(sudoers_path(config.admin.name))
    files = [f for f in files if not _under(f, trees)]
    steps += [Step("file", (_check_path(f),)) for f in files]
    links = [f"{LINK_DIR}/{b}" for b in ALL_BINARIES]
    steps += [Step("link", (_check_path(p), INSTALL_ROOT)) for p in links]
    steps += [Step("tree", (_check_path(p),)) for p in trees]
    for g in globs:
        d, prefix = posixpath.split(_check_path(g[:-1]))
        steps.append(Step("prefixed", (d, prefix)))

    # directories: those declared, and the parents of everything removed, left only when empty;
    # the directory holding the etcd data directory is the operator's choice, never removed
    stop = {posixpath.dirname(str(config.etcd.data_dir))}
    declared = [op.path for c in comps for op in c.ops() if isinstance(op, Directory)]
    removed = [*files, *links, *trees, *(g[:-1] for g in globs), *declared]
    dirs = _unique([*declared, *(p for r in removed for p in _parents(r, stop)),
                    FIREWALL_DIR, GUARD_LIB, GUARD_STATE])
    dirs = sorted((d for d in dirs if not _under(d, trees) and d not in stop), key=lambda d: (-d.count("/"), d))
    steps += [Step("dir", (_check_path(d),)) for d in dirs]
    steps.append(Step("reload"))

    steps += [Step("nft", ("inet", FIREWALL_TABLE)), Step("nft", POD_NAT_TABLE), Step("routes", (str(ROUTE_PROTO),)),
              Step("netdev", (CNI_BRIDGE,))]
    kept = [f"Debian packages {', '.join(sorted({p for c in comps for p in c.packages}))} (other software may "
            "need them: apt-get purge them by hand)",
            "home directories, the hostname and its /etc/hosts line"]
    if everything and not admin_kept:
        # the admin's sudo rule went with the files above; its parent directory stays
        steps += [Step("user", (config.admin.name,)), Step("group", (config.admin.name,))]
    elif everything and admin_kept:
        kept.append(f"the admin account {config.admin.name}: {admin_kept}")
    else:
        kept += [f"the admin account {config.admin.name} and its sudo rule (--all removes them)",
                 f"the sshd hardening {SSHD_DROPIN} (--all removes it, proven by a fresh login)"]
    steps += [Step("forget", (u,)) for u in _unique([*units, FIREWALL_UNIT, timer,
                                                     f"{FIREWALL_GUARD.unit}.service"])]
    if everything:
        steps.insert(0, Step("sshd-dropin", (SSHD_DROPIN,)))
    plan = ResetPlan(host, tuple(steps), SSHD_DROPIN if everything else None, tuple(kept))
    for s in plan.steps:
        s.render()  # refuse a path or name the host script could not read back
    return plan


def render_reset_input(plan: ResetPlan, mode: Mode) -> str:
    """The host script's stdin: the mode, then one step a line."""
    return "\n".join([f"mode\t{mode}", *(s.render() for s in plan.steps)]) + "\n"


def partial_reset_problem(config: ClusterConfig, hosts: Sequence[str]) -> str | None:
    """Why resetting only ``hosts`` would break the cluster, or None. Resetting some control planes but
    not all leaves etcd with members that no longer exist (one of three: no fault tolerance; two:
    no quorum)."""
    cps = [h.name for h in config.control_planes]
    chosen = [n for n in cps if n in hosts]
    if chosen and len(chosen) < len(cps):
        return (f"resetting {', '.join(chosen)} but not {', '.join(n for n in cps if n not in hosts)} would leave "
                "etcd members that no longer exist (and no quorum once half of them are gone): take each out of "
                "the cluster first (`kubeward node remove NAME`), or reset every control plane")
    return None


def partial_reset_notes(config: ClusterConfig, hosts: Sequence[str]) -> list[str]:
    """What stays behind elsewhere when only some workers are reset."""
    others = [h.name for h in config.hosts if h.name not in hosts]
    if not others:
        return []
    return [f"the Node object of each host reset ({', '.join(hosts)}) stays in the API (NotReady), and the other "
            f"hosts ({', '.join(others)}) keep their routes to its pod CIDR, until it is removed from cluster.yml and "
            "`kubeward up` runs (or `kubeward node remove NAME`)"]
