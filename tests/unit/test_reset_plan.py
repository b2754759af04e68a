"""`kubeward reset` as data: every file, unit, directory and state path that `up`'s phases declare for
a full cluster is covered by the reset plan (so a new component cannot be forgotten), the steps come
in the order that stops pods before removing what they use, only kubeward's nftables tables are
named, `--all` never removes an account kubeward logs in as, and the host script's answer is read
back (golden files for the steps of a control plane and a worker)."""

from __future__ import annotations

import asyncio
import posixpath
from pathlib import Path

import pytest
from tests.unit.golden import assert_golden
from tests.unit.test_artifacts_nodes import MANIFEST
from tests.unit.test_etcd_config import CLUSTER

from kubeward.artifacts.nodes import (
    INSTALL_ROOT,
    ROLLOUT_MARK,
    STAMP_DIR,
    previous_file,
    render_node_plan,
    staged_file,
    stamp_path,
)
from kubeward.components.spec import Component
from kubeward.config import ClusterConfig, parse_config
from kubeward.config.loader import LoadedConfig
from kubeward.etcd.scripts import move_aside_script
from kubeward.firewall.guard import GUARD as FIREWALL_GUARD
from kubeward.firewall.paths import DIR, LISTED, NEW, PREV, RULESET, UNIT_PATH
from kubeward.hostscripts.reset import ACTIONS, KINDS, RESET_SCRIPT, Item, parse_reset_output
from kubeward.ops.ops import AbsentFile, Directory, File, Group, User
from kubeward.ops.sshd import DROPIN
from kubeward.phases.base import OpsPhase, RunContext
from kubeward.phases.component import ComponentPhase
from kubeward.phases.nodes import Nodes
from kubeward.phases.runner import PHASES
from kubeward.remote.ssh import Session, Trust
from kubeward.remote.targets import targets_for
from kubeward.reset.plan import (
    KEEP_DIRS,
    ResetPlan,
    Step,
    admin_removable,
    partial_reset_notes,
    partial_reset_problem,
    plan_reset,
    render_reset_input,
)


def kube_config(tmp: Path, extra: str = "") -> ClusterConfig:
    config = parse_config(CLUSTER + f"state_dir: {tmp / 'state'}\n" + extra, base_dir=tmp).config
    kube = config.kubernetes.model_copy(update={"enabled": True, "version": "1.20.2"})
    return config.model_copy(update={"kubernetes": kube})


def covered(plan: ResetPlan, path: str) -> bool:
    """``path`` goes: a file, link or empty directory step names it, or it is in a removed tree."""
    if path in plan.paths("file") + plan.paths("link") + plan.paths("dir"):
        return True
    trees = plan.paths("tree") + [posixpath.join(*a) + "*" for a in plan.args_of("prefixed")]
    return any(path == t or path.startswith(t + "/") or (t.endswith("*") and path.startswith(t[:-1]))
               for t in trees)


@pytest.fixture(scope="module")
def declared(tmp_path_factory: pytest.TempPathFactory) -> tuple[ClusterConfig, dict[str, list[object]]]:
    """What `up`'s phases declare for each host of a full Kubernetes cluster: components and ops."""
    tmp = tmp_path_factory.mktemp("reset")
    config = kube_config(tmp)
    ctx = RunContext(LoadedConfig(config, "cluster.yml"), Session(targets_for(config), Trust(tmp / "known_hosts")),
                     apply=True)
    # the artifacts and rollout phases' files come from a manifest, below
    phases = [p for p in PHASES if p.name not in ("artifacts", "rollout")]

    async def prepare() -> None:
        for p in phases:
            await p.prepare(ctx)

    asyncio.run(prepare())
    out: dict[str, list[object]] = {}
    for h in config.hosts:
        things: list[object] = []
        for p in phases:
            if isinstance(p, Nodes):
                p.bootstrap[h.name] = "bootstrap kubeconfig"  # declared while a node joins
            if isinstance(p, ComponentPhase):
                things += p.components(ctx, h.name)
            elif isinstance(p, OpsPhase):
                things += p.ops_for(ctx, h.name)
        out[h.name] = things
    return config, out


