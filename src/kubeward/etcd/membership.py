"""Membership planning (pure): given the control planes cluster.yml wants and etcd's member list,
which members to remove, add, start and promote, in which order, without losing quorum.

Order:

1. remove unwanted members that are down or were never started: they count towards quorum
   without voting, so removing them first restores fault tolerance;
2. start wanted members that were added but never started (an interrupted earlier run), and
   promote wanted learners;
3. add each missing control plane, one at a time (etcd 3.4 allows one learner), as a *learner*
   (``member add --learner``), start it with ``initial-cluster-state: existing``, then promote it
   once it has caught up;
4. remove the remaining unwanted (healthy) members, one at a time.

Every step is checked against quorum: the plan is refused when the cluster has no quorum now, or
when a removal would leave fewer healthy voters than the new quorum needs.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Member:
    """One entry of etcd's member list."""

    id: int
    name: str  # "" until the member has started and published itself
    peer_urls: tuple[str, ...]
    client_urls: tuple[str, ...] = ()
    is_learner: bool = False

    @property
    def started(self) -> bool:
        return bool(self.name)

    @property
    def hex_id(self) -> str:
        return f"{self.id:x}"

    @property
    def label(self) -> str:
        return f"{self.name or '(unstarted)'} ({self.hex_id}, {', '.join(self.peer_urls)})"


@dataclass(frozen=True)
class Desired:
    """A control plane of cluster.yml, as etcd would know it."""

    name: str
    peer_url: str


def as_int(value: Any) -> int:
    # etcdctl -w json prints uint64 as numbers, the JSON gateway as strings
    return int(value) if value not in (None, "") else 0


def parse_member(obj: Mapping[str, Any]) -> Member:
    return Member(
        id=as_int(obj.get("ID", obj.get("id"))),
        name=str(obj.get("name") or ""),
        peer_urls=tuple(obj.get("peerURLs") or obj.get("peer_urls") or ()),
        client_urls=tuple(obj.get("clientURLs") or obj.get("client_urls") or ()),
        is_learner=bool(obj.get("isLearner") or obj.get("is_learner") or False),
    )


def parse_member_list(obj: Mapping[str, Any]) -> tuple[int, list[Member]]:
    """(cluster id, members) from ``etcdctl member list -w json`` or the gateway's member/list."""
    header = obj.get("header") or {}
    return as_int(header.get("cluster_id")), [parse_member(m) for m in obj.get("members") or ()]


@dataclass(frozen=True)
class RemoveMember:
    member: Member
    reason: str

    def describe(self) -> str:
        return f"remove etcd member {self.member.label}: {self.reason}"


@dataclass(frozen=True)
class AddMember:
    host: str
    peer_url: str

    def describe(self) -> str:
        return f"add {self.host} as an etcd learner ({self.peer_url}), start it, promote it to a voting member"


@dataclass(frozen=True)
class StartMember:
    """A wanted member that was added but never started (its host's etcd must start and join)."""

    host: str
    member: Member

    def describe(self) -> str:
        what = "learner" if self.member.is_learner else "member"
        return f"start etcd on {self.host}: {what} {self.member.hex_id} was added but never started"


@dataclass(frozen=True)
class PromoteMember:
    host: str
    member: Member

    def describe(self) -> str:
        return f"promote learner {self.host} ({self.member.hex_id}) to a voting member"


Step = RemoveMember | AddMember | StartMember | PromoteMember


@dataclass
class MembershipPlan:
    bootstrap: bool = False  # no cluster yet: every desired member starts with initial-cluster-state new
    steps: list[Step] = field(default_factory=list)
    matched: dict[str, Member] = field(default_factory=dict)  # desired host -> its member
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def quorum(voters: int) -> int:
    return voters // 2 + 1


def even_warning(count: int) -> str | None:
    if count and count % 2 == 0:
        return (f"{count} etcd members tolerate {(count - 1) // 2} failed member(s), no more than {count - 1} "
                "would, and need one more vote for a quorum: use an odd number of control planes")
    return None


