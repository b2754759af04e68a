"""What preflight asks a host, as one shell script, and the pure parser of its answer.

The whole gathering is one SSH round-trip per host: the script prints ``@@section`` blocks; the
privileged part runs under ``sudo -n`` from inside the script, so a missing sudo is observed (and
reported) rather than failing the round-trip. The same round-trip starts a short-lived TCP listener
on the node's private address (python3, when the host has it) that peers connect to in the second
round-trip, the active node-to-node check (on the kubelet port, which the firewall opens between
nodes, so the probe also holds once kubeward's firewall is in place).
"""

from __future__ import annotations

import ipaddress
import json
import re
import shlex
from dataclasses import dataclass, field

from kubeward.hostscripts.programs import read_program
from kubeward.hostscripts.sections import parse_sections, render_marker
from kubeward.ops.shell import render_nested

#: how long the probe listener waits for peers, seconds
LISTEN_SECONDS = 20
#: peers are probed on the kubelet port: every node must reach every other node's kubelet, so the
#: firewall allows it between nodes; when the port is taken (by the kubelet), that service answers
PROBE_PORT = 10250
PROBE_NAME = "kubeward-probe"




def render_facts_script(admin_name: str, admin_uid: int, private_address: str, peers: int) -> str:
    """Shell (run as the SSH user) that prints every preflight fact of a host."""
    a = shlex.quote(admin_name)
    privileged = f"""
pkill -x {PROBE_NAME} 2>/dev/null && for i in 1 2 3 4 5 6 7 8 9 10; do pgrep -x {PROBE_NAME} >/dev/null || break; sleep 0.05; done
{M('ss')}; ss -Htlnp 2>&1
{M('sshd')}; sshd -T 2>&1 | grep -Ei '^(allowtcpforwarding|permitrootlogin|passwordauthentication|pubkeyauthentication) '
{M('authkeys')}; h=$(getent passwd {a} | cut -d: -f6); [ -n "$h" ] && [ -f "$h/.ssh/authorized_keys" ] && cat "$h/.ssh/authorized_keys"
{M('ipforward')}; cat /proc/sys/net/ipv4/ip_forward; [ -w /proc/sys/net/ipv4/ip_forward ] && echo writable || echo readonly
{M('fwnodes')}; nft list set inet kubeward nodes 2>/dev/null || echo absent
"""
    listener = shlex.quote(read_program("preflight_listener"))
    return f"""
{M('os')}; cat /etc/os-release 2>/dev/null
{M('arch')}; uname -m
{M('hostname')}; hostname
{M('systemd')}; [ -d /run/systemd/system ] && echo yes || echo no
{M('apt')}; command -v apt-get >/dev/null 2>&1 && echo yes || echo no
{M('sudo')}; if [ "$(id -u)" = 0 ]; then echo root; elif sudo -n true 2>/dev/null; then echo yes; else echo no; fi
{M('time')}; date +%s.%N
{M('ntp')}; timedatectl show -p NTPSynchronized --value 2>/dev/null || echo unknown
{M('etchosts')}; cat /etc/hosts
{M('ip')}; ip -j addr 2>/dev/null
{M('swaps')}; tail -n +2 /proc/swaps
{M('modules')}; for m in br_netfilter overlay; do if [ -d /sys/module/$m ] || {{ [ $m = br_netfilter ] && [ -d /proc/sys/net/bridge ]; }}; then echo "$m loaded"; elif modinfo $m >/dev/null 2>&1; then echo "$m available"; else echo "$m missing"; fi; done
{M('passwd')}; getent passwd {a}
{M('uid')}; getent passwd {admin_uid}
if [ "$(id -u)" = 0 ]; then
{render_nested(privileged, sudo=False)}elif sudo -n true 2>/dev/null; then
{render_nested(privileged, sudo=True)}fi
{M('listener')}; if command -v python3 >/dev/null 2>&1; then python3 -c {listener} {shlex.quote(private_address)} {LISTEN_SECONDS} {peers} {PROBE_PORT} 2>&1 || true; fi
{M('finished')}
{M('end')}
"""


def render_probe_script(endpoints: list[tuple[str, int]]) -> str:
    """Shell that connects to every (address, port) at once and prints ``address port ok|fail``."""
    lines = []
    for addr, port in endpoints:
        a, p = shlex.quote(addr), int(port)
        lines.append(
            f"(if timeout 3 bash -c '</dev/tcp/'{a}'/{p}' 2>/dev/null; then echo {a} {p} ok; "
            f"else echo {a} {p} fail; fi) &"
        )
    return "\n".join(lines) + "\nwait\n"


def parse_probe_output(text: str) -> dict[str, bool]:
    out: dict[str, bool] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3:
            out[parts[0]] = parts[2] == "ok"
    return out


@dataclass(frozen=True)
class Socket:
    address: str
    port: int
    process: str  # first process name, "" when unknown


