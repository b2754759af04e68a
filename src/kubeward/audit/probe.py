"""The audit's probes (I/O): what each node says about itself, what the operator's machine and the
peer nodes can reach, what TLS and HTTP endpoints answer an anonymous client, what sshd offers.

Order: every node's local view first (one round-trip each, all at once), because it tells which
ports listen; then, all at once, the outside scan from this machine, the peer scan on every node
(one round-trip each, probes in parallel inside), TLS/HTTP probes through SSH channels, and the SSH
authentication-methods probe.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import ipaddress
import os
import re
import resource
import select
import shlex
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from kubeward.audit.evaluate import is_preflight_listener, parse_listeners
from kubeward.audit.kube_checks import COMM_NAMES
from kubeward.audit.model import (
    AuthorizedKey,
    ConfigFile,
    FileStat,
    Listener,
    LocalObservation,
    Observations,
    PortProbe,
    PrivateKeyFile,
    RunningComponent,
    SshAuthProbe,
    SshdContext,
    TlsProbe,
)
from kubeward.audit.sampling import PeerPlan, plan_peer_sources
from kubeward.audit.sshd_policy import (
    ContextDefaults,
    derive_contexts,
    parse_contexts,
    parse_settings,
    render_contexts_script,
)
from kubeward.catalog.matrix import MatrixRow, rows_for_host
from kubeward.config import ClusterConfig
from kubeward.errors import RemoteError
from kubeward.firewall.paths import LISTED, RULESET
from kubeward.hostscripts.programs import read_program
from kubeward.ops.sshd import CONFIG_DUMP, parse_config_dump, parse_match_blocks
from kubeward.preflight.facts import PROBE_NAME, PROBE_PORT
from kubeward.remote.forward import Forward, Tunnel
from kubeward.remote.openssh import openssh_argv, render_known_hosts_for
from kubeward.remote.ssh import Session
from kubeward.remote.targets import target_for, targets_for

#: where kubeward (and Kubernetes) keep keys and kubeconfigs; searched for stray CA keys too
KEY_DIRS = ("/etc/kubernetes", "/etc/etcd", "/etc/kubeward", "/var/lib/kubeward", "/etc/ssl/private", "/root",
            "/home", "/tmp", "/srv")
ALWAYS_PROBE = (8080, 10255, 10251, 10252, 2379, 2380, 2381, 6443, 10248, 10249, 10250, 10256, 10257, 10259, 80, 443)
CONNECT_TIMEOUT = 1.0
#: a "filtered" answer on a port something listens on is asked again, slower, before it counts
RECHECK_TIMEOUT = 4.0
#: the outside sweep of every TCP port: how long each SYN may wait for an answer
SWEEP_TIMEOUT = 1.0
#: file descriptors the sweep leaves to SSH, tunnels and the TLS probes, beyond probe_outside's own
_RESERVED_FDS = 1024
#: SYNs the sweep may send at once: far below a network device's backlog (netdev_max_backlog, 1000)
_SWEEP_BURST = 256


#: where private keys are looked for, by content, wherever kubeward or anyone else put them
KEY_SEARCH_ROOTS = ("/etc", "/root", "/home", "/var/lib", "/opt", "/srv", "/tmp", "/usr/local")
#: not searched: container image layers and package databases (thousands of files, none a host key)
KEY_SEARCH_PRUNE = ("/var/lib/containerd", "/var/lib/docker", "/var/lib/dpkg", "/var/lib/apt", "/var/cache")
KEY_SEARCH_DEPTH = 8
KEY_SEARCH_MAX_FILES = 2000
KEY_SEARCH_SECONDS = 30
#: sha256 of nothing: a derivation that printed nothing failed
EMPTY_SHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

_KEYS_SCRIPT = r"""
kw_spki() { sha256sum | cut -c1-64; }
kw_fp() {  # the public key of a private key file, whatever its encoding: PEM/DER, PKCS#8/traditional, OpenSSH
  for inf in PEM DER; do
    s=$(openssl pkey -inform $inf -in "$1" -passin pass: -pubout -outform DER 2>/dev/null </dev/null | kw_spki)
    [ "$s" != EMPTY ] && { printf ' spki:%s' "$s"; return; }
  done
  s=$(ssh-keygen -y -P '' -f "$1" 2>/dev/null </dev/null | awk '{print $2}' | base64 -d 2>/dev/null | kw_spki)
  [ "$s" != EMPTY ] && printf ' ssh:%s' "$s"
  grep -o 'client-key-data: *[A-Za-z0-9+/=]*' "$1" 2>/dev/null | while read -r _ b; do
    s=$(printf %s "$b" | base64 -d 2>/dev/null | openssl pkey -passin pass: -pubout -outform DER 2>/dev/null | kw_spki)
    [ "$s" != EMPTY ] && printf ' spki:%s' "$s"
  done
}
command -v openssl >/dev/null 2>&1 || echo '@@gap keys|openssl is not installed: private keys are not identified'
list=$(mktemp)
timeout SECONDS find ROOTS -xdev -maxdepth DEPTH \( PRUNE \) -prune -o -type f -size -64k -print 2>/dev/null > "$list"
[ $? = 124 ] && echo '@@gap keys|the search for private keys timed out after SECONDSs'
n=$(wc -l < "$list"); echo "@@searched $n"
marker='-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY-----'
xargs -r -d '\n' grep -l -E -e "$marker" -e 'client-key-data:' < "$list" 2>/dev/null > "$list.c"
[ "$(wc -l < "$list.c")" -gt MAXFILES ] && echo '@@gap keys|more than MAXFILES files hold key material: only the first MAXFILES were identified'
{ cat "$list.c"; grep -E '\.(key|der|p8|pk8)$' "$list" | grep -vxF -f "$list.c"; } | head -n MAXFILES \
  | while IFS= read -r f; do
  fp=$(kw_fp "$f")
  if grep -q -E -e "$marker" "$f" 2>/dev/null; then k=m; elif [ -n "$fp" ]; then k=n; else continue; fi
  echo "$k|$(stat -c '%U|%G|%a' "$f")|${fp# }|$f"
