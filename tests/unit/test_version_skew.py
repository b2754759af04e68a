"""The version skew policy as data: (what the nodes run, the new kubernetes.version) -> verdict."""

from __future__ import annotations

import pytest

from kubeward.artifacts.skew import KUBELET_SKEW, check_version_change, kubelet_minors_behind
from kubeward.components.version import Version, v

CP, W = "control-plane", "worker"


def nodes(cp: str | None, *workers: str | None) -> dict[str, tuple[str, Version | None]]:
    out: dict[str, tuple[str, Version | None]] = {"cp1": (CP, v(cp) if cp else None)}
    out.update({f"w{i}": (W, v(x) if x else None) for i, x in enumerate(workers, 1)})
    return out


ALLOWED = [
    ("1.20.2", nodes("1.20.2", "1.20.2"), "the same version (a new build)"),
    ("1.20.5", nodes("1.20.2", "1.20.2"), "a patch release"),
    ("1.21.0", nodes("1.20.2", "1.20.2"), "one minor version"),
    ("1.21.0", nodes("1.21.0", "1.20.2"), "an upgrade the last run left half-done"),
    ("1.22.0", nodes("1.21.3", "1.20.2"), "workers two minors behind (1.22 allows two)"),
    ("1.28.0", nodes("1.27.1", "1.25.0"), "workers three minors behind (1.28 allows three)"),
    ("1.20.2", nodes(None, None), "a new cluster: nothing installed"),
    ("1.21.0", nodes("1.20.2", None), "a joining worker gets the new version directly"),
]


@pytest.mark.parametrize(("target", "installed", "why"), ALLOWED, ids=[a[2] for a in ALLOWED])
def test_allowed(target: str, installed: dict[str, tuple[str, Version | None]], why: str) -> None:
    verdict = check_version_change(v(target), installed)
    assert verdict.ok and not verdict.downgrade, (why, verdict.problems)


REFUSED = [
    ("1.22.0", nodes("1.20.2", "1.20.2"), "one at a time; set it to 1.21.x first"),
    ("1.23.0", nodes("1.22.0", "1.20.2"), "more than 2 minor versions older"),
    ("1.29.0", nodes("1.28.0", "1.25.0"), "more than 3 minor versions older"),
    ("1.20.1", nodes("1.20.2", "1.20.2"), "downgrades are refused"),
    ("1.19.0", nodes("1.20.2", "1.20.2"), "--allow-downgrade"),
    ("2.0.0", nodes("1.20.2", "1.20.2"), "changes the major version"),
]


@pytest.mark.parametrize(("target", "installed", "says"), REFUSED, ids=[r[2] for r in REFUSED])
def test_refused_with_what_is_allowed(target: str, installed: dict[str, tuple[str, Version | None]], says: str) -> None:
    verdict = check_version_change(v(target), installed)
    assert not verdict.ok
    assert any(says in p for p in verdict.problems), verdict.problems


def test_the_refusals_name_the_nodes_and_the_next_step() -> None:
    verdict = check_version_change(v("1.23.0"), nodes("1.22.0", "1.22.0", "1.20.2"))
    assert verdict.problems == (
        "kubernetes.version 1.23.0: the kubelets of w2 would be more than 2 minor versions older than the API "
        "servers while the roll-out runs (kubelets may be up to two minor versions older than kube-apiserver); "
        "bring every node to 1.21 or newer first",)
    jump = check_version_change(v("1.22.0"), nodes("1.20.2"))
    assert jump.problems == ("kubernetes.version 1.22.0 moves the control plane from 1.20 by 2 minor versions: one at "
                             "a time; set it to 1.21.x first, run `kubeward up`, then go on",)


def test_a_downgrade_is_allowed_when_asked_and_says_so() -> None:
    verdict = check_version_change(v("1.20.2"), nodes("1.21.0", "1.21.0"), allow_downgrade=True)
    assert verdict.ok and verdict.downgrade
    assert check_version_change(v("1.20.2"), nodes("1.21.0", "1.21.0")).downgrade


def test_the_kubelet_table_covers_every_version_once() -> None:
    for minor in range(10, 40):
        version = Version(1, minor)
        assert sum(row.span.covers(version) for row in KUBELET_SKEW) == 1
    assert kubelet_minors_behind(v("1.27.9")).kubelet_minors_behind == 2
    assert kubelet_minors_behind(v("1.28.0")).kubelet_minors_behind == 3
