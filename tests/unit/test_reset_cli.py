"""`kubeward reset` refuses before touching any host: without a terminal to confirm on (unless
--yes), and when only some control planes would go; and its summary, as JSON and text."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result
from tests.unit.test_etcd_config import CLUSTER

from kubeward.cli.main import cli


def run(tmp_path: Path, *args: str) -> Result:
    (tmp_path / "cluster.yml").write_text(CLUSTER + "state_dir: state\n")
    return CliRunner().invoke(cli, ["reset", "-c", str(tmp_path / "cluster.yml"), *args])


def test_without_a_terminal_reset_wants_yes(tmp_path: Path) -> None:
    r = run(tmp_path)
    assert r.exit_code == 1 and "--yes" in r.output and "cp-1, cp-2, cp-3, worker-1" in r.output, r.output
    assert not (tmp_path / "state").exists()  # refused before the run's log and lock, so before any host


def test_some_control_planes_but_not_all_are_refused(tmp_path: Path) -> None:
    r = run(tmp_path, "--host", "cp-1,worker-1", "--yes")
    assert r.exit_code == 1 and "refusing to reset" in r.output and "node remove" in r.output, r.output


def test_an_unknown_host_is_named(tmp_path: Path) -> None:
    r = run(tmp_path, "--host", "nope", "--dry-run")
    assert r.exit_code == 1 and "'nope'" in r.output and "worker-1" in r.output, r.output


def test_the_summary_says_what_changed_and_a_second_run_that_nothing_did(capsys: object) -> None:
    from kubeward.cli.reset_cmds import _print_report, summary_json
    from kubeward.hostscripts.reset import Item
    from kubeward.phases.reset import HostReset, ResetReport

    found = HostReset("cp-1", [Item("stop", "kubelet.service"), Item("nft", "inet kubeward")], ["packages"])
    first = ResetReport(False, checked={"cp-1": found, "worker-1": HostReset("worker-1", kept=["packages"])},
                        done={"cp-1": found}, confirmed=True)
    doc = summary_json(first, False, [], Path("log"))
    hosts = doc["hosts"]
    assert isinstance(hosts, dict)
    assert (doc["changed"], doc["found"], hosts["cp-1"]["status"], hosts["worker-1"]["status"]) == \
        (2, 2, "reset", "unchanged")
    assert hosts["cp-1"]["changes"] == [{"kind": "stop", "what": "kubelet.service"},
                                        {"kind": "nft", "what": "inet kubeward"}]
    dry = summary_json(ResetReport(True, checked={"cp-1": found}), False, [], Path("log"))
    assert dry["changed"] == 0 and dry["found"] == 2 and dry["hosts"]["cp-1"]["status"] == "would-reset"  # type: ignore[index]
    failed = HostReset("cp-1", [Item("file", "/etc/a")], error="reset stopped after 1 removal(s): boom")
    assert summary_json(ResetReport(False, checked={"cp-1": found}, done={"cp-1": failed}, confirmed=True),
                        False, [], Path("log"))["ok"] is False

    second = ResetReport(False, checked={h: HostReset(h, kept=["packages"]) for h in ("cp-1", "worker-1")})
    doc = summary_json(second, False, [], Path("log"))
    assert doc["changed"] == 0 and doc["ok"] and not doc["confirmed"]
    _print_report(second, [], 0)
    assert "nothing to change" in capsys.readouterr().out  # type: ignore[attr-defined]
