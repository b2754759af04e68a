"""A whole lab: bring it up, take it down, report it, stop/start/partition/heal its nodes.

Layout on this machine (root only)::

    <labs>/<name>/state.json       what was created (written before creating it, so `down` can
                                   always clean a half-made lab)
    <labs>/<name>/cluster.yml      a ready cluster.yml for kubeward, host keys pinned
    <labs>/<name>/id_ed25519       the lab's SSH key (0600), for the bootstrap user and the admin
    <labs>/<name>/nodes/<node>/    upper layer, overlay work dir, data dirs, boot log

``<labs>`` is ``$KUBEWARD_LAB_ROOT`` or ``/var/lib/kubeward/labs``.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import socket
import stat
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kubeward.errors import LabError
from kubeward.lab import node as nodemod
from kubeward.lab import sh
from kubeward.lab.image import LAB_UID, LAB_USER, Image, build_image, current_image
from kubeward.lab.plan import LabPlan, NodePlan, check_name, new_plan, pick_slot

Progress = Callable[[str], None]
ADMIN_NAME = "kubeadmin"
ADMIN_UID = 2000
BOOT_TIMEOUT = 90.0


def labs_root() -> Path:
    return Path(os.environ.get("KUBEWARD_LAB_ROOT", "/var/lib/kubeward/labs"))


@dataclass
class NodeState:
    name: str
    role: str
    netns: str
    public_address: str
    private_address: str
    host_veth: str
    switch_veth: str
    host_key: str = ""  # OpenSSH public key line of the node's ed25519 host key
    launcher_pid: int = 0
    systemd_pid: int = 0
    stopped: bool = False
    partitioned: bool = False


@dataclass
class LabState:
    name: str
    slot: int
    image: str
    public_subnet: str
    private_subnet: str
    gateway: str
    public_bridge: str
    switch_netns: str
    created: float
    phase: str = "creating"  # creating | up | down
    nodes: list[NodeState] = field(default_factory=list)

    def node(self, name: str) -> NodeState:
        for n in self.nodes:
            if n.name == name:
                return n
        raise LabError(f"lab {self.name!r} has no node {name!r} (nodes: {', '.join(n.name for n in self.nodes)})")


@dataclass(frozen=True)
class NodeStatus:
    name: str
    role: str
    public_address: str
    private_address: str
    state: str  # running | degraded | starting | stopped | partitioned | dead
    systemd: str  # output of `systemctl is-system-running`, or "" when not running
    pid: int


class Lab:
    def __init__(self, name: str) -> None:
        self.name = check_name(name)
        self.dir = labs_root() / name

    # ----- files -------------------------------------------------------------------------------
    @property
    def state_path(self) -> Path:
        return self.dir / "state.json"

    @property
    def cluster_yml(self) -> Path:
        return self.dir / "cluster.yml"

    @property
    def key_path(self) -> Path:
        return self.dir / "id_ed25519"

    def exists(self) -> bool:
        return self.state_path.exists()

    def load(self) -> LabState:
        try:
            raw = json.loads(self.state_path.read_text())
        except FileNotFoundError:
            raise LabError(
                f"there is no lab named {self.name!r}; create it with `kubeward lab up --name {self.name}` "
                f"(existing labs: {', '.join(list_labs()) or 'none'})"
            ) from None
        nodes = [NodeState(**n) for n in raw.pop("nodes")]
        return LabState(**raw, nodes=nodes)

    def save(self, state: LabState) -> None:
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(state), indent=2))
        tmp.replace(self.state_path)

    def node_spec(self, n: NodeState) -> nodemod.NodeSpec:
        return nodemod.NodeSpec(lab=self.name, name=n.name, netns=n.netns, dir=self.dir / "nodes" / n.name)

    # ----- up ----------------------------------------------------------------------------------
    def up(self, nodes: int, control_planes: int, progress: Progress = lambda s: None) -> LabState:
        sh.require_root()
        sh.require_tools("ip", "unshare", "nsenter", "mount")
        _check_kernel()
        image = build_image(progress)
        with sh.locked(labs_root() / ".lock"):
            if self.exists():
                raise LabError(
                    f"a lab named {self.name!r} already exists ({self.dir}); pick another --name, "
                    f"or remove it first with `kubeward lab down --name {self.name}`"
                )
            slot = pick_slot(_used_slots(), _host_networks())
            plan = new_plan(self.name, slot, nodes, control_planes)
            self.dir.mkdir(parents=True, exist_ok=True)
            os.chmod(self.dir, 0o700)
            state = _state_from_plan(plan, image)
            self.save(state)
        started = time.monotonic()
        try:
            progress(f"wiring {len(plan.nodes)} nodes on {plan.public_subnet} (public) and "
                     f"{plan.private_subnet} (private)")
            _create_network(plan)
            self._write_keys()
            pub = self.key_path.with_suffix(".pub").read_text().strip()
            with ThreadPoolExecutor(max_workers=min(16, len(state.nodes))) as pool:
                host_keys = list(pool.map(lambda n: self._prepare_node(n, image, pub), plan.nodes))
            for n, hk in zip(state.nodes, host_keys, strict=True):
                n.host_key = hk
            _ensure_inotify_room(progress)
            progress(f"booting {len(state.nodes)} nodes")
            for n in state.nodes:
                n.launcher_pid, n.systemd_pid = nodemod.boot(self.node_spec(n), image)
                self.save(state)  # so that a failure below still stops the nodes booted so far
            self._wait_ready(state, progress)
            state.phase = "up"
            self.save(state)
            self.write_cluster_yml(state)
            progress(f"lab {self.name} up: {len(state.nodes)} nodes in {time.monotonic() - started:.1f} s")
        except BaseException:
            progress(f"lab {self.name} failed to come up; removing what was created")
            self.down(progress=lambda s: None)
            raise
        return state

    def _write_keys(self) -> None:
        if self.key_path.exists():
            return
        key = Ed25519PrivateKey.generate()
        priv = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
        pub = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        _write_secret(self.key_path, priv)
        self.key_path.with_suffix(".pub").write_text(pub.decode() + f" kubeward-lab-{self.name}\n")

    def _prepare_node(self, n: NodePlan, image: Image, authorized_key: str) -> str:
        """Write the node's own files into its upper layer (first boot only); return its host key."""
        spec = nodemod.NodeSpec(lab=self.name, name=n.name, netns=n.netns, dir=self.dir / "nodes" / n.name)
        up = spec.upper
        up.mkdir(parents=True, exist_ok=True)
        lower = image.rootfs
        key = Ed25519PrivateKey.generate()
        priv = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
        host_pub = key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        ).decode()
        files: list[tuple[str, bytes, int, int, int]] = [
            ("etc/hostname", f"{n.name}\n".encode(), 0o644, 0, 0),
            ("etc/hosts", render_etc_hosts(n.name).encode(), 0o644, 0, 0),
            ("etc/machine-id", f"{nodemod.new_machine_id()}\n".encode(), 0o444, 0, 0),
            ("etc/ssh/ssh_host_ed25519_key", priv, 0o600, 0, 0),
            ("etc/ssh/ssh_host_ed25519_key.pub", f"{host_pub} root@{n.name}\n".encode(), 0o644, 0, 0),
            (f"home/{LAB_USER}/.ssh/authorized_keys", f"{authorized_key}\n".encode(), 0o600, LAB_UID, LAB_UID),
        ]
        for rel, data, mode, uid, gid in files:
            _write_upper(up, lower, rel, data, mode, uid, gid)
        return host_pub

    def _wait_ready(self, state: LabState, progress: Progress) -> None:
        deadline = time.monotonic() + BOOT_TIMEOUT
        pending = {n.name: n for n in state.nodes if not n.stopped}
        while pending and time.monotonic() < deadline:
            with ThreadPoolExecutor(max_workers=min(16, len(pending))) as pool:
                ready = dict(zip(pending, pool.map(_node_ready, pending.values()), strict=True))
            for name, ok in ready.items():
                if ok:
                    del pending[name]
            if pending:
                time.sleep(0.2)
        if pending:
            details = []
            for n in pending.values():
                st = _systemctl_state(n) or "no answer"
                details.append(f"{n.name} (systemd: {st}; log {self.node_spec(n).boot_log})")
            raise LabError(f"nodes did not become ready within {BOOT_TIMEOUT:.0f} s: {'; '.join(details)}")

    # ----- down --------------------------------------------------------------------------------
    def down(self, progress: Progress = lambda s: None) -> None:
        """Remove everything the lab created. Idempotent; safe on a half-made lab."""
        sh.require_root()
        if not self.exists():
            if self.dir.exists():
                shutil.rmtree(self.dir, ignore_errors=True)
                return
            raise LabError(f"there is no lab named {self.name!r} (existing labs: {', '.join(list_labs()) or 'none'})")
        state = self.load()
        with ThreadPoolExecutor(max_workers=max(1, min(16, len(state.nodes)))) as pool:
            list(pool.map(lambda n: nodemod.stop(self.node_spec(n), n.launcher_pid, n.systemd_pid, graceful=0),
                          state.nodes))
        _delete_network(state)
        shutil.rmtree(self.dir, ignore_errors=True)
        progress(f"lab {self.name} removed")

    # ----- node power and links ----------------------------------------------------------------
    def stop_node(self, name: str) -> None:
        state = self.load()
        n = state.node(name)
        nodemod.stop(self.node_spec(n), n.launcher_pid, n.systemd_pid, graceful=10)
        n.stopped, n.launcher_pid, n.systemd_pid = True, 0, 0
        self.save(state)

    def start_node(self, name: str, progress: Progress = lambda s: None) -> None:
        state = self.load()
        n = state.node(name)
        if nodemod.is_alive(n.systemd_pid, n.netns):
            progress(f"{name} is already running")
            return
        image = current_image() if state.image == current_image().key else _image_by_key(state.image)
        nodemod.remove_cgroups(self.node_spec(n))
        n.launcher_pid, n.systemd_pid = nodemod.boot(self.node_spec(n), image)
        n.stopped = False
        self.save(state)
        self._wait_ready(_only(state, n), progress)

    def partition(self, name: str) -> None:
        self._set_links(name, "down")

    def heal(self, name: str) -> None:
        self._set_links(name, "up")

    def _set_links(self, name: str, updown: str) -> None:
        state = self.load()
        n = state.node(name)
        sh.run(["ip", "link", "set", n.host_veth, updown], what=f"set {name}'s public link {updown}")
        sh.run(["ip", "-n", state.switch_netns, "link", "set", n.switch_veth, updown],
               what=f"set {name}'s private link {updown}")
        n.partitioned = updown == "down"
        self.save(state)

    # ----- exec and status ---------------------------------------------------------------------
    def exec_argv(self, name: str, command: list[str]) -> list[str]:
        state = self.load()
        n = state.node(name)
        if not nodemod.is_alive(n.systemd_pid, n.netns):
            raise LabError(f"node {name} is not running; start it with `kubeward lab start {name} --name {self.name}`")
        return nodemod.enter_argv(n.systemd_pid, command)

    def exec(self, name: str, command: list[str], *, input: str | None = None,
             timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return sh.run(self.exec_argv(name, command), input=input, check=False, timeout=timeout,
                      what=f"{' '.join(command)} on {name}")

    def status(self) -> list[NodeStatus]:
        state = self.load()

        def one(n: NodeState) -> NodeStatus:
            alive = nodemod.is_alive(n.systemd_pid, n.netns)
            systemd = _systemctl_state(n) if alive else ""
            if not alive:
                st = "stopped" if n.stopped else "dead"
            elif n.partitioned:
                st = "partitioned"
            elif systemd in ("running", "degraded"):
                st = systemd
            else:
                st = "starting"
            return NodeStatus(n.name, n.role, n.public_address, n.private_address, st, systemd,
                              n.systemd_pid if alive else 0)

        with ThreadPoolExecutor(max_workers=max(1, min(16, len(state.nodes)))) as pool:
            return list(pool.map(one, state.nodes))

    # ----- cluster.yml -------------------------------------------------------------------------
    def write_cluster_yml(self, state: LabState) -> None:
        self.cluster_yml.write_text(render_cluster_yml(state, self.key_path.with_suffix(".pub").read_text().strip()))


def _only(state: LabState, n: NodeState) -> LabState:
    return LabState(**{k: v for k, v in asdict(state).items() if k != "nodes"}, nodes=[n])


def render_etc_hosts(hostname: str) -> str:
    return (
        "127.0.0.1\tlocalhost\n"
        f"127.0.1.1\t{hostname}\n\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n"
        "ff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
    )


def render_kubernetes_yml(version: str, artifacts_dir: Path) -> str:
    """A ``kubernetes:`` section for a lab cluster.yml using a local build (``kubeward artifacts
    build``) as a ``dir`` source. The lab's default cluster.yml leaves Kubernetes off; append this
    (``kubeward lab up --kubernetes``) to turn it on."""
    return (
        "\nkubernetes:\n"
        "  enabled: true\n"
        f"  version: '{version}'\n"
        "  artifacts:\n"
        "    source: dir\n"
        f"    dir: {artifacts_dir}\n"
    )


def render_cluster_yml(state: LabState, admin_key: str) -> str:
    """The lab's ready-to-use cluster.yml (host keys pinned, paths relative to the file)."""
    lines = [
        f"# cluster.yml written by `kubeward lab up --name {state.name}`.",
        "# Host keys are pinned (hosts[].ssh.host_key): kubeward refuses a node whose key changes.",
        f"name: {state.name}",
        "state_dir: state",
        "",
        "ssh:",
        f"  user: {LAB_USER}",
        "  port: 22",
        "  key_path: id_ed25519",
        "",
        "admin:",
        f"  name: {ADMIN_NAME}",
        f"  uid: {ADMIN_UID}",
        f"  gid: {ADMIN_UID}",
        f"  ssh_public_key: \"{admin_key}\"",
        "",
        "network:",
        f"  private_subnet: {state.private_subnet}",
        "  admin_cidrs:",
        f"    - {state.public_subnet}   # the lab's public network; the operator is {state.gateway}",
        "  pod_cidr: 10.244.0.0/16",
        "  service_cidr: 10.96.0.0/12",
        "  cni: routes",
        "  nodeport_range: 30001-30099",
        "  ipv6: drop",
        "",
        "hosts:",
    ]
    for n in state.nodes:
        lines += [
            f"  - name: {n.name}",
            f"    role: {n.role}",
            f"    address: {n.public_address}",
            f"    private_address: {n.private_address}",
            "    private_interface: eth1",
            "    ssh:",
            f"      host_key: \"{n.host_key}\"",
        ]
    return "\n".join(lines) + "\n"


# ----- helpers -------------------------------------------------------------------------------------
def list_labs() -> list[str]:
    root = labs_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "state.json").exists())