done
rm -f "$list.c"
rm -f "$list"
"""


def render_keys_script() -> str:
    prune = " -o ".join(f"-path {p}" for p in KEY_SEARCH_PRUNE)
    return (_KEYS_SCRIPT.replace("ROOTS", " ".join(KEY_SEARCH_ROOTS)).replace("PRUNE", prune)
            .replace("DEPTH", str(KEY_SEARCH_DEPTH)).replace("MAXFILES", str(KEY_SEARCH_MAX_FILES))
            .replace("SECONDS", str(KEY_SEARCH_SECONDS)).replace("EMPTY", EMPTY_SHA))


#: every authorized_keys file sshd would read for every user: the AuthorizedKeysFile patterns sshd -T
#: prints (tokens expanded) and the usual places; each content line indented so it cannot fake a section.
#: One awk expands every user's patterns (a sed per user and pattern cost 0.2 s a node).
_AK_SCRIPT = r"""
akf="$(sshd -T 2>/dev/null | sed -n 's/^authorizedkeysfile //p') .ssh/authorized_keys .ssh/authorized_keys2"
getent passwd | awk -F: -v akf="$akf" '
BEGIN { n = split(akf, pats, " ") }
{
  for (i = 1; i <= n; i++) {
    p = pats[i]; out = ""
    if (p == "none") continue
    while ((j = index(p, "%")) > 0) {
      c = substr(p, j + 1, 1); out = out substr(p, 1, j - 1)
      if (c == "%") out = out "%"; else if (c == "h") out = out $6; else if (c == "u") out = out $1
      else if (c == "U") out = out $3; else out = out "%" c
      p = substr(p, j + 2)
    }
    out = out p
    if (substr(out, 1, 1) != "/") { h = $6; sub(/\/$/, "", h); out = h "/" out }
    print $1 "\t" out
  }
}' | while IFS='	' read -r u p; do
  [ -f "$p" ] || continue
  echo "@@akfile $u|$(stat -c '%U|%a' "$p")|$p"
  head -c 65536 "$p" | sed 's/^/ /'; echo
done
"""


#: certificates on nodes that the state directory does not hold (the kubelet makes its own by CSR)
NODE_CERTS = ("/var/lib/kubelet/pki/kubelet-client-current.pem",)


#: every Kubernetes and etcd process as it really runs, and the files its flags name (secrets redacted);
#: each line prefixed (a: argument, e: ETCD_* environment, v: --version, f: a config file, c: its text)
PROCS_SCRIPT = r"""for pid in $(pgrep -x 'kube-apiserver|kube-controller|kube-scheduler|etcd|kubelet|kube-proxy'); do
  [ -r /proc/$pid/cmdline ] || continue
  echo "@@proc $(cat /proc/$pid/comm) $pid"
  tr '\0' '\n' < /proc/$pid/cmdline | sed 's/^/ a /'
  [ "$(cat /proc/$pid/comm)" = etcd ] && tr '\0' '\n' < /proc/$pid/environ | grep '^ETCD_' | sed 's/^/ e /'
  echo " v $(timeout 5 /proc/$pid/exe --version 2>/dev/null </dev/null | head -n 1)"
  prev=
  tr '\0' '\n' < /proc/$pid/cmdline | while IFS= read -r a; do
    f=
    case "$a" in
      --config=*|--config-file=*|--encryption-provider-config=*) k=${a%%=*}; f=${a#*=} ;;
      *) case "$prev" in --config|--config-file|--encryption-provider-config) k=$prev; f=$a ;; esac ;;
    esac
    prev=$a
    [ -n "$f" ] || continue
    case "$f" in /*) p=$f ;; *) p=/proc/$pid/cwd/$f ;; esac
    echo " f ${k#--} $f"
    head -c 262144 "$p" 2>/dev/null | sed -E 's/^([[:space:]-]*(secret|key|token|password):).*/\1 (redacted)/; s/^/ c /'
  done
done"""


#: digests of what the outside, peer and SSH probes depend on, beyond the listening sockets and
#: sshd's configuration (sections ss and sshd): a no-op `up` reuses an earlier run's live probes only
#: while all of them are unchanged (``audit.evidence``). Every nftables table (iptables-nft's too)
#: and the legacy iptables, stateless (no counters); addresses, routes, policy rules and the sysctls
#: that let traffic through to other interfaces or to loopback-bound services; the sshd binary (it
#: executes itself anew for each connection).
STATE_SCRIPT = r"""kw_digest() { sha256sum | cut -c1-64; }
echo "ruleset $({ nft -s list ruleset; for t in iptables-legacy-save ip6tables-legacy-save; do
  command -v $t >/dev/null 2>&1 && $t | grep -v '^#'; done; } 2>&1 | kw_digest)"
echo "net $({ ip -br addr; ip route show table all; ip -6 route show table all; ip rule; ip -6 rule
  for k in net.ipv4.ip_forward net.ipv6.conf.all.forwarding net.ipv4.conf.all.route_localnet \
    net.ipv4.conf.all.rp_filter net.ipv4.conf.all.accept_local; do sysctl -n $k; done
} 2>&1 | sed -E 's/ expires [0-9]+sec//' | kw_digest)"
echo "sshd-bin $(sha256sum < "$(command -v sshd || echo /usr/sbin/sshd)" 2>&1 | cut -c1-64)"
"""


def parse_procs(lines: Sequence[str]) -> list[RunningComponent]:
    """The @@procs section: one RunningComponent per process."""
    out: list[RunningComponent] = []
    cur: dict[str, Any] | None = None

    def flush() -> None:
        if cur is not None:
            out.append(RunningComponent(cur["name"], cur["pid"], tuple(cur["args"]), cur["version"],
                                        tuple(cur["env"]), tuple(ConfigFile(k, p, "\n".join(t))
                                                                 for k, p, t in cur["configs"])))

    for line in lines:
        if line.startswith("@@proc "):
            flush()
            parts = line.split()
            if len(parts) == 3 and parts[2].isdigit() and parts[1] in COMM_NAMES:
                cur = {"name": COMM_NAMES[parts[1]], "pid": int(parts[2]), "args": [], "env": [], "version": "",
                       "configs": []}
            else:
                cur = None
        elif cur is not None and len(line) >= 3 and line[0] == " " and line[2] == " ":
            kind, text = line[1], line[3:]
            if kind == "a":
                cur["args"].append(text)
            elif kind == "e":
                cur["env"].append(text)
            elif kind == "v":
                cur["version"] = text.strip()
            elif kind == "f":
                flag, _, path = text.partition(" ")
                cur["configs"].append((flag, path, []))
            elif kind == "c" and cur["configs"]:
                cur["configs"][-1][2].append(text)
        elif cur is not None and line == " c" and cur["configs"]:  # an empty line, its trailing blank cut
            cur["configs"][-1][2].append("")
    flush()
    return out


def render_local_script(extra_paths: Sequence[str]) -> str:
    paths = " ".join(shlex.quote(p) for p in extra_paths)
    dirs = " ".join(KEY_DIRS)
    return f"""echo @@ss; ss -Htlnupe 2>/dev/null
