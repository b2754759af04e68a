"""Which nodes the peer scan probes from (pure).

Why a sample proves the rules: the firewall of a node is compiled from its role and cluster.yml,
and every address it admits is an element of a named set, so two nodes of one role have the same
rules and every source of one role is matched by the same rule. The local view compares each
node's live table with the one compiled for it (KW-FW-DRIFT, KW-FW-MISSING), so a node whose table
is proven equal behaves as every other node of its role. Probing every target from ``per_pair``
sources of each role therefore tests every rule a full mesh would, at a cost that grows with the
nodes, not their square. Sources rotate with the run index so that, run after run, every node
probes. A target whose table is not proven equal to its compiled one (drifted, missing, unknown)
is probed from every other node, as ``full`` does for all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Any

#: sources per (source role, target role) that probe each target, unless ``--full``
PEER_SOURCES_PER_ROLE = 2


@dataclass(frozen=True)
class PeerPlan:
    """``targets[source]``: the nodes ``source`` probes. ``sampled[(source role, target role)]``: the
    sources chosen for that pair of roles (each target of the role is probed from these, or the
    next in rotation when it is one of them)."""

    mode: str  # "full" or "sample"
    run: int
    per_pair: int
    targets: Mapping[str, tuple[str, ...]]
    sampled: Mapping[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    #: targets probed from every source because their firewall table is not proven
    full_targets: tuple[str, ...] = ()

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(s for s, t in self.targets.items() if t)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode, "run": self.run, "per_pair": self.per_pair,
            "sources": list(self.sources),
            "pairs": [{"source_role": sr, "target_role": tr, "sources": list(s)}
                      for (sr, tr), s in sorted(self.sampled.items())],
            "full_targets": list(self.full_targets),
        }

    def describe(self) -> str:
        """One line for the text report and `up`'s notes."""
        if self.mode == "full":
            return f"peer scan: full mesh, every node probed from {len(self.sources)} sources"
        pairs = "; ".join(f"{sr}->{tr}: {', '.join(s)}" for (sr, tr), s in sorted(self.sampled.items()))
        extra = f"; every source for {', '.join(self.full_targets)} (firewall not proven)" if self.full_targets else ""
        return f"peer scan sampled (run {self.run}, {self.per_pair} per role pair): {pairs}{extra}"


def _rotation(names: Sequence[str], run: int, per_pair: int) -> list[str]:
    """All of ``names`` (sorted), starting at the run's offset: the first ones are this run's sample."""
    ordered = sorted(names)
    if not ordered:
        return []
    start = (run * per_pair) % len(ordered)
    return ordered[start:] + ordered[:start]


def plan_peer_sources(roles: Mapping[str, str], *, run: int = 0, per_pair: int = PEER_SOURCES_PER_ROLE,
                      full: bool = False, unproven: Set[str] = frozenset()) -> PeerPlan:
    """``roles``: node -> role of the nodes that can be audited. Each target gets ``per_pair``
    sources of each role (fewer only when the role has fewer other nodes)."""
    nodes = sorted(roles)
    if full:
        return PeerPlan("full", run, per_pair, {s: tuple(t for t in nodes if t != s) for s in nodes})
    by_role: dict[str, list[str]] = {}
    for n in nodes:
        by_role.setdefault(roles[n], []).append(n)
    targets: dict[str, list[str]] = {n: [] for n in nodes}
    sampled: dict[tuple[str, str], list[str]] = {}
    for target in nodes:
        for src_role, members in sorted(by_role.items()):
            if target in unproven:
                chosen = [s for s in members if s != target]
            else:
                chosen = [s for s in _rotation(members, run, per_pair) if s != target][:per_pair]
            pair = sampled.setdefault((src_role, roles[target]), []) if chosen else []
            for s in chosen:
                targets[s].append(target)
                if target not in unproven and s not in pair:
                    pair.append(s)
    return PeerPlan("sample", run, per_pair, {s: tuple(t) for s, t in targets.items()},
                    {k: tuple(sorted(v)) for k, v in sampled.items() if v}, tuple(sorted(unproven & set(nodes))))