def _used_slots() -> list[int]:
    out = []
    for name in list_labs():
        try:
            out.append(int(json.loads((labs_root() / name / "state.json").read_text())["slot"]))
        except (OSError, ValueError, KeyError):
            continue
    return out


def _host_networks() -> list[ipaddress.IPv4Network]:
    """Every IPv4 network this machine routes or is addressed on (lab subnets must avoid them)."""
    out: list[ipaddress.IPv4Network] = []
    for argv in (["ip", "-j", "-4", "route", "show", "table", "all"], ["ip", "-j", "-4", "addr"]):
        data = json.loads(sh.run(argv, what="list host networks").stdout or "[]")
        for r in data:
            dst = r.get("dst")
            if dst and dst not in ("default", "broadcast"):
                try:
                    out.append(ipaddress.IPv4Network(dst, strict=False))
                except ValueError:
                    pass
            for a in r.get("addr_info", []):
                if a.get("family") == "inet" and not a["local"].startswith("127."):
                    out.append(ipaddress.IPv4Network(f"{a['local']}/{a['prefixlen']}", strict=False))
    return [n for n in out if n.prefixlen > 0 and not n.is_loopback]


def _state_from_plan(plan: LabPlan, image: Image) -> LabState:
    return LabState(
        name=plan.name,
        slot=plan.slot,
        image=image.key,
        public_subnet=str(plan.public_subnet),
        private_subnet=str(plan.private_subnet),
        gateway=str(plan.gateway),
        public_bridge=plan.public_bridge,
        switch_netns=plan.switch_netns,
        created=time.time(),
        nodes=[
            NodeState(
                name=n.name, role=n.role, netns=n.netns, public_address=str(n.public_address),
                private_address=str(n.private_address), host_veth=n.host_veth, switch_veth=n.switch_veth,
            )
            for n in plan.nodes
        ],
    )


