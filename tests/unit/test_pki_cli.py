"""`kubeward pki issue|status|renew` end to end on a temporary state directory (no host involved)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from kubeward.cli.main import cli

CLUSTER = """\
name: clitest
state_dir: state
ssh: {user: debian, key_path: keys/id_ed25519}
hosts:
  - {name: cp-1, address: 192.0.2.10, private_address: 10.0.0.10, role: control-plane}
  - {name: worker-1, address: 192.0.2.21, private_address: 10.0.0.21, role: worker}
admin:
  name: kubeadmin
  uid: 1500
  ssh_public_key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFyHcpvoFU9dFloJmk8OQ/+icBDjiqm8gFKciq1gR8X9 a@b
network: {private_subnet: 10.0.0.0/24, admin_cidrs: [198.51.100.0/24]}
"""


def run(tmp_path: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["pki", *args, "-c", str(tmp_path / "cluster.yml")])


def test_issue_status_renew(tmp_path: Path) -> None:
    (tmp_path / "cluster.yml").write_text(CLUSTER)
    status = run(tmp_path, "status", "--local", "--output", "json")
    assert status.exit_code == 1
    assert {c["state"] for c in json.loads(status.output)["certs"]} == {"missing"}

    issued = run(tmp_path, "issue", "--output", "json")
    assert issued.exit_code == 0, issued.output
    doc = json.loads(issued.output)
    assert doc["ok"] and doc["issued"] == len(doc["entries"]) and doc["reused"] == 0
    assert doc["store"] == str(tmp_path / "state" / "pki")
    assert (tmp_path / "state" / "pki" / "etcd" / "server-cp-1.crt").is_file()

    again = run(tmp_path, "issue")
    assert again.exit_code == 0 and "0 issued, 0 re-issued" in again.output

    status = run(tmp_path, "status", "--local")
    assert status.exit_code == 0, status.output
    assert "etcd-server-cp-1" in status.output and "all 22 ok" in status.output

    renewed = run(tmp_path, "renew", "apiserver", "etcd-server", "--output", "json")
    assert renewed.exit_code == 0, renewed.output
    changed = {e["name"] for e in json.loads(renewed.output)["entries"] if e["action"] != "reused"}
    assert changed == {"apiserver", "etcd-server-cp-1"}


def test_renew_guards(tmp_path: Path) -> None:
    (tmp_path / "cluster.yml").write_text(CLUSTER)
    assert run(tmp_path, "issue").exit_code == 0
    refused = run(tmp_path, "renew", "ca")
    assert refused.exit_code == 1 and "--include-cas" in refused.output
    assert run(tmp_path, "renew").exit_code == 2  # usage: a name or --all
    unknown = run(tmp_path, "renew", "etcd-server-worker-1")
    assert unknown.exit_code == 1 and "no certificate called" in unknown.output
    everything = run(tmp_path, "renew", "--all", "--include-cas", "--output", "json")
    assert everything.exit_code == 0
    assert {e["action"] for e in json.loads(everything.output)["entries"]} == {"reissued"}


def test_changed_address_shows_as_mismatch_then_issue_fixes_it(tmp_path: Path) -> None:
    (tmp_path / "cluster.yml").write_text(CLUSTER)
    assert run(tmp_path, "issue").exit_code == 0
    (tmp_path / "cluster.yml").write_text(CLUSTER.replace("10.0.0.10", "10.0.0.12"))
    status = run(tmp_path, "status", "--local", "--output", "json")
    assert status.exit_code == 1
    bad = {c["name"]: c["state"] for c in json.loads(status.output)["certs"] if c["state"] != "ok"}
    assert bad == {"apiserver": "mismatch", "etcd-server-cp-1": "mismatch", "etcd-peer-cp-1": "mismatch"}
    issued = run(tmp_path, "issue")
    assert issued.exit_code == 0 and "SANs differ" in issued.output
    assert run(tmp_path, "status", "--local").exit_code == 0


def test_help_has_examples() -> None:
    for sub in ("issue", "status", "renew"):
        result = CliRunner().invoke(cli, ["pki", sub, "--help"])
        assert result.exit_code == 0 and "Example:" in result.output and "kubeward pki" in result.output
