"""Downloading the official release layout once, on the operator, and checking every published sum.

``<base_url>/v<version>/bin/linux/<arch>/<binary>`` and ``<binary>.sha256`` beside it, as
dl.k8s.io serves them. Files land in a cache directory in the same layout; a partial download
resumes with an HTTP range request; a file is only renamed into place after its SHA-256 matched the
published sum, so a tampered binary or a tampered sum never reaches the cache, let alone a host.
When everything is there, the cache directory gets a ``manifest.json`` and is a ``dir`` source.

``parse_published_sum`` and ``check_sum`` are pure; ``fetch_*`` do network and file I/O (standard
library ``urllib``: one dependency less, and all we need is GET with a Range header).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from kubeward.artifacts.manifest import CHUNK, Manifest, read_file_entry, render_binary_path, write_manifest
from kubeward.errors import ArtifactError

Progress = Callable[[str], None]
TIMEOUT = 30.0


def parse_published_sum(text: str, url: str) -> str:
    """The hex digest of a ``.sha256`` file (``<hex>`` or ``<hex>  <name>``). Pure."""
    words = text.split()
    if not words or not re.fullmatch(r"[0-9a-fA-F]{64}", words[0]):
        raise ArtifactError(f"{url} is not a SHA-256 sum file (it starts with {text[:80]!r})")
    return words[0].lower()


def check_sum(name: str, published: str, actual: str, url: str) -> None:
    """Refuse a file whose SHA-256 differs from the published one, naming both. Pure."""
    if published != actual:
        raise ArtifactError(
            f"{name} from {url} does not match its published sum: published SHA-256 {published}, "
            f"downloaded file has {actual}; nothing was installed (the download was removed)"
        )


def render_release_url(base_url: str, version: str, arch: str, binary: str) -> str:
    return f"{base_url.rstrip('/')}/{render_binary_path(version, arch, binary)}"


def _open(url: str, offset: int = 0) -> http.client.HTTPResponse:
    req = urllib.request.Request(url, headers={"User-Agent": "kubeward"})
    if offset:
        req.add_header("Range", f"bytes={offset}-")
    try:
        resp: http.client.HTTPResponse = urllib.request.urlopen(req, timeout=TIMEOUT)
        return resp
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # the part file is already whole
            raise
        raise ArtifactError(f"GET {url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise ArtifactError(f"GET {url}: {exc}; check kubernetes.artifacts.base_url and the network") from exc


def fetch_text(url: str) -> str:
    with _open(url) as resp:
        data: bytes = resp.read(1 << 16)
    return data.decode(errors="replace")


def fetch_file(url: str, dest: Path, published: str, progress: Progress) -> None:
    """Download ``url`` to ``dest`` (resuming ``dest.part``), check its SHA-256 against
    ``published``, then rename it into place."""
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    offset = 0
    if part.exists():
        with open(part, "rb") as fh:
            for chunk in iter(lambda: fh.read(CHUNK), b""):
                h.update(chunk)
                offset += len(chunk)
    try:
        resp = _open(url, offset)
    except urllib.error.HTTPError:  # 416: nothing left to fetch
        resp = None
    if resp is not None:
        with resp:
            if offset and resp.status != 206:  # the server ignored Range: start over
                h, offset = hashlib.sha256(), 0
                mode = "wb"
            else:
                mode = "ab"
            total = offset + int(resp.headers.get("Content-Length") or 0)
            if offset:
                progress(f"resuming {dest.name} at {offset / 1e6:.1f} MB")
            step = max(total // 4, 8 << 20)
            mark = offset + step
            with open(part, mode) as out:
                for chunk in iter(lambda: resp.read(CHUNK), b""):
                    out.write(chunk)
                    h.update(chunk)
                    offset += len(chunk)
                    if offset >= mark:
                        progress(f"{dest.name}: {offset / 1e6:.0f}/{total / 1e6:.0f} MB")
                        mark += step
    try:
        check_sum(dest.name, published, h.hexdigest(), url)
    except ArtifactError:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, dest)


def fetch_release(
    base_url: str, version: str, arch: str, binaries: Sequence[str], cache: Path, progress: Progress = print
) -> tuple[Path, Manifest]:
    """Every binary and its ``.sha256`` in ``cache`` (downloaded only when missing or not matching),
    then a manifest; returns the directory, usable as a ``dir`` source."""
    key = hashlib.sha256(base_url.rstrip("/").encode()).hexdigest()[:12]
    root = cache / f"release-{version}-{key}"
    fetched = 0
    for binary in binaries:
        url = render_release_url(base_url, version, arch, binary)
        dest = root / render_binary_path(version, arch, binary)
        sum_path = Path(f"{dest}.sha256")
        if dest.is_file() and sum_path.is_file():
            published = parse_published_sum(sum_path.read_text(), str(sum_path))
            if read_file_entry(dest, dest.name).sha256 == published:
                continue
        published = parse_published_sum(fetch_text(url + ".sha256"), url + ".sha256")
        progress(f"downloading {url}")
        fetch_file(url, dest, published, progress)
        sum_path.write_text(published + "\n")
        fetched += 1
    if fetched == 0:
        progress(f"Kubernetes {version} {arch} release binaries already in {root}: nothing to download")
    return root, write_manifest(root, version, arch)