echo @@sshd
{CONFIG_DUMP}
echo @@files
for f in {paths} $(find {dirs} -xdev -type f \\( -name '*.key' -o -name '*.pem' -o -name '*kubeconfig*' \\
    -o -name '*.conf' -path '*/kubernetes/*' -o -name 'authorized_keys' \\) -size -256k 2>/dev/null); do
  [ -f "$f" ] && echo "$(stat -c '%U|%G|%a' "$f")|$(sha256sum < "$f" | cut -d' ' -f1)|$f"
done
echo @@passwd; getent passwd | cut -d: -f1,3,4,6
echo @@group; getent group | cut -d: -f1,3,4
echo @@ak
{_AK_SCRIPT}
echo @@keys
{render_keys_script()}
echo @@procs
{PROCS_SCRIPT}
echo @@certs
for f in {" ".join(NODE_CERTS)}; do
  [ -f "$f" ] && echo "$(openssl x509 -noout -enddate -in "$f" 2>/dev/null | cut -d= -f2)|$f"
done
echo @@fw
(nft -s list table inet kubeward 2>/dev/null | sha256sum | cut -d' ' -f1) ; nft list table inet kubeward >/dev/null 2>&1 && echo present || echo absent
cat {LISTED} 2>/dev/null || echo
[ -f {RULESET} ] && sha256sum < {RULESET} | cut -d' ' -f1 || echo
echo @@state
{STATE_SCRIPT}
echo @@end
"""


def socket_digest(ss_lines: Sequence[str]) -> str:
    """sha256 of the listening sockets as ``ss -Htlnupe`` shows them: protocol, address and port,
    owning processes, and the socket's inode, which a restart or a reload (sshd executes itself
    again on SIGHUP, same pid, new sockets) changes. Queue lengths, which move, are left out, and so
    is preflight's short-lived listener."""
    rows = []
    for line in ss_lines:
        parts = line.split()
        if len(parts) < 5 or parts[0] not in ("tcp", "udp") or (
                parts[0] == "tcp" and parts[4].endswith(f":{PROBE_PORT}") and f'(("{PROBE_NAME}"' in line):
            continue
        rows.append(" ".join([parts[0], parts[4], *(p for p in parts[5:] if p.startswith(("users:", "ino:")))]))
    return hashlib.sha256("\n".join(sorted(rows)).encode()).hexdigest()


