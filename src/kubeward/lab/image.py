"""The lab's cached node image and its lab-local Debian package repository.

The image is a debootstrapped Debian 12 (bookworm) tree with systemd, openssh-server, sudo,
nftables, iproute2 and python3, prepared to boot as a container (no host keys, no machine-id,
consoles masked) with a bootstrap user ``debian`` that has passwordless sudo.

Nodes have no route off this machine, so the packages kubeward installs later (etcd, containerd,
runc, CNI plugins, ...) are downloaded once here, on the host, into a flat APT repository that each
node mounts read-only at ``/srv/kubeward-repo`` and lists as its only apt source. Nothing in that
list is pre-installed in the image: kubeward's package steps really install them.

Both live under ``<cache>/images/<key>/`` where ``key`` hashes the recipe, so a changed recipe builds
a new image and an unchanged one is reused. Builds are atomic (built aside, then renamed) and
serialised by a lock, so two labs coming up at once build it once.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from kubeward.errors import LabError
from kubeward.lab import sh

SUITE = "bookworm"
IMAGE_PACKAGES = (
    "systemd", "systemd-sysv", "dbus", "openssh-server", "sudo", "iproute2", "nftables", "python3",
    "ca-certificates", "netbase", "procps", "kmod",
)
#: what the lab repository serves (with dependencies): what kubeward installs on nodes
REPO_PACKAGES = (
    "etcd-server", "etcd-client", "containerd", "runc", "containernetworking-plugins",
    "iptables", "conntrack", "socat", "ethtool", "curl", "jq", "openssl", "less", "vim-tiny",
    "bash-completion",
    # what Kubernetes nodes need (kube-proxy in iptables mode, the kubelet's hostport/conntrack
    # handling) and the node-local API proxy
    "ipset", "ebtables", "haproxy",
)
LAB_USER = "debian"
LAB_UID = 1000
REPO_MOUNT = "/srv/kubeward-repo"
#: bump when the preparation steps below change, so cached images are rebuilt
RECIPE_VERSION = 3
DEFAULT_MIRROR = "http://deb.debian.org/debian"

PREPARE_SCRIPT = r"""
set -eu
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
# host keys and machine-id are per node: the lab writes them into each node's own layer
rm -f /etc/ssh/ssh_host_*
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
# a node is a container: no consoles, no periodic jobs reaching out to the internet
systemctl mask console-getty.service getty.target apt-daily.timer apt-daily-upgrade.timer \
  e2scrub_all.timer e2scrub_reap.service fstrim.timer dpkg-db-backup.timer systemd-pstore.service \
  >/dev/null 2>&1 || true
