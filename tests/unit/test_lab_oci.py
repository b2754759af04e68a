"""Locally built container images (kubeward.lab.oci): the docker-archive tar, its layer, busybox."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from kubeward.errors import LabError
from kubeward.lab import oci
from kubeward.lab.oci import BUSYBOX_APPLETS, ImageFile, busybox_files, render_image_archive, render_layer

REF = "kubeward.local/hello:1"
SCRIPT = b"#!/bin/sh\necho hello from the lab\n"
FILES = [
    ImageFile("/bin/hello", SCRIPT, 0o755),
    ImageFile("/etc/motd", b"hi\n"),
    ImageFile("/bin/sh", link="busybox", mode=0o777),
    ImageFile("/usr/local/share/doc/readme", b"nested\n", 0o600),
]


def _members(data: bytes) -> dict[str, tuple[tarfile.TarInfo, bytes | None]]:
    out: dict[str, tuple[tarfile.TarInfo, bytes | None]] = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for m in tar.getmembers():
            f = tar.extractfile(m) if m.isfile() else None
            out[m.name] = (m, f.read() if f else None)
    return out


@pytest.fixture(scope="module")
def archive() -> dict[str, tuple[tarfile.TarInfo, bytes | None]]:
    return _members(render_image_archive(REF, FILES, ["/bin/hello"]))


def _blob(archive: dict[str, tuple[tarfile.TarInfo, bytes | None]], name: str) -> bytes:
    data = archive[name][1]
    assert data is not None, name
    return data


def test_archive_holds_manifest_config_and_layer(
    archive: dict[str, tuple[tarfile.TarInfo, bytes | None]],
) -> None:
    manifest = json.loads(_blob(archive, "manifest.json"))
    assert len(manifest) == 1
    entry = manifest[0]
    assert entry["RepoTags"] == [REF]
    assert entry["Layers"] == ["layer.tar"]
    assert set(archive) == {"manifest.json", "layer.tar", entry["Config"]}


def test_config_is_content_addressed_and_points_at_the_layer(
    archive: dict[str, tuple[tarfile.TarInfo, bytes | None]],
) -> None:
    name = json.loads(_blob(archive, "manifest.json"))[0]["Config"]
    raw = _blob(archive, name)
    assert name == hashlib.sha256(raw).hexdigest() + ".json"
    config = json.loads(raw)
    layer = _blob(archive, "layer.tar")
    assert config["rootfs"] == {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]}
    assert (config["os"], config["architecture"]) == ("linux", "amd64")
    assert config["config"]["Cmd"] == ["/bin/hello"]
    assert len(config["history"]) == len(config["rootfs"]["diff_ids"])


def test_layer_has_the_files_with_modes_contents_and_symlinks(
    archive: dict[str, tuple[tarfile.TarInfo, bytes | None]],
) -> None:
    layer = _members(_blob(archive, "layer.tar"))
    hello, data = layer["bin/hello"]
    assert hello.isfile() and hello.mode == 0o755 and data == SCRIPT
    motd, data = layer["etc/motd"]
    assert motd.isfile() and motd.mode == 0o644 and data == b"hi\n"
    readme, data = layer["usr/local/share/doc/readme"]
    assert readme.mode == 0o600 and data == b"nested\n"
    sh, _ = layer["bin/sh"]
    assert sh.issym() and sh.linkname == "busybox"
    for d in ("bin", "etc", "usr", "usr/local", "usr/local/share", "usr/local/share/doc"):
        info, _ = layer[d]
        assert info.isdir() and info.mode == 0o755, d
    assert all(not n.startswith("/") and ".." not in n.split("/") for n in layer)
    assert all(info.uid == 0 and info.gid == 0 for info, _ in layer.values())


def test_layer_lists_each_directory_once_before_its_contents() -> None:
    with tarfile.open(fileobj=io.BytesIO(render_layer(FILES))) as tar:
        names = tar.getnames()
    assert len(names) == len(set(names))
    for i, name in enumerate(names):
        parent = name.rpartition("/")[0]
        if parent:
            assert parent in names[:i], f"{name} before its directory {parent}"


def test_archive_is_deterministic_and_depends_on_its_input() -> None:
    a = render_image_archive(REF, FILES, ["/bin/hello"])
    assert (
        render_image_archive(REF, list(reversed(FILES)), ["/bin/hello"]) == a
    )  # order of files is irrelevant
    assert render_image_archive(REF, FILES, ["/bin/sh"]) != a
    assert render_image_archive("kubeward.local/hello:2", FILES, ["/bin/hello"]) != a
    changed = [ImageFile("/bin/hello", SCRIPT + b"#\n", 0o755), *FILES[1:]]
    assert render_image_archive(REF, changed, ["/bin/hello"]) != a


def test_archive_arch(archive: dict[str, tuple[tarfile.TarInfo, bytes | None]]) -> None:
    arm = _members(render_image_archive(REF, FILES, ["/bin/hello"], arch="arm64"))
    name = json.loads(_blob(arm, "manifest.json"))[0]["Config"]
    assert json.loads(_blob(arm, name))["architecture"] == "arm64"


# ----- busybox ---------------------------------------------------------------------------------------
def test_busybox_files_from_a_stand_in_binary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "busybox"
    fake.write_bytes(b"\x7fELF fake busybox")
    monkeypatch.setattr(oci, "BUSYBOX", fake)
    files = busybox_files()
    assert files[0] == ImageFile("/bin/busybox", b"\x7fELF fake busybox", 0o755)
    links = {f.path: f.link for f in files[1:]}
    assert links == {f"/bin/{a}": "busybox" for a in BUSYBOX_APPLETS}
    assert {"sh", "sleep", "cat"} <= set(BUSYBOX_APPLETS)
    layer = _members(render_layer(files))
    assert layer["bin/busybox"][1] == b"\x7fELF fake busybox"
    assert layer["bin/sh"][0].issym()


def test_busybox_files_missing_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(oci, "BUSYBOX", tmp_path / "nope")
    with pytest.raises(LabError, match="busybox-static"):
        busybox_files()


@pytest.mark.skipif(not Path("/bin/busybox").is_file(), reason="no /bin/busybox (Debian's busybox-static)")
def test_busybox_files_from_the_host() -> None:
    files = busybox_files()
    binary = files[0]
    assert binary.path == "/bin/busybox" and binary.mode == 0o755
    assert binary.data == Path("/bin/busybox").read_bytes() and binary.data[:4] == b"\x7fELF"
    assert [f.path for f in files[1:]] == [f"/bin/{a}" for a in BUSYBOX_APPLETS]
    assert all(f.link == "busybox" and f.data == b"" for f in files[1:])
