"""Building small container images locally (no registry is reachable from here).

``render_image_archive`` is pure: files in, a ``docker save``-format tar out, which
``ctr image import`` and ``ctr -n k8s.io image import`` accept. ``busybox_files`` reads the host's
statically linked busybox (Debian's busybox-static) to make a useful tiny image.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from kubeward.errors import LabError

BUSYBOX = Path("/bin/busybox")
BUSYBOX_APPLETS = ("sh", "echo", "cat", "ls", "sleep", "id", "hostname", "wget", "nc", "uname")


@dataclass(frozen=True)
class ImageFile:
    path: str  # absolute path inside the image
    data: bytes = b""
    mode: int = 0o644
    link: str = ""  # symlink target when set


def _tar(entries: Iterable[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def render_layer(files: Iterable[ImageFile]) -> bytes:
    entries: list[tuple[tarfile.TarInfo, bytes | None]] = []
    dirs: set[str] = set()
    for f in sorted(files, key=lambda f: f.path):
        parts = f.path.strip("/").split("/")
        for i in range(1, len(parts)):
            d = "/".join(parts[:i])
            if d not in dirs:
                dirs.add(d)
                info = tarfile.TarInfo(d)
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                entries.append((info, None))
        info = tarfile.TarInfo("/".join(parts))
        info.mode = f.mode
        if f.link:
            info.type, info.linkname = tarfile.SYMTYPE, f.link
            entries.append((info, None))
        else:
            info.size = len(f.data)
            entries.append((info, f.data))
    return _tar(entries)


def render_image_archive(ref: str, files: Iterable[ImageFile], cmd: list[str], arch: str = "amd64") -> bytes:
    """A docker-archive tar holding one image ``ref`` (e.g. ``kubeward.local/hello:1``)."""
    layer = render_layer(files)
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps(
        {
            "architecture": arch,
            "os": "linux",
            "config": {"Cmd": cmd, "Env": ["PATH=/bin"]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created_by": "kubeward lab"}],
        },
        sort_keys=True,
    ).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [ref], "Layers": ["layer.tar"]}]).encode()
    entries = []
    for name, data in (("layer.tar", layer), (config_name, config), ("manifest.json", manifest)):
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(data), 0o644
        entries.append((info, data))
    return _tar(entries)


def busybox_files() -> list[ImageFile]:
    if not BUSYBOX.is_file():
        raise LabError(f"{BUSYBOX} is missing: install Debian's busybox-static (`make deps`)")
    out = [ImageFile("/bin/busybox", BUSYBOX.read_bytes(), 0o755)]
    out += [ImageFile(f"/bin/{a}", link="busybox", mode=0o777) for a in BUSYBOX_APPLETS]
    return out
