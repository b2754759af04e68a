"""Building Kubernetes server binaries from Debian's source package, into a cache (I/O, root).

No registry reachable here ships Kubernetes server binaries; Debian bookworm's source package
``kubernetes`` is the complete v1.20.2 tree with ``vendor/``, so it builds offline. The result is a
cache entry in the ``dir`` layout (see ``kubeward.artifacts.manifest``)::

    /var/cache/kubeward/kubernetes/<version>-<key>/v<version>/bin/linux/<arch>/<binary>[.sha256]

``<key>`` hashes the Debian source version, the checksums of its files (the upstream tarball and
the Debian patch set) and the build parameters, so another patch set builds into another entry.
The build runs in a temporary directory beside the cache and is renamed into place when complete,
under a file lock, so a crash or a concurrent run never leaves half an entry.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from kubeward.errors import ArtifactError

Progress = Callable[[str], None]

DEFAULT_CACHE = Path(os.environ.get("KUBEWARD_ARTIFACT_CACHE", "/var/cache/kubeward/kubernetes"))
DEB_SRC_FILE = Path("/etc/apt/sources.list.d/kubeward-deb-src.sources")
DEBIAN_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")

#: every server binary kubeward installs, in build order
BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl")

#: Debian packages the build needs on this machine
HEARTBEAT_SECONDS = 60.0
BUILD_PACKAGES = ("golang-go", "rsync", "jq", "make", "dpkg-dev", "gcc", "busybox-static")


@dataclass(frozen=True)
class VendorFix:
    """A vendored Go module replaced by a newer release's source from a Debian package.

    The v1.20.2 tree vendors ``modern-go/reflect2`` v1.0.1, which breaks under the Go of bookworm
    (1.19): from Go 1.18 on its map iterator resolves types through a runtime symbol that changed,
    and kube-apiserver panics (nil pointer in ``reflect2.(*frozenConfig).Type2`` from
    ``UnsafeMapType.Key``) while encoding some responses and audit events, which clients see as
    ``stream error: INTERNAL_ERROR`` or a dropped connection. v1.0.2 fixes exactly that (Kubernetes
    itself moved to it for Go 1.18) and keeps the API."""

    module: str
    old: str
    new: str
    deb_package: str
    #: where the Debian package installs the module's source
    source: Path


VENDOR_FIXES: tuple[VendorFix, ...] = (
    VendorFix("github.com/modern-go/reflect2", "v1.0.1", "v1.0.2", "golang-github-modern-go-reflect2-dev",
              Path("/usr/share/gocode/src/github.com/modern-go/reflect2")),
)


@dataclass(frozen=True)
class DebianSource:
    package: str
    suite: str
    #: the Debian version string must start with this (bookworm's is 1.20.5+really1.20.2-N)
    version_prefix: str


#: upstream version -> where its source comes from (a table, not branches)
SOURCES: dict[str, DebianSource] = {
    "1.20.2": DebianSource(package="kubernetes", suite="bookworm", version_prefix="1.20.5+really1.20.2"),
}


def host_arch() -> str:
    return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True, check=True).stdout.strip()


def _run(argv: Sequence[str], *, what: str, cwd: Path | None = None, env: dict[str, str] | None = None,
         timeout: float = 600) -> str:
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout,
                              check=False)
    except FileNotFoundError as exc:
        raise ArtifactError(f"{what}: {argv[0]} is not installed on this machine") from exc
    if proc.returncode != 0:
        detail = (proc.stderr.strip() or proc.stdout.strip())[-2000:]
        raise ArtifactError(f"{what} failed (exit {proc.returncode}): {detail}")
    return proc.stdout


def render_deb_src(debian_sources: str, suite: str) -> str:
    """A deb822 ``deb-src`` stanza for ``suite`` built from the machine's own ``debian.sources``
    (same mirror and keyring; a snapshot mirror stays a snapshot mirror). Pure."""
    for stanza in re.split(r"\n\s*\n", debian_sources):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line:
                continue
            k, v = line.split(":", 1)
            fields[k.strip()] = v.strip()
        if suite in fields.get("Suites", "").split() and "deb" in fields.get("Types", "").split():
            out = ["Types: deb-src", f"URIs: {fields['URIs']}", f"Suites: {suite}",
                   f"Components: {fields.get('Components', 'main')}"]
            if "Signed-By" in fields:
                out.append(f"Signed-By: {fields['Signed-By']}")
            return "\n".join(out) + "\n"
    raise ArtifactError(f"no `deb` source for {suite} in the machine's apt sources; add one to {DEBIAN_SOURCES}")


def write_deb_src(suite: str, progress: Progress) -> bool:
    """Make sure apt knows a ``deb-src`` line for ``suite``; returns True when it wrote one."""
    text = render_deb_src(DEBIAN_SOURCES.read_text(), suite)
    if DEB_SRC_FILE.exists() and DEB_SRC_FILE.read_text() == text:
        return False
    progress(f"writing {DEB_SRC_FILE} (deb-src for {suite})")
    tmp = DEB_SRC_FILE.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.rename(DEB_SRC_FILE)
    return True


def _missing_packages(packages: Sequence[str]) -> list[str]:
    missing = []
    for p in packages:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True, check=False)
        if "install ok installed" not in r.stdout:
            missing.append(p)
    return missing


def install_build_packages(progress: Progress, packages: Sequence[str] = BUILD_PACKAGES) -> None:
    missing = _missing_packages(packages)
    if not missing:
        return
    progress(f"installing Debian packages: {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    _run(["apt-get", "update", "-qq"], what="apt-get update", env=env)
    _run(["apt-get", "install", "-y", "-qq", *missing], what="apt-get install", env=env, timeout=1800)


def parse_showsrc(text: str, version_prefix: str) -> tuple[str, list[str]]:
    """(Debian version, its ``Checksums-Sha256`` lines) of the newest record of ``apt-cache showsrc``
    whose version starts with ``version_prefix``. Pure."""
    found: list[tuple[str, list[str]]] = []
    for record in re.split(r"\n\s*\n", text):
        m = re.search(r"^Version: (\S+)$", record, re.M)
        if not m or not m.group(1).startswith(version_prefix):
            continue
        sums: list[str] = []
        block = re.search(r"^Checksums-Sha256:\n((?: .*\n?)+)", record, re.M)
        if block:
            sums = sorted(line.strip() for line in block.group(1).splitlines() if line.strip())
        found.append((m.group(1), sums))
    if not found:
        raise ArtifactError(f"no Debian source version {version_prefix}* in `apt-cache showsrc`")
    return sorted(found)[-1]


def render_cache_key(version: str, debian_version: str, sums: Sequence[str], arch: str,
                     binaries: Sequence[str] = BINARIES, fixes: Sequence[str] = ()) -> str:
    """``<version>-<12 hex>``: the upstream version and a hash of everything that decides the bytes. Pure."""
    h = hashlib.sha256()
    for part in (debian_version, *sums, arch, *binaries, "CGO_ENABLED=0", *fixes):
        h.update(part.encode() + b"\0")
    return f"{version}-{h.hexdigest()[:12]}"


def vendor_fix_ids() -> list[str]:
    """Each vendor fix with the Debian version of the source it uses (part of the cache key)."""
    out = []
    for f in VENDOR_FIXES:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", f.deb_package], capture_output=True, text=True,
                           check=False)
        out.append(f"{f.module}@{f.new}={r.stdout.strip() or 'missing'}")
    return out


def rewrite_module_version(text: str, module: str, old: str, new: str) -> str:
    """``module old`` -> ``module new`` in a go.mod or vendor/modules.txt (pure); an error if absent."""
    pattern = re.compile(rf"(^|\s){re.escape(module)} {re.escape(old)}(?=\s|$)", re.M)
    if not pattern.search(text):
        raise ArtifactError(f"{module} {old} not found where the vendor fix expects it: the source tree "
                            "changed; review kubeward.artifacts.build.VENDOR_FIXES")
    return pattern.sub(lambda m: f"{m.group(1)}{module} {new}", text)


def apply_vendor_fixes(tree: Path, progress: Progress) -> None:
    """Replace each vendored module of ``VENDOR_FIXES`` by its Debian source, and say so in go.mod
    and vendor/modules.txt (which ``go build -mod=vendor`` checks against each other)."""
    for f in VENDOR_FIXES:
        if not (f.source / "go.mod").is_file():
            raise ArtifactError(f"{f.source} is missing: install {f.deb_package} (kubeward artifacts build does)")
        dst = tree / "vendor" / f.module
        if not dst.is_dir():
            raise ArtifactError(f"{dst} is missing: the source tree no longer vendors {f.module}")
        shutil.rmtree(dst)
        shutil.copytree(f.source, dst, ignore=shutil.ignore_patterns("*_test.go", "test*", "tests"))
        for name in ("go.mod", "vendor/modules.txt"):
            path = tree / name
            path.write_text(rewrite_module_version(path.read_text(), f.module, f.old, f.new))
        progress(f"vendored {f.module} {f.old} replaced by {f.new} from {f.deb_package} (Go 1.18+ fix)")


def binary_dir(entry: Path, version: str, arch: str) -> Path:
    return entry / f"v{version}" / "bin" / "linux" / arch


@contextmanager
def cache_lock(cache: Path) -> Iterator[None]:
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def resolve_source(version: str, progress: Progress) -> tuple[str, str, list[str]]:
    """(source package, Debian version, checksums) for ``version``, configuring deb-src if needed."""
    src = SOURCES.get(version)
    if src is None:
        raise ArtifactError(f"no Debian source known for Kubernetes {version}; known: {', '.join(SOURCES)}")
    wrote = write_deb_src(src.suite, progress)
    text = ""
    if not wrote:
        r = subprocess.run(["apt-cache", "showsrc", src.package], capture_output=True, text=True, check=False)
        text = r.stdout if r.returncode == 0 else ""
    if src.version_prefix not in text:
        progress("apt-get update (source indexes)")
        _run(["apt-get", "update", "-qq"], what="apt-get update")
        text = _run(["apt-cache", "showsrc", src.package], what="apt-cache showsrc")
    debian_version, sums = parse_showsrc(text, src.version_prefix)
    return src.package, debian_version, sums


def find_entry(version: str, cache: Path = DEFAULT_CACHE) -> Path | None:
    """The newest complete cache entry for ``version`` (no apt calls; for readers such as the lab)."""
    entries = sorted((p for p in cache.glob(f"{version}-*") if (p / "manifest.json").is_file()),
                     key=lambda p: p.stat().st_mtime)
    return entries[-1] if entries else None


def _stream(argv: Sequence[str], *, cwd: Path, env: dict[str, str], progress: Progress, log: Path) -> None:
    """Run a long command, passing its lines on as progress (and keeping them all in ``log``)."""
    start = time.monotonic()
    done = threading.Event()

    def heartbeat() -> None:  # make is silent for minutes while the big binaries link
        while not done.wait(HEARTBEAT_SECONDS):
            progress(f"[{time.monotonic() - start:5.0f} s] still building (log: {log})")

    beat = threading.Thread(target=heartbeat, daemon=True)
    beat.start()
    try:
        _stream_lines(argv, cwd=cwd, env=env, progress=progress, log=log, start=start)
    finally:
        done.set()
        beat.join()


def _stream_lines(argv: Sequence[str], *, cwd: Path, env: dict[str, str], progress: Progress, log: Path,
                  start: float) -> None:
    with open(log, "w", buffering=1) as logf, subprocess.Popen(
        list(argv), cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            logf.write(line)
            line = line.rstrip()
            if line.startswith(("+++", "!!!")) or "error" in line.lower():
                progress(f"[{time.monotonic() - start:5.0f} s] {line}")
        rc = proc.wait()
    if rc != 0:
        tail = log.read_text()[-3000:]
        raise ArtifactError(f"{' '.join(argv)} failed (exit {rc}) after {time.monotonic() - start:.0f} s; "
                            f"log {log}:\n{tail}")


def write_sha256_file(path: Path) -> str:
    """Write ``<path>.sha256`` holding the hex digest only, as dl.k8s.io does; returns the digest."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    digest = h.hexdigest()
    Path(f"{path}.sha256").write_text(digest + "\n")
    return digest