def test_every_declared_file_unit_directory_and_state_is_removed(declared: tuple[ClusterConfig, dict[str, list[object]]]) -> None:
    config, things = declared
    for host, items in things.items():
        plan = plan_reset(config, host, everything=True)
        stopped = plan.paths("stop")
        comps = [c for c in items if isinstance(c, Component)]
        assert {c.name for c in comps} >= {"containerd", "kubelet", "kube-proxy", "pod-network", "api-proxy"}
        for c in comps:
            assert c.unit in stopped, (host, c.name)
            for f in (*c.files, *c.unit_files):
                assert covered(plan, f.path), (host, c.name, f.path)
            for op in c.ops():
                if isinstance(op, Directory):
                    assert covered(plan, op.path), (host, c.name, op.path)
            for s in c.state:
                assert covered(plan, s), (host, c.name, s)
            for pkg in c.packages:
                assert any(pkg in k for k in plan.kept), pkg
        for op in items:
            if isinstance(op, File | AbsentFile | Directory):
                assert covered(plan, op.path), (host, op)
        users = [op.name for op in items if isinstance(op, User)]
        groups = [op.name for op in items if isinstance(op, Group)]
        assert users == [config.admin.name] and plan.paths("user") == users and plan.paths("group") == groups
        # the firewall, its boot unit, its guard's leftovers; the binaries, links, images and stamps
        for path in (RULESET, NEW, PREV, LISTED, UNIT_PATH, DIR, FIREWALL_GUARD.script_path,
                     FIREWALL_GUARD.state_dir):
            assert covered(plan, path), path
        assert {"kubeward-firewall.service", f"{FIREWALL_GUARD.unit}.timer"} <= set(stopped)
        role = config.host(host).role
        node_plan = render_node_plan(MANIFEST, role)
        for f in node_plan.files:
            assert covered(plan, f.remote) and covered(plan, stamp_path(f.remote)), f.remote
        for link, _ in node_plan.links:
            assert covered(plan, link), link
        assert (f"{node_plan.links[1][0]}", INSTALL_ROOT) in plan.args_of("link")
        assert INSTALL_ROOT in plan.paths("tree") and STAMP_DIR in plan.paths("tree")
        # what a roll-out leaves: staged and previous builds, their stamps, an unfinished roll-out's mark
        for f in node_plan.binaries:
            for extra in (staged_file(f).remote, previous_file(f)):
                assert covered(plan, extra) and covered(plan, stamp_path(extra)), extra
        assert covered(plan, ROLLOUT_MARK)


def test_a_worker_plan_covers_what_a_control_plane_has_too(tmp_path: Path) -> None:
    """A host's role may have changed since it was converged: every host's plan is the same superset."""
    config = kube_config(tmp_path)
    cp, worker = plan_reset(config, "cp-1"), plan_reset(config, "worker-1")
    assert cp.steps == worker.steps


def test_order_stops_the_kubelet_then_pods_then_the_rest_then_removes(tmp_path: Path) -> None:
    plan = plan_reset(kube_config(tmp_path), "cp-1", everything=True)
    steps = [(s.action, *s.args) for s in plan.steps]
    at = {s: i for i, s in reversed(list(enumerate(steps)))}  # first index of each step
    actions = [s.action for s in plan.steps]

    def first(action: str) -> int:
        return actions.index(action)

    def last(action: str) -> int:
        return len(actions) - 1 - actions[::-1].index(action)

    assert steps[0] == ("sshd-dropin", DROPIN)  # reported only: a guarded change removes it first
    assert steps[1] == ("stop", "kubelet.service")
    assert [s[0] for s in steps[2:5]] == ["pods", "netns", "images"]
    units = [s[1] for s in steps if s[0] == "stop"]
    for before, after in [("kube-proxy.service", "kube-apiserver.service"), ("kube-scheduler.service", "kube-apiserver.service"),
                          ("kube-apiserver.service", "etcd"), ("etcd", "containerd.service"),
                          ("haproxy.service", "containerd.service")]:
        assert units.index(before) < units.index(after), (before, after)
    assert at[("images", "k8s.io", "/run/containerd/containerd.sock")] < at[("stop", "containerd.service")]
    assert last("stop") < first("iptables") < first("umount") <= last("umount") < first("file")
    assert last("file") < first("tree") and last("tree") < first("dir") and last("dir") < first("reload")
    assert first("reload") < first("nft") and last("netdev") < first("user") < first("group") < first("forget")
    dirs = plan.paths("dir")
    assert dirs == sorted(dirs, key=lambda d: (-d.count("/"), d))  # deepest first
    assert "/etc/kubernetes" in dirs and "/etc/kubernetes/pki/etcd" in dirs
    assert not set(dirs) & KEEP_DIRS and not any(d.startswith("/var/lib/kubelet") for d in dirs)
    assert {"/var/lib/kubelet", "/var/lib/etcd", "/etc/kubernetes/kubelet.conf"} <= set(plan.paths("tree"))
    assert ("/var/lib", "etcd.kubeward-") in plan.args_of("prefixed")


