"""The Kubernetes control plane on the shared Kubernetes lab (1 control plane, 2 workers, the session's
`kube_cluster`) with the real v1.20.2 build: `up` brings it up hardened, kubectl works through
kubeward's tunnel as the daily admin, anonymous requests get 401 and no permission, the insecure and
loopback ports stay closed to the network, Secrets are encrypted in etcd (aescbc) and audited at
Metadata level, a key rotation re-encrypts them, and a second `up` changes nothing."""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kubeward.config import load_config
from kubeward.etcd.client import ClientCredentials, EtcdApiError, EtcdClient
from kubeward.lab.lab import Lab, LabState
from kubeward.pki.store import read_keys
from tests.lab.conftest import KubeCluster, up_json

NS = "default"


@pytest.fixture(scope="module")
def kube_lab(kube_cluster: KubeCluster) -> Lab:
    return kube_cluster.lab


@pytest.fixture(scope="module")
def config(kube_cluster: KubeCluster) -> Path:
    return kube_cluster.config


@pytest.fixture(scope="module")
def up(kube_cluster: KubeCluster) -> dict:  # type: ignore[type-arg]
    return kube_cluster.up


def kubectl(config: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kubeward", "kubectl", "-c", str(config), "--", *args],
                          capture_output=True, text=True, timeout=timeout)


def node_sh(lab: Lab, node: str, script: str) -> subprocess.CompletedProcess[str]:
    return lab.exec(node, ["sh", "-c", script], timeout=60)


def cp_and_worker(lab: Lab) -> tuple[LabState, str, str]:
    st = lab.load()
    cp = next(n for n in st.nodes if n.role == "control-plane")
    worker = next(n for n in st.nodes if n.role == "worker")
    return st, cp.name, worker.name


