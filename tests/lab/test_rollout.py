"""A changed kubelet binary rolled out on the shared Kubernetes lab (1 control plane, 2 workers).

The "new build" is the lab's v1.20.2 kubelet with bytes appended (an ELF runs unchanged), in a copy
of the artifact directory whose manifest is written by kubeward's own tooling. `kubeward plan` shows
the batches; `up` stages it everywhere, saves an etcd snapshot, then goes control plane, worker 1,
worker 2, each cordoned and drained before its kubelet restarts (a Deployment's pods move), Ready
and uncordoned before the next one starts (the report's times and each node's journal agree).

Then the way back, through the same roll-out: the original build is staged from the copy each node
kept (no upload); a staged file changed behind kubeward's back on worker 1 stops the roll-out there
(worker 1 stays cordoned, worker 2 untouched, the report says so); the next run continues with
worker 1 and leaves the cluster as it found it (original binaries, every node Ready and schedulable)
for the test files after this one.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kubeward.artifacts.build import write_sha256_file
from kubeward.artifacts.manifest import read_manifest, write_manifest
from kubeward.artifacts.nodes import ROLLOUT_MARK, STAGED_SUFFIX
from kubeward.lab.lab import Lab
from tests.lab.conftest import KubeCluster, up_json

NS = "kw-rollout"
KUBELET = "/opt/kubeward/kubernetes/v1.20.2/bin/kubelet"
ONLY = ("--only", "artifacts,rollout")
STAMP = re.compile(r"at (\d{4}-\d\d-\d\dT[\d:.]+Z)")


def kw(config: Path, *args: str, stdin: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kubeward", args[0], "-c", str(config), *args[1:]],
                          capture_output=True, text=True, timeout=timeout, input=stdin)


def kubectl_json(config: Path, *args: str) -> dict:  # type: ignore[type-arg]
    r = kw(config, "kubectl", "--", *args, "-o", "json", timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)  # type: ignore[no-any-return]


def sh(lab: Lab, node: str, script: str) -> str:
    r = lab.exec(node, ["sh", "-c", script], timeout=60)
    assert r.returncode == 0, (node, script, r.stderr)
    return r.stdout.strip()


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def rollout_changes(report: dict, host: str) -> list[str]:  # type: ignore[type-arg]
    return [c["summary"] for c in report["hosts"][host]["changes"] if c["phase"] == "rollout"]


def window(changes: list[str]) -> tuple[datetime, datetime]:
    times = [when(t) for c in changes for t in STAMP.findall(c)]
    return min(times), max(times)


def step_time(changes: list[str], word: str) -> datetime:
    """The time of ``word`` ("cordoned", "restarted", "uncordoned", ...) in a host's roll-out report."""
    for c in changes:
        m = re.search(rf"\b{word}(?: \S+)? at (\S+Z)", c)
        if m:
            return when(m.group(1))
    raise AssertionError(f"no '{word} at' in {changes}")


def kubelet_started(lab: Lab, node: str) -> datetime:
    """When the node's running kubelet started, from its own systemd (its journal's clock)."""
    text = sh(lab, node, "systemctl show -p ActiveEnterTimestamp --value --timestamp=us+utc kubelet")
    return datetime.strptime(text, "%a %Y-%m-%d %H:%M:%S.%f UTC").replace(tzinfo=UTC)


def node_state(config: Path) -> dict[str, tuple[bool, bool]]:
    """Node -> (Ready, cordoned)."""
    return {n["metadata"]["name"]: (any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"]),
                                    bool(n["spec"].get("unschedulable")))
            for n in kubectl_json(config, "get", "nodes")["items"]}


def web_pods(config: Path) -> dict[str, str]:
    """Running pods of the test Deployment (not terminating) -> node."""
    return {p["metadata"]["name"]: p["spec"].get("nodeName", "")
            for p in kubectl_json(config, "get", "pods", "-n", NS)["items"]
            if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")}


def deployment(workers: list[str]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": NS},
         "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                  "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                      "automountServiceAccountToken": False, "terminationGracePeriodSeconds": 2,
                      "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                          "nodeSelectorTerms": [{"matchExpressions": [
                              {"key": "kubernetes.io/hostname", "operator": "In", "values": workers}]}]}},
                          "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                              {"weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                                                                  "labelSelector": {"matchLabels": {"app": "web"}}}}]}},
                      "containers": [{"name": "pause", "image": "kubeward.local/pause:3.2",
                                      "imagePullPolicy": "Never"}]}}}},
    ]})


def new_build(build: Path, dst: Path) -> str:
    """A copy of the artifact directory (links, but the kubelet) whose kubelet has bytes appended;
    its .sha256 and the manifest written by kubeward's own tooling. Returns the new kubelet's sum."""
    m = read_manifest(build)
    for f in m.files:
        (dst / f.path).parent.mkdir(parents=True, exist_ok=True)
        (dst / f.path).symlink_to(build / f.path)
    kubelet = dst / m.binary_path("kubelet")
    kubelet.unlink()
    (dst / f"{m.binary_path('kubelet')}.sha256").unlink()
    shutil.copyfile(build / m.binary_path("kubelet"), kubelet)
    kubelet.chmod(0o755)
    with open(kubelet, "ab") as fh:
        fh.write(b"\0kubeward roll-out test build\n")
    digest = write_sha256_file(kubelet)
    write_manifest(dst, m.version, m.arch, m.images)
    return digest


