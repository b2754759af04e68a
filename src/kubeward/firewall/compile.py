"""Compile the port matrix and the inventory into one node's nftables table (pure, no I/O).

``plan_host_firewall`` decides what the node accepts; ``render_ruleset`` writes it as an ``nft -f``
file and ``export_rules`` as provider-neutral data (for cloud firewalls and the audit).

The file replaces only ``table inet kubeward``: it creates the table empty, deletes it and defines
it again in one ``nft -f`` transaction, so the swap is atomic and the tables kube-proxy and the CNI
program (iptables-nft included) are never touched. It never says ``flush ruleset``.

What the table does, and why:

* **input** (priority 0, policy drop): established/related first, so the live SSH session survives
  the swap; invalid dropped; loopback accepted (every "self" row of the matrix); with
  ``network.ipv6: drop`` all other IPv6 dropped; the ICMP types path MTU discovery and diagnostics
  need; explicit drops for the rows nobody may reach (10255, 8080) *before* any accept, so no
  extra port can reopen them; then one accept per (matrix row, source), the source being a named
  set, so the number of rules never depends on the number of nodes; then ``counter dropped``.
* **prerouting** (filter, priority -150): kube-proxy DNATs NodePorts in its own prerouting chain at
  dstnat (-100), after which the packet is forwarded to a pod and never meets the input hook. So
  NodePort traffic to this node's own addresses is checked here first, against the NodePort row's
  sources.
* **output** (policy accept): the node may connect anywhere; with ``ipv6: drop`` outgoing IPv6 is
  rejected (not dropped) so programs fall back to IPv4 at once.
* **forward** (filter, priority 0, policy drop): a DNAT into another network namespace (a container
  runtime's port mapping, a CNI ``hostPort``, kube-proxy's NodePorts) turns inbound traffic into
  forwarded traffic that the input chain never sees. The forward hook runs after every prerouting
  DNAT (dstnat, -100), so the rules see the translated packet and its conntrack entry. It accepts
  established/related traffic, NodePorts (``ct status dnat`` with the original port in the NodePort
  range: only what the prerouting guard let through can be DNATed from there), the pod network
  (pod to pod, pod out via the private interface, nodes to pods on the private interface) and drops
  everything else, so nothing from outside reaches a namespace through a DNAT kubeward does not know.
  Other tables (kube-proxy's iptables-nft, the CNI's) hook forward too: a packet must be accepted
  by every base chain on the hook, so this drop is final whatever they say, and their drops still
  apply to what this chain accepts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, collapse_addresses
from typing import Literal

from kubeward.catalog.matrix import (
    CNI_POD_INTERFACES,
    MatrixRow,
    Source,
    SourceName,
    build_matrix,
    expand_source,
    rows_for_host,
)
from kubeward.config.model import ClusterConfig, HostConfig
from kubeward.config.values import PortRange

TABLE = "kubeward"
#: must run before kube-proxy's DNAT at dstnat (-100)
PREROUTING_PRIORITY = -150
DROP_COUNTER = "dropped"

Family = Literal["ip", "ip6"]
Network = IPv4Network | IPv6Network

#: source name -> named set (IPv4); the IPv6 twin, when IPv6 is allowed, is the name + "6"
SET_NAMES: dict[SourceName, str] = {
    "nodes": "nodes",
    "control-planes": "control_planes",
    "admin": "admin",
    "trusted": "trusted",
    "nodeport-sources": "nodeport_sources",
    "pods": "pods",
}
#: sources that can hold IPv6 networks (nodes and pods are IPv4-only)
_V6_SOURCES: tuple[SourceName, ...] = ("admin", "trusted", "nodeport-sources")
_ICMP_TYPES = "destination-unreachable, time-exceeded, parameter-problem"
_ICMPV6_TYPES = (
    "destination-unreachable, packet-too-big, time-exceeded, parameter-problem, "
    "nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert"
)


@dataclass(frozen=True)
class NamedSet:
    """One nftables set of addresses; ``interval`` sets hold CIDRs."""

    name: str
    family: Family
    interval: bool
    elements: tuple[str, ...]

    @property
    def type(self) -> str:
        return "ipv4_addr" if self.family == "ip" else "ipv6_addr"


@dataclass(frozen=True)
class Allow:
    """Accept one matrix row from one source.

    ``set_name`` names the set matched (``ip saddr @nodes``); ``cidrs`` are literal networks when
    there is no set (CIDRs written in firewall.extra_ports); neither means any source (world).
    ``interfaces`` restricts the input interface (the private one for node traffic). ``source``
    is None for literal CIDRs.
    """

    row: MatrixRow
    source: Source | None
    family: Family | None
    set_name: str | None
    cidrs: tuple[Network, ...]
    interfaces: tuple[str, ...]


@dataclass(frozen=True)
class HostFirewall:
    """Everything one node's table contains, before it is written as text."""

    cluster: str
    host: HostConfig
    ipv6: Literal["drop", "allow"]
    sets: tuple[NamedSet, ...]
    closed: tuple[MatrixRow, ...]
    allows: tuple[Allow, ...]
    nodeport_ranges: tuple[PortRange, ...]
    nodeport_allows: tuple[Allow, ...]
    #: the CNI's interfaces on this node (the pod bridge and the overlay)
    pod_interfaces: tuple[str, ...] = ()