def _key_line(user: str, path: str, n: int, line: str, owner: str, mode: int) -> AuthorizedKey | None:
    """An authorized_keys line: [options] keytype base64 [comment]; options may quote spaces."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    # options come first; a double-quoted option value may hold spaces and commas
    m = re.match(r'^((?:[^\s"]|"(?:[^"\\]|\\.)*")*)\s+(\S+)\s+(\S+)', text)
    first = text.split(None, 2)
    if first and _is_key_type(first[0]) and len(first) >= 2:
        return AuthorizedKey(user, path, n, first[0], first[1], "", owner, mode)
    if m and _is_key_type(m.group(2)):
        return AuthorizedKey(user, path, n, m.group(2), m.group(3), m.group(1), owner, mode)
    return AuthorizedKey(user, path, n, "unparsed", text[:120], "", owner, mode)


def _is_key_type(word: str) -> bool:
    return word.startswith(("ssh-", "ecdsa-", "sk-")) or word.endswith("-cert-v01@openssh.com")


def parse_local(text: str) -> LocalObservation:
    sections: dict[str, list[str]] = {}
    cur = None
    for line in text.splitlines():
        if line.startswith("@@") and re.fullmatch(r"@@[a-z]+", line):
            cur = line[2:]
            sections[cur] = []
        elif cur:
            sections[cur].append(line)
    lo = LocalObservation()
    if "end" not in sections:
        lo.gaps.append(("local", "the node's local view ended early (script interrupted or output cut)"))
    lo.listeners = parse_listeners("\n".join(sections.get("ss", [])))
    _, lo.sshd_files, ok = parse_config_dump("\n".join(sections.get("sshd", [])) + "\n")
    lo.sshd = parse_settings("\n".join(sections.get("sshd", [])).partition("@@sshd-rc")[0])
    if not ok:
        lo.sshd = {}
        lo.gaps.append(("sshd", "sshd -T printed no settings: sshd's configuration was not judged"))
    seen = set()
    for line in sections.get("files", []):
        parts = line.split("|", 4)
        if len(parts) == 5 and parts[4] not in seen:
            seen.add(parts[4])
            lo.files.append(FileStat(parts[4], parts[0], parts[1], int(parts[2], 8), parts[3]))
    for line in sections.get("passwd", []):
        parts = line.split(":")
        if len(parts) == 4 and parts[1].isdigit() and parts[2].isdigit():
            lo.users[parts[0]] = (int(parts[1]), int(parts[2]), parts[3])
    for line in sections.get("group", []):
        parts = line.split(":")
        if len(parts) == 3 and parts[1].isdigit():
            lo.groups[parts[0]] = (int(parts[1]), tuple(x for x in parts[2].split(",") if x))
    ak: tuple[str, str, str, int] | None = None
    seen_ak: set[tuple[str, str]] = set()
    n = 0
    for line in sections.get("ak", []):
        if line.startswith("@@akfile "):
            parts = line[len("@@akfile "):].split("|", 3)
            ak = None
            if len(parts) == 4 and (parts[0], parts[3]) not in seen_ak:
                seen_ak.add((parts[0], parts[3]))
                ak = (parts[0], parts[3], parts[1], int(parts[2], 8) if parts[2].isdigit() else 0)
            n = 0
        elif ak is not None and line.startswith(" "):
            n += 1
            k = _key_line(ak[0], ak[1], n, line[1:], ak[2], ak[3])
            if k is not None:
                lo.authorized_keys.append(k)
    for line in sections.get("keys", []):
        if line.startswith("@@gap "):
            check, _, why = line[6:].partition("|")
            lo.gaps.append((check, why))
            continue
        parts = line.split("|", 5)
        if len(parts) == 6 and parts[0] in ("m", "n") and parts[3].isdigit():
            lo.private_keys.append(PrivateKeyFile(parts[5], parts[1], parts[2], int(parts[3], 8),
                                                  tuple(parts[4].split()), parts[0] == "m"))
    if "keys" not in sections:
        lo.gaps.append(("keys", "the private-key search printed nothing"))
    lo.components = parse_procs(sections.get("procs", []))
    for line in sections.get("certs", []):
        when, _, path = line.partition("|")
        try:  # openssl's "Nov 30 00:00:00 2027 GMT"
            lo.cert_expiry[path] = datetime.strptime(when.strip(), "%b %d %H:%M:%S %Y %Z").replace(
                tzinfo=UTC).isoformat()
        except ValueError:
            if path:
                lo.gaps.append(("certs", f"the expiry of {path} could not be read"))
    lo.state = {k: v.strip() for k, _, v in (line.partition(" ") for line in sections.get("state", [])) if v.strip()}
    if "end" in sections:  # a view cut short proves no state: the sockets and sshd sections may be partial
        lo.state["sockets"] = socket_digest(sections.get("ss", []))
        lo.state["sshd"] = hashlib.sha256("\n".join(sections.get("sshd", [])).encode()).hexdigest()
    fw = sections.get("fw", []) + ["", "", "", ""]
    live_sha, presence, recorded, persisted = fw[0].strip(), fw[1].strip(), fw[2].strip(), fw[3].strip()
    lo.firewall_live_sha = live_sha if presence == "present" else ""
    lo.firewall_recorded_sha = recorded
    lo.firewall_persisted_sha = persisted
    return lo


def serving(lo: LocalObservation) -> list[Listener]:
    """The node's listeners but preflight's own short-lived one (``evaluate.is_preflight_listener``):
    it may be gone by the time the probes run, and it is no service to probe."""
    return [x for x in lo.listeners if not is_preflight_listener(x)]


def candidate_ports(config: ClusterConfig, matrix: list[MatrixRow], host_name: str, lo: LocalObservation | None,
                    protocol: str = "tcp", include_ranges: bool = True) -> list[int]:
    """Ports worth probing on a node: what listens there, what the matrix names, the usual suspects.

    A TCP port can only be open if something listens on it, or if it is DNAT'ed (NodePorts), so
    listeners plus the matrix plus the NodePort range cover every port that can answer."""
    host = config.host(host_name)
    ports: set[int] = set(ALWAYS_PROBE) if protocol == "tcp" else set()
    if lo is not None:
        ports |= {x.port for x in serving(lo) if x.protocol == protocol}
    for row in rows_for_host(matrix, host):
        if (row.protocol == protocol and row.ports is not None and row.ports.hi - row.ports.lo < 256
                and (include_ranges or row.ports.lo == row.ports.hi)):
            ports |= set(range(row.ports.lo, row.ports.hi + 1))
    return sorted(ports)


async def tcp_state(address: str, port: int, timeout: float = CONNECT_TIMEOUT) -> str:
    try:
        _, w = await asyncio.wait_for(asyncio.open_connection(address, port), timeout)
        w.close()
        return "open"
    except ConnectionRefusedError:
        return "closed"
    except (TimeoutError, OSError):
        return "filtered"


async def udp_state(address: str, port: int, timeout: float = CONNECT_TIMEOUT) -> str:
    """closed when an ICMP port-unreachable comes back, open when data does, else open|filtered."""
    loop = asyncio.get_running_loop()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    try:
        s.connect((address, port))
        s.send(b"\x00kubeward-audit\n")
        try:
            await asyncio.wait_for(loop.sock_recv(s, 512), timeout)
            return "open"
        except ConnectionRefusedError:
            return "closed"
        except (TimeoutError, OSError):
            return "open|filtered"
    finally:
        s.close()


def render_peer_script(targets: list[tuple[str, int]], timeout: float = CONNECT_TIMEOUT) -> str:
    """Connect to every (address, port) at once: python3 when the node has it, else bash /dev/tcp."""
    args = " ".join(shlex.quote(f"{a}:{p}") for a, p in targets)
    scanner = shlex.quote(read_program("peer_scanner"))
    fallback = []
    for addr, port in targets:
        a = shlex.quote(addr)
        fallback.append(f"(timeout {timeout + 0.5} bash -c '</dev/tcp/'{a}'/{port}' 2>/dev/null; rc=$?; "
                        f"if [ $rc = 0 ]; then s=open; elif [ $rc = 124 ]; then s=filtered; else s=closed; fi; "
                        f"echo {a} {port} $s) &")
    return (f"if command -v python3 >/dev/null 2>&1; then python3 -c {scanner} {float(timeout)} {args}; else\n"
            + "\n".join(fallback) + "\nwait\nfi\n")


def context_defaults(config: ClusterConfig, name: str, operator: str) -> ContextDefaults:
    h = config.host(name)
    users = tuple(dict.fromkeys(["root", config.admin.name, h.ssh.user]))
    return ContextDefaults(users, operator or str(h.private_address), str(h.address), h.ssh.port)


async def probe_local(config: ClusterConfig, session: Session, hosts: list[str],
                      expected_paths: dict[str, list[str]], obs: Observations,
                      cached: Callable[[str], str | None] | None = None) -> None:
    """Each node's own view in one round-trip; a second one only on a node whose sshd configuration
    has Match blocks, to read sshd's effective settings in every context they can select."""

    async def one(name: str) -> LocalObservation:
        text = cached(name) if cached else None
        if text is None:
            res = await session.run(name, render_local_script(expected_paths.get(name, [])), label="audit: local view",
                                    check=False, timeout=90, reads_only=True)
            text = res.stdout
        lo = parse_local(text)
        blocks = parse_match_blocks(lo.sshd_files)
        if not blocks or not lo.sshd:
            return lo
        specs, gaps = derive_contexts(blocks, context_defaults(config, name, obs.operator_address), lo.users,
                                      lo.groups)
        lo.gaps += [("sshd-match", g) for g in gaps]
        if specs:
            res = await session.run(name, render_contexts_script(s for s, _ in specs),
                                    label="audit: sshd Match contexts", check=False, timeout=60, reads_only=True)
            got = parse_contexts(res.stdout)
            for spec, source in specs:
                settings, err = got.get(spec, (None, "no answer"))
                if settings is None:
                    lo.gaps.append(("sshd-match", f"sshd -T -C {spec} ({source}) failed: {err}"))
                else:
                    lo.sshd_contexts.append(SshdContext(spec, source, settings))
        return lo

    for name, r in (await session.each(one, hosts)).items():
        if isinstance(r, LocalObservation):
            obs.local[name] = r  # its gaps are collected by evaluate.proof_gaps
        elif isinstance(r, RemoteError):
            obs.unreachable[name] = str(r)
            obs.could_not(name, "local", f"the node could not be audited over SSH: {r}")
        else:
            raise r