@pytest.fixture(scope="module")
def cluster(kube_cluster: KubeCluster, kube_build: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:  # type: ignore[type-arg]
    config = kube_cluster.config
    original = config.read_text()
    rebuilt = tmp_path_factory.mktemp("rebuilt")
    new_sum = new_build(kube_build, rebuilt)
    assert f"dir: {kube_build}\n" in original
    nodes = kube_cluster.nodes()  # not the lab's spare node (test_nodes_day2)
    workers = [n.name for n in nodes if n.role == "worker"]
    old_sum = read_manifest(kube_build).file(read_manifest(kube_build).binary_path("kubelet"))
    assert old_sum is not None and old_sum.sha256 != new_sum
    try:
        yield {"config": config, "original": original, "new": original.replace(f"dir: {kube_build}\n", f"dir: {rebuilt}\n"),
               "lab": kube_cluster.lab, "workers": workers, "cp": next(n.name for n in nodes if n.role == "control-plane"),
               "new_sum": new_sum, "old_sum": old_sum.sha256}
    finally:
        # the cluster is shared with the test files after this one: its own build, every node
        # Ready and schedulable (a no-op when the last test got that far)
        config.write_text(original)
        rc, report = up_json(config, *ONLY)
        kw(config, "kubectl", "--", "delete", "namespace", NS, "--ignore-not-found", "--wait=false")
        assert rc == 0, json.dumps(report, indent=1)[-3000:]


def test_a_new_kubelet_build_is_rolled_out_one_worker_at_a_time_with_drains(cluster: dict) -> None:  # type: ignore[type-arg]
    config, lab, (w1, w2), cp = cluster["config"], cluster["lab"], cluster["workers"], cluster["cp"]
    r = kw(config, "kubectl", "--", "apply", "-f", "-", stdin=deployment([w1, w2]))
    assert r.returncode == 0, r.stderr
    deadline = time.monotonic() + 120
    while sorted((before := web_pods(config)).values()) != sorted([w1, w2]):
        assert time.monotonic() < deadline, before
        time.sleep(1)

    config.write_text(cluster["new"])
    r = kw(config, "plan", *ONLY, "-o", "json")
    assert r.returncode == 0, r.stderr[-2000:]
    plan = json.loads(r.stdout)
    assert [c.split(":")[0] for h in (cp, w1, w2) for c in rollout_changes(plan, h)] == [
        "batch 1/3 (control plane)", "batch 2/3 (workers)", "batch 3/3 (workers)"]
    assert any(n.startswith(f"rollout: roll-out order: etcd snapshot to {config.parent / 'state' / 'backups'}")
               for n in plan["hosts"][cp]["notes"]), plan["hosts"][cp]["notes"]

    started = time.monotonic()
    rc, report = up_json(config)
    took = time.monotonic() - started
    assert rc == 0, json.dumps(report, indent=1)[-4000:]
    print(f"roll-out of a new kubelet build on 3 nodes (whole `up`): {took:.1f} s")
    for h in (cp, w1, w2):
        staged = [c["summary"] for c in report["hosts"][h]["changes"] if c["phase"] == "artifacts"]
        assert staged == [s for s in staged if s.startswith(f"stage {KUBELET}{STAGED_SUFFIX} ")] and staged, staged

    # the etcd snapshot, saved before any node was touched
    snap = next(c for c in rollout_changes(report, cp) if c.startswith("etcd snapshot saved to "))
    path = Path(snap.split()[4])
    assert path.parent == config.parent / "state" / "backups" and path.stat().st_size > 0
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    # batches of one, in order, each node's steps inside its own window, the windows apart
    windows = {}
    for n, (h, kind) in enumerate(((cp, "control plane"), (w1, "workers"), (w2, "workers")), 1):
        steps = [c for c in rollout_changes(report, h) if not c.startswith("etcd snapshot")]
        assert steps and all(c.startswith(f"batch {n}/3 ({kind}): ") for c in steps), steps
        # drain, install, restart, Ready and uncordon; no configuration to write for the same version
        assert [c.split(": ", 1)[1].split()[0] for c in steps] == ["cordoned", "installed", "restarted", "Ready"], steps
        assert step_time(steps, "cordoned") <= step_time(steps, "drained") <= step_time(steps, "restarted") \
            <= step_time(steps, "Ready") <= step_time(steps, "uncordoned"), steps
        windows[h] = window(steps)
        # the node's own clock: its kubelet started after the drain, before it was uncordoned
        assert step_time(steps, "drained") <= kubelet_started(lab, h) <= step_time(steps, "uncordoned"), \
            (h, kubelet_started(lab, h), steps)
    assert windows[cp][1] <= windows[w1][0] and windows[w1][1] <= windows[w2][0], windows
    assert when(STAMP.findall(snap)[0]) <= windows[cp][0]
    # the Deployment's pods were evicted from each worker in turn and came back elsewhere
    for h in (w1, w2):
        drained = next(c for c in rollout_changes(report, h) if "drained at" in c)
        moved = [p for p, node in before.items() if node == h]
        assert all(f"{NS}/{p}" in drained for p in moved), (drained, before)
    deadline = time.monotonic() + 60
    while len(after := web_pods(config)) != 2:
        assert time.monotonic() < deadline, after
        time.sleep(1)
    assert not set(after) & set(before) and set(after.values()) <= {w1, w2}, (before, after)
    # every node Ready, schedulable, running the new kubelet from the file in place; no mark left
    assert node_state(config) == {h: (True, False) for h in (cp, w1, w2)}
    for h in (cp, w1, w2):
        assert sh(lab, h, f"sha256sum < {KUBELET} | cut -d' ' -f1") == cluster["new_sum"]
        assert sh(lab, h, "readlink /proc/$(systemctl show -p MainPID --value kubelet)/exe") == KUBELET
        assert sh(lab, h, f"sha256sum < {KUBELET}.kubeward-previous | cut -d' ' -f1") == cluster["old_sum"]
        assert sh(lab, h, f"ls {ROLLOUT_MARK} {KUBELET}{STAGED_SUFFIX} 2>/dev/null || true") == ""
    # and nothing is left to do
    rc, again = up_json(config, *ONLY)
    assert rc == 0 and all(not h["changes"] for h in again["hosts"].values()), json.dumps(again, indent=1)[-2000:]


def test_a_failed_node_stops_the_roll_out_and_the_next_run_continues_there(cluster: dict) -> None:  # type: ignore[type-arg]
    config, lab, (w1, w2), cp = cluster["config"], cluster["lab"], cluster["workers"], cluster["cp"]
    config.write_text(cluster["original"])  # back to the lab's own build, through the same roll-out
    rc, report = up_json(config, "--only", "artifacts")
    assert rc == 0, json.dumps(report, indent=1)[-3000:]
    for h in (cp, w1, w2):
        assert [c["summary"].split(" (")[1] for c in report["hosts"][h]["changes"]] == [
            "sha256 " + cluster["old_sum"][:12] + "...) from the previous build kept on the node"], report["hosts"][h]
    # worker 1's staged file changes behind kubeward's back; size, mtime and inode stay (its stamp still
    # vouches for it): only the check right before the install can see it
    staged = KUBELET + STAGED_SUFFIX
    sh(lab, w1, f"t=$(stat -c %Y {staged}); printf X | dd of={staged} bs=1 seek=4096 conv=notrunc 2>/dev/null; "
                f"touch -d @$t {staged}")
    rc, report = up_json(config, *ONLY)
    assert rc == 1, json.dumps(report, indent=1)[-3000:]
    error = report["hosts"][w1]["error"]
    assert error.startswith(f"rollout: the roll-out stopped at {w1} in batch 2/3 (workers): installing the new "
                            "binaries failed (it stays cordoned): "), error
    assert "it changed since it was staged" in error and f"Done: {cp}; untouched: {w2}." in error, error
    assert f"the roll-out continues with {w1}" in error
    assert any(n.startswith(f"rollout: not rolled out: the roll-out stopped at {w1}") for n in report["hosts"][w2]["notes"])
    assert report["hosts"][cp]["error"] is None and report["hosts"][w2]["error"] is None
    assert node_state(config) == {cp: (True, False), w1: (True, True), w2: (True, False)}
    assert sh(lab, w1, f"cat {ROLLOUT_MARK}") == "cordoned"
    assert sh(lab, w2, f"sha256sum < {KUBELET} | cut -d' ' -f1") == cluster["new_sum"]  # untouched

    rc, report = up_json(config, *ONLY)
    assert rc == 0, json.dumps(report, indent=1)[-3000:]
    # the failed install removed the changed file and the stamp that vouched for the (hard-linked)
    # previous build: worker 1 gets the original build uploaded again
    assert [c["summary"].split(" (")[0] for c in report["hosts"][w1]["changes"] if c["phase"] == "artifacts"] == [
        f"stage {staged}"]
    assert "MB, sha256 " + cluster["old_sum"][:12] in report["hosts"][w1]["changes"][0]["summary"]
    assert rollout_changes(report, cp) == [] or all(c.startswith("etcd snapshot") for c in rollout_changes(report, cp))
    assert all(c.startswith("batch 1/2 (workers)") for c in rollout_changes(report, w1) if not c.startswith("etcd"))
    assert all(c.startswith("batch 2/2 (workers)") for c in rollout_changes(report, w2))
    assert node_state(config) == {h: (True, False) for h in (cp, w1, w2)}
    for h in (cp, w1, w2):
        assert sh(lab, h, f"sha256sum < {KUBELET} | cut -d' ' -f1") == cluster["old_sum"]
        assert sh(lab, h, f"ls {ROLLOUT_MARK} 2>/dev/null || true") == ""