def build_binaries(version: str = "1.20.2", cache: Path = DEFAULT_CACHE, progress: Progress = print) -> Path:
    """Build ``BINARIES`` for ``version`` into the cache unless an entry exists; returns the entry."""
    if os.geteuid() != 0:
        raise ArtifactError("building Kubernetes installs Debian packages and writes /var/cache: run it as root")
    install_build_packages(progress, (*BUILD_PACKAGES, *(f.deb_package for f in VENDOR_FIXES)))
    package, debian_version, sums = resolve_source(version, progress)
    arch = host_arch()
    key = render_cache_key(version, debian_version, sums, arch, fixes=vendor_fix_ids())
    entry = cache / key
    if binary_dir(entry, version, arch).is_dir():
        progress(f"Kubernetes {version} ({package} {debian_version}) already built in {entry}: nothing to do")
        return entry
    with cache_lock(cache):
        if binary_dir(entry, version, arch).is_dir():
            progress(f"Kubernetes {version} was built by another run meanwhile in {entry}: nothing to do")
            return entry
        work = cache / f".build-{key}-{os.getpid()}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        try:
            _build_into(work, entry, package, debian_version, version, arch, progress)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return entry


def _build_into(work: Path, entry: Path, package: str, debian_version: str, version: str, arch: str,
                progress: Progress) -> None:
    start = time.monotonic()
    progress(f"fetching and unpacking {package} {debian_version} (Debian patches applied by dpkg-source)")
    _run(["apt-get", "source", "-qq", f"{package}={debian_version}"], what="apt-get source", cwd=work,
         timeout=1800)
    trees = [p for p in work.iterdir() if p.is_dir() and p.name.startswith(f"{package}-")]
    if len(trees) != 1:
        raise ArtifactError(f"apt-get source left {len(trees)} source trees in {work}, expected one")
    tree = trees[0]
    apply_vendor_fixes(tree, progress)
    env = {
        "PATH": "/usr/lib/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(work), "GOCACHE": str(work / "gocache"), "GOPROXY": "off",
        "CGO_ENABLED": "0", "GOARCH": arch, "LANG": "C.UTF-8",
    }
    what = " ".join(f"cmd/{b}" for b in BINARIES)
    progress(f"make WHAT=\"{what}\" (CGO_ENABLED=0, offline; several minutes on 2 cores)")
    _stream(["make", f"WHAT={what}"], cwd=tree, env=env, progress=progress,
            log=entry.parent / f"build-{entry.name}.log")
    built = tree / "_output" / "local" / "bin" / "linux" / arch
    if not built.is_dir():
        built = tree / "_output" / "bin"
    staged = work / "entry"
    out = binary_dir(staged, version, arch)
    out.mkdir(parents=True)
    for b in BINARIES:
        src = built / b
        if not src.is_file():
            raise ArtifactError(f"make finished but {src} is missing")
        dst = out / b
        shutil.move(str(src), dst)
        dst.chmod(0o755)
        write_sha256_file(dst)
    (staged / "BUILD-INFO").write_text(
        f"version: {version}\ndebian-source: {package} {debian_version}\narch: {arch}\n"
        + "".join(f"vendor-fix: {fix}\n" for fix in vendor_fix_ids())
        + f"build-seconds: {time.monotonic() - start:.0f}\n"
    )
    staged.rename(entry)
    sizes = ", ".join(f"{b} {(binary_dir(entry, version, arch) / b).stat().st_size / 1e6:.0f} MB" for b in BINARIES)
    progress(f"built Kubernetes {version} in {time.monotonic() - start:.0f} s into {entry}: {sizes}")
