"""The artifacts phase on real lab nodes with the real Kubernetes v1.20.2 build (`make kube-bin`):
per-role binaries, a working kubelet, a second run that uploads nothing, a changed binary put
back, and a file that does not match the manifest refused on the node before its rename."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubeward.artifacts.build import find_entry
from kubeward.artifacts.nodes import CONTROL_PLANE_BINARIES, INSTALL_ROOT, ROLE_BINARIES, STAMP_DIR
from kubeward.lab.lab import Lab, LabState, render_kubernetes_yml
from tests.lab.conftest import lab_config, ssh, up_json

ONLY = ("--only", "connect,artifacts")


@pytest.fixture(scope="module")
def build() -> Path:
    entry = find_entry("1.20.2")
    if entry is None:
        if os.environ.get("CI"):  # `make test` builds it first: its absence in CI is a failure
            pytest.fail("no local Kubernetes v1.20.2 build although `make test` runs `make kube-bin` first")
        pytest.skip("no local Kubernetes v1.20.2 build: run `make kube-bin` first")
    return entry


@pytest.fixture(scope="module")
def config(lab: Lab, lab_state: LabState, build: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = lab_config(lab, tmp_path_factory.mktemp("artifacts"))
    path.write_text(path.read_text() + render_kubernetes_yml("1.20.2", build))
    try:
        yield path
    finally:  # the session lab is shared: leave its nodes as they were
        links = " ".join(f"/usr/local/bin/{b}" for b in ROLE_BINARIES["control-plane"])
        for n in lab_state.nodes:
            ssh(lab, n.public_address, f"sudo rm -rf {INSTALL_ROOT} {STAMP_DIR} {links}")


def _artifact_changes(report: dict) -> dict[str, list[str]]:  # type: ignore[type-arg]
    return {name: [c["summary"] for c in h["changes"] if c["phase"] == "artifacts"]
            for name, h in report["hosts"].items()}


def test_roles_get_their_binaries_and_a_second_run_uploads_nothing(lab: Lab, lab_state: LabState, config: Path) -> None:
    rc, report = up_json(config, *ONLY)
    assert rc == 0, json.dumps(report, indent=1)
    changes = _artifact_changes(report)
    for n in lab_state.nodes:
        uploads = sorted(s.split()[1].rsplit("/", 1)[-1] for s in changes[n.name] if s.startswith("upload"))
        wanted = sorted(ROLE_BINARIES[n.role]) + ["busybox.tar", "pause.tar"]
        assert uploads == sorted(wanted), (n.name, changes[n.name])
        listing = ssh(lab, n.public_address, f"ls {INSTALL_ROOT}/v1.20.2/bin; stat -c '%U %a' {INSTALL_ROOT}/v1.20.2/bin/kubelet")
        assert listing.returncode == 0, listing.stderr
        *names, owner_mode = listing.stdout.split("\n")[:-1]
        assert sorted(names) == sorted(ROLE_BINARIES[n.role]) and owner_mode == "root 755"
        if n.role == "worker":
            assert not set(names) & set(CONTROL_PLANE_BINARIES)
            assert ssh(lab, n.public_address, "command -v kube-apiserver").returncode != 0
        version = ssh(lab, n.public_address, "kubelet --version")
        assert version.stdout.strip() == "Kubernetes v1.20.2", version
    notes = [note for h in report["hosts"].values() for note in h["notes"]]
    assert any("images staged" in note for note in notes) or any("import image" in s for c in changes.values() for s in c)

    rc, again = up_json(config, *ONLY)
    assert rc == 0, json.dumps(again, indent=1)
    assert _artifact_changes(again) == {n.name: [] for n in lab_state.nodes}
    # the no-op costs the connection and the one facts round-trip
    assert max(again["round_trips"].values()) <= 2, again["round_trips"]


def test_a_changed_binary_is_put_back(lab: Lab, lab_state: LabState, config: Path) -> None:
    worker = next(n for n in lab_state.nodes if n.role == "worker")
    rc, _ = up_json(config, *ONLY)
    assert rc == 0
    path = f"{INSTALL_ROOT}/v1.20.2/bin/kube-proxy"
    assert ssh(lab, worker.public_address, f"echo x | sudo tee -a {path} >/dev/null").returncode == 0
    rc, report = up_json(config, *ONLY)
    assert rc == 0, json.dumps(report, indent=1)
    assert [s.split(" (")[0] for s in _artifact_changes(report)[worker.name]] == [f"upload {path}"]
    assert ssh(lab, worker.public_address, "kube-proxy --version").stdout.strip() == "Kubernetes v1.20.2"


def test_a_local_file_not_matching_the_manifest_is_refused_on_the_node(
    lab: Lab, lab_state: LabState, config: Path, build: Path, tmp_path: Path
) -> None:
    worker = next(n for n in lab_state.nodes if n.role == "worker")
    rc, _ = up_json(config, *ONLY)
    assert rc == 0
    # an artifact directory whose kube-proxy differs from what its manifest says (links to the
    # build for everything else, so nothing big is copied)
    bad = tmp_path / "bad"
    for src in build.rglob("*"):
        if src.is_file():
            dst = bad / src.relative_to(build)
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.symlink_to(src)
    proxy = bad / "v1.20.2/bin/linux/amd64/kube-proxy"
    proxy.unlink()
    shutil.copyfile(build / "v1.20.2/bin/linux/amd64/kube-proxy", proxy)
    with open(proxy, "r+b") as fh:
        fh.seek(1000)
        byte = fh.read(1)
        fh.seek(1000)
        fh.write(bytes([byte[0] ^ 1]))
    path = f"{INSTALL_ROOT}/v1.20.2/bin/kube-proxy"
    before = ssh(lab, worker.public_address, f"sha256sum < {path}").stdout
    assert ssh(lab, worker.public_address, f"sudo rm {path}").returncode == 0  # so it must be uploaded
    cfg = tmp_path / "cluster.yml"
    cfg.write_text(config.read_text().replace(f"dir: {build}", f"dir: {bad}"))
    rc, report = up_json(cfg, *ONLY, "--host", worker.name)
    assert rc != 0
    error = report["hosts"][worker.name]["error"]
    assert f"{path}: received SHA-256 " in error and "expected " + before.split()[0] in error, error
    left = ssh(lab, worker.public_address, f"ls -a {INSTALL_ROOT}/v1.20.2/bin")
    assert "kube-proxy" not in left.stdout and ".kubeward." not in left.stdout, left.stdout
    rc, _ = up_json(config, *ONLY)  # the real build puts it back
    assert rc == 0
