"""Preflight checks: pure evaluation of every host's facts against cluster.yml.

Each check is a row of ``CHECKS`` (id, title, what it needs); ``evaluate`` walks the table over all
hosts at once, because some checks compare hosts with each other (unique hostnames, one admin uid).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from kubeward.catalog.ports import listeners_for
from kubeward.config import ClusterConfig, HostConfig
from kubeward.ops.ops import key_body
from kubeward.preflight.facts import PROBE_NAME, Facts, maps_127_0_1_1

Status = Literal["pass", "warn", "fail", "skip"]
SUPPORTED_OS = {("debian", "12"), ("ubuntu", "22.04"), ("ubuntu", "24.04")}
SUPPORTED_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}
MAX_SKEW = 2.0


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    short: str  # column header in the table


CHECKS: tuple[Check, ...] = (
    Check("os", "OS is Debian 12 or Ubuntu 22.04/24.04, amd64/arm64, with systemd and apt", "os"),
    Check("sudo", "the SSH user has passwordless sudo", "sudo"),
    Check("admin", "admin account: same name, uid, gid and key on every node", "admin"),
    Check("hostname", "/etc/hosts maps 127.0.1.1 to the hostname; hostnames unique", "host"),
    Check("private-interface", "the private interface carries the private address", "priv-if"),
    Check("ports", "ports the node's role will listen on are free (or held by their service)", "ports"),
    Check("ssh-forwarding", "sshd allows TCP forwarding (for kubeward tunnels)", "fwd"),
    Check("time", "clock synchronised and within 2 s of the operator's", "time"),
    Check("swap", "swap is off (kubelet)", "swap"),
    Check("ip-forward", "net.ipv4.ip_forward can be enabled", "ipfwd"),
    Check("kernel-modules", "br_netfilter and overlay are available", "mods"),
    Check("private-network", "nodes reach each other on their private addresses", "peers"),
)


@dataclass(frozen=True)
class Result:
    host: str
    check: str
    status: Status
    observed: str
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class HostInput:
    """Everything observed about one host (None facts: the host could not be reached)."""

    host: HostConfig
    facts: Facts | None
    operator_time: tuple[float, float] | None = None  # operator's clock before and after the facts round-trip
    peers: dict[str, bool] | None = None  # private address of a peer -> reached
    probe_via: str = "listener"  # "listener" (active) or "sshd" (fallback when no python3)
    error: str | None = None


def evaluate(config: ClusterConfig, inputs: list[HostInput]) -> list[Result]:
    out: list[Result] = []
    reachable = [i for i in inputs if i.facts is not None]
    hostnames = Counter(i.facts.hostname for i in reachable if i.facts)
    admin_ids = {
        i.host.name: i.facts.admin_passwd for i in reachable if i.facts and i.facts.admin_passwd is not None
    }
    key_sets = {
        i.host.name: frozenset(key_body(k) for k in i.facts.authorized_keys)
        for i in reachable if i.facts and i.facts.admin_passwd is not None and i.facts.privileged
    }
    #: private address -> what that node's kubeward firewall admits as nodes (when it has one)
    admits = {str(i.host.private_address): fw for i in reachable
              if i.facts and (fw := i.facts.firewall_nodes) is not None}
    for i in inputs:
        if i.facts is None:
            continue
        f, h = i.facts, i.host
        out += [
            _os(h, f),
            _sudo(h, f),
            _admin(config, h, f, admin_ids, key_sets),
            _hostname(h, f, hostnames),
            _private_if(h, f),
            _ports(config, h, f),
            _forwarding(h, f),
            _time(h, f, i.operator_time),
            _swap(h, f),
            _ip_forward(h, f),
            _modules(h, f),
            _peers(config, i, admits),
        ]
    return out


def _r(h: HostConfig, check: str, status: Status, observed: str, message: str = "") -> Result:
    return Result(h.name, check, status, observed, message)


def _os(h: HostConfig, f: Facts) -> Result:
    observed = f"{f.os_pretty or (f.os_id + ' ' + f.os_version).strip() or 'unknown'} {f.arch}"
    problems = []
    if (f.os_id, f.os_version) not in SUPPORTED_OS:
        problems.append(f"unsupported OS {f.os_id} {f.os_version} (need Debian 12 or Ubuntu 22.04/24.04)")
    if f.arch not in SUPPORTED_ARCH:
        problems.append(f"unsupported architecture {f.arch} (need x86_64/amd64 or aarch64/arm64)")
    if not f.systemd:
        problems.append("systemd is not running as init")
    if not f.apt:
        problems.append("apt-get is missing")
    return _r(h, "os", "fail" if problems else "pass", observed, "; ".join(problems))


def _sudo(h: HostConfig, f: Facts) -> Result:
    if f.sudo in ("root", "yes"):
        return _r(h, "sudo", "pass", "root login" if f.sudo == "root" else f"{h.ssh.user}: NOPASSWD")
    return _r(h, "sudo", "fail", f"{h.ssh.user}: sudo asks for a password",
              f'give {h.ssh.user} passwordless sudo: echo "{h.ssh.user} ALL=(ALL) NOPASSWD:ALL" '
              f"| sudo tee /etc/sudoers.d/{h.ssh.user}")


def _admin(
    config: ClusterConfig,
    h: HostConfig,
    f: Facts,
    ids: Mapping[str, tuple[str, int, int] | None],
    key_sets: dict[str, frozenset[str]],
) -> Result:
    a = config.admin
    want = f"{a.name} uid={a.uid} gid={a.gid}"
    if f.admin_passwd is None:
        if f.uid_owner:
            return _r(h, "admin", "fail", f"uid {a.uid} belongs to {f.uid_owner}",
                      f"uid {a.uid} is taken by {f.uid_owner!r} on this host: choose another admin.uid "
                      "that is free on every node")
        return _r(h, "admin", "pass", f"{a.name} absent (will be created with uid={a.uid} gid={a.gid})")
    name, uid, gid = f.admin_passwd
    observed = f"{name} uid={uid} gid={gid}"
    if (uid, gid) != (a.uid, a.gid):
        others = sorted({f"{n}: uid={v[1]} gid={v[2]}" for n, v in ids.items() if v and n != h.name})
        return _r(h, "admin", "fail", observed,
                  f"expected {want} as in cluster.yml (other nodes: {', '.join(others) or 'none'}); "
                  "fix the account or admin.uid/gid so every node agrees")
    mine = key_sets.get(h.name)
    if mine is not None:
        want_key = key_body(str(a.ssh_public_key))
        differing = sorted(n for n, ks in key_sets.items() if ks != mine)
        if want_key not in mine:
            return _r(h, "admin", "warn", observed + ", admin key missing from authorized_keys",
                      "kubeward will add admin.ssh_public_key when it provisions the node")
        if differing:
            return _r(h, "admin", "warn", observed + f", authorized_keys differ from {', '.join(differing)}",
                      "the admin's authorized keys should be the same on every node")
    return _r(h, "admin", "pass", observed)


def _hostname(h: HostConfig, f: Facts, names: Counter[str]) -> Result:
    observed = f.hostname or "(empty)"
    if names[f.hostname] > 1:
        return _r(h, "hostname", "fail", observed, f"hostname {f.hostname!r} is used by {names[f.hostname]} nodes")
    if not maps_127_0_1_1(f.etc_hosts, f.hostname):
        return _r(h, "hostname", "fail", f"{observed}; no '127.0.1.1 {f.hostname}' in /etc/hosts",
                  f"add the line '127.0.1.1 {f.hostname}' to /etc/hosts")
    if f.hostname != h.name:
        return _r(h, "hostname", "warn", observed, f"hostname differs from hosts[].name {h.name!r}; "
                  "provisioning will set it")
    return _r(h, "hostname", "pass", f"{observed} -> 127.0.1.1")


def _private_if(h: HostConfig, f: Facts) -> Result:
    iface, want = h.private_interface, str(h.private_address)
    if iface not in f.addresses:
        return _r(h, "private-interface", "fail", f"no interface {iface} (have: {', '.join(sorted(f.addresses))})",
                  "fix hosts[].private_interface")
    have = f.addresses[iface]
    if want not in have:
        return _r(h, "private-interface", "fail", f"{iface}: {', '.join(have) or 'no IPv4 address'}",
                  f"expected {want} on {iface}; fix hosts[].private_address or the interface")
    return _r(h, "private-interface", "pass", f"{iface}: {want}")


def _ports(config: ClusterConfig, h: HostConfig, f: Facts) -> Result:
    if not f.privileged:
        return _r(h, "ports", "skip", "not checked (needs sudo)")
    e = config.etcd
    wanted = listeners_for(h.role, etcd_ports=(e.client_port, e.peer_port, e.metrics_port),
                           api_port=config.network.api_port)
    busy = []
    held = []
    for lst in wanted:
        for s in f.listening:
            if s.port == lst.port and s.process != PROBE_NAME:
                if s.process in lst.process:
                    held.append(f"{lst.port} ({s.process})")
                else:
                    busy.append(f"{lst.port} ({lst.component}) taken by {s.process or 'unknown'} on {s.address}")
                break
    ports = ",".join(str(x.port) for x in wanted)
    if busy:
        return _r(h, "ports", "fail", "; ".join(busy), "stop what holds these ports, or move it")
    return _r(h, "ports", "pass", f"free: {ports}" + (f"; held by their service: {', '.join(held)}" if held else ""))


def _forwarding(h: HostConfig, f: Facts) -> Result:
    if not f.privileged:
        return _r(h, "ssh-forwarding", "skip", "not checked (needs sudo)")
    v = f.sshd.get("allowtcpforwarding", "")
    if v in ("yes", "all", "local"):
        return _r(h, "ssh-forwarding", "pass", f"AllowTcpForwarding {v}")
    return _r(h, "ssh-forwarding", "fail", f"AllowTcpForwarding {v or 'unknown'}",
              "kubeward tunnels need it: set AllowTcpForwarding yes (provisioning's sshd drop-in does)")


def clock_skew(node_time: float, window: tuple[float, float]) -> float:
    """How far the node's clock reading lies outside the operator's [before, after] window.

    The node read its clock at some moment inside the round-trip, so a reading inside the window
    shows no measurable skew; outside it, the distance to the window is a lower bound of the skew.
    """
    before, after = window
    if node_time < before:
        return node_time - before
    if node_time > after:
        return node_time - after
    return 0.0


def _time(h: HostConfig, f: Facts, operator_time: tuple[float, float] | None) -> Result:
    if f.time is None or operator_time is None:
        return _r(h, "time", "fail", "clock not readable")
    skew = clock_skew(f.time, operator_time)
    window = operator_time[1] - operator_time[0]
    observed = f"skew {skew:+.3f} s (±{window:.3f}), NTP synchronised: {f.ntp}"
    if abs(skew) >= MAX_SKEW:
        return _r(h, "time", "fail", observed, "the clock is more than 2 s off: certificates and etcd need "
                  "synchronised clocks; enable NTP (systemd-timesyncd or chrony)")
    if f.ntp != "yes":
        return _r(h, "time", "warn", observed, "enable time synchronisation (systemd-timesyncd or chrony)")
    return _r(h, "time", "pass", observed)


def _swap(h: HostConfig, f: Facts) -> Result:
    if f.swaps:
        return _r(h, "swap", "warn", f"{len(f.swaps)} swap device(s) on",
                  "the kubelet needs swap off: swapoff -a and remove swap from /etc/fstab")
    return _r(h, "swap", "pass", "off")


def _ip_forward(h: HostConfig, f: Facts) -> Result:
    if not f.privileged:
        return _r(h, "ip-forward", "skip", "not checked (needs sudo)")
    observed = f"net.ipv4.ip_forward={f.ip_forward or '?'}"
    if f.ip_forward == "1" or f.ip_forward_writable:
        return _r(h, "ip-forward", "pass", observed + ("" if f.ip_forward == "1" else " (can be enabled)"))
    return _r(h, "ip-forward", "warn", observed + " (read-only)", "pod networking needs IP forwarding")


def _modules(h: HostConfig, f: Facts) -> Result:
    missing = [m for m in ("br_netfilter", "overlay") if f.modules.get(m, "missing") == "missing"]
    observed = ", ".join(f"{m} {f.modules.get(m, 'missing')}" for m in ("br_netfilter", "overlay"))
    if missing:
        return _r(h, "kernel-modules", "warn", observed,
                  f"{', '.join(missing)} not available: needed later by containerd and pod networking")
    return _r(h, "kernel-modules", "pass", observed)


def _peers(config: ClusterConfig, i: HostInput, admits: Mapping[str, frozenset[str]] | None = None) -> Result:
    """A peer that cannot be reached fails the check, unless the peer's kubeward firewall does not
    admit this host yet (a host being added: the firewall phase puts it into every `nodes` set)."""
    h = i.host
    if len(config.hosts) == 1:
        return _r(h, "private-network", "pass", "single node")
    if i.peers is None:
        return _r(h, "private-network", "skip", "not probed")
    me = str(h.private_address)
    failed = sorted(a for a, ok in i.peers.items() if not ok)
    not_yet = [a for a in failed if (admitted := (admits or {}).get(a)) is not None and me not in admitted]
    failed = [a for a in failed if a not in not_yet]
    via = "listener" if i.probe_via == "listener" else "sshd port"
    names = {str(x.private_address): x.name for x in config.hosts}

    def listed(addresses: list[str]) -> str:
        return ", ".join(names.get(a, a) + " " + a for a in addresses)

    if failed:
        return _r(h, "private-network", "fail", f"cannot reach {listed(failed)}",
                  "check the private network, routes and firewalls between nodes")
    if not_yet:
        return _r(h, "private-network", "warn", f"reached {len(i.peers) - len(not_yet)} peer(s) ({via}); "
                  f"{listed(not_yet)} drop it: their kubeward firewall does not list {h.name} as a node yet "
                  "(the firewall phase adds it)")
    return _r(h, "private-network", "pass", f"reached {len(i.peers)} peer(s) ({via})")