def _create_network(plan: LabPlan) -> None:
    prefix = plan.public_subnet.prefixlen
    host = [f"netns add {plan.switch_netns}"] + [f"netns add {n.netns}" for n in plan.nodes]
    host += [
        f"link add {plan.public_bridge} type bridge",
        f"addr add {plan.gateway}/{prefix} dev {plan.public_bridge}",
        f"link set {plan.public_bridge} up",
        # this machine has no foot on the private network: make sure it never sends packets for
        # it out of its default route either
        f"route add unreachable {plan.private_subnet}",
    ]
    for n in plan.nodes:
        host += [
            f"link add {n.host_veth} type veth peer name eth0 netns {n.netns}",
            f"link set {n.host_veth} master {plan.public_bridge} up",
        ]
    sh.ip_batch(host, what="create the lab's namespaces and public network")
    switch = ["link add br0 type bridge", "link set br0 up", "link set lo up"]
    for n in plan.nodes:
        switch += [f"link add {n.switch_veth} type veth peer name eth1 netns {n.netns}",
                   f"link set {n.switch_veth} master br0 up"]
    sh.ip_batch(switch, plan.switch_netns, what="create the lab's private network")
    pprefix = plan.private_subnet.prefixlen
    for n in plan.nodes:
        sh.ip_batch(
            ["link set lo up", f"addr add {n.public_address}/{prefix} dev eth0", "link set eth0 up",
             f"addr add {n.private_address}/{pprefix} dev eth1", "link set eth1 up"],
            n.netns,
            what=f"address node {n.name}",
        )


