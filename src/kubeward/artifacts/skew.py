"""Kubernetes' version skew policy as a table, and the check of a version change against it (pure).

What a change of ``kubernetes.version`` may do to a running cluster, from
https://kubernetes.io/releases/version-skew-policy/:

- the control plane moves one minor version per roll-out (1.20 -> 1.21, never 1.20 -> 1.22);
- a kubelet (and kube-proxy) is never newer than the API servers, and at most N minor versions
  older (N by the API server's version: :data:`KUBELET_SKEW`). The roll-out upgrades the control
  planes first, so while it runs, workers still on the old version meet API servers on the new one;
- no downgrade unless asked (``--allow-downgrade``): the roll-out then goes workers first, so no
  kubelet is ever newer than an API server;
- the major version never changes.

The installed version of a node is the one its ``current`` link points at (a fact); nodes without
one are joining and get the new version directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kubeward.components.version import Span, Version, v


@dataclass(frozen=True)
class SkewRow:
    """For API servers of the versions in ``span``: how many minor versions older a kubelet may be."""

    span: Span
    kubelet_minors_behind: int
    why: str


KUBELET_SKEW: tuple[SkewRow, ...] = (
    SkewRow(Span(until=v("1.28")), 2, "kubelets may be up to two minor versions older than kube-apiserver"),
    SkewRow(Span(since=v("1.28")), 3, "kubelets may be up to three minor versions older than kube-apiserver "
                                      "(from 1.28)"),
)
#: minor versions the control plane may move in one roll-out
CONTROL_PLANE_STEP = 1


def kubelet_minors_behind(apiserver: Version) -> SkewRow:
    for row in KUBELET_SKEW:
        if row.span.covers(apiserver):
            return row
    raise ValueError(f"no skew row covers {apiserver}")  # the table covers every version


@dataclass(frozen=True)
class SkewVerdict:
    problems: tuple[str, ...]  # each says what is refused and what is allowed
    downgrade: bool  # some node would get an older version (allowed only with --allow-downgrade)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_version_change(target: Version, installed: Mapping[str, tuple[str, Version | None]], *,
                         allow_downgrade: bool = False) -> SkewVerdict:
    """``installed``: host -> (role, version its ``current`` link points at, None when none)."""
    problems: list[str] = []
    have = {h: (role, ver) for h, (role, ver) in installed.items() if ver is not None}
    if not have:
        return SkewVerdict((), False)
    majors = sorted({ver.major for _, ver in have.values()} - {target.major})
    if majors:
        problems.append(f"kubernetes.version {target} changes the major version (nodes run "
                        f"{', '.join(f'{m}.x' for m in majors)}); kubeward rolls out minor and patch versions only")
    newer = sorted(h for h, (_, ver) in have.items() if ver > target)
    downgrade = bool(newer)
    if newer and not allow_downgrade:
        newest = max(ver for _, ver in have.values())
        problems.append(f"kubernetes.version {target} is older than what {', '.join(newer)} run(s) ({newest}): "
                        "downgrades are refused; keep kubernetes.version at "
                        f"{newest} or newer, or pass --allow-downgrade to roll back (workers first)")
    cps = {h: ver for h, (role, ver) in have.items() if role == "control-plane"}
    if cps and not majors:
        oldest = min(cps.values())
        if target.minor - oldest.minor > CONTROL_PLANE_STEP:
            allowed = Version(oldest.major, oldest.minor + CONTROL_PLANE_STEP)
            problems.append(f"kubernetes.version {target} moves the control plane from {oldest.minor_str} by "
                            f"{target.minor - oldest.minor} minor versions: one at a time; set it to "
                            f"{allowed.minor_str}.x first, run `kubeward up`, then go on")
        if not downgrade:
            row = kubelet_minors_behind(target)
            too_old = sorted(h for h, (_, ver) in have.items() if target.minor - ver.minor > row.kubelet_minors_behind)
            if too_old:
                floor = Version(target.major, target.minor - row.kubelet_minors_behind)
                problems.append(f"kubernetes.version {target}: the kubelets of {', '.join(too_old)} would be more "
                                f"than {row.kubelet_minors_behind} minor versions older than the API servers while "
                                f"the roll-out runs ({row.why}); bring every node to {floor.minor_str} or newer first")
    return SkewVerdict(tuple(problems), downgrade)