def raw_etcd_value(config: Path, key: str) -> bytes | None:
    """The value as stored in etcd, read with kubeward's own etcd client certificate through
    `kubeward tunnel etcd`."""
    loaded = load_config(config)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tunnel = subprocess.Popen([sys.executable, "-m", "kubeward", "tunnel", "-c", str(config), "--local-port",
                               str(port), "etcd"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        client = EtcdClient(port, ClientCredentials.for_config(loaded.config).context(),
                            server_name=str(loaded.config.control_planes[0].private_address))
        for _ in range(100):  # until the tunnel listens
            try:
                return client.get(key.encode())
            except EtcdApiError as exc:
                if "refused" not in str(exc):
                    raise
                time.sleep(0.1)
        raise AssertionError(f"the etcd tunnel did not come up: {tunnel.stderr}")
    finally:
        tunnel.terminate()
        tunnel.wait(10)


def test_up_brings_the_control_plane_up_and_kubectl_works_as_the_daily_admin(config: Path, up: dict) -> None:  # type: ignore[type-arg]
    r = kubectl(config, "get", "namespaces", "-o", "name")
    assert r.returncode == 0, r.stderr
    assert {"namespace/default", "namespace/kube-system"} <= set(r.stdout.split())
    who = kubectl(config, "auth", "can-i", "--list")
    assert who.returncode == 0 and "*.*" in who.stdout, who  # cluster-admin by RBAC
    bindings = kubectl(config, "get", "clusterrolebindings", "-l", "app.kubernetes.io/managed-by=kubeward",
                       "-o", "jsonpath={range .items[*]}{.metadata.name}={.roleRef.name} {end}")
    assert set(bindings.stdout.split()) == {
        "kubeward:cluster-admins=cluster-admin",
        "kubeward:apiserver-kubelet-client=system:kubelet-api-admin",
        # TLS bootstrap of the kubelets (tests/lab/test_nodes.py)
        "kubeward:kubelet-bootstrap=system:node-bootstrapper",
        "kubeward:node-autoapprove-bootstrap=system:certificates.k8s.io:certificatesigningrequests:nodeclient",
        "kubeward:node-autoapprove-certificate-rotation="
        "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
    }


def test_anonymous_requests_get_401_and_no_permission(kube_lab: Lab, config: Path, up: dict) -> None:  # type: ignore[type-arg]
    st, cp, worker = cp_and_worker(kube_lab)
    addr = next(n.private_address for n in st.nodes if n.name == cp)
    for node in (cp, worker):
        r = node_sh(kube_lab, node, f"curl -sk -o /dev/null -w '%{{http_code}}' https://{addr}:6443/api")
        assert r.stdout == "401", (node, r)
    # the node-local proxy on a worker leads to the same API server, anonymous still refused
    r = node_sh(kube_lab, worker, "curl -sk -o /dev/null -w '%{http_code}' https://127.0.0.1:6443/api")
    assert r.stdout == "401", r
    # what anonymous may do, asked as the admin with SubjectAccessReviews (impersonating anonymous
    # cannot even ask): nothing on any resource; discovery (/api) needs authentication too
    checks = [{"verb": v, "resource": r} for v, r in (("get", "secrets"), ("list", "pods"), ("get", "namespaces"),
                                                     ("create", "pods"), ("get", "nodes"), ("list", "configmaps"),
                                                     ("create", "certificatesigningrequests"))]
    for attrs in [*checks, {"nonResource": "/api"}, {"nonResource": "/apis"}]:
        spec: dict[str, object] = {"user": "system:anonymous", "groups": ["system:unauthenticated"]}
        if "nonResource" in attrs:
            spec["nonResourceAttributes"] = {"path": attrs["nonResource"], "verb": "get"}
        else:
            spec["resourceAttributes"] = attrs
        review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}
        r = kubectl_in(config, json.dumps(review), "create", "-f", "-", "-o", "jsonpath={.status.allowed}")
        assert r.returncode == 0 and r.stdout.strip() in ("", "false"), (attrs, r)


def kubectl_in(config: Path, stdin: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kubeward", "kubectl", "-c", str(config), "--", *args],
                          capture_output=True, text=True, timeout=120, input=stdin)


def test_insecure_ports_are_closed_and_loopback_ports_stay_on_loopback(kube_lab: Lab, up: dict) -> None:  # type: ignore[type-arg]
    st, cp, worker = cp_and_worker(kube_lab)
    listening = node_sh(kube_lab, cp, "ss -Hltn | awk '{print $4}'").stdout.split()
    ports = {a.rsplit(":", 1)[1]: a for a in listening}
    assert not {"8080", "10251", "10252"} & set(ports), listening
    for port in ("10257", "10259"):
        where = [a for a in listening if a.endswith(f":{port}")]
        assert where and all(a.startswith("127.0.0.1:") for a in where), (port, listening)
    # the API server on the private address, the node-local proxy on loopback, its health on loopback
    assert any(a.endswith(":6443") and a.startswith("127.0.0.1:") for a in listening), listening
    assert all(a.startswith(("127.0.0.1:", "[::1]:")) for a in listening if a.endswith(":8404")), listening
    addr = next(n.private_address for n in st.nodes if n.name == cp)
    for port in (8080, 10251, 10252, 10257, 10259):
        r = node_sh(kube_lab, worker, f"curl -sk --max-time 3 -o /dev/null https://{addr}:{port}/ || echo refused")
        assert "refused" in r.stdout, (port, r)


def test_secrets_are_encrypted_audited_and_rotated(kube_lab: Lab, config: Path, up: dict) -> None:  # type: ignore[type-arg]
    st, cp, _ = cp_and_worker(kube_lab)
    name = f"kw-test-{secrets.token_hex(3)}"
    state = load_config(config).state_dir
    ring = read_keys(state)
    assert ring is not None and len(ring.keys) == 1
    assert (state / "encryption-keys.json").stat().st_mode & 0o777 == 0o600
    r = kubectl(config, "create", "secret", "generic", name, "-n", NS, "--from-literal=password=hunter2")
    assert r.returncode == 0, r.stderr
    try:
        raw = raw_etcd_value(config, f"/registry/secrets/{NS}/{name}")
        assert raw is not None and raw.startswith(f"k8s:enc:aescbc:v1:{ring.keys[0].name}:".encode()), raw
        assert b"hunter2" not in raw
        # the audit log: the creation at Metadata level (no request body)
        log = node_sh(kube_lab, cp, f"grep -h '\"name\":\"{name}\"' /var/log/kubernetes/audit/audit.log").stdout
        events = [json.loads(line) for line in log.splitlines()]
        created = [e for e in events if e["verb"] == "create" and e["objectRef"]["resource"] == "secrets"]
        assert created and all(e["level"] == "Metadata" and "requestObject" not in e for e in created), events
        assert "hunter2" not in log
        mode = node_sh(kube_lab, cp, "stat -c %a /var/log/kubernetes/audit /etc/kubernetes/encryption-config.yaml")
        assert mode.stdout.split() == ["700", "600"], mode

        rot = subprocess.run([sys.executable, "-m", "kubeward", "secrets", "rotate-key", "-c", str(config)],
                             capture_output=True, text=True, timeout=900)
        assert rot.returncode == 0, rot.stderr[-3000:]
        after = read_keys(state)
        assert after is not None and [k.name for k in after.keys] == [rot.stdout.strip()]
        assert after.keys[0].name != ring.keys[0].name and not after.step
        raw = raw_etcd_value(config, f"/registry/secrets/{NS}/{name}")
        assert raw is not None and raw.startswith(f"k8s:enc:aescbc:v1:{after.keys[0].name}:".encode()), raw
        got = kubectl(config, "get", "secret", name, "-n", NS, "-o", "jsonpath={.data.password}")
        assert got.stdout == "aHVudGVyMg==", got  # base64 of hunter2: still readable
        conf = node_sh(kube_lab, cp, "cat /etc/kubernetes/encryption-config.yaml").stdout
        assert ring.keys[0].name not in conf and after.keys[0].name in conf
    finally:
        kubectl(config, "delete", "secret", name, "-n", NS)


def test_a_second_up_changes_nothing(config: Path, up: dict) -> None:  # type: ignore[type-arg]
    rc, again = up_json(config)
    assert rc == 0, json.dumps(again, indent=1)[-4000:]
    changed = {h: [c["summary"] for c in v["changes"]] for h, v in again["hosts"].items()}
    assert all(not c for c in changed.values()), changed
    # connection, facts, preflight's peer probe, the audit's peer scan: the control plane adds none
    assert max(again["round_trips"].values()) <= 4, again["round_trips"]