def test_only_kubewards_nftables_tables_routes_and_bridge(tmp_path: Path) -> None:
    plan = plan_reset(kube_config(tmp_path), "worker-1")
    assert plan.args_of("nft") == [("inet", "kubeward"), ("ip", "kubeward_pods")]
    assert plan.args_of("routes") == [("77",)] and plan.args_of("netdev") == [("cni0",)]
    assert plan.args_of("iptables") == [("KUBE-",)] and plan.args_of("netns") == [("cni-",)]


def test_without_all_the_admin_and_sshd_hardening_stay(tmp_path: Path) -> None:
    config = kube_config(tmp_path)
    plan = plan_reset(config, "worker-1")
    assert plan.sshd_dropin is None and not plan.args_of("sshd-dropin")
    assert not plan.args_of("user") and not plan.args_of("group")
    assert "/etc/sudoers.d/kubeward-kubeadmin" not in plan.paths("file")
    assert any("admin account kubeadmin" in k for k in plan.kept) and any(DROPIN in k for k in plan.kept)
    assert not any(p.startswith("/home") or p.startswith("/etc/ssh") for s in plan.steps for p in s.args)


def test_all_keeps_the_admin_where_kubeward_logs_in_as_it(tmp_path: Path) -> None:
    # worker-1's own login is the admin; cp-1 is the bastion to cp-2, with the admin as bastion user
    config = kube_config(tmp_path).model_copy()
    hosts = []
    for h in config.hosts:
        if h.name == "worker-1":
            h = h.model_copy(update={"ssh": h.ssh.model_copy(update={"user": "kubeadmin"})})
        if h.name == "cp-2":
            bastion = parse_config(CLUSTER.replace("ssh: {user: debian, key_path: keys/id_ed25519}",
                                                   "ssh: {user: debian, key_path: keys/id_ed25519, bastion: "
                                                   "{address: 10.0.0.10, user: kubeadmin}}")).config.hosts[1].ssh
            h = h.model_copy(update={"ssh": bastion})
        hosts.append(h)
    config = config.model_copy(update={"hosts": tuple(hosts)})
    for name in ("worker-1", "cp-1"):
        assert admin_removable(config, config.host(name)), name
        plan = plan_reset(config, name, everything=True)
        assert not plan.args_of("user") and "/etc/sudoers.d/kubeward-kubeadmin" not in plan.paths("file")
        assert any("kubeadmin" in k and "cut" in k for k in plan.kept)
        assert plan.sshd_dropin == DROPIN
    plan = plan_reset(config, "cp-3", everything=True)
    assert admin_removable(config, config.host("cp-3")) is None
    assert plan.paths("user") == ["kubeadmin"] and "/etc/sudoers.d/kubeward-kubeadmin" in plan.paths("file")


