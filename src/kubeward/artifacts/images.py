"""The images a node needs, built locally: a pause image from a tiny static C program and a
busybox image from Debian's busybox-static with all its applet links (I/O: gcc, /bin/busybox).

Both are single-layer docker-archive tars made by ``kubeward.lab.oci`` (deterministic: fixed
mtimes and order, so a rebuild gives the same bytes), which ``ctr -n k8s.io image import``
accepts. They go into ``<entry>/images/`` of a cache entry, after which its manifest is rewritten.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from kubeward.artifacts.manifest import ImageRef, Manifest, write_manifest
from kubeward.errors import ArtifactError
from kubeward.lab.oci import BUSYBOX, ImageFile, render_image_archive

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ImageSpec:
    name: str
    ref: str

    @property
    def file(self) -> str:
        return f"images/{self.name}.tar"


PAUSE = ImageSpec("pause", "kubeward.local/pause:3.2")
BUSYBOX_IMAGE = ImageSpec("busybox", "kubeward.local/busybox:1.35")
IMAGES = (PAUSE, BUSYBOX_IMAGE)


def render_busybox_files(busybox: bytes, applets: list[str]) -> list[ImageFile]:
    """/bin/busybox and one /bin/<applet> link per applet (``busybox --list-full`` names). Pure."""
    names = sorted({a.rsplit("/", 1)[-1] for a in applets} - {"busybox", ""})
    return [ImageFile("/bin/busybox", busybox, 0o755)] + [
        ImageFile(f"/bin/{n}", link="busybox", mode=0o777) for n in names
    ]


def read_busybox_files() -> list[ImageFile]:
    if not BUSYBOX.is_file():
        raise ArtifactError(f"{BUSYBOX} is missing: install Debian's busybox-static")
    listing = subprocess.run([str(BUSYBOX), "--list-full"], capture_output=True, text=True, check=True).stdout
    return render_busybox_files(BUSYBOX.read_bytes(), listing.split())


def build_pause_binary(workdir: Path) -> bytes:
    """Compile pause.c with ``gcc -static`` and return the stripped binary."""
    src = workdir / "pause.c"
    src.write_text(resources.files("kubeward.artifacts").joinpath("pause.c").read_text())
    out = workdir / "pause"
    cmd = ["gcc", "-static", "-Os", "-s", "-Wall", "-Werror", "-o", str(out), str(src)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ArtifactError(f"gcc failed building the pause image: {proc.stderr.strip()[-1500:]}")
    return out.read_bytes()


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.rename(path)


def read_entry_layout(entry: Path) -> tuple[str, str]:
    """(version, arch) of a ``dir`` layout, from ``v<version>/bin/linux/<arch>``."""
    for p in sorted(entry.glob("v*/bin/linux/*")):
        if p.is_dir() and re.fullmatch(r"v\d+\.\d+\.\d+", p.parents[2].name):
            return p.parents[2].name[1:], p.name
    raise ArtifactError(f"{entry} holds no v<version>/bin/linux/<arch>/ directory")


def build_images(entry: Path, progress: Progress = print) -> Manifest:
    """Add the pause and busybox images to a cache entry (each only if missing), then rewrite
    its manifest. A second run builds nothing."""
    version, arch = read_entry_layout(entry)
    for spec in IMAGES:
        target = entry / spec.file
        if target.is_file():
            progress(f"image {spec.ref} already in {target}: nothing to do")
            continue
        with tempfile.TemporaryDirectory(prefix="kubeward-image-") as tmp:
            if spec is PAUSE:
                files = [ImageFile("/pause", build_pause_binary(Path(tmp)), 0o755)]
                cmd = ["/pause"]
            else:
                files = read_busybox_files()
                cmd = ["/bin/sh"]
            data = render_image_archive(spec.ref, files, cmd, arch=arch)
        _write_atomic(target, data)
        progress(f"built image {spec.ref}: {target} ({len(data) / 1e6:.1f} MB)")
    m = write_manifest(entry, version, arch, [ImageRef(s.ref, s.file) for s in IMAGES])
    progress(f"{entry}/manifest.json lists {len(m.files)} files")
    return m
