"""The artifact manifest: what a ``dir`` layout or an air-gap bundle holds, and checking it.

Layout (the official release layout for binaries, plus images)::

    <dir>/manifest.json
    <dir>/v<version>/bin/linux/<arch>/<binary>         <binary>.sha256 beside each (hex digest only)
    <dir>/images/<name>.tar                            single-layer docker-archive tars

``manifest.json`` lists every other file with its SHA-256 and size, and which images the tars hold.
Everything above the ``read_``/``write_`` functions at the bottom is pure: parsing, rendering and
comparing observed files with the manifest. Those functions stream files (never a whole binary in
memory) and hand what they saw to the pure half.
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kubeward.errors import ArtifactError

MANIFEST = "manifest.json"
SCHEMA = "kubeward.artifacts/v1"
#: files a cache entry may hold that are not artifacts (never listed, never checked)
IGNORED = frozenset({MANIFEST, ".lock"})


@dataclass(frozen=True, order=True)
class FileEntry:
    path: str  # relative, forward slashes
    sha256: str
    size: int


@dataclass(frozen=True)
class ImageRef:
    ref: str  # e.g. kubeward.local/pause:3.2
    file: str  # relative path of its docker-archive tar


@dataclass(frozen=True)
class Manifest:
    version: str  # Kubernetes version without the leading v
    arch: str
    files: tuple[FileEntry, ...]
    images: tuple[ImageRef, ...] = ()

    def file(self, path: str) -> FileEntry | None:
        return next((f for f in self.files if f.path == path), None)

    def binary_path(self, binary: str) -> str:
        return render_binary_path(self.version, self.arch, binary)


@dataclass(frozen=True)
class Problem:
    """One file that fails verification, and why (a sentence naming both values)."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True)