def _delete_network(state: LabState) -> None:
    # deleting a namespace deletes the veth ends inside it, and with them their peers
    for ns in [n.netns for n in state.nodes] + [state.switch_netns]:
        if Path(f"/run/netns/{ns}").exists():
            sh.run(["ip", "netns", "delete", ns], check=False, what=f"delete namespace {ns}")
    sh.run(["ip", "route", "del", "unreachable", state.private_subnet], check=False, what="delete route")
    if Path(f"/sys/class/net/{state.public_bridge}").exists():
        sh.run(["ip", "link", "delete", state.public_bridge], check=False, what="delete the public bridge")
    for n in state.nodes:
        if Path(f"/sys/class/net/{n.host_veth}").exists():
            sh.run(["ip", "link", "delete", n.host_veth], check=False, what=f"delete {n.host_veth}")


def _write_upper(upper: Path, lower: Path, rel: str, data: bytes, mode: int, uid: int, gid: int) -> None:
    """Write a file into an overlay's upper layer before first mount.

    Parent directories created in the upper layer take the owner and mode of the same directory in
    the lower layer: otherwise the overlay would show them with the wrong owner (e.g. ~/.ssh).
    """
    parts = Path(rel).parts
    for i in range(1, len(parts)):
        sub = Path(*parts[:i])
        target = upper / sub
        if target.exists():
            continue
        target.mkdir()
        src = lower / sub
        if src.is_dir():
            st = src.stat()
            os.chown(target, st.st_uid, st.st_gid)
            os.chmod(target, stat.S_IMODE(st.st_mode))
        elif sub.name == ".ssh":
            os.chown(target, uid, gid)
            os.chmod(target, 0o700)
    path = upper / rel
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chown(path, uid, gid)
    os.chmod(path, mode)