def _outside_concurrency(limit: int) -> int:
    return max(64, min(4096, limit - 256))


def raise_open_files_limit() -> int:
    """Lift the soft limit on open files to the hard one: a scan holds a socket per probe."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
        except (ValueError, OSError):
            pass
    return soft


async def resolve_address(loop: asyncio.AbstractEventLoop, address: str) -> str:
    """An IP address for ``address``, once (connect_ex would look a name up for every port); an IP
    literal without the resolver's thread pool, which the other probes keep busy."""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return str((await loop.getaddrinfo(address, None, type=socket.SOCK_STREAM))[0][4][0])


async def probe_outside(config: ClusterConfig, matrix: list[MatrixRow], obs: Observations, operator: str) -> None:
    """Every candidate port of every audited node's public address, from this machine, all at once.

    TCP goes through ``sweep_tcp`` (one epoll, not a coroutine and a timer per port): a filtered port
    costs one shared timeout, the operator's CPU stays free for the other probes, and an answer that
    came before the deadline counts even when a busy event loop would have read it late (a coroutine's
    timer could fire first and call an open port filtered). Unpaced, as many at once as the process
    may hold: a few thousand SYNs, not the sweep's 65535 per node."""
    limit = raise_open_files_limit()
    window = _outside_concurrency(limit)
    sem = asyncio.Semaphore(window)
    loop = asyncio.get_running_loop()

    async def udp(host: str, addr: str, port: int) -> PortProbe:
        async with sem:
            state = await udp_state(addr, port)
        return PortProbe("outside", "operator", operator, host, addr, port, "udp", state)

    tcp: list[tuple[str, str, str, int]] = []  # node, address as configured, resolved address, port
    jobs = []
    hosts = [config.host(n) for n in obs.local]  # the audited, reachable nodes
    resolved = await asyncio.gather(*(resolve_address(loop, str(h.address)) for h in hosts), return_exceptions=True)
    for h, ip in zip(hosts, resolved, strict=True):
        lo = obs.local.get(h.name)
        if not isinstance(ip, str):
            obs.could_not(h.name, "outside", f"{h.address} does not resolve: {ip}")
            continue
        tcp += [(h.name, str(h.address), ip, port) for port in candidate_ports(config, matrix, h.name, lo)]
        for port in candidate_ports(config, matrix, h.name, lo, "udp", include_ranges=False):
            jobs.append(udp(h.name, str(h.address), port))
    try:
        found, udp_probes = await asyncio.gather(
            asyncio.to_thread(sweep_tcp, [(ip, port) for _, _, ip, port in tcp], window, CONNECT_TIMEOUT, window),
            asyncio.gather(*jobs))
    except OSError as exc:  # no sockets left: the outside view is not proven, say so
        for name in dict.fromkeys(n for n, *_ in tcp):
            obs.could_not(name, "outside", f"the outside scan failed: {exc}")
        return
    obs.ports += [PortProbe("outside", "operator", operator, name, addr, port, "tcp",
                            found.get((ip, port), "filtered")) for name, addr, ip, port in tcp]
    obs.ports += udp_probes


def _settled_state(s: socket.socket) -> str | None:
    """The state the kernel holds for a connect whose deadline passed before its answer was read
    (the process was not scheduled in between): "open", "closed", or None while it is still waiting."""
    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if err == errno.ECONNREFUSED:
        return "closed"
    if err != 0:
        return None
    try:
        s.getpeername()
    except OSError:
        return None  # the SYN is still unanswered
    return "open"


