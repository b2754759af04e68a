"""One lab per test session, always torn down (also when tests fail or are interrupted).

Lab tests are real: nodes boot systemd and sshd in namespaces on this machine. They need root.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kubeward.lab.lab import Lab, LabState, NodeState

pytestmark = pytest.mark.lab


#: the modules on the shared Kubernetes lab (kube_cluster), run last and in this order: the lab (an
#: API server, etcd, four kubelets) then loads the machine only while they run, and test_up_reset,
#: which removes everything kubeward installed there, ends it
KUBE_CLUSTER_ORDER = ("test_nodes.py", "test_nodes_day2.py", "test_rollout.py", "test_up_control_plane.py",
                      "test_up_kube_audit.py", "test_up_reset.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/lab" in str(item.fspath):
            item.add_marker(pytest.mark.lab)

    def rank(item: pytest.Item) -> int:
        name = Path(str(item.fspath)).name
        return KUBE_CLUSTER_ORDER.index(name) + 1 if name in KUBE_CLUSTER_ORDER else 0

    items.sort(key=rank)  # stable: the rest keep their order


def _require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("lab tests need root (network namespaces, overlay mounts)")


def new_lab_name(prefix: str = "t") -> str:
    return f"{prefix}{secrets.token_hex(3)}"


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """A 4-node lab (3 control-planes for etcd quorum, 1 worker) shared by the whole session."""
    _require_root()
    lb = Lab(new_lab_name())
    try:
        lb.up(4, 3)
        yield lb
    finally:
        if lb.exists() or lb.dir.exists():
            lb.down()


@pytest.fixture(scope="session")
def lab_state(lab: Lab) -> LabState:
    return lab.load()


def ssh_argv(lab: Lab, address: str, command: str, user: str = "debian") -> list[str]:
    """OpenSSH client argv with host keys checked against the pins the lab wrote."""
    state = lab.load()
    known = lab.dir / "known_hosts.test"
    known.write_text("".join(f"{n.public_address} {n.host_key}\n" for n in state.nodes))
    return [
        "ssh", "-i", str(lab.key_path), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={known}", "-o", "ConnectTimeout=5", "-o", "LogLevel=error",
        f"{user}@{address}", command,
    ]


def ssh(lab: Lab, address: str, command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(ssh_argv(lab, address, command), capture_output=True, text=True, timeout=timeout)


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def lab_config(lab: Lab, tmp: Path, *, pins: bool = True) -> Path:
    """A copy of the lab's cluster.yml with its own state dir, optionally without host-key pins."""
    text = lab.cluster_yml.read_text()
    text = text.replace("key_path: id_ed25519", f"key_path: {lab.key_path}")
    text = text.replace("state_dir: state", f"state_dir: {tmp / 'state'}")
    if not pins:
        text = re.sub(r"\n    ssh:\n      host_key: \"[^\"]+\"", "", text)
    path = tmp / "cluster.yml"
    path.write_text(text)
    return path


def without_hosts(text: str, names: list[str]) -> str:
    """cluster.yml text (as the lab writes it) without the given hosts' entries."""
    for name in names:
        text = re.sub(rf"\n  - name: {re.escape(name)}\n(?:    .*\n|      .*\n)*", "\n", text, count=1)
    return text


def config_hosts(config: Path) -> list[str]:
    """The host names a cluster.yml lists."""
    return re.findall(r"^  - name: (\S+)$", config.read_text(), flags=re.M)


def kubeward(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kubeward", *args], capture_output=True, text=True,
                          timeout=timeout)


def up_json(config: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict]:  # type: ignore[type-arg]
    # no terminal: `up` must not wait for an answer (a host leaving cluster.yml needs --yes then)
    r = subprocess.run([sys.executable, "-m", "kubeward", "up", "-c", str(config), "-o", "json", *args],
                       capture_output=True, text=True, timeout=600, env=env, stdin=subprocess.DEVNULL)
    assert r.stdout, r.stderr
    return r.returncode, json.loads(r.stdout)


@pytest.fixture(scope="session")
def converged(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`kubeward up` once on the session lab (tests using it run last: test_up*.py files)."""
    config = lab_config(lab, tmp_path_factory.mktemp("up"))
    rc, report = up_json(config)
    assert rc == 0, json.dumps(report, indent=1)
    return config


@pytest.fixture(scope="session")
def kube_build() -> Path:
    """The local Kubernetes v1.20.2 build (`make test` makes it first; its absence fails in CI)."""
    from kubeward.artifacts.build import find_entry

    entry = find_entry("1.20.2")
    if entry is None:
        if os.environ.get("CI"):
            pytest.fail("no local Kubernetes v1.20.2 build although `make test` runs `make kube-bin` first")
        pytest.skip("no local Kubernetes v1.20.2 build: run `make kube-bin` first")
    return entry


@dataclass
class KubeCluster:
    lab: Lab
    config: Path  # 1 control plane, 2 workers
    up: dict  # type: ignore[type-arg]
    #: a booted lab node that config leaves out (test_nodes_day2 adds it and removes it again)
    spare: str = ""
    #: config with the spare node too (same state directory)
    config_all: Path | None = None

    def nodes(self) -> list[NodeState]:
        """The lab nodes that config lists (the spare one is not a node of the cluster)."""
        names = set(config_hosts(self.config))
        return [n for n in self.lab.load().nodes if n.name in names]


@pytest.fixture(scope="session")
def kube_cluster(kube_build: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeCluster]:
    """One Kubernetes lab (1 control plane, 2 workers, and a spare booted node that cluster.yml leaves
    out) converged once and shared by test_nodes, test_nodes_day2 (which adds the spare node and
    removes it again), test_up_kube_audit (which weakens it) and the others using kube_cluster, then
    reset by test_up_reset (run last: KUBE_CLUSTER_ORDER); torn down even when tests fail."""
    from kubeward.lab.lab import render_kubernetes_yml

    _require_root()
    lb = Lab(new_lab_name("k"))
    try:
        lb.up(4, 1)
        spare = lb.load().nodes[-1].name
        path = lab_config(lb, tmp_path_factory.mktemp("kube"))
        text = path.read_text() + render_kubernetes_yml("1.20.2", kube_build)
        everything = path.with_name("cluster-with-spare.yml")
        everything.write_text(text)
        path.write_text(without_hosts(text, [spare]))
        rc, report = up_json(path)
        assert rc == 0, json.dumps(report, indent=1)[-4000:]
        yield KubeCluster(lb, path, report, spare, everything)
    finally:
        if lb.exists() or lb.dir.exists():
            lb.down()