def _write_secret(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _node_ready(n: NodeState) -> bool:
    if not nodemod.is_alive(n.systemd_pid, n.netns):
        raise LabError(f"node {n.name} died while booting")
    if _systemctl_state(n) not in ("running", "degraded"):
        return False
    try:
        with socket.create_connection((n.public_address, 22), timeout=1) as s:
            return s.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def _systemctl_state(n: NodeState) -> str:
    try:
        p = subprocess.run(nodemod.enter_argv(n.systemd_pid, ["systemctl", "is-system-running"]),
                           capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        return "timeout"
    return p.stdout.strip()


INOTIFY = Path("/proc/sys/fs/inotify/max_user_instances")
#: inotify instances a node's systemd and logind hold (measured: 6), with room for services
INOTIFY_PER_NODE = 8


def _ensure_inotify_room(progress: Progress) -> None:
    """Raise fs.inotify.max_user_instances when the labs' nodes would exhaust it.

    The limit (128 by default) counts every root process on the machine; each node's systemd holds
    several instances, so about 20 nodes in all would fail to boot with no clear reason.
    """
    try:
        current = int(INOTIFY.read_text())
    except (OSError, ValueError):
        return
    total = sum(len(Lab(n).load().nodes) for n in list_labs())  # this lab's state is saved already
    wanted = 128 + INOTIFY_PER_NODE * total
    if current < wanted:
        INOTIFY.write_text(str(wanted))
        progress(f"raised fs.inotify.max_user_instances from {current} to {wanted} for {total} lab nodes")


def _check_kernel() -> None:
    fs = Path("/proc/filesystems").read_text()
    if "overlay" not in fs:
        sh.run(["modprobe", "overlay"], check=False, what="load overlayfs")
        if "overlay" not in Path("/proc/filesystems").read_text():
            raise LabError("this kernel has no overlayfs (needed for lab nodes); `modprobe overlay` failed")
    if not Path("/proc/self/ns/cgroup").exists():
        raise LabError("this kernel has no cgroup namespaces (needed for lab nodes)")


def _image_by_key(key: str) -> Image:
    img = Image(key=key, root=current_image().root.parent / key)
    if not img.complete:
        raise LabError(f"the image {key} this lab was made from is gone; recreate the lab")
    return img


def as_dict(s: NodeStatus) -> dict[str, Any]:
    return asdict(s)