def sweep_tcp(targets: Iterable[tuple[str, int]], window: int, timeout: float = SWEEP_TIMEOUT,
              burst: int = _SWEEP_BURST) -> dict[tuple[str, int], str]:
    """Connect to every (address, port) without blocking, at most ``window`` in flight.

    Returns the ones that answered, "open" or "closed"; the others are filtered. One epoll and a
    queue of deadlines instead of a coroutine and a timer per port, so 65535 ports per node cost
    little CPU. An answer that arrives before its deadline counts even if it is read later (the
    kernel keeps the socket's state), so a busy machine does not turn open ports into filtered
    ones. SYNs are paced at ``window / timeout`` per second, in bursts of at most ``burst``,
    so that no queue on the way overflows and drops one (a lost SYN would hide an open port)."""
    results: dict[tuple[str, int], str] = {}
    ep = select.epoll()
    pending: dict[int, tuple[socket.socket, tuple[str, int]]] = {}
    queue: deque[tuple[float, socket.socket]] = deque()
    todo = iter(targets)
    exhausted = False
    rate = window / timeout
    burst = max(1, burst)
    tokens, last = float(burst), time.monotonic()

    def finish(s: socket.socket, state: str | None) -> None:
        fd = s.fileno()
        _, key = pending.pop(fd)
        ep.unregister(fd)
        s.close()
        if state is not None:
            results[key] = state

    try:
        while True:
            # a token bucket: a process that was not scheduled for a while must not send a burst
            now = time.monotonic()
            tokens, last = min(float(burst), tokens + (now - last) * rate), now
            while not exhausted and len(pending) < window and tokens >= 1:
                key = next(todo, None)
                if key is None:
                    exhausted = True
                    break
                tokens -= 1
                family = socket.AF_INET6 if ":" in key[0] else socket.AF_INET
                s = socket.socket(family, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                err = s.connect_ex(key)
                if err not in (0, errno.EINPROGRESS):
                    s.close()
                    if err in (errno.EADDRNOTAVAIL, errno.EAGAIN, errno.ENOBUFS):  # out of local resources
                        raise OSError(err, f"connect to {key[0]}:{key[1]}: {errno.errorcode[err]}")
                    if err == errno.ECONNREFUSED:
                        results[key] = "closed"
                    continue
                pending[s.fileno()] = (s, key)
                ep.register(s.fileno(), select.EPOLLOUT)
                queue.append((time.monotonic() + timeout, s))
            if exhausted and not pending:
                return results
            wait = queue[0][0] - time.monotonic() if queue else timeout
            if not exhausted:
                wait = min(wait, burst / rate)  # back in time to send the next burst
            for fd, _ in ep.poll(max(wait, 0.0), max(1, len(pending))):
                s = pending[fd][0]
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                finish(s, "open" if err == 0 else "closed" if err == errno.ECONNREFUSED else None)
            now = time.monotonic()
            while queue and (queue[0][1].fileno() == -1 or queue[0][0] <= now):
                _, s = queue.popleft()
                if s.fileno() != -1:
                    finish(s, _settled_state(s))
    finally:
        for s, _ in pending.values():
            s.close()
        ep.close()


async def probe_outside_sweep(config: ClusterConfig, matrix: list[MatrixRow], obs: Observations,
                              operator: str) -> None:
    """Every TCP port of every audited node's public address, once, from this machine.

    The candidate list of ``probe_outside`` cannot see a DNAT into another network namespace (a
    container runtime's port mapping, a hostPort): nothing listens on the node for it. This sweep
    can: it records every port that is open (closed and filtered ones are not findings, and a node
    without its firewall would fill the report with 65535 closed ports) and ``obs.swept`` says how
    many ports each node had swept. Cost: 65535 connects per node, paced, so linear in nodes. The
    candidate ports are left to ``probe_outside``, which runs at the same time."""
    limit = raise_open_files_limit()
    window = max(64, min(32768, limit - _outside_concurrency(limit) - _RESERVED_FDS))
    loop = asyncio.get_running_loop()
    targets: list[tuple[str, int]] = []
    owner: dict[str, tuple[str, str]] = {}  # resolved address -> node name, address as configured
    try:
        for h in [config.host(n) for n in obs.local]:  # the audited, reachable nodes
            ip = await resolve_address(loop, str(h.address))
            owner[ip] = (h.name, str(h.address))
            known = set(candidate_ports(config, matrix, h.name, obs.local.get(h.name)))
            ports = [p for p in range(1, 65536) if p not in known]
            targets += [(ip, p) for p in ports]
            obs.swept[h.name] = len(ports)
        found = await asyncio.to_thread(sweep_tcp, targets, window)
    except OSError as exc:  # no epoll, no sockets left, no address: the proof is incomplete, say so
        obs.sweep_error = f"the outside sweep of every TCP port failed: {exc}"
        return
    obs.ports += [PortProbe("outside", "operator", operator, owner[ip][0], owner[ip][1], port, "tcp", state)
                  for (ip, port), state in sorted(found.items()) if state == "open"]


async def probe_peers(config: ClusterConfig, matrix: list[MatrixRow], session: Session, obs: Observations,
                      plan: PeerPlan | None = None) -> None:
    """From each source of ``plan`` (every audited node to every other one without a plan), connect
    to its targets' private addresses on their candidate ports, in one round-trip per source."""
    alive = [config.host(n) for n in obs.local]  # the audited, reachable nodes
    if plan is None:
        plan = plan_peer_sources({h.name: h.role for h in alive}, full=True)
    obs.peer_plan = plan

    async def one(name: str) -> list[PortProbe]:
        me = config.host(name)
        targets = []
        owner = {}
        mine = set(plan.targets.get(name, ()))
        for other in alive:
            if other.name not in mine:
                continue
            for port in candidate_ports(config, matrix, other.name, obs.local.get(other.name),
                                        include_ranges=False):
                targets.append((str(other.private_address), port))
                owner[str(other.private_address)] = other.name
        res = await session.run(name, render_peer_script(targets), sudo=False, label="audit: peer scan", reads_only=True,
                                check=False, timeout=60)
        out = []
        for line in res.stdout.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] in owner:
                out.append(PortProbe("peer", name, str(me.private_address), owner[parts[0]], parts[0],
                                     int(parts[1]), "tcp", parts[2]))
        missing = len(set(targets) - {(p.address, p.port) for p in out})
        if missing:
            obs.could_not(name, "peer", f"the peer scan from this node gave no answer for {missing} of "
                          f"{len(targets)} address:port pairs")
        return out

    for name, r in (await session.each(one, [h.name for h in alive if plan.targets.get(h.name)])).items():
        if isinstance(r, list):
            obs.ports += r
            if not r:
                obs.could_not(name, "peer", "the peer scan from this node printed no result")
        else:
            obs.could_not(name, "peer", f"the peer scan from this node failed: {r}")