# --- planning ------------------------------------------------------------------------------------


def _collapse(nets: Iterable[Network]) -> tuple[Network, ...]:
    """IPv4 then IPv6 networks, overlaps merged: nft refuses overlapping intervals in one set."""
    nets = tuple(nets)
    v4 = [n for n in nets if isinstance(n, IPv4Network)]
    v6 = [n for n in nets if isinstance(n, IPv6Network)]
    return (*collapse_addresses(v4), *collapse_addresses(v6))


def _net_text(n: Network) -> str:
    # as nft lists it: a single address without /32 or /128
    return str(n.network_address) if n.prefixlen == n.max_prefixlen else str(n)


def _collapsed_text(nets: Iterable[Network], version: int) -> tuple[str, ...]:
    return tuple(_net_text(n) for n in _collapse(nets) if n.version == version)


def _named_sets(config: ClusterConfig) -> tuple[NamedSet, ...]:
    sets: list[NamedSet] = []
    for source, name in SET_NAMES.items():
        if source in ("nodes", "control-planes"):
            # addresses, not /32 networks: the set is not an interval set, and this is the big one
            hosts = config.hosts if source == "nodes" else config.control_planes
            addrs = sorted({h.private_address for h in hosts}, key=int)
            sets.append(NamedSet(name, "ip", False, tuple(str(a) for a in addrs)))
        else:
            sets.append(NamedSet(name, "ip", True, _collapsed_text(expand_source(config, source), 4)))
    if config.network.ipv6 == "allow":
        for source in _V6_SOURCES:
            nets6 = _collapsed_text(expand_source(config, source), 6)
            sets.append(NamedSet(SET_NAMES[source] + "6", "ip6", True, nets6))
    return tuple(sets)


def _interfaces(config: ClusterConfig, host: HostConfig, source: Source) -> tuple[str, ...]:
    if source in ("nodes", "control-planes"):
        return (host.private_interface,)
    if source == "pods":
        return CNI_POD_INTERFACES[config.network.cni]
    return ()


def _allows(config: ClusterConfig, host: HostConfig, row: MatrixRow) -> list[Allow]:
    v6 = config.network.ipv6 == "allow"
    out: list[Allow] = []
    literal: list[Network] = []
    for source in row.sources:
        if isinstance(source, IPv4Network | IPv6Network):
            literal.append(source)
        elif source == "world":
            out.append(Allow(row, source, None, None, (), ()))
        elif source in SET_NAMES:
            ifaces = _interfaces(config, host, source)
            out.append(Allow(row, source, "ip", SET_NAMES[source], (), ifaces))
            if v6 and source in _V6_SOURCES:
                out.append(Allow(row, source, "ip6", SET_NAMES[source] + "6", (), ifaces))
        # "self" is accepted on loopback, "nobody" dropped explicitly: no accept for either
    merged = _collapse(literal)
    families: tuple[tuple[Family, int], ...] = (("ip", 4), ("ip6", 6)) if v6 else (("ip", 4),)
    for family, version in families:
        nets = tuple(n for n in merged if n.version == version)
        if nets:
            out.append(Allow(row, None, family, None, nets, ()))
    return out


