"""cluster.yml changes that `up` must refuse or converge on a converged lab, checked on the real nodes:
a changed etcd.data_dir is refused (nothing written, etcd keeps running on its data), and keys
added by hand to the admin's authorized_keys are removed (and named in the plan).

(Named test_up_*.py so it runs after test_up.py, on the `converged` session lab.)
"""

from __future__ import annotations

import json
from pathlib import Path

from kubeward.lab.lab import ADMIN_NAME, Lab, LabState
from tests.lab.conftest import up_json

ETCD_CONFIG = "/etc/etcd/kubeward.yaml"
AUTHORIZED = f"/home/{ADMIN_NAME}/.ssh/authorized_keys"
#: a valid ed25519 key that is not kubeward's (the lab's own key is the admin key)
STRANGER = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJS4M6K1/s3jk6KtQoQqP8ldCTyJmifkEzisd4bkG7kD "
            "stranger@example.com")


def _sh(lab: Lab, node: str, script: str) -> str:
    r = lab.exec(node, ["sh", "-c", script], timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_a_changed_etcd_data_dir_is_refused_and_etcd_keeps_its_data(
        lab: Lab, lab_state: LabState, converged: Path, tmp_path: Path) -> None:
    cps = [n.name for n in lab_state.nodes if n.role == "control-plane"]
    before = {n: _sh(lab, n, f"cat {ETCD_CONFIG}; systemctl show -p MainPID --value etcd") for n in cps}
    assert "\ndata-dir: /var/lib/etcd\n" in before[cps[0]]
    moved = tmp_path / "cluster.yml"
    moved.write_text(converged.read_text() + "\netcd:\n  data_dir: /var/lib/etcd-moved\n")

    rc, report = up_json(moved, "--only", "etcd")
    assert rc != 0 and not report["ok"], json.dumps(report, indent=1)[-3000:]
    for n in cps:
        error = report["hosts"][n]["error"] or ""
        assert "/var/lib/etcd-moved" in error and "keeps its data in /var/lib/etcd" in error, error
        assert "set etcd.data_dir back to /var/lib/etcd" in error, error
        # nothing written, nothing restarted, nothing created
        assert _sh(lab, n, f"cat {ETCD_CONFIG}; systemctl show -p MainPID --value etcd") == before[n]
        assert _sh(lab, n, "systemctl is-active etcd; test -e /var/lib/etcd-moved && echo made || echo none"
                   ).split() == ["active", "none"]

    # the cluster.yml as it was still converges, with nothing to do
    rc, report = up_json(converged, "--only", "etcd")
    assert rc == 0, json.dumps(report["hosts"], indent=1)[-3000:]
    assert [c for h in report["hosts"].values() for c in h["changes"]] == []


def test_keys_added_to_the_admins_authorized_keys_are_removed(lab: Lab, lab_state: LabState,
                                                              converged: Path) -> None:
    node = lab_state.nodes[-1].name
    _sh(lab, node, f"echo '{STRANGER}' >> {AUTHORIZED}")
    try:
        rc, report = up_json(converged, "--only", "provision", "--host", node)
        assert rc == 0, json.dumps(report["hosts"], indent=1)[-3000:]
        summaries = [c["summary"] for c in report["hosts"][node]["changes"]]
        assert any("remove 1 other key" in s and "stranger@example.com" in s for s in summaries), summaries
        left = _sh(lab, node, f"cat {AUTHORIZED}").splitlines()
        assert len(left) == 1 and "stranger" not in left[0] and left[0].startswith("ssh-ed25519 "), left
    finally:
        _sh(lab, node, f"sed -i '/stranger@example.com/d' {AUTHORIZED}")
