"""Pure planning of a lab: names, namespaces, interface names and addresses.

Nothing here touches the machine. A lab is identified by its name and a small integer *slot*
that picks its subnets from a pool, so that labs side by side never collide.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from kubeward.errors import LabError

#: every lab subnet is carved out of this pool: slot k gets 10.231.(2k).0/24 (public) and
#: 10.231.(2k+1).0/24 (private).
POOL = ipaddress.IPv4Network("10.231.0.0/16")
MAX_SLOTS = 128
MAX_NODES = 240
FIRST_HOST = 10
NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,11}$")
NETNS_PREFIX = "kubeward-"


@dataclass(frozen=True)
class NodePlan:
    index: int  # 1-based
    name: str
    role: str  # "control-plane" | "worker"
    netns: str
    public_address: ipaddress.IPv4Address
    private_address: ipaddress.IPv4Address
    host_veth: str  # host end of the public link (host namespace)
    switch_veth: str  # switch end of the private link (the lab's switch namespace)


@dataclass(frozen=True)
class LabPlan:
    name: str
    slot: int
    public_subnet: ipaddress.IPv4Network
    private_subnet: ipaddress.IPv4Network
    gateway: ipaddress.IPv4Address  # the operator's (host's) address on the public network
    public_bridge: str  # in the host namespace
    switch_netns: str  # holds the private bridge; the host has no address there
    nodes: tuple[NodePlan, ...]

    @property
    def control_planes(self) -> tuple[NodePlan, ...]:
        return tuple(n for n in self.nodes if n.role == "control-plane")

    def node(self, name: str) -> NodePlan:
        for n in self.nodes:
            if n.name == name:
                return n
        known = ", ".join(n.name for n in self.nodes)
        raise LabError(f"lab {self.name!r} has no node {name!r} (nodes: {known})")


def check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name):
        raise LabError(
            f"invalid lab name {name!r}: use 1-12 lower-case letters and digits, starting with a letter "
            "(it becomes part of hostnames and interface names)"
        )
    return name


def subnets_for_slot(slot: int) -> tuple[ipaddress.IPv4Network, ipaddress.IPv4Network]:
    if not 0 <= slot < MAX_SLOTS:
        raise LabError(f"lab slot {slot} is outside 0..{MAX_SLOTS - 1}")
    base = int(POOL.network_address)
    public = ipaddress.IPv4Network((base + (2 * slot) * 256, 24))
    private = ipaddress.IPv4Network((base + (2 * slot + 1) * 256, 24))
    return public, private


def pick_slot(
    used_slots: Iterable[int], host_networks: Iterable[ipaddress.IPv4Network]
) -> int:
    """The lowest slot not used by another lab and whose subnets overlap no route of the host."""
    used = set(used_slots)
    taken = list(host_networks)
    for slot in range(MAX_SLOTS):
        if slot in used:
            continue
        pub, priv = subnets_for_slot(slot)
        if any(pub.overlaps(n) or priv.overlaps(n) for n in taken):
            continue
        return slot
    raise LabError(
        f"no free lab slot: {len(used)} labs exist and the pool {POOL} is exhausted; "
        "remove one with `kubeward lab down --name NAME`"
    )


def node_names(lab: str, nodes: int, control_planes: int) -> list[tuple[str, str]]:
    if nodes < 1 or nodes > MAX_NODES:
        raise LabError(f"--nodes must be between 1 and {MAX_NODES}, got {nodes}")
    if control_planes < 1 or control_planes > nodes:
        raise LabError(f"--control-planes must be between 1 and --nodes ({nodes}), got {control_planes}")
    out = [(f"{lab}-cp{i}", "control-plane") for i in range(1, control_planes + 1)]
    out += [(f"{lab}-w{i}", "worker") for i in range(1, nodes - control_planes + 1)]
    return out


def new_plan(name: str, slot: int, nodes: int, control_planes: int) -> LabPlan:
    check_name(name)
    public, private = subnets_for_slot(slot)
    plans = []
    for i, (node, role) in enumerate(node_names(name, nodes, control_planes), start=1):
        plans.append(
            NodePlan(
                index=i,
                name=node,
                role=role,
                netns=f"{NETNS_PREFIX}{name}-{node.removeprefix(name + '-')}",
                public_address=public.network_address + FIRST_HOST + i - 1,
                private_address=private.network_address + FIRST_HOST + i - 1,
                host_veth=f"kw{slot}n{i}p",
                switch_veth=f"n{i}",
            )
        )
    return LabPlan(
        name=name,
        slot=slot,
        public_subnet=public,
        private_subnet=private,
        gateway=public.network_address + 1,
        public_bridge=f"kw{slot}pub",
        switch_netns=f"{NETNS_PREFIX}{name}-switch",
        nodes=tuple(plans),
    )