def test_some_control_planes_but_not_all_is_refused(tmp_path: Path) -> None:
    config = kube_config(tmp_path)
    problem = partial_reset_problem(config, ["cp-1", "worker-1"])
    assert problem and "cp-2, cp-3" in problem and "node remove" in problem
    assert partial_reset_problem(config, ["worker-1"]) is None
    assert partial_reset_problem(config, [h.name for h in config.hosts]) is None
    assert partial_reset_problem(config, ["cp-1", "cp-2", "cp-3"]) is None
    note = partial_reset_notes(config, ["worker-1"])
    assert len(note) == 1 and "Node object" in note[0] and "cp-1" in note[0]
    assert partial_reset_notes(config, [h.name for h in config.hosts]) == []


@pytest.mark.parametrize(("data_dir", "around"), [("/srv/etcd/data", "/srv/etcd"), ("/data", "/")])
def test_the_etcd_data_moved_aside_is_what_the_glob_names(tmp_path: Path, data_dir: str, around: str) -> None:
    plan = plan_reset(kube_config(tmp_path, f"etcd: {{data_dir: {data_dir}}}\n"), "cp-1")
    assert data_dir in plan.paths("tree")
    prefix = posixpath.basename(data_dir) + ".kubeward-"
    (d,) = [a[0] for a in plan.args_of("prefixed") if a[1] == prefix]
    assert posixpath.join(d, f"{prefix}s1") in move_aside_script(data_dir, "s1")
    assert around not in plan.paths("dir")  # the operator's directory around the data


def test_steps_are_rendered_one_a_line_and_refuse_tabs_and_newlines(tmp_path: Path) -> None:
    plan = plan_reset(kube_config(tmp_path), "worker-1")
    text = render_reset_input(plan, "check")
    lines = text.splitlines()
    assert lines[0] == "mode\tcheck" and len(lines) == len(plan.steps) + 1
    assert {line.split("\t")[0] for line in lines[1:]} <= set(ACTIONS)
    for bad in ("a\tb", "a\nb", ""):
        with pytest.raises(ValueError):
            Step("file", (bad,)).render()
    assert render_reset_input(plan, "apply").startswith("mode\tapply\n")


@pytest.mark.parametrize("host", ["cp-1", "worker-1"])
def test_golden_steps(tmp_path: Path, host: str) -> None:
    assert_golden(f"reset/{host}.steps", render_reset_input(plan_reset(kube_config(tmp_path), host), "apply"))


def test_golden_steps_all(tmp_path: Path) -> None:
    assert_golden("reset/worker-1-all.steps",
                  render_reset_input(plan_reset(kube_config(tmp_path), "worker-1", everything=True), "apply"))


def test_the_answer_is_read_back_and_a_failed_step_shows_how_far_it_got() -> None:
    text = ("@@kw reset 0\nstop kubelet.service\ndisable kubelet.service\n\n@@kw reset 1\ncontainer abc\n"
            "\n@@kw reset 2\nkeep user kubeadmin: it has running processes (logged in?)\n\n@@kw reset 3\n"
            "nft inet kubeward\n\n@@kw reset end\n")
    out = parse_reset_output(text)
    assert out.finished and out.steps_started == 4
    assert out.items == [Item("stop", "kubelet.service"), Item("disable", "kubelet.service"),
                         Item("container", "abc"), Item("nft", "inet kubeward")]
    assert out.kept == ["user kubeadmin: it has running processes (logged in?)"]
    failed = parse_reset_output("@@kw reset 0\n\n@@kw reset 1\nfile /etc/a\n")
    assert not failed.finished and failed.steps_started == 2 and failed.items == [Item("file", "/etc/a")]
    assert parse_reset_output("").items == [] and not parse_reset_output("").finished


def test_the_script_knows_every_action_and_prints_only_known_kinds() -> None:
    for action in ACTIONS:
        assert f"    {action})" in RESET_SCRIPT, action
    printed = {line.strip().split('"')[1].split()[0] for line in RESET_SCRIPT.splitlines()
               if line.strip().startswith('echo "') and not line.strip().startswith('echo "$')}
    assert printed - {"kubeward"} <= {*KINDS, "keep"}, printed


def test_the_script_passes_sh_n() -> None:
    import subprocess

    r = subprocess.run(["sh", "-n"], input=RESET_SCRIPT, text=True, capture_output=True)
    assert r.returncode == 0, r.stderr
