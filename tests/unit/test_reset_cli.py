"""`kubeward reset` refuses before touching any host: without a terminal to confirm on (unless
--yes), and when only some control planes would go (the hosts' addresses are TEST-NET: a connection
attempt would not answer, so a quick refusal proves none was made)."""

from __future__ import annotations

import time
from pathlib import Path

from click.testing import CliRunner, Result
from tests.unit.test_etcd_config import CLUSTER

from kubeward.cli.main import cli


def run(tmp_path: Path, *args: str) -> Result:
    (tmp_path / "cluster.yml").write_text(CLUSTER + "state_dir: state\n")
    return CliRunner().invoke(cli, ["reset", "-c", str(tmp_path / "cluster.yml"), *args])


def test_without_a_terminal_reset_wants_yes(tmp_path: Path) -> None:
    started = time.monotonic()
    r = run(tmp_path)
    assert r.exit_code == 1 and "--yes" in r.output and "cp-1, cp-2, cp-3, worker-1" in r.output, r.output
    assert time.monotonic() - started < 3


def test_some_control_planes_but_not_all_are_refused(tmp_path: Path) -> None:
    r = run(tmp_path, "--host", "cp-1,worker-1", "--yes")
    assert r.exit_code == 1 and "refusing to reset" in r.output and "node remove" in r.output, r.output


def test_an_unknown_host_is_named(tmp_path: Path) -> None:
    r = run(tmp_path, "--host", "nope", "--dry-run")
    assert r.exit_code == 1 and "'nope'" in r.output and "worker-1" in r.output, r.output