def plan_host_firewall(config: ClusterConfig, host: HostConfig | str) -> HostFirewall:
    """What one node's table accepts and drops, from the matrix rows that apply to it."""
    h = config.host(host) if isinstance(host, str) else host
    rows = rows_for_host(build_matrix(config), h)
    closed = tuple(r for r in rows if r.closed)
    allows: list[Allow] = []
    for row in rows:
        if row.closed or row.local_only:
            continue
        allows += _allows(config, h, row)
    nodeport_rows = [r for r in rows if r.key.startswith("nodeport-")]
    ranges = tuple(dict.fromkeys(r.ports for r in nodeport_rows if r.ports is not None))
    # one guard for both protocols: the tcp and udp rows share their range and sources
    guard = tuple(a for a in allows if a.row.key == "nodeport-tcp")
    return HostFirewall(
        cluster=config.name,
        host=h,
        ipv6=config.network.ipv6,
        sets=_named_sets(config),
        closed=closed,
        allows=tuple(allows),
        nodeport_ranges=ranges,
        nodeport_allows=guard,
        pod_interfaces=CNI_POD_INTERFACES[config.network.cni],
    )


# --- nft text ------------------------------------------------------------------------------------


def _quote(text: str) -> str:
    # nft strings cannot hold '"'; comments are capped at 128 bytes
    return '"' + text.replace('"', "'").replace("\\", "/")[:120] + '"'


