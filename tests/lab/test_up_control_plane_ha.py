"""Three control planes behind every node's local API proxy: with one control plane stopped, a
worker still reaches a ready API server through 127.0.0.1:6443, and `kubeward kubectl` still works
(through another control plane)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubeward.lab.lab import Lab, render_kubernetes_yml
from tests.lab.conftest import lab_config, new_lab_name, up_json

#: the worker's kubelet client certificate from its TLS bootstrap (certificate and key in one file)
READYZ = ("curl -s --max-time 5 --cacert /etc/kubernetes/pki/ca.crt "
          "--cert /var/lib/kubelet/pki/kubelet-client-current.pem https://127.0.0.1:6443/readyz")


@pytest.fixture(scope="module")
def ha_lab(kube_build: Path) -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.skip("lab tests need root")
    lb = Lab(new_lab_name("ha"))
    try:
        lb.up(4, 3)
        yield lb
    finally:
        if lb.exists() or lb.dir.exists():
            lb.down()


@pytest.fixture(scope="module")
def config(ha_lab: Lab, kube_build: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = lab_config(ha_lab, tmp_path_factory.mktemp("ha"))
    path.write_text(path.read_text() + render_kubernetes_yml("1.20.2", kube_build))
    rc, report = up_json(path)
    assert rc == 0, json.dumps(report, indent=1)[-4000:]
    return path


def test_a_stopped_control_plane_leaves_the_api_reachable_through_the_local_proxy(ha_lab: Lab, config: Path) -> None:
    st = ha_lab.load()
    worker = next(n.name for n in st.nodes if n.role == "worker")
    first_cp = next(n.name for n in st.nodes if n.role == "control-plane")
    ok = ha_lab.exec(worker, ["sh", "-c", READYZ])
    assert ok.stdout == "ok", ok
    ha_lab.stop_node(first_cp)
    try:
        # HAProxy's health checks take the stopped one out (wait for it) ...
        deadline, rows = time.monotonic() + 60, {}
        while time.monotonic() < deadline:
            stats = ha_lab.exec(worker, ["sh", "-c", "curl -s 'http://127.0.0.1:8404/stats;csv'"]).stdout
            rows = {line.split(",")[1]: line.split(",")[17] for line in stats.splitlines()
                    if line.startswith("kube-apiservers,") and "BACKEND" not in line}
            if rows.get(first_cp, "").startswith("DOWN"):
                break
            time.sleep(0.5)
        assert rows[first_cp].startswith("DOWN") and sum(s == "UP" for s in rows.values()) == 2, rows
        # ... and every request through the local proxy reaches a ready API server
        for _ in range(10):
            r = ha_lab.exec(worker, ["sh", "-c", READYZ])
            assert r.stdout == "ok", r
        r = subprocess.run([sys.executable, "-m", "kubeward", "kubectl", "-c", str(config), "--", "get", "ns",
                            "-o", "name"], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and "namespace/kube-system" in r.stdout, r
    finally:
        ha_lab.start_node(first_cp)