@dataclass
class Facts:
    os_id: str = ""
    os_version: str = ""
    os_pretty: str = ""
    arch: str = ""
    hostname: str = ""
    systemd: bool = False
    apt: bool = False
    sudo: str = "no"  # root | yes | no
    time: float | None = None
    ntp: str = "unknown"  # yes | no | unknown
    etc_hosts: str = ""
    addresses: dict[str, list[str]] = field(default_factory=dict)  # interface -> IPv4 addresses
    swaps: list[str] = field(default_factory=list)
    modules: dict[str, str] = field(default_factory=dict)  # name -> loaded | available | missing
    admin_passwd: tuple[str, int, int] | None = None  # name, uid, gid
    uid_owner: str | None = None  # the user holding the admin uid, if any
    listener_port: int | None = None
    privileged: bool = False  # the sudo part ran
    listening: list[Socket] = field(default_factory=list)
    sshd: dict[str, str] = field(default_factory=dict)
    authorized_keys: list[str] = field(default_factory=list)
    ip_forward: str = ""
    ip_forward_writable: bool = False
    #: the addresses kubeward's firewall admits as nodes (its live `nodes` set); None: no such table
    firewall_nodes: frozenset[str] | None = None
    complete: bool = False


SCOPE = "preflight"


def M(name: str) -> str:  # noqa: N802 - reads as a marker inside the script templates
    return render_marker(SCOPE, name)


def _sections(text: str) -> dict[str, str]:
    return {k: v.removesuffix("\n") for k, v in parse_sections(text, SCOPE).items()}


def parse_os_release(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip().strip('"')
    return out


def parse_ss(text: str) -> list[Socket]:
    """``ss -Htlnp`` lines: State Recv-Q Send-Q Local:Port Peer:Port Process."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 5 or parts[0] != "LISTEN":
            continue
        local = parts[3]
        addr, _, port = local.rpartition(":")
        addr = addr.strip("[]")
        if "%" in addr:
            addr = addr.split("%")[0]
        m = re.search(r'users:\(\("([^"]+)"', line)
        try:
            out.append(Socket(addr, int(port), m.group(1) if m else ""))
        except ValueError:
            continue
    return out


def parse_ip_addr(text: str) -> dict[str, list[str]]:
    try:
        data = json.loads(text or "[]")
    except json.JSONDecodeError:
        return {}
    out: dict[str, list[str]] = {}
    for link in data if isinstance(data, list) else []:
        name = str(link.get("ifname", ""))
        out[name] = [a["local"] for a in link.get("addr_info", []) if a.get("family") == "inet" and "local" in a]
    return out


def parse_facts(text: str) -> Facts:
    s = _sections(text)
    f = Facts()
    osr = parse_os_release(s.get("os", ""))
    f.os_id, f.os_version, f.os_pretty = osr.get("ID", ""), osr.get("VERSION_ID", ""), osr.get("PRETTY_NAME", "")
    f.arch = s.get("arch", "").strip()
    f.hostname = s.get("hostname", "").strip()
    f.systemd = s.get("systemd", "").strip() == "yes"
    f.apt = s.get("apt", "").strip() == "yes"
    f.sudo = s.get("sudo", "no").strip() or "no"
    try:
        f.time = float(s.get("time", "").strip())
    except ValueError:
        f.time = None
    f.ntp = s.get("ntp", "unknown").strip() or "unknown"
    f.etc_hosts = s.get("etchosts", "")
    f.addresses = parse_ip_addr(s.get("ip", ""))
    f.swaps = [line for line in s.get("swaps", "").splitlines() if line.strip()]
    for line in s.get("modules", "").splitlines():
        parts = line.split()
        if len(parts) == 2:
            f.modules[parts[0]] = parts[1]
    pw = s.get("passwd", "").strip().split(":")
    if len(pw) >= 4 and pw[2].isdigit() and pw[3].isdigit():
        f.admin_passwd = (pw[0], int(pw[2]), int(pw[3]))
    uid_line = s.get("uid", "").strip().split(":")
    f.uid_owner = uid_line[0] if uid_line and uid_line[0] else None
    lp = s.get("listener", "").split()
    if len(lp) >= 2 and lp[0].isdigit() and lp[1] in ("listening", "in-use"):
        f.listener_port = int(lp[0])
    f.privileged = "ss" in s
    f.listening = parse_ss(s.get("ss", ""))
    for line in s.get("sshd", "").splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2:
            f.sshd[parts[0].lower()] = parts[1].strip().lower()
    f.authorized_keys = [
        line.strip() for line in s.get("authkeys", "").splitlines() if line.strip() and not line.startswith("#")
    ]
    ipf = s.get("ipforward", "").split()
    f.ip_forward = ipf[0] if ipf else ""
    f.ip_forward_writable = len(ipf) > 1 and ipf[1] == "writable"
    f.firewall_nodes = parse_nft_set(s["fwnodes"]) if "fwnodes" in s else None
    f.complete = "finished" in s
    return f


def parse_nft_set(text: str) -> frozenset[str] | None:
    """The elements of ``nft list set`` output (None when the set does not exist)."""
    if text.strip() in ("absent", ""):
        return None
    m = re.search(r"elements\s*=\s*\{([^}]*)\}", text)
    return frozenset(e.strip() for e in m.group(1).replace("\n", " ").split(",") if e.strip()) if m else frozenset()


def maps_127_0_1_1(etc_hosts: str, hostname: str) -> bool:
    for line in etc_hosts.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2 and fields[0] == "127.0.1.1" and hostname in fields[1:]:
            return True
    return False


def is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True
