"""A renewed etcd certificate restarts the members one at a time, each healthy before the next
(issue 14: the component's rolling restart policy, applied by the pki phase's change)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from kubeward.lab.lab import Lab, LabState
from tests.lab.conftest import up_json


def _times(lab: Lab, node: str) -> dict[str, int]:
    r = lab.exec(node, ["systemctl", "show", "-p", "InactiveExitTimestampMonotonic",
                        "-p", "ActiveEnterTimestampMonotonic", "-p", "MainPID", "etcd"])
    out = dict(line.split("=", 1) for line in r.stdout.split())
    return {k: int(v) for k, v in out.items()}


def test_renewed_etcd_certificates_restart_members_one_at_a_time(lab: Lab, lab_state: LabState,
                                                                 converged: Path) -> None:
    cps = [n.name for n in lab_state.nodes if n.role == "control-plane"]
    before = {n: _times(lab, n) for n in cps}
    r = subprocess.run([sys.executable, "-m", "kubeward", "pki", "renew", "-c", str(converged), "etcd-server"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    rc, report = up_json(converged, "--only", "pki,etcd")
    assert rc == 0, json.dumps(report, indent=1)[-3000:]
    after = {n: _times(lab, n) for n in cps}
    # every member restarted (a new process), and is running again
    for n in cps:
        assert after[n]["MainPID"] not in (0, before[n]["MainPID"]), (n, before[n], after[n])
    # one at a time: each member started only after the previous one was up (etcd's unit is
    # Type=notify, so "active" means etcd said it serves); the nodes share this kernel's clock
    order = sorted(cps, key=lambda n: after[n]["InactiveExitTimestampMonotonic"])
    for prev, nxt in zip(order, order[1:], strict=False):
        assert after[nxt]["InactiveExitTimestampMonotonic"] >= after[prev]["ActiveEnterTimestampMonotonic"], \
            (prev, after[prev], nxt, after[nxt])
    shown = [c["summary"] for h in cps for c in report["hosts"][h]["changes"] if "restart etcd" in c["summary"]]
    assert len(shown) == len(cps) and all("one member at a time" in s for s in shown), shown
    # and the cluster is whole again: a second run changes nothing
    rc, report = up_json(converged, "--only", "pki,etcd")
    assert rc == 0 and all(h["changed"] == 0 for h in report["hosts"].values()), report["hosts"]
