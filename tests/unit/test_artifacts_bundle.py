"""Images built for real (gcc, busybox-static), an artifact directory, and the air-gap bundle
end to end through the CLI: create, verify, and a flipped byte named by `bundle verify`."""

from __future__ import annotations

import json
import signal
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubeward.artifacts.build import BINARIES, binary_dir, write_sha256_file
from kubeward.artifacts.images import IMAGES, build_images, build_pause_binary
from kubeward.cli.main import cli

KUBELET = "v1.20.2/bin/linux/amd64/kubelet"


@pytest.fixture(scope="module")
def artifact_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dir layout with small stand-in binaries (the real ones take minutes to build) and the
    real images."""
    root = tmp_path_factory.mktemp("artifacts")
    out = binary_dir(root, "1.20.2", "amd64")
    out.mkdir(parents=True)
    for b in BINARIES:
        (out / b).write_bytes(f"#!/bin/sh\necho {b} v1.20.2\n".encode() * 1000)
        write_sha256_file(out / b)
    notes: list[str] = []
    build_images(root, progress=notes.append)
    assert any("built image kubeward.local/pause:3.2" in n for n in notes)
    return root


def test_images_are_single_layer_docker_archives(artifact_dir: Path) -> None:
    for spec in IMAGES:
        with tarfile.open(artifact_dir / spec.file) as tar:
            manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
            assert len(manifest) == 1 and manifest[0]["RepoTags"] == [spec.ref]
            assert manifest[0]["Layers"] == ["layer.tar"]
            config = json.load(tar.extractfile(manifest[0]["Config"]))  # type: ignore[arg-type]
            assert len(config["rootfs"]["diff_ids"]) == 1
            layer = tarfile.open(fileobj=tar.extractfile("layer.tar"))
            names = set(layer.getnames())
        if spec.name == "pause":
            assert names == {"pause"}
        else:
            assert {"bin/busybox", "bin/sh", "bin/nc", "bin/ls"} <= names


def test_second_image_build_does_nothing(artifact_dir: Path) -> None:
    before = (artifact_dir / "manifest.json").read_bytes()
    notes: list[str] = []
    build_images(artifact_dir, progress=notes.append)
    assert sum("nothing to do" in n for n in notes) == len(IMAGES)
    assert (artifact_dir / "manifest.json").read_bytes() == before


def _catches(pid: int, sig: int) -> bool:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (sig - 1) & 1)
    return False


def test_pause_is_static_and_exits_on_sigterm(tmp_path: Path) -> None:
    pause = tmp_path / "pause"
    pause.write_bytes(build_pause_binary(tmp_path))
    pause.chmod(0o755)
    assert b"/lib64/ld-linux" not in pause.read_bytes()  # no dynamic loader: static
    assert subprocess.run([str(pause), "-v"], capture_output=True, text=True).stdout == "kubeward pause\n"
    for sig in (signal.SIGTERM, signal.SIGINT):
        proc = subprocess.Popen([str(pause)], stderr=subprocess.DEVNULL)
        while not _catches(proc.pid, sig):  # the handler is installed a moment after exec
            time.sleep(0.01)
        proc.send_signal(sig)
        assert proc.wait(timeout=30) == 0


def test_bundle_create_verify_and_a_flipped_byte(artifact_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    verified_dir = runner.invoke(cli, ["bundle", "verify", str(artifact_dir)])
    assert verified_dir.exit_code == 0, verified_dir.output
    bundle = tmp_path / "k8s.tar"
    created = runner.invoke(cli, ["bundle", "create", "--from", str(artifact_dir), "-o", str(bundle)])
    assert created.exit_code == 0, created.output
    assert "manifest sha256" in created.output
    ok = runner.invoke(cli, ["bundle", "verify", str(bundle)])
    assert ok.exit_code == 0, ok.output
    assert "OK 14 files" in ok.output  # 6 binaries, their 6 sums, 2 images
    with tarfile.open(bundle) as tar:
        member = tar.getmember(KUBELET)
        assert tar.getnames()[0] == "manifest.json"
    data = bytearray(bundle.read_bytes())
    data[member.offset_data + 7] ^= 0x01
    bundle.write_bytes(bytes(data))
    bad = runner.invoke(cli, ["bundle", "verify", str(bundle)])
    assert bad.exit_code == 1
    failed = [line for line in bad.output.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1 and failed[0].startswith(f"FAILED {KUBELET}: SHA-256 is "), bad.output


def test_tampered_sum_file_is_named(artifact_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(artifact_dir), str(copy)], check=True)
    (copy / f"{KUBELET}.sha256").write_text("0" * 64 + "\n")
    bad = CliRunner().invoke(cli, ["bundle", "verify", str(copy)])
    assert bad.exit_code == 1
    assert f"FAILED {KUBELET}.sha256: SHA-256 is" in bad.output
    assert f"FAILED {KUBELET}.sha256: says {'0' * 64}" in bad.output
    refused = CliRunner().invoke(cli, ["bundle", "create", "--from", str(copy), "-o", str(tmp_path / "x.tar")])
    assert refused.exit_code == 1 and not (tmp_path / "x.tar").exists()


def _config(tmp_path: Path, artifacts: str, version: str = "1.20.2"):  # type: ignore[no-untyped-def]
    from kubeward.config import parse_config

    text = (Path(__file__).parent / "data" / "good.yml").read_text()  # has no state_dir of its own
    text += f"state_dir: {tmp_path / 'state'}\nkubernetes:\n  enabled: true\n  version: '{version}'\n  artifacts:\n{artifacts}"
    return parse_config(text).config


def test_bundle_and_dir_sources_resolve_to_a_verified_directory(artifact_dir: Path, tmp_path: Path) -> None:
    from kubeward.artifacts.source import resolve_artifacts
    from kubeward.errors import ArtifactError

    bundle = tmp_path / "k8s.tar"
    assert CliRunner().invoke(cli, ["bundle", "create", "--from", str(artifact_dir), "-o", str(bundle)]).exit_code == 0
    notes: list[str] = []
    root, m = resolve_artifacts(_config(tmp_path, f"    source: bundle\n    bundle: {bundle}\n"), progress=notes.append)
    assert root.parent == tmp_path / "state" / "artifacts" and (root / KUBELET).is_file()
    assert m.version == "1.20.2" and {i.ref for i in m.images} == {s.ref for s in IMAGES}
    assert any(n.startswith("unpacked") for n in notes)
    notes.clear()
    again, _ = resolve_artifacts(_config(tmp_path, f"    source: bundle\n    bundle: {bundle}\n"), progress=notes.append)
    assert again == root and notes == []  # unpacked once
    root, m = resolve_artifacts(_config(tmp_path, f"    source: dir\n    dir: {artifact_dir}\n"))
    assert root == artifact_dir and m.file(KUBELET) is not None
    with pytest.raises(ArtifactError, match="holds Kubernetes 1.20.2, cluster.yml asks for 1.21.0"):
        resolve_artifacts(_config(tmp_path, f"    source: dir\n    dir: {artifact_dir}\n", version="1.21.0"))