# the bootstrap user, as on a cloud image: passwordless sudo, key-only (its key is per lab)
id -u {user} >/dev/null 2>&1 || useradd --create-home --shell /bin/bash --uid {uid} --user-group {user}
usermod -aG sudo {user}
passwd -l {user} >/dev/null
echo '{user} ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/90-kubeward-lab
chmod 0440 /etc/sudoers.d/90-kubeward-lab
# only the ed25519 host key exists on lab nodes
printf 'HostKey /etc/ssh/ssh_host_ed25519_key\n' > /etc/ssh/sshd_config.d/00-kubeward-lab-hostkey.conf
printf 'Acquire::Languages "none";\n' > /etc/apt/apt.conf.d/90kubeward-lab
"""

REPO_SCRIPT = r"""
set -eu
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
apt-get update -qq
rm -f /var/cache/apt/archives/*.deb
apt-get install -y -qq --download-only --no-install-recommends {packages}
"""

SWITCH_SOURCES_SCRIPT = r"""
set -eu
apt-get clean
rm -rf /var/lib/apt/lists/*
rm -f /etc/apt/sources.list.d/*
echo 'deb [trusted=yes] file:{mount} ./' > /etc/apt/sources.list
"""


@dataclass(frozen=True)
class Image:
    key: str
    root: Path  # <cache>/images/<key>

    @property
    def rootfs(self) -> Path:
        return self.root / "rootfs"

    @property
    def repo(self) -> Path:
        return self.root / "repo"

    @property
    def complete(self) -> bool:
        return (self.root / ".complete").exists()

    def repo_packages(self) -> list[str]:
        """Names of the packages the lab repository serves."""
        text = (self.repo / "Packages").read_text()
        return sorted(set(re.findall(r"^Package: (\S+)$", text, re.M)))


def cache_dir() -> Path:
    return Path(os.environ.get("KUBEWARD_CACHE", "/var/cache/kubeward"))


def recipe_key() -> str:
    recipe = {
        "suite": SUITE,
        "image": IMAGE_PACKAGES,
        "repo": REPO_PACKAGES,
        "user": [LAB_USER, LAB_UID],
        "version": RECIPE_VERSION,
        "prepare": PREPARE_SCRIPT,
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]


def current_image() -> Image:
    key = recipe_key()
    return Image(key=key, root=cache_dir() / "images" / key)


def parse_debian_mirror(sources: dict[str, str]) -> str:
    """The Debian archive URL from apt source files (name -> text), deb822 or one-line format."""
    for _name, text in sorted(sources.items()):
        for stanza in re.split(r"\n\s*\n", text):
            fields = dict(re.findall(r"^(\w[\w-]*):\s*(.*)$", stanza, re.M))
            suites = fields.get("Suites", "").split()
            enabled = fields.get("Enabled", "yes").strip().lower() not in ("no", "false", "0")
            if enabled and "deb" in fields.get("Types", "").split() and SUITE in suites:
                for uri in fields.get("URIs", "").split():
                    return str(uri).rstrip("/")
        for line in text.splitlines():
            m = re.match(r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
            if m and m.group(2) == SUITE:
                return m.group(1).rstrip("/")
    return DEFAULT_MIRROR


def read_debian_mirror() -> str:
    sources: dict[str, str] = {}
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        if path.is_file() and path.suffix in ("", ".list", ".sources"):
            sources[str(path)] = path.read_text(errors="replace")
    return parse_debian_mirror(sources)


def _chroot(rootfs: Path, script: str, log: Path, what: str, timeout: float = 900) -> None:
    """Run a shell script in the image with /proc mounted in a private mount namespace."""
    wrapper = (
        f"mount -t proc proc {rootfs}/proc && trap 'umount -l {rootfs}/proc' EXIT && "
        f"chroot {rootfs} /bin/sh -s"
    )
    proc = sh.run(
        ["unshare", "--mount", "--propagation", "private", "--fork", "--pid", "/bin/sh", "-c", wrapper],
        input=script,
        check=False,
        timeout=timeout,
        what=what,
    )
    with open(log, "a") as fh:
        fh.write(f"\n### {what}\n{proc.stdout}\n{proc.stderr}\n")
    if proc.returncode != 0:
        raise LabError(f"lab image build failed while trying to {what} (exit {proc.returncode}); see {log}")


def build_image(progress: object = None, mirror: str | None = None) -> Image:
    """Return the cached image, building it first (debootstrap + repository) when needed."""
    sh.require_root()
    image = current_image()
    if image.complete:
        return image
    sh.require_tools("debootstrap", "apt-ftparchive", "unshare", "chroot")
    with sh.locked(cache_dir() / "images" / ".lock"):
        if image.complete:  # built by another process while we waited
            return image
        _say(progress, f"building the lab image {image.key} (debootstrap {SUITE}, about a minute)")
        mirror = mirror or read_debian_mirror()
        work = image.root.with_name(f"{image.key}.build")
        log = image.root.with_name(f"{image.key}.log")
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        log.write_text(f"kubeward lab image {image.key} from {mirror}\n")
        rootfs = work / "rootfs"
        started = time.monotonic()
        with open(log, "a") as fh:
            proc = sh.run(
                ["debootstrap", "--variant=minbase", f"--include={','.join(IMAGE_PACKAGES)}", SUITE,
                 str(rootfs), mirror],
                check=False,
                timeout=1800,
                what="debootstrap",
            )
            fh.write(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            raise LabError(
                f"debootstrap of Debian {SUITE} from {mirror} failed (exit {proc.returncode}); "
                f"see {log} and {rootfs}/debootstrap/debootstrap.log"
            )
        _chroot(rootfs, PREPARE_SCRIPT.format(user=LAB_USER, uid=LAB_UID), log, "prepare the image")
        _say(progress, "downloading the lab repository packages")
        _chroot(rootfs, REPO_SCRIPT.format(packages=" ".join(REPO_PACKAGES)), log, "download repository packages")
        repo = work / "repo"
        repo.mkdir()
        for deb in (rootfs / "var/cache/apt/archives").glob("*.deb"):
            shutil.move(str(deb), repo / deb.name)
        packages = sh.run(["apt-ftparchive", "packages", "."], what="index the lab repository",
                          cwd=repo, timeout=300)
        (repo / "Packages").write_text(packages.stdout)
        release = sh.run(["apt-ftparchive", "release", str(repo)], what="index the lab repository")
        (repo / "Release").write_text(release.stdout)
        _chroot(rootfs, SWITCH_SOURCES_SCRIPT.format(mount=REPO_MOUNT), log, "point apt at the lab repository")
        (work / "image.json").write_text(
            json.dumps({"key": image.key, "suite": SUITE, "mirror": mirror, "built": time.time(),
                        "seconds": round(time.monotonic() - started, 1)}, indent=2)
        )
        (work / ".complete").touch()
        shutil.rmtree(image.root, ignore_errors=True)
        work.rename(image.root)
        _say(progress, f"lab image ready in {time.monotonic() - started:.0f} s")
    return image


def _say(progress: object, message: str) -> None:
    if callable(progress):
        progress(message)
