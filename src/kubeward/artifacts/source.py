"""Turning cluster.yml's ``kubernetes.artifacts`` into one verified artifact directory (I/O).

Whatever the source (``release``, ``bundle`` or ``dir``), the result is a directory in the ``dir``
layout with its manifest, from which the artifacts phase uploads; every file a host receives is
checked on the host against the manifest's SHA-256 before it is renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path

from kubeward.artifacts.manifest import (
    ImageRef,
    Manifest,
    read_manifest,
    read_manifest_sha256,
    read_verify_bundle,
    read_verify_dir,
    write_manifest,
)
from kubeward.artifacts.nodes import ALL_BINARIES
from kubeward.artifacts.release import fetch_release
from kubeward.config import ClusterConfig
from kubeward.errors import ArtifactError

Progress = Callable[[str], None]


def cache_dir(config: ClusterConfig) -> Path:
    return config.resolve_path(config.state_dir) / "artifacts"


def read_image_ref(path: Path) -> str:
    """The first RepoTag of a docker-archive tar."""
    try:
        with tarfile.open(path) as tar:
            fh = tar.extractfile("manifest.json")
            doc = json.load(fh) if fh else []
        return str(doc[0]["RepoTags"][0])
    except (tarfile.TarError, OSError, KeyError, IndexError, ValueError) as exc:
        raise ArtifactError(f"{path}: not a docker-archive image tar with a tag ({exc})") from exc


def _add_images(root: Path, images: Path, m: Manifest) -> Manifest:
    tars = sorted(images.glob("*.tar"))
    if not tars:
        raise ArtifactError(f"kubernetes.artifacts.images: no *.tar in {images}")
    refs = []
    for t in tars:
        dest = root / "images" / t.name
        if not dest.exists() or dest.stat().st_size != t.stat().st_size:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(t, dest)
        refs.append(ImageRef(read_image_ref(dest), f"images/{t.name}"))
    return write_manifest(root, m.version, m.arch, refs)


def _extract_bundle(bundle: Path, cache: Path, progress: Progress) -> Path:
    with tarfile.open(bundle) as tar:
        fh = tar.extractfile("manifest.json")
        if fh is None:
            raise ArtifactError(f"{bundle}: holds no manifest.json")
        key = hashlib.sha256(fh.read()).hexdigest()[:12]
    root = cache / f"bundle-{key}"
    if (root / "manifest.json").is_file():
        return root
    progress(f"verifying {bundle}")
    v = read_verify_bundle(bundle)
    if not v.ok:
        raise ArtifactError(f"{bundle} fails verification:\n" + "\n".join(f"  {p}" for p in v.problems))
    tmp = cache / f".bundle-{key}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with tarfile.open(bundle) as tar:
        tar.extractall(tmp, filter="data")
    tmp.rename(root)
    progress(f"unpacked {bundle} into {root}")
    return root


def resolve_artifacts(config: ClusterConfig, arch: str = "amd64", progress: Progress = print) -> tuple[Path, Manifest]:
    k = config.kubernetes
    a = k.artifacts
    if k.version is None:
        raise ArtifactError("kubernetes.version is not set")
    if a.source == "release":
        if a.download != "operator":
            raise ArtifactError("kubernetes.artifacts.download: on-node is not implemented yet; use operator")
        root, m = fetch_release(a.base_url, k.version, arch, ALL_BINARIES, cache_dir(config), progress)
    elif a.source == "bundle":
        assert a.bundle is not None
        root = _extract_bundle(config.resolve_path(a.bundle), cache_dir(config), progress)
        m = read_manifest(root)
    else:
        assert a.dir is not None
        root = config.resolve_path(a.dir)
        m = read_manifest(root)
    if m.version != k.version:
        raise ArtifactError(f"{root} holds Kubernetes {m.version}, cluster.yml asks for {k.version}")
    if a.images is not None:
        m = _add_images(root, config.resolve_path(a.images), m)
    return root, m


def read_verified_dir(root: Path) -> tuple[Manifest, str]:
    """Check a whole directory (for `kubeward artifacts verify`); returns its manifest and sha256."""
    v = read_verify_dir(root)
    if not v.ok:
        raise ArtifactError(f"{root} fails verification:\n" + "\n".join(f"  {p}" for p in v.problems))
    return v.manifest, read_manifest_sha256(root)