def _set_or_list(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else "{ " + ", ".join(items) + " }"


def _match_ports(row: MatrixRow) -> str:
    if row.protocol == "esp" or row.ports is None:
        return f"meta l4proto {row.protocol}"
    return f"{row.protocol} dport {row.ports}"


def _match_source(a: Allow) -> str:
    parts = []
    if a.interfaces:
        parts.append("iifname " + _set_or_list([f'"{i}"' for i in a.interfaces]))
    if a.set_name is not None:
        parts.append(f"{a.family} saddr @{a.set_name}")
    elif a.cidrs:
        parts.append(f"{a.family} saddr " + _set_or_list([_net_text(n) for n in a.cidrs]))
    return " ".join(parts)


def _accept_line(a: Allow, *, guard: bool = False) -> str:
    # the guard's jump already matched protocol and port range
    parts = [_match_source(a)] if guard else [_match_source(a), _match_ports(a.row)]
    comment = "nodeport" if guard else a.row.key
    return " ".join(p for p in parts if p) + f" accept comment {_quote(comment)}"


def _render_set(s: NamedSet) -> list[str]:
    lines = [f"\tset {s.name} {{", f"\t\ttype {s.type}"]
    if s.interval:
        lines.append("\t\tflags interval")
    if s.elements:
        per_line = 8
        chunks = [s.elements[i : i + per_line] for i in range(0, len(s.elements), per_line)]
        body = [", ".join(c) for c in chunks]
        if len(body) == 1:
            lines.append(f"\t\telements = {{ {body[0]} }}")
        else:
            lines.append(f"\t\telements = {{ {body[0]},")
            lines += [f"\t\t\t     {b}," for b in body[1:-1]]
            lines.append(f"\t\t\t     {body[-1]} }}")
    lines.append("\t}")
    return lines


_DROP = f'counter name "{DROP_COUNTER}" drop'


def _prerouting(fw: HostFirewall) -> list[str]:
    if not fw.nodeport_ranges:
        return []
    ranges = _set_or_list([str(r) for r in fw.nodeport_ranges])
    return [
        "\tchain prerouting {",
        f"\t\ttype filter hook prerouting priority {PREROUTING_PRIORITY}; policy accept;",
        '\t\tiif "lo" accept',
        "\t\tct state established,related accept",
        f"\t\tmeta l4proto {{ tcp, udp }} th dport {ranges} fib daddr type local jump nodeport_guard",
        "\t}",
        "",
        "\tchain nodeport_guard {",
        *[f"\t\t{_accept_line(a, guard=True)}" for a in fw.nodeport_allows],
        f'\t\t{_DROP} comment "nodeport-guard"',
        "\t}",
        "",
    ]


def _input(fw: HostFirewall) -> list[str]:
    out = [
        "\tchain input {",
        "\t\ttype filter hook input priority 0; policy drop;",
        "\t\tct state established,related accept",
        f"\t\tct state invalid {_DROP}",
        '\t\tiif "lo" accept',
    ]
    if fw.ipv6 == "drop":
        out.append(f'\t\tmeta nfproto ipv6 {_DROP} comment "ipv6-drop"')
    out += [
        f"\t\ticmp type {{ {_ICMP_TYPES} }} accept",
        "\t\ticmp type echo-request limit rate 10/second burst 20 packets accept",
    ]
    if fw.ipv6 == "allow":
        out += [
            f"\t\ticmpv6 type {{ {_ICMPV6_TYPES} }} accept",
            "\t\ticmpv6 type echo-request limit rate 10/second burst 20 packets accept",
        ]
    # before any accept, so no extra port or NodePort range can reopen them
    for r in fw.closed:
        out.append(f"\t\t{_match_ports(r)} {_DROP} comment {_quote(f'{r.key}: must stay closed')}")
    out += [f"\t\t{_accept_line(a)}" for a in fw.allows]
    return [*out, f"\t\t{_DROP}", "\t}", ""]


def _forward(fw: HostFirewall) -> list[str]:
    private = f'"{fw.host.private_interface}"'
    pods = [f'"{i}"' for i in fw.pod_interfaces]
    out = [
        "\tchain forward {",
        "\t\ttype filter hook forward priority 0; policy drop;",
        "\t\tct state established,related accept",
        f"\t\tct state invalid {_DROP}",
    ]
    if fw.ipv6 == "drop":
        out.append(f'\t\tmeta nfproto ipv6 {_DROP} comment "ipv6-drop"')
    if fw.nodeport_ranges:
        # the guard in prerouting has checked the source before kube-proxy's DNAT. One rule per
        # protocol: with `meta l4proto { tcp, udp }` nft lists the port as "[invalid type]", and
        # the listing (what the rollback restores) would no longer load.
        ranges = _set_or_list([str(r) for r in fw.nodeport_ranges])
        out += [f"\t\tct status dnat meta l4proto {proto} ct original proto-dst {ranges} accept "
                f'comment "nodeport"' for proto in ("tcp", "udp")]
    out.append(f"\t\tiifname {_set_or_list([*pods, private])} ip saddr @pods ip daddr @pods accept "
               f'comment "pod-network"')
    if pods:
        out.append(f'\t\tiifname {_set_or_list(pods)} ip saddr @pods oifname {private} accept '
                   f'comment "pod-network"')
    out += [
        f'\t\tiifname {private} ip saddr @nodes ip daddr @pods accept comment "pod-network"',
        f'\t\t{_DROP} comment "forward"',
        "\t}",
        "",
    ]
    return out


def _output(fw: HostFirewall) -> list[str]:
    out = ["\tchain output {", "\t\ttype filter hook output priority 0; policy accept;"]
    if fw.ipv6 == "drop":
        out.append('\t\tmeta nfproto ipv6 oif != "lo" reject comment "ipv6-drop"')
    return [*out, "\t}"]


def render_host_firewall(fw: HostFirewall) -> str:
    """An ``nft -f`` file that atomically replaces table inet kubeward with this plan."""
    h = fw.host
    out = [
        f"# kubeward host firewall of {h.name} ({h.role}), cluster {fw.cluster}.",
        "# Generated from cluster.yml by kubeward; edits are overwritten. Load with: nft -f FILE",
        "# It replaces only table inet kubeward, atomically; other tables (kube-proxy, CNI) stay.",
        f"table inet {TABLE} {{}}",
        f"delete table inet {TABLE}",
        f"table inet {TABLE} {{",
    ]
    for s in fw.sets:
        out += _render_set(s)
    out += [f"\tcounter {DROP_COUNTER} {{", "\t}", ""]
    out += _prerouting(fw) + _input(fw) + _forward(fw) + _output(fw)
    return "\n".join([*out, "}", ""])


def render_ruleset(config: ClusterConfig, host: HostConfig | str) -> str:
    """The ``nft -f`` file for one node: table inet kubeward, replaced atomically."""
    return render_host_firewall(plan_host_firewall(config, host))


# --- provider-neutral export ---------------------------------------------------------------------


@dataclass(frozen=True)
class ExportRule:
    """One inbound rule for any firewall (a cloud security group, the audit): sources as CIDRs.

    ``source`` is the matrix source name ("nodes", "admin", ...), "cidrs" for literal CIDRs from
    cluster.yml, or "any" for explicit drops. ``ports`` is None for ESP.
    """

    action: Literal["accept", "drop"]
    protocol: str
    ports: str | None
    source: str
    source_cidrs: tuple[str, ...]
    interfaces: tuple[str, ...]
    target_host: str
    target_role: str
    component: str
    reason: str
    direction: Literal["inbound"] = "inbound"

    def to_dict(self) -> dict[str, object]:
        return {
            "direction": self.direction,
            "action": self.action,
            "protocol": self.protocol,
            "ports": self.ports,
            "source": self.source,
            "source_cidrs": list(self.source_cidrs),
            "interfaces": list(self.interfaces),
            "target_host": self.target_host,
            "target_role": self.target_role,
            "component": self.component,
            "reason": self.reason,
        }


def _expanded(config: ClusterConfig, a: Allow) -> tuple[str, ...]:
    if a.source is None:
        return tuple(str(n) for n in a.cidrs)
    version = {None: 0, "ip": 4, "ip6": 6}[a.family]
    return tuple(str(n) for n in expand_source(config, a.source) if version in (0, n.version))


def export_rules(config: ClusterConfig, host: HostConfig | str) -> list[ExportRule]:
    """One node's firewall as provider-neutral inbound rules, sources expanded to CIDRs.

    Explicit drops come first, then accepts; anything not listed is dropped. Return traffic of
    established connections, loopback and ICMP are implied, as every stateful firewall does them.
    """
    fw = plan_host_firewall(config, host)
    h = fw.host
    world = tuple(str(n) for n in expand_source(config, "world"))
    out = [
        ExportRule("drop", r.protocol, None if r.ports is None else str(r.ports), "any", world, (),
                   h.name, h.role, r.component, r.description)
        for r in fw.closed
    ]
    for a in fw.allows:
        r = a.row
        out.append(
            ExportRule("accept", r.protocol, None if r.ports is None else str(r.ports),
                       "cidrs" if a.source is None else str(a.source), _expanded(config, a), a.interfaces,
                       h.name, h.role, r.component, r.description)
        )
    return out


def render_ruleset_json(config: ClusterConfig, host: HostConfig | str) -> str:
    """``export_rules`` as a JSON array."""
    return json.dumps([r.to_dict() for r in export_rules(config, host)], indent=2)


def render_rules_markdown(rules: Sequence[ExportRule]) -> str:
    """Export rules as a Markdown table; long source lists are summarised."""
    lines = [
        "| host | action | protocol | ports | source | source CIDRs | interface | component |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rules:
        cidrs = r.source_cidrs
        shown = ", ".join(cidrs[:4]) + (f", ... ({len(cidrs)} in all)" if len(cidrs) > 4 else "")
        lines.append(
            f"| {r.target_host} | {r.action} | {r.protocol} | {r.ports or '-'} | {r.source} "
            f"| {shown or '(none)'} | {', '.join(r.interfaces) or 'any'} | {r.component} |"
        )
    return "\n".join(lines) + "\n"


def render_ruleset_markdown(config: ClusterConfig, host: HostConfig | str) -> str:
    """One node's export rules as a Markdown table, ending with the default drop."""
    h = config.host(host) if isinstance(host, str) else host
    table = render_rules_markdown(export_rules(config, h))
    return table + f"| {h.name} | drop | any | any | any | | any | everything else |\n"