async def recheck_filtered(session: Session, obs: Observations, expected_open: Callable[[PortProbe], bool]) -> None:
    """Ask again, with a longer timeout, about filtered TCP ports that should answer.

    On a loaded machine a 1 s connect can time out on an open port; only a second, slower
    "filtered" counts. ``expected_open`` says which probes should have answered (something listens
    there and the matrix allows the source), so expected drops are not asked twice."""

    def listening(target: str, port: int) -> bool:
        lo = obs.local.get(target)
        return lo is not None and any(x.protocol == "tcp" and x.port == port and x.address not in ("127.0.0.1", "::1")
                                      for x in serving(lo))

    doubtful = [i for i, p in enumerate(obs.ports)
                if p.protocol == "tcp" and p.state == "filtered" and listening(p.target, p.port) and expected_open(p)]
    if not doubtful:
        return

    async def outside(i: int) -> None:
        p = obs.ports[i]
        obs.ports[i] = replace(p, state=await tcp_state(p.address, p.port, RECHECK_TIMEOUT))

    by_source: dict[str, list[int]] = {}
    for i in doubtful:
        if obs.ports[i].vantage == "peer":
            by_source.setdefault(obs.ports[i].source, []).append(i)

    async def peer(source: str) -> None:
        idx = by_source[source]
        script = render_peer_script([(obs.ports[i].address, obs.ports[i].port) for i in idx], RECHECK_TIMEOUT)
        try:
            res = await session.run(source, script, sudo=False, label="audit: peer re-check", check=False,
                                    timeout=60, reads_only=True)
        except RemoteError as exc:
            obs.could_not(source, "peer", f"re-checking filtered ports from this node failed: {exc}")
            return
        states = {(a, int(port)): st for a, port, st in (line.split() for line in res.stdout.splitlines()
                                                          if len(line.split()) == 3)}
        for i in idx:
            p = obs.ports[i]
            obs.ports[i] = replace(p, state=states.get((p.address, p.port), p.state))

    await asyncio.gather(*(outside(i) for i in doubtful if obs.ports[i].vantage == "outside"),
                         *(peer(s) for s in by_source))