class Verification:
    manifest: Manifest
    problems: tuple[Problem, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems


def render_binary_path(version: str, arch: str, binary: str) -> str:
    return f"v{version}/bin/linux/{arch}/{binary}"


def render_manifest(m: Manifest) -> str:
    doc = {
        "schema": SCHEMA,
        "version": m.version,
        "arch": m.arch,
        "files": [{"path": f.path, "sha256": f.sha256, "size": f.size} for f in sorted(m.files)],
        "images": [{"ref": i.ref, "file": i.file} for i in m.images],
    }
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def parse_manifest(text: str, source: str = MANIFEST) -> Manifest:
    try:
        doc = json.loads(text)
        if doc.get("schema") != SCHEMA:
            raise ValueError(f"schema is {doc.get('schema')!r}, expected {SCHEMA!r}")
        files = tuple(FileEntry(str(f["path"]), str(f["sha256"]), int(f["size"])) for f in doc["files"])
        images = tuple(ImageRef(str(i["ref"]), str(i["file"])) for i in doc.get("images", []))
        m = Manifest(str(doc["version"]), str(doc["arch"]), files, images)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ArtifactError(f"{source}: not a kubeward artifact manifest ({exc})") from exc
    for f in m.files:
        if f.path.startswith("/") or ".." in f.path.split("/") or len(f.sha256) != 64:
            raise ArtifactError(f"{source}: bad entry {f.path!r} (paths are relative, sums are SHA-256)")
    return m


def new_manifest(version: str, arch: str, observed: Iterable[FileEntry], images: Iterable[ImageRef] = ()) -> Manifest:
    files = tuple(sorted(f for f in observed if f.path not in IGNORED))
    return Manifest(version.lstrip("v"), arch, files, tuple(images))


def verify_files(
    m: Manifest, observed: Mapping[str, FileEntry], sum_files: Mapping[str, str] | None = None
) -> Verification:
    """Compare what was seen with the manifest: every listed file present with its size and sum,
    nothing unlisted, and every ``<binary>.sha256`` text (given in ``sum_files``) agreeing with
    the binary's sum. Pure."""
    problems: list[Problem] = []
    for f in m.files:
        seen = observed.get(f.path)
        if seen is None:
            problems.append(Problem(f.path, "missing"))
        elif seen.sha256 != f.sha256:
            problems.append(Problem(f.path, f"SHA-256 is {seen.sha256}, the manifest says {f.sha256}"))
        elif seen.size != f.size:
            problems.append(Problem(f.path, f"size is {seen.size}, the manifest says {f.size}"))
    listed = {f.path for f in m.files}
    problems += [Problem(p, "not listed in the manifest") for p in sorted(observed) if p not in listed | IGNORED]
    for path, text in sorted((sum_files or {}).items()):
        target = m.file(path.removesuffix(".sha256"))
        published = text.split()[0] if text.split() else ""
        if target is not None and published != target.sha256:
            problems.append(Problem(path, f"says {published or '(empty)'}, the binary's SHA-256 is {target.sha256}"))
    return Verification(m, tuple(problems))


class _Hasher:
    def __init__(self) -> None:
        self.h = hashlib.sha256()
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self.h.update(chunk)
        self.size += len(chunk)


CHUNK = 1 << 20


def read_file_entry(path: Path, rel: str) -> FileEntry:
    hs = _Hasher()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            hs.update(chunk)
    return FileEntry(rel, hs.h.hexdigest(), hs.size)


def read_dir_files(root: Path) -> tuple[dict[str, FileEntry], dict[str, str]]:
    """Every regular file under ``root`` hashed (streamed), and the text of each ``*.sha256``."""
    observed: dict[str, FileEntry] = {}
    sums: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            if rel in IGNORED or name.startswith("."):
                continue
            observed[rel] = read_file_entry(p, rel)
            if name.endswith(".sha256"):
                sums[rel] = p.read_text(errors="replace")
    return observed, sums


def read_manifest(root: Path) -> Manifest:
    path = root / MANIFEST
    try:
        return parse_manifest(path.read_text(), str(path))
    except FileNotFoundError as exc:
        raise ArtifactError(f"{path} is missing: not an artifact directory (run `kubeward artifacts build`)") from exc


def write_manifest(root: Path, version: str, arch: str, images: Iterable[ImageRef] = ()) -> Manifest:
    """List every file under ``root`` into ``root/manifest.json`` (atomically); returns it."""
    observed, _ = read_dir_files(root)
    m = new_manifest(version, arch, observed.values(), images)
    text = render_manifest(m)
    target = root / MANIFEST
    if target.exists() and target.read_text() == text:
        return m
    tmp = root / f".{MANIFEST}.tmp"
    tmp.write_text(text)
    tmp.rename(target)
    return m


def read_verify_dir(root: Path) -> Verification:
    m = read_manifest(root)
    observed, sums = read_dir_files(root)
    return verify_files(m, observed, sums)


def read_verify_bundle(path: Path) -> Verification:
    """Check a bundle tar in one streaming pass: every member hashed, then compared with the
    ``manifest.json`` it holds."""
    observed: dict[str, FileEntry] = {}
    sums: dict[str, str] = {}
    manifest_text: str | None = None
    try:
        with tarfile.open(path, mode="r|") as tar:
            for member in tar:
                name = member.name.removeprefix("./")
                if not member.isfile():
                    continue
                fh = tar.extractfile(member)
                if fh is None:
                    continue
                if name == MANIFEST:
                    manifest_text = fh.read().decode(errors="replace")
                    continue
                hs = _Hasher()
                small = bytearray()
                for chunk in iter(lambda f=fh: f.read(CHUNK), b""):  # type: ignore[misc]
                    hs.update(chunk)
                    if name.endswith(".sha256") and len(small) < 4096:
                        small += chunk
                observed[name] = FileEntry(name, hs.h.hexdigest(), hs.size)
                if name.endswith(".sha256"):
                    sums[name] = small.decode(errors="replace")
    except (tarfile.TarError, OSError) as exc:
        raise ArtifactError(f"{path}: not a readable tar ({exc})") from exc
    if manifest_text is None:
        raise ArtifactError(f"{path}: holds no {MANIFEST}; not a kubeward bundle")
    return verify_files(parse_manifest(manifest_text, f"{path}:{MANIFEST}"), observed, sums)


def write_bundle(root: Path, out: Path) -> Manifest:
    """Verify ``root`` against its manifest, then pack it into ``out`` (manifest first, files in
    manifest order, uid/gid 0), atomically."""
    v = read_verify_dir(root)
    if not v.ok:
        raise ArtifactError(f"{root} does not match its manifest:\n" + "\n".join(f"  {p}" for p in v.problems))
    tmp = out.with_name(f".{out.name}.tmp")
    with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel in (MANIFEST, *(f.path for f in v.manifest.files)):
            info = tar.gettarinfo(str(root / rel), arcname=rel)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            with open(root / rel, "rb") as fh:
                tar.addfile(info, fh)
    tmp.rename(out)
    return v.manifest


def read_manifest_sha256(root: Path) -> str:
    return hashlib.sha256((root / MANIFEST).read_bytes()).hexdigest()
