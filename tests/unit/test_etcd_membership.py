"""Membership planning (pure): which members to add, start, promote, remove, in which order."""

from __future__ import annotations

import json

from kubeward.etcd.membership import (
    AddMember,
    Desired,
    Member,
    PromoteMember,
    RemoveMember,
    StartMember,
    even_warning,
    parse_member_list,
    plan_membership,
    quorum,
    removal_refusal,
)


def url(i: int) -> str:
    return f"https://10.0.0.{10 + i}:2380"


def desired(*idx: int) -> list[Desired]:
    return [Desired(f"cp-{i}", url(i)) for i in idx]


def member(i: int, *, started: bool = True, learner: bool = False) -> Member:
    return Member(1000 + i, f"cp-{i}" if started else "", (url(i),),
                  (f"https://10.0.0.{10 + i}:2379",) if started else (), learner)


def members(*idx: int) -> list[Member]:
    return [member(i) for i in idx]


def ids(*idx: int) -> set[int]:
    return {1000 + i for i in idx}


def kinds(plan: object) -> list[tuple[str, str]]:
    out = []
    for s in plan.steps:  # type: ignore[attr-defined]
        host = s.member.name or s.member.hex_id if isinstance(s, RemoveMember) else s.host
        out.append((type(s).__name__, host))
    return out


def test_no_cluster_means_bootstrap_of_every_desired_member() -> None:
    plan = plan_membership(desired(1, 2, 3), None)
    assert plan.ok and plan.bootstrap and plan.steps == []


def test_converged_cluster_needs_nothing() -> None:
    plan = plan_membership(desired(1, 2, 3), members(1, 2, 3), ids(1, 2, 3))
    assert plan.ok and not plan.bootstrap and plan.steps == [] and plan.warnings == []
    assert set(plan.matched) == {"cp-1", "cp-2", "cp-3"}


def test_a_new_control_plane_is_added_as_a_learner() -> None:
    plan = plan_membership(desired(1, 2, 3, 4, 5), members(1, 2, 3), ids(1, 2, 3))
    assert kinds(plan) == [("AddMember", "cp-4"), ("AddMember", "cp-5")]
    assert plan.steps[0] == AddMember("cp-4", url(4))


def test_a_removed_control_plane_is_removed_last_when_healthy() -> None:
    plan = plan_membership(desired(1, 2, 4), members(1, 2, 3), ids(1, 2, 3))
    assert kinds(plan) == [("AddMember", "cp-4"), ("RemoveMember", "cp-3")]
    assert plan.steps[1].reason == "not in cluster.yml"  # type: ignore[union-attr]


def test_dead_unwanted_members_are_removed_first() -> None:
    plan = plan_membership(desired(1, 2, 4), members(1, 2, 3), ids(1, 2))
    assert kinds(plan) == [("RemoveMember", "cp-3"), ("AddMember", "cp-4")]
    assert "not healthy" in plan.steps[0].reason  # type: ignore[union-attr]


def test_an_unwanted_member_that_never_started_is_removed_first() -> None:
    ghost = member(9, started=False, learner=True)
    plan = plan_membership(desired(1, 2, 3), [*members(1, 2, 3), ghost], ids(1, 2, 3))
    assert plan.steps == [RemoveMember(ghost, "not in cluster.yml, never started")]


def test_interrupted_join_is_resumed_not_added_again() -> None:
    half = member(3, started=False, learner=True)
    plan = plan_membership(desired(1, 2, 3), [*members(1, 2), half], ids(1, 2))
    assert plan.steps == [StartMember("cp-3", half), PromoteMember("cp-3", half)]
    assert plan.matched["cp-3"] == half


def test_a_started_learner_is_promoted() -> None:
    learner = member(3, learner=True)
    plan = plan_membership(desired(1, 2, 3), [*members(1, 2), learner], ids(1, 2))
    assert plan.steps == [PromoteMember("cp-3", learner)]


def test_no_quorum_is_refused_with_what_to_do() -> None:
    plan = plan_membership(desired(1, 2, 3, 4), members(1, 2, 3), ids(1))
    assert not plan.ok and plan.steps == []
    assert "no quorum: 1 of 3" in plan.errors[0] and "snapshot restore" in plan.errors[0]


def test_a_removal_that_would_lose_quorum_is_refused() -> None:
    # cp-3 is wanted but down; removing healthy cp-2 would leave cp-1 alone out of two voters
    plan = plan_membership(desired(1, 3), members(1, 2, 3), ids(1, 2))
    assert not plan.ok
    assert "would leave 1 healthy voters for a quorum of 2" in plan.errors[0]


def test_replacing_every_member_adds_before_it_removes() -> None:
    plan = plan_membership(desired(4, 5, 6), members(1, 2, 3), ids(1, 2, 3))
    assert plan.ok
    assert [k for k, _ in kinds(plan)] == ["AddMember"] * 3 + ["RemoveMember"] * 3


def test_peer_url_change_is_refused() -> None:
    moved = [Desired("cp-1", "https://10.0.0.99:2380"), *desired(2, 3)]
    plan = plan_membership(moved, members(1, 2, 3), ids(1, 2, 3))
    assert not plan.ok and "kubeward does not move members" in plan.errors[0]