def _sans(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        ext = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    except x509.ExtensionNotFound:
        return ()
    assert isinstance(ext, x509.SubjectAlternativeName)
    names: list[str] = [str(n) for n in ext.get_values_for_type(x509.DNSName)]
    names += [str(ip) for ip in ext.get_values_for_type(x509.IPAddress)]
    return tuple(names)


HTTP_PATHS = {"kube-apiserver": "/api", "kubelet": "/pods", "etcd-client": "/version", "etcd-peer": "/version"}


async def _served(local_port: int, node: str, path: str) -> tuple[str, bytes, bool | None, int | None]:
    """One anonymous TLS handshake and HTTP GET: (handshake, certificate DER, client certificate
    required, HTTP status)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    handshake, der, required, status = "ok", b"", None, None
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", local_port, ssl=ctx, server_hostname=node), 5)
        sslobj = writer.get_extra_info("ssl_object")
        der = sslobj.getpeercert(binary_form=True) if sslobj else b""
        try:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {node}\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
            head = await asyncio.wait_for(reader.read(256), 5)
            m = re.match(rb"HTTP/\d\.\d (\d{3})", head)
            if m:
                status, required = int(m.group(1)), False
            elif not head:
                required = True  # the server closed the connection: no certificate, no service
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as exc:
            required = "certificate" in str(exc).lower() or isinstance(exc, ConnectionResetError)
        writer.close()
    except ssl.SSLError as exc:
        handshake = f"TLS handshake failed: {exc.reason or exc}"
        required = "certificate" in str(exc).lower() or None
    except (TimeoutError, OSError) as exc:
        handshake = f"no TLS service: {exc or 'timeout'}"
    return handshake, der, required, status


async def tls_probe(local_port: int, node: str, node_names: set[str], row: MatrixRow, port: int,
                    ca_name: str, ca: x509.Certificate | None) -> TlsProbe:
    """The served certificate, client-certificate enforcement and an anonymous request, with the
    TLS 1.1 and 1.0 attempts at the same time (each is a connection through SSH to the node)."""
    path = HTTP_PATHS.get(row.key, "/")
    (handshake, der, required, status), legacy = await asyncio.gather(_served(local_port, node, path),
                                                                      _legacy_tls(local_port, node))
    chain_ok, chain_error, san_ok = False, "no certificate", False
    sans: tuple[str, ...] = ()
    if der:
        cert = x509.load_der_x509_certificate(der)
        sans = _sans(cert)
        san_ok = bool(node_names & set(sans))
        if ca is None:
            chain_error = f"kubeward's {ca_name} is not in the state directory"
        else:
            try:
                cert.verify_directly_issued_by(ca)
                chain_ok, chain_error = True, ""
            except (ValueError, TypeError, Exception) as exc:  # InvalidSignature has no message
                chain_error = (f"issued by {cert.issuer.rfc4514_string()}, not by kubeward's {ca_name} "
                               f"({type(exc).__name__})")
    not_after = cert.not_valid_after_utc.isoformat() if der else ""
    return TlsProbe(node, port, row.key, handshake, legacy, chain_ok, chain_error, ca_name, san_ok, sans,
                    required, status, path, not_after)


async def _legacy_tls(local_port: int, node: str) -> str:
    """"TLS 1.1" or "TLS 1.0" when a handshake with only that version succeeds, else ""."""

    async def accepted(version: ssl.TLSVersion) -> bool:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        try:
            ctx.set_ciphers("ALL:@SECLEVEL=0")
            with warnings.catch_warnings():  # deprecated: that is what is probed
                warnings.simplefilter("ignore", DeprecationWarning)
                ctx.minimum_version = version
                ctx.maximum_version = version
        except (ValueError, ssl.SSLError):
            return False
        try:
            _, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", local_port, ssl=ctx,
                                                                  server_hostname=node), 5)
            w.close()
            return True
        except (TimeoutError, ssl.SSLError, OSError):
            return False

    versions = ((ssl.TLSVersion.TLSv1_1, "TLS 1.1"), (ssl.TLSVersion.TLSv1, "TLS 1.0"))
    results = await asyncio.gather(*(accepted(v) for v, _ in versions))
    return next((name for (_, name), ok in zip(versions, results, strict=True) if ok), "")


#: rows served with certificates of another signer than the cluster CA: kubelets serve what the
#: controller-manager signed for their CSR, with the kubelet-signer intermediate (itself under ca)
SIGNER_OF_ROW = {"kubelet": "kubelet-signer"}


async def probe_tls(config: ClusterConfig, matrix: list[MatrixRow], session: Session, obs: Observations,
                    cas: dict[str, x509.Certificate]) -> None:
    """TLS rows with a listener, probed through an SSH channel from the node itself."""

    async def one(name: str) -> list[TlsProbe]:
        h = config.host(name)
        lo = obs.local.get(name)
        if lo is None:
            return []
        wanted: list[tuple[MatrixRow, int, str]] = []
        for row in rows_for_host(matrix, h):
            if not row.tls or row.ports is None or row.ports.lo != row.ports.hi:
                continue
            for x in serving(lo):
                if x.protocol == "tcp" and x.port == row.ports.lo:
                    dest = str(h.private_address) if x.address in ("*", "0.0.0.0", "::") else x.address
                    wanted.append((row, x.port, dest))
                    break
        if not wanted:
            return []
        forwards = [Forward(r.key, dest, port) for r, port, dest in wanted]
        tun = Tunnel(session, name, forwards, lambda m: None)
        await tun.start()
        try:
            names = {name, str(h.private_address), str(h.address)}

            def ca_of(row: MatrixRow) -> str:
                return SIGNER_OF_ROW.get(row.key, "etcd-ca" if row.key.startswith("etcd") else "ca")

            return list(await asyncio.gather(*(
                tls_probe(f.local_port, name, names, row, port, ca_of(row), cas.get(ca_of(row)))
                for (row, port, _), f in zip(wanted, forwards, strict=True))))
        finally:
            await tun.close()

    for name, r in (await session.each(one, [h for h in obs.local])).items():
        if isinstance(r, list):
            obs.tls += r
        else:
            obs.could_not(name, "tls", f"the TLS/HTTP probes through SSH failed: {r}")


#: the auth-methods probe asks for classic curve25519 first (the default list follows, so a server
#: without it still answers): the methods sshd names do not depend on the key exchange, and the
#: post-quantum hybrid one costs both ends about five times the CPU (30 nodes: 2.8 s against 0.5 s
#: here). The key exchanges sshd accepts are judged from `sshd -T` (KW-SSHD-ALGORITHMS).
PROBE_KEX = "KexAlgorithms=^curve25519-sha256,curve25519-sha256@libssh.org"


#: seconds one auth-methods probe may take (its connect timeout is 10 s)
SSH_AUTH_TIMEOUT = 20


def parse_auth_methods(name: str, stderr: str) -> SshAuthProbe:
    """What OpenSSH printed when sshd refused it: "Permission denied (publickey)."; else the error."""
    m = re.search(r"Permission denied \(([^)]*)\)", stderr)
    if not m:
        return SshAuthProbe(name, (), stderr.strip()[-300:] or "no answer")
    return SshAuthProbe(name, tuple(x for x in m.group(1).split(",") if x))


async def probe_ssh_auth(config: ClusterConfig, session: Session, obs: Observations) -> None:
    """What sshd offers an unauthenticated client, from this machine, with OpenSSH (host keys
    verified). One shell starts every node's client: spawning 30 processes from the event loop
    would stop the other probes for a second or more on a busy machine (each fork waits for its
    child's exec); each client's stderr goes to its own file."""
    names = list(obs.local)
    if not names:
        return
    known = render_known_hosts_for(targets_for(config), session.trust)
    with tempfile.TemporaryDirectory(prefix="kubeward-audit-ssh-") as tmp:
        kh = Path(tmp) / "known_hosts"
        kh.write_text(known)
        lines = []
        for i, name in enumerate(names):
            t = target_for(config.host(name))
            probe_target = type(t)(t.name, t.address, t.port, "kubeward-audit-nobody", t.key_path, t.host_key,
                                   t.bastion)
            argv = openssh_argv(probe_target, kh, ["true"], tty=False,
                                extra=("-o", "BatchMode=yes", "-o", "PreferredAuthentications=password",
                                       "-o", "NumberOfPasswordPrompts=0", "-o", PROBE_KEX))
            lines.append(f"timeout {SSH_AUTH_TIMEOUT} {shlex.join(argv)} </dev/null >/dev/null "
                         f"2>{shlex.quote(f'{tmp}/{i}.err')} &")
        proc = await asyncio.create_subprocess_exec("sh", "-c", "\n".join([*lines, "wait"]),
                                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                                    stderr=subprocess.DEVNULL, start_new_session=True)
        failed = ""
        try:
            await asyncio.wait_for(proc.wait(), SSH_AUTH_TIMEOUT + 5)
        except TimeoutError:
            failed = f"no answer within {SSH_AUTH_TIMEOUT + 5} s"
        finally:
            if proc.returncode is None:  # the shell and every client it started
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        # a probe that got no answer is kept with its error: evaluate.proof_gaps reports it as not proven
        for i, name in enumerate(names):
            try:
                err = (Path(tmp) / f"{i}.err").read_text(errors="replace")
            except OSError as exc:
                err = f"probe failed: {exc}"
            probe = parse_auth_methods(name, err)
            obs.ssh_auth.append(replace(probe, error=f"{failed}: {probe.error}") if failed and not probe.methods
                                else probe)
