"""The artifact manifest and the build's pure helpers: data in, verdicts out (no I/O)."""

from __future__ import annotations

import pytest

from kubeward.artifacts.build import parse_showsrc, render_cache_key, render_deb_src
from kubeward.artifacts.images import render_busybox_files
from kubeward.artifacts.manifest import (
    FileEntry,
    ImageRef,
    new_manifest,
    parse_manifest,
    render_manifest,
    verify_files,
)
from kubeward.errors import ArtifactError

A = "a" * 64
B = "b" * 64
KUBELET = "v1.20.2/bin/linux/amd64/kubelet"


def manifest():  # type: ignore[no-untyped-def]
    files = [FileEntry(KUBELET, A, 10), FileEntry(KUBELET + ".sha256", B, 65), FileEntry("images/pause.tar", B, 5)]
    return new_manifest("v1.20.2", "amd64", files, [ImageRef("kubeward.local/pause:3.2", "images/pause.tar")])


def test_round_trip_and_paths() -> None:
    m = manifest()
    assert m.version == "1.20.2" and m.binary_path("kubelet") == KUBELET
    again = parse_manifest(render_manifest(m))
    assert again == m
    assert render_manifest(again) == render_manifest(m)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("{", "not a kubeward artifact manifest"),
        ('{"schema": "other"}', "schema is 'other'"),
        ('{"schema": "kubeward.artifacts/v1", "version": "1", "arch": "x", "files": '
         '[{"path": "../etc/passwd", "sha256": "' + A + '", "size": 1}]}', "bad entry '../etc/passwd'"),
    ],
)
def test_parse_refuses(text: str, expected: str) -> None:
    with pytest.raises(ArtifactError, match=expected.replace("(", r"\(").replace(".", r"\.")):
        parse_manifest(text, "m.json")


def test_verify_names_every_failing_file() -> None:
    m = manifest()
    observed = {
        KUBELET: FileEntry(KUBELET, B, 10),  # wrong sum
        KUBELET + ".sha256": FileEntry(KUBELET + ".sha256", B, 65),
        "extra": FileEntry("extra", A, 1),  # not listed
    }  # images/pause.tar missing
    v = verify_files(m, observed, {KUBELET + ".sha256": B + "\n"})
    assert not v.ok
    by_path = {p.path: p.reason for p in v.problems}
    assert set(by_path) == {KUBELET, "images/pause.tar", "extra", KUBELET + ".sha256"}
    assert by_path[KUBELET] == f"SHA-256 is {B}, the manifest says {A}"
    assert by_path["images/pause.tar"] == "missing"
    assert f"the binary's SHA-256 is {A}" in by_path[KUBELET + ".sha256"]


def test_verify_passes_when_everything_matches() -> None:
    m = manifest()
    observed = {f.path: f for f in m.files}
    v = verify_files(m, observed, {KUBELET + ".sha256": A + "  kubelet\n"})
    assert v.ok and v.problems == ()
    smaller = {**observed, KUBELET: FileEntry(KUBELET, A, 9)}
    assert [str(p) for p in verify_files(m, smaller).problems] == [f"{KUBELET}: size is 9, the manifest says 10"]


def test_deb_src_from_the_machines_sources() -> None:
    sources = (
        "Types: deb\n# snapshot\nURIs: http://deb.example/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\nSigned-By: /usr/share/keyrings/k.gpg\n\n"
        "Types: deb\nURIs: http://deb.example/debian-security\nSuites: bookworm-security\nComponents: main\n"
    )
    assert render_deb_src(sources, "bookworm") == (
        "Types: deb-src\nURIs: http://deb.example/debian\nSuites: bookworm\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/k.gpg\n"
    )
    with pytest.raises(ArtifactError, match="no `deb` source for trixie"):
        render_deb_src(sources, "trixie")


SHOWSRC = """\
Package: kubernetes
Version: 1.20.5+really1.20.2-1
Checksums-Sha256:
 aaa 10 kubernetes_1.20.5+really1.20.2-1.dsc
 bbb 20 kubernetes_1.20.5+really1.20.2.orig.tar.gz

Package: kubernetes
Version: 1.20.5+really1.20.2-1.1+deb12u1
Checksums-Sha256:
 ccc 11 kubernetes_1.20.5+really1.20.2-1.1+deb12u1.dsc
 bbb 20 kubernetes_1.20.5+really1.20.2.orig.tar.gz
 ddd 30 kubernetes_1.20.5+really1.20.2-1.1+deb12u1.debian.tar.xz
"""


def test_showsrc_picks_newest_and_key_follows_the_patch_set() -> None:
    version, sums = parse_showsrc(SHOWSRC, "1.20.5+really1.20.2")
    assert version == "1.20.5+really1.20.2-1.1+deb12u1" and len(sums) == 3
    key = render_cache_key("1.20.2", version, sums, "amd64")
    assert key.startswith("1.20.2-") and len(key) == len("1.20.2-") + 12
    other_patches = [s.replace("ddd", "eee") for s in sums]
    assert render_cache_key("1.20.2", version, other_patches, "amd64") != key
    assert render_cache_key("1.20.2", version, sums, "arm64") != key
    with pytest.raises(ArtifactError, match="no Debian source version 9.9"):
        parse_showsrc(SHOWSRC, "9.9")


def test_busybox_links_every_applet_once() -> None:
    files = render_busybox_files(b"ELF", ["bin/sh", "usr/bin/wget", "sbin/ip", "bin/busybox", "usr/sbin/ip"])
    assert [f.path for f in files] == ["/bin/busybox", "/bin/ip", "/bin/sh", "/bin/wget"]
    assert all(f.link == "busybox" for f in files[1:]) and files[0].mode == 0o755


def test_long_build_reports_progress_and_failures(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The build's runner passes make's +++ lines on, says it is alive while make is silent, and
    keeps the log of a failure (real processes; the heartbeat releases the command, no sleeps)."""
    import os

    from kubeward.artifacts import build

    monkeypatch.setattr(build, "HEARTBEAT_SECONDS", 0.01)
    flag = tmp_path / "seen-heartbeat"
    seen: list[str] = []

    def progress(msg: str) -> None:
        seen.append(msg)
        if "still building" in msg:
            flag.touch()

    script = f"echo '+++ building'; echo noise; while [ ! -e {flag} ]; do sleep 0.01; done; echo done"
    build._stream(["sh", "-c", script], cwd=tmp_path, env=dict(os.environ), progress=progress, log=tmp_path / "ok.log")
    assert any(m.endswith("+++ building") for m in seen) and not any("noise" in m for m in seen)
    assert any("still building" in m for m in seen)
    assert (tmp_path / "ok.log").read_text().splitlines()[-1] == "done"
    with pytest.raises(ArtifactError, match=r"failed \(exit 3\)") as info:
        build._stream(["sh", "-c", "echo compile broke; exit 3"], cwd=tmp_path, env=dict(os.environ),
                      progress=seen.append, log=tmp_path / "bad.log")
    assert "compile broke" in str(info.value) and str(tmp_path / "bad.log") in str(info.value)
