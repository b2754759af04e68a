"""The roll-out as data: a node's facts -> what it needs; the nodes -> batches; the scripts it runs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kubeward.artifacts.manifest import FileEntry, new_manifest
from kubeward.artifacts.nodes import (
    ALL_BINARIES,
    NodeFacts,
    parse_node_facts,
    plan_node_changes,
    render_finish_script,
    render_node_plan,
    stamp_path,
)
from kubeward.artifacts.rollout import (
    CORDONED,
    WAS_CORDONED,
    Batch,
    HostRollout,
    plan_batches,
    plan_host_rollout,
    render_install_script,
    render_mark_script,
    render_order,
    render_restart_script,
)

BIN = "/opt/kubeward/kubernetes/v1.20.2/bin"
OLD_KUBELET = "a" * 64
NEW_KUBELET = "b" * 64


def manifest(version: str = "1.20.2", kubelet: str = NEW_KUBELET):  # type: ignore[no-untyped-def]
    return new_manifest(version, "amd64", [FileEntry(f"v{version}/bin/linux/amd64/{b}",
                                                     kubelet if b == "kubelet" else b[:1] * 64, 100)
                                           for b in ALL_BINARIES])


def running(role: str, *, kubelet: str = OLD_KUBELET, version: str = "1.20.2", staged: bool = True) -> NodeFacts:
    """A converged node of ``role`` running ``version`` with ``kubelet`` in place (and the new one staged)."""
    plan = render_node_plan(manifest(version, kubelet), role)
    facts = NodeFacts(sums={f.remote: f.sha256 for f in plan.files}, links=dict(plan.links),
                      present=[f.remote for f in plan.binaries], containerd="yes")
    facts.units = {f.remote.rsplit("/", 1)[1]: ("active", f.remote) for f in plan.binaries
                   if not f.remote.endswith("kubectl")}
    if staged:
        facts.staged[f"{BIN}/kubelet.kubeward-staged"] = NEW_KUBELET
    return facts


def test_a_new_kubelet_build_is_installed_drained_and_restarted() -> None:
    plan = render_node_plan(manifest(), "worker")
    r = plan_host_rollout("w1", "worker", plan, running("worker"))
    assert [f.remote for f in r.installs] == [f"{BIN}/kubelet"]
    assert r.restarts == ("kubelet",) and r.drain and r.switch_to is None and r.unstaged == ()
    assert r.executable("kubelet") == f"{BIN}/kubelet"
    assert r.render_steps() == ["cordon and drain", f"install the new build of kubelet (sha256 {'b' * 12}...)",
                                "restart kubelet.service", "wait until Ready", "uncordon"]


def test_a_converged_node_and_a_node_running_nothing_need_no_roll_out() -> None:
    plan = render_node_plan(manifest(), "worker")
    assert plan_host_rollout("w1", "worker", plan, running("worker", kubelet=NEW_KUBELET, staged=False)).empty
    idle = running("worker")
    idle.units = {b: ("inactive", "-") for b in idle.units}
    assert plan_host_rollout("w1", "worker", plan, idle).empty  # the artifacts phase installs it directly


def test_a_service_running_a_replaced_binary_is_restarted_without_install() -> None:
    """What an interrupted roll-out (or an older kubeward) left: the file is new, the process old."""
    plan = render_node_plan(manifest(), "control-plane")
    facts = running("control-plane", kubelet=NEW_KUBELET, staged=False)
    facts.units["kube-scheduler"] = ("active", f"{BIN}/kube-scheduler (deleted)")
    r = plan_host_rollout("cp1", "control-plane", plan, facts)
    assert r.installs == () and r.restarts == ("kube-scheduler",) and not r.drain  # its pods are not affected


def test_a_version_change_switches_and_restarts_every_running_service_in_order() -> None:
    plan = render_node_plan(manifest("1.21.0"), "control-plane")
    facts = running("control-plane")  # runs 1.20.2; 1.21.0 was uploaded beside it
    facts.sums.update({f.remote: f.sha256 for f in plan.binaries})
    r = plan_host_rollout("cp1", "control-plane", plan, facts)
    assert r.switch_to == "1.21.0" and r.installs == ()
    assert r.restarts == ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy")
    assert r.executable("kubelet") == "/opt/kubeward/kubernetes/v1.21.0/bin/kubelet"
    assert "switch to v1.21.0" in r.render_steps()


def test_an_unstaged_new_build_is_named() -> None:
    plan = render_node_plan(manifest(), "worker")
    r = plan_host_rollout("w1", "worker", plan, running("worker", staged=False))
    assert r.unstaged == ("kubelet",)


def test_a_node_an_unfinished_roll_out_left_cordoned_is_finished() -> None:
    plan = render_node_plan(manifest(), "worker")
    facts = running("worker", kubelet=NEW_KUBELET, staged=False)
    facts.mark = CORDONED
    r = plan_host_rollout("w2", "worker", plan, facts)
    assert not r.empty and r.drain and r.resume == CORDONED and r.installs == () and r.restarts == ()
    facts.mark = WAS_CORDONED  # the operator had cordoned it: it stays cordoned
    assert plan_host_rollout("w2", "worker", plan, facts).render_steps() == ["cordon and drain", "wait until Ready"]


def roll(host: str, role: str, resume: str | None = None) -> HostRollout:
    return HostRollout(host, role, restarts=("kubelet",), drain=True, resume=resume)


NODES = [roll("cp1", "control-plane"), roll("cp2", "control-plane"), roll("w1", "worker"), roll("w2", "worker"),
         roll("w3", "worker"), HostRollout("w4", "worker"), roll("w5", "worker")]


def test_control_planes_one_at_a_time_then_workers_in_batches() -> None:
    assert plan_batches(NODES, 1) == [
        Batch(1, "control plane", ("cp1",)), Batch(2, "control plane", ("cp2",)),
        Batch(3, "workers", ("w1",)), Batch(4, "workers", ("w2",)), Batch(5, "workers", ("w3",)),
        Batch(6, "workers", ("w5",))]  # w4 has nothing to do
    assert [b.hosts for b in plan_batches(NODES, 3)] == [("cp1",), ("cp2",), ("w1", "w2", "w3"), ("w5",)]
    assert [b.hosts for b in plan_batches(NODES, 10)] == [("cp1",), ("cp2",), ("w1", "w2", "w3", "w5")]


def test_a_resumed_node_goes_first_and_a_downgrade_goes_workers_first() -> None:
    nodes = [roll("cp1", "control-plane"), roll("w1", "worker"), roll("w2", "worker", resume=CORDONED)]
    assert [b.hosts for b in plan_batches(nodes, 1)] == [("cp1",), ("w2",), ("w1",)]
    assert [b.hosts for b in plan_batches(nodes, 1, workers_first=True)] == [("w2",), ("w1",), ("cp1",)]
    assert plan_batches([HostRollout("w1", "worker")], 1) == []
    with pytest.raises(ValueError, match="at least 1"):
        plan_batches(nodes, 0)


def test_the_order_in_one_line() -> None:
    line = render_order(plan_batches(NODES[:4], 2), "/s/backups/e.db")
    assert line == ("roll-out order: etcd snapshot to /s/backups/e.db; then 1. cp1 (control plane); "
                    "2. cp2 (control plane); 3. w1, w2 (workers)")


def test_staging_on_a_running_node_and_installing_there(tmp_path: Path) -> None:
    """The artifacts phase stages (never replaces) a binary a service may run; the install renames it."""
    plan = render_node_plan(manifest(), "worker")
    facts = running("worker", staged=False)
    changes = plan_node_changes(plan, facts)
    assert changes.uploads == () and [f.remote for f in changes.staged] == [f"{BIN}/kubelet.kubeward-staged"]
    finish = render_finish_script(changes)
    assert stamp_path(f"{BIN}/kubelet.kubeward-staged") in finish
    facts.staged[f"{BIN}/kubelet.kubeward-staged"] = NEW_KUBELET
    assert plan_node_changes(plan, facts).empty  # staged already: nothing to upload again
    # a rollback: the previous build is still on the node (with its stamp): a hard link, no upload
    facts = running("worker", staged=False)
    facts.previous[f"{BIN}/kubelet.kubeward-previous"] = NEW_KUBELET
    changes = plan_node_changes(plan, facts)
    assert changes.staged == () and [f.remote for f in changes.restaged] == [f"{BIN}/kubelet.kubeward-staged"]
    assert f"ln -f {BIN}/kubelet.kubeward-previous {BIN}/kubelet.kubeward-staged" in render_finish_script(changes)


def test_a_new_version_is_uploaded_beside_and_the_switch_deferred() -> None:
    plan = render_node_plan(manifest("1.21.0"), "worker")
    changes = plan_node_changes(plan, running("worker", staged=False))
    assert [f.remote for f in changes.uploads] == [f"/opt/kubeward/kubernetes/v1.21.0/bin/{b}" for b in ("kubelet", "kube-proxy")]
    assert changes.deferred_link == "1.21.0"
    assert ("/opt/kubeward/kubernetes/current", "v1.21.0") not in changes.links
    stopped = running("worker", staged=False)
    stopped.units = {}
    assert ("/opt/kubeward/kubernetes/current", "v1.21.0") in plan_node_changes(plan, stopped).links


def test_install_script_keeps_the_previous_build_and_refuses_a_changed_staged_file(tmp_path: Path) -> None:
    """Run on a copy of the layout under a temporary root (the script's absolute paths rewritten)."""
    plan = render_node_plan(manifest(), "worker")
    r = plan_host_rollout("w1", "worker", plan, running("worker"))
    root = tmp_path / "root"
    script = render_install_script(r).replace("/opt/", f"{root}/opt/").replace("/var/", f"{root}/var/")
    bindir = root / BIN.lstrip("/")
    bindir.mkdir(parents=True)
    (root / "var/lib/kubeward/artifact-sums").mkdir(parents=True)
    (bindir / "kubelet").write_text("old\n")
    (bindir / "kubelet.kubeward-staged").write_text("new\n")
    new_sum = subprocess.run(["sha256sum"], input="new\n", capture_output=True, text=True).stdout.split()[0]
    good = script.replace(NEW_KUBELET, new_sum)
    subprocess.run(["sh", "-c", good], check=True)
    assert (bindir / "kubelet").read_text() == "new\n" and (bindir / "kubelet.kubeward-previous").read_text() == "old\n"
    assert not (bindir / "kubelet.kubeward-staged").exists()
    # a staged file that no longer matches: refused, removed (so the next run stages it anew), nothing moved
    (bindir / "kubelet.kubeward-staged").write_text("tampered\n")
    bad = subprocess.run(["sh", "-c", good], capture_output=True, text=True)
    assert bad.returncode == 3 and "it changed since it was staged" in bad.stderr
    assert (bindir / "kubelet").read_text() == "new\n" and not (bindir / "kubelet.kubeward-staged").exists()


def test_restart_waits_for_a_new_process_of_the_new_binary() -> None:
    script = render_restart_script("kubelet.service", f"{BIN}/kubelet", timeout=30)
    assert script.startswith("kw_old=$(systemctl show -p MainPID --value kubelet.service)\n"
                             "systemctl restart --no-block kubelet.service\n")
    assert f'[ "$(readlink /proc/$p/exe)" = {BIN}/kubelet ]' in script and '[ "$p" != "$kw_old" ]' in script


def test_mark_keeps_an_earlier_mark() -> None:
    assert render_mark_script(CORDONED) == ("set -e; mkdir -p -m 0700 /var/lib/kubeward/rollout; "
                                            "[ -f /var/lib/kubeward/rollout/node ] || printf '%s\\n' cordoned "
                                            "> /var/lib/kubeward/rollout/node\n")


def test_facts_lines_for_the_roll_out_parse() -> None:
    text = (f"file {BIN}/kubelet {OLD_KUBELET}\nstaged {BIN}/kubelet.kubeward-staged {NEW_KUBELET}\n"
            f"previous {BIN}/kubelet.kubeward-previous -\n"
            f"unit kubelet active {BIN}/kubelet (deleted)\nunit kube-proxy inactive -\nmark cordoned\n")
    f = parse_node_facts(text)
    assert f.staged == {f"{BIN}/kubelet.kubeward-staged": NEW_KUBELET}
    assert f.previous == {f"{BIN}/kubelet.kubeward-previous": None}
    assert f.units == {"kubelet": ("active", f"{BIN}/kubelet (deleted)"), "kube-proxy": ("inactive", "-")}
    assert f.mark == CORDONED and f.running