def test_a_peer_url_taken_by_another_name_is_refused() -> None:
    other = Member(2000, "old-name", (url(1),), (), False)
    plan = plan_membership(desired(1, 2, 3), [other, *members(2, 3)], ids(2, 3) | {2000})
    assert not plan.ok and "named 'old-name'" in plan.errors[0]


def test_even_member_counts_warn() -> None:
    assert plan_membership(desired(1, 2), None).warnings == [even_warning(2)]
    assert plan_membership(desired(1, 2, 3, 4), members(1, 2, 3), ids(1, 2, 3)).warnings == [even_warning(4)]
    assert even_warning(3) is None and even_warning(1) is None
    assert "tolerate 1 failed member" in (even_warning(4) or "")


def test_nothing_desired_or_duplicates_is_an_error() -> None:
    assert not plan_membership([], None).ok
    assert not plan_membership([Desired("a", url(1)), Desired("b", url(1))], None).ok


def test_quorum() -> None:
    assert [quorum(n) for n in range(1, 7)] == [1, 2, 2, 3, 3, 4]


def test_parse_member_list_from_etcdctl_and_from_the_gateway() -> None:
    etcdctl = json.loads('{"header":{"cluster_id":5448627969083279859,"member_id":14687499116363577977,'
                         '"raft_term":2},"members":[{"ID":2727910242775222052,"name":"cp-2","peerURLs":'
                         '["https://10.0.0.11:2380"],"clientURLs":["https://10.0.0.11:2379"]},'
                         '{"ID":14687499116363577977,"peerURLs":["https://10.0.0.13:2380"],"isLearner":true}]}')
    cid, ms = parse_member_list(etcdctl)
    assert cid == 5448627969083279859
    assert ms[0] == Member(2727910242775222052, "cp-2", ("https://10.0.0.11:2380",), ("https://10.0.0.11:2379",))
    assert ms[1].is_learner and not ms[1].started and ms[1].hex_id == "cbd47aa0edb6fa79"
    gateway = {"header": {"cluster_id": "5448627969083279859"},
               "members": [{"ID": "2727910242775222052", "name": "cp-2", "peerURLs": ["https://10.0.0.11:2380"]}]}
    cid2, ms2 = parse_member_list(gateway)
    assert cid2 == cid and ms2[0].id == ms[0].id and ms2[0].is_learner is False


# ----- removing a control plane (`kubeward node remove`, a host gone from cluster.yml) --------------


def test_removing_one_of_three_healthy_members_is_safe() -> None:
    assert removal_refusal(members(1, 2, 3), ids(1, 2, 3), [member(3)], control_planes_left=2) is None


def test_removing_a_healthy_member_while_another_is_down_is_refused_naming_the_one_to_restore() -> None:
    why = removal_refusal(members(1, 2, 3), ids(1, 2), [member(2)], control_planes_left=2)
    assert why == ("2 of 3 members healthy: removing cp-2 leaves 1 of 2 (2 needed for a quorum) — restore cp-3 first")


def test_removing_the_member_that_is_down_is_safe() -> None:
    assert removal_refusal(members(1, 2, 3), ids(1, 2), [member(3)], control_planes_left=2) is None


def test_one_of_two_healthy_members_may_go_but_not_when_the_other_is_down() -> None:
    assert removal_refusal(members(1, 2), ids(1, 2), [member(2)], control_planes_left=1) is None
    why = removal_refusal(members(1, 2), ids(1), [member(1)], control_planes_left=1)
    assert why is not None and why.startswith("etcd has no quorum: 1 of 2 members healthy (2 needed)")
    assert why.endswith("restore cp-2 first")
    # without a quorum no member passes a health check: the one that answers is not the one to restore
    why = removal_refusal(members(1, 2), (), [member(1)], control_planes_left=1, running=ids(1))
    assert why == "etcd has no quorum: 0 of 2 members healthy (2 needed), so no member can be removed — restore cp-2 first"


def test_the_last_control_plane_or_member_is_never_removed() -> None:
    why = removal_refusal(members(1), ids(1), [member(1)], control_planes_left=0)
    assert why is not None and "only control plane" in why
    why = removal_refusal(members(1), ids(1), [member(1)], control_planes_left=1)
    assert why == "cp-1 is the only etcd member: removing it would leave no member"


def test_removals_are_checked_one_after_the_other() -> None:
    # five members, one down: two healthy ones may go (2 of 3 left is a quorum)
    assert removal_refusal(members(1, 2, 3, 4, 5), ids(1, 2, 3, 4), [member(3), member(4)], 3) is None
    # two down: the first removal already leaves 2 of 4
    why = removal_refusal(members(1, 2, 3, 4, 5), ids(1, 2, 3), [member(2), member(3)], 3)
    assert why == ("3 of 5 members healthy: removing cp-2 leaves 2 of 4 (3 needed for a quorum) — restore cp-4, "
                   "cp-5 first")


def test_a_learner_votes_on_nothing_and_may_always_go() -> None:
    ms = [member(1), member(2), member(3, learner=True)]
    assert removal_refusal(ms, ids(1, 2), [ms[2]], control_planes_left=2) is None
