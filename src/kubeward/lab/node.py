"""One lab node: boot it, stop it, run a command in it.

A node is systemd as PID 1 in its own network (made beforehand with ``ip netns``), mount, UTS, IPC,
PID and cgroup namespaces, over an overlay whose lower layer is the cached image and whose upper
layer is the node's own directory on this machine's disk (so a stopped node keeps its disk).

Everything a node mounts lives in its private mount namespace, so the kernel unmounts it all when
the node's last process exits: a killed node leaks no mount. Each node gets its own cgroup in every
v1 hierarchy (and in the unified one) under the cgroup of whoever booted it; the cgroup namespace
makes that the node's root, so systemd and containerd inside see every controller, including
``cpu`` and ``cpuacct`` which this kernel mounts apart (systemd alone would only co-mount them).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from kubeward.errors import LabError
from kubeward.lab import sh
from kubeward.lab.image import REPO_MOUNT, Image

#: host directories bind-mounted per node: containerd's overlayfs snapshotter and the kubelet
#: cannot work on the node's overlay root
DATA_MOUNTS = ("containerd", "kubelet")

#: sysctls that are the *host's* inside a node (not namespaced), shown to the node as read-only
#: files with the values the kubelet's protectKernelDefaults expects: the kubelet then starts with
#: protectKernelDefaults: true, and nothing in a node can change the host's kernel settings
SHIELDED_SYSCTLS: tuple[tuple[str, str], ...] = (
    ("vm/overcommit_memory", "1"),
    ("vm/panic_on_oom", "0"),
    ("kernel/panic", "10"),
    ("kernel/panic_on_oops", "1"),
    ("kernel/keys/root_maxkeys", "1000000"),
    ("kernel/keys/root_maxbytes", "25000000"),
)
#: how long the boot script may take to exec systemd
BOOT_EXEC_TIMEOUT = 60.0
NODE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class CgroupHierarchy:
    name: str  # directory name under /sys/fs/cgroup in the node
    kind: str  # "cgroup" (v1) or "cgroup2"
    options: str  # mount options, e.g. "memory" or "none,name=systemd"
    parent: str  # path of the booting process in this hierarchy


def parse_cgroup_hierarchies(proc_cgroups: str, proc_self_cgroup: str) -> list[CgroupHierarchy]:
    """Every enabled v1 controller (each on its own), name=systemd and the unified hierarchy.

    ``proc_self_cgroup`` gives where the booting process sits, so nodes nest under it (and stay
    inside any memory limit the machine puts on their creator).
    """
    where: dict[str, str] = {}
    for line in proc_self_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _hid, controllers, path = parts
        for c in controllers.split(",") if controllers else ["unified"]:
            where[c] = path
    out: list[CgroupHierarchy] = []
    for line in proc_cgroups.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        fields = line.split()
        if len(fields) >= 4 and fields[3] == "1":
            c = fields[0]
            out.append(CgroupHierarchy(c, "cgroup", c, where.get(c, "/")))
    out.append(CgroupHierarchy("systemd", "cgroup", "none,name=systemd", where.get("name=systemd", "/")))
    out.append(CgroupHierarchy("unified", "cgroup2", "", where.get("unified", "/")))
    return out


def read_cgroup_hierarchies() -> list[CgroupHierarchy]:
    return parse_cgroup_hierarchies(Path("/proc/cgroups").read_text(), Path("/proc/self/cgroup").read_text())


def _mount_cmd(h: CgroupHierarchy, target: str) -> str:
    if h.kind == "cgroup2":
        return f"mount -t cgroup2 cgroup2 {target}"
    return f"mount -t cgroup -o {h.options} cgroup {target}"


@dataclass(frozen=True)
class NodeSpec:
    """What booting needs to know about a node (derived from the lab's plan and directories)."""

    lab: str
    name: str
    netns: str
    dir: Path  # <lab>/nodes/<name>

    @property
    def cgroup_name(self) -> str:
        return f"kubeward-{self.lab}-{self.name}"

    @property
    def upper(self) -> Path:
        return self.dir / "upper"

    @property
    def work(self) -> Path:
        return self.dir / "work"

    @property
    def merged(self) -> Path:
        return self.dir / "merged"

    @property
    def data(self) -> Path:
        return self.dir / "data"

    @property
    def cgroups_file(self) -> Path:
        return self.dir / "cgroups.json"

    @property
    def boot_log(self) -> Path:
        return self.dir / "boot.log"


def render_boot_script(spec: NodeSpec, image: Image, hierarchies: list[CgroupHierarchy]) -> str:
    """The shell run (as PID 1 of the node's new PID namespace) to mount the node and exec systemd."""
    m = str(spec.merged)
    lines = [
        "set -eux",  # the boot log shows the last step of a node that failed to boot
        f"M={m}",
        f"mount -t overlay overlay -o lowerdir={image.rootfs},upperdir={spec.upper},workdir={spec.work} $M",
        f"mkdir -p $M{REPO_MOUNT}",
        f"mount --bind {image.repo} $M{REPO_MOUNT}",
        f"mount -o remount,bind,ro $M{REPO_MOUNT}",
    ]
    for d in DATA_MOUNTS:
        lines += [f"mkdir -p {spec.data}/{d} $M/var/lib/{d}", f"mount --bind {spec.data}/{d} $M/var/lib/{d}"]
    lines += [
        "mount -t proc proc $M/proc",
        f"mkdir -p {spec.dir}/sysctl",
    ]
    for key, value in SHIELDED_SYSCTLS:
        f = f"{spec.dir}/sysctl/{key.replace('/', '.')}"
        lines += [f"echo {value} > {f}", f"mount --bind {f} $M/proc/sys/{key}",
                  f"mount -o remount,bind,ro $M/proc/sys/{key}"]
    lines += [
        "mount -t sysfs -o ro,nosuid,nodev,noexec sysfs $M/sys",
        "mount -t tmpfs -o mode=755,nosuid,nodev,noexec cgroup $M/sys/fs/cgroup",
    ]
    for h in hierarchies:
        lines += [f"mkdir -p $M/sys/fs/cgroup/{h.name}", _mount_cmd(h, f"$M/sys/fs/cgroup/{h.name}")]
    lines += [
        "mount -o remount,ro,nosuid,nodev,noexec,mode=755 $M/sys/fs/cgroup",
        # a minimal /dev of our own rather than the host's disks and consoles
        "mount -t tmpfs -o mode=755,nosuid dev $M/dev",
        "mknod -m 666 $M/dev/null c 1 3; mknod -m 666 $M/dev/zero c 1 5; mknod -m 666 $M/dev/full c 1 7",
        "mknod -m 666 $M/dev/random c 1 8; mknod -m 666 $M/dev/urandom c 1 9; mknod -m 666 $M/dev/tty c 5 0",
        "mkdir -p $M/dev/pts $M/dev/shm $M/dev/net",
        "mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 devpts $M/dev/pts",
        "ln -s pts/ptmx $M/dev/ptmx",
        "mount -t tmpfs -o mode=1777,nosuid,nodev shm $M/dev/shm",
        "ln -s /proc/self/fd $M/dev/fd; ln -s /proc/self/fd/0 $M/dev/stdin",
        "ln -s /proc/self/fd/1 $M/dev/stdout; ln -s /proc/self/fd/2 $M/dev/stderr",
        "touch $M/dev/console && mount --bind /dev/null $M/dev/console",
        "if [ -c /dev/kmsg ]; then touch $M/dev/kmsg && mount --bind /dev/kmsg $M/dev/kmsg; fi",
        "if [ -c /dev/net/tun ]; then touch $M/dev/net/tun && mount --bind /dev/net/tun $M/dev/net/tun; fi",
        "mount -t tmpfs -o mode=755,nosuid,nodev run $M/run",
        "mount -t tmpfs -o mode=1777,nosuid,nodev tmp $M/tmp",
        f"hostname {spec.name}",
        "cd $M && mkdir -p .kubeward-oldroot && pivot_root . .kubeward-oldroot",
        "umount -l /.kubeward-oldroot && rmdir /.kubeward-oldroot",
        f"exec env -i container=other PATH={NODE_PATH} /lib/systemd/systemd",
    ]
    return "\n".join(lines) + "\n"


def render_enter_cgroups_script(spec: NodeSpec, hierarchies: list[CgroupHierarchy]) -> str:
    """Shell (in a private mount namespace) that creates the node's cgroups and moves itself in."""
    lines = ["set -eux", "T=$(mktemp -d /tmp/kubeward-cg.XXXXXX)"]
    for h in hierarchies:
        target = f"$T/{h.name}"
        path = f"{target}{h.parent.rstrip('/')}/{spec.cgroup_name}"
        lines += [
            f"mkdir -p {target}",
            _mount_cmd(h, target),
            f"mkdir -p {path}",
            # a new cpuset cgroup starts with no CPUs and no memory nodes: inherit its parent's
            f"if [ -f {path}/cpuset.cpus ]; then cat {path}/../cpuset.cpus > {path}/cpuset.cpus; "
            f"cat {path}/../cpuset.mems > {path}/cpuset.mems; fi",
            f"echo $$ > {path}/cgroup.procs",
            f"umount {target}",
        ]
    lines.append("rm -rf $T")
    return "\n".join(lines) + "\n"


def render_remove_cgroups_script(spec: NodeSpec, hierarchies: list[CgroupHierarchy]) -> str:
    """Shell (in a private mount namespace) removing the node's cgroups, deepest first."""
    lines = ["T=$(mktemp -d /tmp/kubeward-cg.XXXXXX)"]
    for h in hierarchies:
        target = f"$T/{h.name}"
        path = f"{target}{h.parent.rstrip('/')}/{spec.cgroup_name}"
        lines += [
            f"mkdir -p {target}",
            f"if {_mount_cmd(h, target)} 2>/dev/null; then",
            f"  [ -d {path} ] && find {path} -depth -type d -exec rmdir {{}} + 2>/dev/null",
            f"  umount {target}",
            "fi",
        ]
    lines.append("rm -rf $T")
    return "\n".join(lines) + "\n"


def boot(spec: NodeSpec, image: Image) -> tuple[int, int]:
    """Start the node. Returns (launcher pid, host pid of the node's systemd)."""
    for d in (spec.upper, spec.work, spec.merged, *(spec.data / x for x in DATA_MOUNTS)):
        d.mkdir(parents=True, exist_ok=True)
    hierarchies = read_cgroup_hierarchies()
    # remembered so that whoever stops the node later (from any cgroup) removes the right cgroups
    spec.cgroups_file.write_text(json.dumps([asdict(h) for h in hierarchies]))
    enter = render_enter_cgroups_script(spec, hierarchies)
    boot_script = render_boot_script(spec, image, hierarchies)
    (spec.dir / "boot.sh").write_text(boot_script)
    launcher = (
        f"{enter}\n"
        f"exec nsenter --net=/run/netns/{spec.netns} -- "
        f"unshare --uts --ipc --pid --cgroup --fork --kill-child -- /bin/sh {spec.dir / 'boot.sh'}\n"
    )
    with open(spec.boot_log, "ab") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", launcher],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    deadline = time.monotonic() + BOOT_EXEC_TIMEOUT
    while time.monotonic() < deadline:
        child = _systemd_child(proc.pid)
        if child is not None:
            return proc.pid, child
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    tail = spec.boot_log.read_text(errors="replace")[-1500:] if spec.boot_log.exists() else ""
    alive = proc.poll() is None
    kill_tree(proc.pid)
    why = (f"systemd did not start within {BOOT_EXEC_TIMEOUT:.0f} s (is the machine overloaded?)" if alive
           else f"its boot script exited with status {proc.returncode}")
    raise LabError(f"node {spec.name} did not boot: {why}; see {spec.boot_log}:\n{tail}")


def _systemd_child(launcher: int) -> int | None:
    """Host pid of the launcher's child once it has exec'd systemd."""
    try:
        children = Path(f"/proc/{launcher}/task/{launcher}/children").read_text().split()
    except OSError:
        return None
    for c in children:
        try:
            exe = os.readlink(f"/proc/{c}/exe")
        except OSError:
            continue
        if exe.endswith("/systemd"):
            return int(c)
    return None


def is_alive(pid: int, netns: str) -> bool:
    """Whether ``pid`` is still the node's systemd.

    PIDs wrap quickly on a busy machine (pid_max may be 32768), so a recorded pid alone could name
    another lab's systemd by now: the process must also live in the node's network namespace.
    """
    if pid <= 0:
        return False
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
        same_ns = os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(f"/run/netns/{netns}").st_ino
    except OSError:
        return False
    return exe.endswith("/systemd") and same_ns


def kill_tree(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def stop(spec: NodeSpec, launcher: int | None, systemd: int | None, *, graceful: float = 10.0) -> None:
    """Power the node off (systemd poweroff, then SIGKILL after ``graceful`` s) and free its cgroups.

    Killing PID 1 of a PID namespace kills every process in it, and the node's mount namespace,
    with all its mounts, goes with its last process.
    """
    if systemd and is_alive(systemd, spec.netns):
        if graceful > 0:
            os.kill(systemd, signal.SIGRTMIN + 4)  # systemd: poweroff
            deadline = time.monotonic() + graceful
            while time.monotonic() < deadline and is_alive(systemd, spec.netns):
                time.sleep(0.05)
        if is_alive(systemd, spec.netns):
            kill_tree(systemd)
    deadline = time.monotonic() + 5
    while systemd and is_alive(systemd, spec.netns) and time.monotonic() < deadline:
        time.sleep(0.02)
    if launcher:
        _reap(launcher, 5)
    remove_cgroups(spec)


def booted_hierarchies(spec: NodeSpec) -> list[CgroupHierarchy]:
    """The cgroup hierarchies the node was booted into (as recorded at boot)."""
    try:
        return [CgroupHierarchy(**h) for h in json.loads(spec.cgroups_file.read_text())]
    except (OSError, ValueError, TypeError):
        return read_cgroup_hierarchies()


def remove_cgroups(spec: NodeSpec) -> None:
    script = render_remove_cgroups_script(spec, booted_hierarchies(spec))
    for _ in range(50):  # processes of a killed node may take a moment to leave their cgroups
        sh.run(["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-s"], input=script,
               check=False, what=f"remove cgroups of {spec.name}")
        if not cgroups_exist(spec):
            return
        time.sleep(0.1)


def cgroups_exist(spec: NodeSpec) -> bool:
    for h in booted_hierarchies(spec):
        if h.name in ("systemd", "unified"):
            continue
        base = Path("/sys/fs/cgroup") / h.name
        if base.is_dir() and (base / h.parent.lstrip("/") / spec.cgroup_name).exists():
            return True
    return False


def _reap(pid: int, seconds: float) -> None:
    """Collect the exit status of a launcher we started ourselves (others are reaped by init)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if done:
            return
        time.sleep(0.02)


def enter_argv(systemd_pid: int, command: list[str]) -> list[str]:
    """argv that runs ``command`` inside a node, as root, in all of its namespaces and its root."""
    return [
        "nsenter", "-t", str(systemd_pid), "-m", "-u", "-i", "-n", "-p", "-C", "-r", "-w", "--",
        "env", "-i", f"PATH={NODE_PATH}", "HOME=/root", "LANG=C.UTF-8",
        f"TERM={os.environ.get('TERM', 'dumb')}", *command,
    ]


def new_machine_id() -> str:
    return secrets.token_hex(16)