def plan_membership(
    desired: Sequence[Desired],
    members: Sequence[Member] | None,
    healthy: Collection[int] = (),
) -> MembershipPlan:
    """Plan the way from ``members`` (None: no cluster answered, and none has data) to ``desired``.

    ``healthy`` are the ids of members that answered a health check.
    """
    plan = MembershipPlan()
    if not desired:
        plan.errors.append("no control plane in cluster.yml: etcd needs at least one member")
        return plan
    names = [d.name for d in desired]
    if len(set(names)) != len(names) or len({d.peer_url for d in desired}) != len(desired):
        plan.errors.append("control planes must have distinct names and private addresses")
        return plan
    warn = even_warning(len(desired))
    if warn:
        plan.warnings.append(warn)
    if members is None:
        plan.bootstrap = True
        return plan

    by_url = {u: m for m in members for u in m.peer_urls}
    unmatched: list[Desired] = []
    for d in desired:
        m = by_url.get(d.peer_url)
        if m is not None:
            if m.started and m.name != d.name:
                plan.errors.append(f"etcd member {m.label} has {d.name}'s peer URL but is named {m.name!r}: "
                                   "remove it by hand (etcdctl member remove) if that host was renamed")
            plan.matched[d.name] = m
            continue
        same_name = next((x for x in members if x.started and x.name == d.name), None)
        if same_name is not None:
            plan.errors.append(f"etcd member {d.name} has peer URL {', '.join(same_name.peer_urls)}, cluster.yml "
                               f"says {d.peer_url}: kubeward does not move members; remove {d.name} from "
                               "cluster.yml, run up, and add it back")
            continue
        unmatched.append(d)
    if plan.errors:
        return plan

    matched_ids = {m.id for m in plan.matched.values()}
    unwanted = [m for m in members if m.id not in matched_ids]
    voters = {m.id for m in members if not m.is_learner}
    healthy_voters = voters & set(healthy)
    if len(healthy_voters) < quorum(len(voters)):
        plan.errors.append(f"etcd has no quorum: {len(healthy_voters)} of {len(voters)} voting members are healthy "
                           f"({quorum(len(voters))} needed); start the members that are down, or restore a "
                           "snapshot (kubeward etcd snapshot restore)")
        return plan

    # 1. unwanted members that cannot vote now
    for m in unwanted:
        if m.id not in healthy:
            why = "not in cluster.yml, " + ("never started" if not m.started else
                                             "learner" if m.is_learner else "not healthy")
            plan.steps.append(RemoveMember(m, why))
            voters.discard(m.id)
    # 2. wanted members half-way in
    learners_pending = 0
    for d in desired:
        m = plan.matched.get(d.name)
        if m is None:
            continue
        if not m.started:
            plan.steps.append(StartMember(d.name, m))
        if m.is_learner:
            plan.steps.append(PromoteMember(d.name, m))
            learners_pending += 1
    if learners_pending > 1:
        plan.warnings.append("more than one learner: etcd 3.4 allows one, promote them one at a time")
    # 3. additions, one learner at a time
    for d in unmatched:
        plan.steps.append(AddMember(d.name, d.peer_url))
    # 4. unwanted healthy members, keeping quorum after each removal
    total_voters = len(voters) + len(unmatched) + sum(1 for m in plan.matched.values() if m.is_learner)
    healthy_count = len(healthy_voters) + len(unmatched) + sum(1 for m in plan.matched.values() if m.is_learner)
    for m in unwanted:
        if m.id in healthy:
            if total_voters - 1 < 1:
                plan.errors.append(f"removing {m.label} would leave no member")
                break
            if not m.is_learner:
                total_voters -= 1
                healthy_count -= 1
                if healthy_count < quorum(total_voters):
                    plan.errors.append(f"removing {m.label} would leave {healthy_count} healthy voters for a "
                                       f"quorum of {quorum(total_voters)}: bring the other members back first")
                    break
            plan.steps.append(RemoveMember(m, "not in cluster.yml"))
    return plan


def removal_refusal(members: Sequence[Member], healthy: Collection[int], removing: Sequence[Member],
                    control_planes_left: int, running: Collection[int] | None = None) -> str | None:
    """Why removing ``removing`` (one after the other) would break etcd, or None when it is safe.

    Refused: removing the last control plane; any removal while etcd has no quorum (etcd could not
    even record it); a removal after which the healthy voting members are fewer than the new
    quorum. The reason names the members to restore first: those that are down (not ``running``:
    without a quorum no member is healthy, but those that answer are not the ones to restore).
    """
    if control_planes_left < 1:
        names = ", ".join(m.name or m.hex_id for m in removing) or "it"
        return (f"{names} is the only control plane: a cluster needs at least one (etcd and the API server "
                "run there); add another control plane first")
    voters = [m for m in members if not m.is_learner]
    healthy_ids = set(healthy)
    up_ids = healthy_ids | set(running or ())
    down = [m.name or m.hex_id for m in voters if m.id not in up_ids]
    restore = f" — restore {', '.join(down)} first" if down else ""
    up_count = sum(1 for m in voters if m.id in healthy_ids)
    if voters and up_count < quorum(len(voters)):
        return (f"etcd has no quorum: {up_count} of {len(voters)} members healthy ({quorum(len(voters))} needed), "
                f"so no member can be removed{restore}")
    left = list(voters)
    for m in removing:
        if m.is_learner or m.id not in {x.id for x in left}:
            continue  # a learner does not vote: removing it changes no quorum
        before_total, before_up = len(left), sum(1 for x in left if x.id in healthy_ids)
        left = [x for x in left if x.id != m.id]
        after_up = sum(1 for x in left if x.id in healthy_ids)
        if not left:
            return f"{m.name or m.hex_id} is the only etcd member: removing it would leave no member"
        if after_up < quorum(len(left)):
            return (f"{before_up} of {before_total} members healthy: removing {m.name or m.hex_id} leaves "
                    f"{after_up} of {len(left)} ({quorum(len(left))} needed for a quorum){restore}")
    return None
