"""Phase selection (--only/--skip) and the one-round-trip prefetch script of every phase's facts."""

from __future__ import annotations

import re
import subprocess

import pytest

from kubeward.errors import KubewardError
from kubeward.phases.base import parse_prefetch_output, render_prefetch_script
from kubeward.phases.runner import PHASE_NAMES, PHASES, select_phases

PREFETCH_MARK = "@@kw phase"



def names(only: list[str], skip: list[str]) -> list[str]:
    return [p.name for p in select_phases(only, skip)]


def test_phase_table() -> None:
    assert PHASE_NAMES == ("connect", "preflight", "departures", "provision", "harden-ssh", "firewall", "pki",
                           "containerd", "artifacts", "rollout", "etcd", "control-plane", "nodes", "audit")
    assert all(p.title for p in PHASES)


def test_everything_by_default() -> None:
    assert names([], []) == list(PHASE_NAMES)
    assert select_phases([], [])[0] is PHASES[0]


def test_only_keeps_pipeline_order_and_implies_connect() -> None:
    assert names(["provision", "pki"], []) == ["connect", "provision", "pki"]
    assert names(["audit"], []) == ["connect", "audit"]
    assert names(["connect"], []) == ["connect"]
    assert names(["connect", "pki"], []) == ["connect", "pki"]  # not twice


def test_skip() -> None:
    assert names([], ["preflight", "audit"]) == ["connect", "departures", "provision", "harden-ssh", "firewall", "pki",
                                                "containerd", "artifacts", "rollout", "etcd", "control-plane", "nodes"]


def test_phases_that_would_cut_a_departing_host_off_imply_the_departures_phase() -> None:
    """A host gone from cluster.yml is drained and leaves etcd before the firewall drops it."""
    assert names(["firewall", "provision"], []) == ["connect", "departures", "provision", "firewall"]
    assert names(["etcd"], []) == ["connect", "departures", "etcd"]
    assert names(["firewall"], ["departures"]) == ["connect", "firewall"]
    assert names(["pki", "audit"], []) == ["connect", "pki", "audit"]
    assert names(["pki", "control-plane"], []) == ["connect", "pki", "control-plane"]  # `pki renew --apply`


def test_skipping_connect_still_connects() -> None:
    assert names([], ["connect"]) == list(PHASE_NAMES)
    assert names(["pki"], ["connect"]) == ["connect", "pki"]


def test_only_and_skip_together() -> None:
    assert names(["provision", "firewall", "pki"], ["firewall"]) == ["connect", "provision", "pki"]


def test_nothing_left() -> None:
    assert names(["pki"], ["pki"]) == []


@pytest.mark.parametrize(("only", "skip", "bad"), [
    (["frewall"], [], "frewall"), ([], ["Audit"], "Audit"), (["pki", "bogus"], [], "bogus"),
])
def test_unknown_phase_is_an_error(only: list[str], skip: list[str], bad: str) -> None:
    with pytest.raises(KubewardError) as info:
        select_phases(only, skip)
    assert f"unknown phase {bad!r}" in str(info.value)
    assert "phases are: connect, preflight, departures, provision, harden-ssh, firewall, pki, containerd, artifacts, rollout, etcd, control-plane, nodes, audit" in str(info.value)


# ----- prefetch ------------------------------------------------------------------------------------


def test_prefetch_script_sudo_only_for_root_phases_of_a_non_root_user() -> None:
    scripts = {"preflight": ("echo as-user", False), "provision": ("echo as-root", True)}
    s = render_prefetch_script(scripts, "debian")
    # each phase's script is a here-document of a fixed command, never an argument of sh or sudo
    assert re.search(r"\nsh -c 'eval \"\$\(cat\)\"' <<'(KUBEWARD_SCRIPT_\w+)'\necho as-user\n\1\n", s)
    assert re.search(r"\nsudo -n sh -c 'eval \"\$\(cat\)\"' <<'(KUBEWARD_SCRIPT_\w+)'\necho as-root\n\1\n", s)
    as_root = render_prefetch_script(scripts, "root")
    assert "sudo" not in as_root
    boot = "sh -c 'eval \"$(cat)\"' <<"
    assert [line.split("'KUBEWARD_SCRIPT_")[0] for line in as_root.splitlines()
            if line and not line.startswith("KUBEWARD_SCRIPT_")] == [
        "printf '\\n@@kw phase %s\\n' preflight", boot, "echo as-user",
        "printf '\\n@@kw phase %s\\n' provision", boot, "echo as-root",
        "printf '\\n@@kw phase %s\\n' end",
    ]


def test_parse_prefetch_output() -> None:
    # each marker is preceded by one newline of the script's own: the parser drops exactly that one
    text = (f"noise\n\n{PREFETCH_MARK} a\none\n\ntwo\n\n{PREFETCH_MARK} b\n\n{PREFETCH_MARK} c\nthree"
            f"\n{PREFETCH_MARK} end\nafter\n")
    assert parse_prefetch_output(text) == {"a": "one\n\ntwo\n", "b": "", "c": "three"}
    assert parse_prefetch_output("") == {}


def test_prefetch_round_trip_through_a_real_shell() -> None:
    scripts = {
        "preflight": ("echo '@@os'; printf 'ID=debian\\n'; echo \"quote ' and $((1+1))\"", False),
        "provision": ("printf 'a\\n\\nb\\n'; echo to-stderr >&2; exit 1", True),
        "audit": ("true", True),
    }
    res = subprocess.run(["/bin/sh", "-c", render_prefetch_script(scripts, "root")], capture_output=True, text=True,
                         timeout=10)
    out = parse_prefetch_output(res.stdout)
    assert out == {"preflight": "@@os\nID=debian\nquote ' and 2\n", "provision": "a\n\nb\n", "audit": ""}
    assert "to-stderr" in res.stderr  # stderr never reaches the parsers
    # output without a final newline keeps the next marker on its own line
    res = subprocess.run(["/bin/sh", "-c", render_prefetch_script({"a": ("printf x", False), "b": ("echo y", False)},
                                                                  "root")], capture_output=True, text=True, timeout=10)
    assert parse_prefetch_output(res.stdout) == {"a": "x", "b": "y\n"}
