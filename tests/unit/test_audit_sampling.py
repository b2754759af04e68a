"""The peer scan's sources: a rotating sample per pair of roles, linear in nodes; the full mesh on demand."""

from __future__ import annotations

from kubeward.audit.sampling import plan_peer_sources


def _roles(cps: int, workers: int) -> dict[str, str]:
    return {**{f"cp-{i}": "control-plane" for i in range(1, cps + 1)},
            **{f"w-{i:02d}": "worker" for i in range(1, workers + 1)}}


def _probes(plan_targets: dict[str, tuple[str, ...]]) -> set[tuple[str, str]]:
    return {(s, t) for s, ts in plan_targets.items() for t in ts}


def test_every_target_is_probed_from_two_sources_of_every_role() -> None:
    roles = _roles(3, 27)
    plan = plan_peer_sources(roles, run=0)
    pairs = _probes(dict(plan.targets))
    for target in roles:
        by_role: dict[str, set[str]] = {}
        for s, t in pairs:
            if t == target:
                assert s != target
                by_role.setdefault(roles[s], set()).add(s)
        assert {r: len(v) for r, v in by_role.items()} == {"control-plane": 2, "worker": 2}, target
    # linear: at most 4 probes per target (2 roles x 2 sources), against 29 per target in the mesh
    assert len(pairs) == 4 * len(roles)
    # few sources: each pair of roles uses 2 sources, plus the next one in rotation for the sampled ones
    assert len(plan.sources) <= 6
    assert plan.sampled[("worker", "worker")] == ("w-01", "w-02", "w-03")
    assert plan.to_dict()["mode"] == "sample"
    assert "worker->worker: w-01, w-02, w-03" in plan.describe()


def test_sources_rotate_by_run_until_every_node_has_probed() -> None:
    roles = _roles(3, 7)
    seen: set[str] = set()
    for run in range(5):
        plan = plan_peer_sources(roles, run=run)
        seen |= set(plan.sources)
        assert _probes(dict(plan.targets)) != _probes(dict(plan_peer_sources(roles, run=run + 1).targets))
    assert seen == set(roles)


def test_full_mesh_and_small_roles() -> None:
    roles = _roles(1, 2)
    full = plan_peer_sources(roles, full=True)
    assert _probes(dict(full.targets)) == {(s, t) for s in roles for t in roles if s != t}
    assert full.describe().startswith("peer scan: full mesh")
    # a role with one node: that node probes every other node, nobody probes itself
    sample = plan_peer_sources(roles, run=3)
    assert _probes(dict(sample.targets)) == _probes(dict(full.targets))


def test_a_target_with_an_unproven_firewall_is_probed_from_every_node() -> None:
    roles = _roles(3, 9)
    plan = plan_peer_sources(roles, run=1, unproven={"w-05"})
    assert {s for s, t in _probes(dict(plan.targets)) if t == "w-05"} == set(roles) - {"w-05"}
    assert plan.full_targets == ("w-05",)
    assert "every source for w-05 (firewall not proven)" in plan.describe()
    # the others are still sampled
    assert len({s for s, t in _probes(dict(plan.targets)) if t == "w-06"}) == 4
