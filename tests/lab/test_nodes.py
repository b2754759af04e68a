"""Kubernetes nodes on a lab of their own (1 control plane, 2 workers) with the real v1.20.2 build:
kubelets join by TLS bootstrap (no token left behind, keys made on the nodes), serving CSRs are
decided by the strict policy (a node asking for another node's address or an extra name is
denied), the kubelet API refuses anonymous requests and 10255 stays closed, `kubeward check` runs
pods on every node (pod-to-pod, ClusterIP, NodePort, logs and exec through the API server), a
NodePort times out from a source outside nodeport_sources, and a second `up` changes nothing.
Test pods are deleted by `kubeward check` itself; the lab goes down at the end (pods first: the
check's namespace is gone before)."""

from __future__ import annotations

import base64
import ipaddress
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kubeward.lab.lab import Lab, NodeState
from tests.lab.conftest import KubeCluster, up_json


@pytest.fixture(scope="module")
def kube_lab(kube_cluster: KubeCluster) -> Lab:
    return kube_cluster.lab


@pytest.fixture(scope="module")
def config(kube_cluster: KubeCluster) -> Path:
    return kube_cluster.config


@pytest.fixture(scope="module")
def up(kube_cluster: KubeCluster) -> dict:  # type: ignore[type-arg]
    return kube_cluster.up


def kw(config: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kubeward", *args, "-c", str(config)],
                          capture_output=True, text=True, timeout=timeout)


def kubectl_json(config: Path, *args: str) -> dict:  # type: ignore[type-arg]
    r = subprocess.run([sys.executable, "-m", "kubeward", "kubectl", "-c", str(config), "--", *args, "-o", "json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)  # type: ignore[no-any-return]


def sh(lab: Lab, node: str, script: str) -> subprocess.CompletedProcess[str]:
    return lab.exec(node, ["sh", "-c", script], timeout=60)


@pytest.fixture(scope="module")
def members(kube_cluster: KubeCluster) -> list[NodeState]:
    """The lab nodes of the cluster (the lab boots a spare one that cluster.yml leaves out)."""
    return kube_cluster.nodes()


def test_kubelets_joined_by_tls_bootstrap_and_no_token_remains(kube_lab: Lab, config: Path, up: dict,  # type: ignore[type-arg]
                                                               members: list[NodeState]) -> None:
    nodes = kubectl_json(config, "get", "nodes")["items"]
    ready = {n["metadata"]["name"]: any(c["type"] == "Ready" and c["status"] == "True"
                                        for c in n["status"]["conditions"]) for n in nodes}
    assert ready == {n.name: True for n in members} and len(members) == 3
    assert all(n["spec"].get("podCIDR") for n in nodes)
    secrets = kubectl_json(config, "get", "secrets", "-n", "kube-system")["items"]
    assert [s["metadata"]["name"] for s in secrets if s["type"] == "bootstrap.kubernetes.io/token"] == []
    for n in members:
        r = sh(kube_lab, n.name, "ls /var/lib/kubelet/pki /etc/kubernetes; stat -L -c %a /var/lib/kubelet/pki/kubelet-client-current.pem")
        files = r.stdout.split()
        assert "kubelet-client-current.pem" in files and "kubelet-server-current.pem" in files, (n.name, files)
        assert not {"kubelet-client.key", "kubelet.key", "bootstrap-kubelet.conf"} & set(files), (n.name, files)
        assert files[-1] == "600"
    csrs = kubectl_json(config, "get", "csr")["items"]
    serving = [c for c in csrs if c["spec"]["signerName"] == "kubernetes.io/kubelet-serving"]
    assert {c["spec"]["username"] for c in serving} >= {f"system:node:{n.name}" for n in members}
    assert all(any(cond["type"] == "Approved" for cond in c["status"]["conditions"]) for c in serving)


def test_check_runs_pods_on_every_node(config: Path, up: dict) -> None:  # type: ignore[type-arg]
    r = kw(config, "check", "-o", "json")
    assert r.stdout, r.stderr[-3000:]
    doc = json.loads(r.stdout)
    status = {c["name"]: c["status"] for c in doc["checks"]}
    assert r.returncode == 0 and doc["ok"], json.dumps(doc, indent=1)
    for name in ("nodes-ready", "pod-on-every-node", "pod-to-pod", "clusterip-service", "nodeport-from-node",
                 "nodeport-allowed-source", "kubectl-logs", "kubectl-exec", "cleanup"):
        assert status[name] == "pass", (name, doc)
    assert not [n for n in kubectl_json(config, "get", "ns")["items"]
                if n["metadata"]["name"].startswith("kubeward-check-")]


def test_kubelet_api_refuses_anonymous_and_read_only_port_is_closed(kube_lab: Lab, up: dict,  # type: ignore[type-arg]
                                                                   members: list[NodeState]) -> None:
    cp = next(n for n in members if n.role == "control-plane")
    for n in members:
        code = sh(kube_lab, cp.name, f"curl -sk -o /dev/null -w '%{{http_code}}' --max-time 5 https://{n.private_address}:10250/pods")
        assert code.stdout == "401", (n.name, code.stdout, code.stderr)
        closed = sh(kube_lab, cp.name, "python3 -c 'import socket,sys\ntry:\n socket.create_connection("
                    f"(\"{n.private_address}\", 10255), 3); print(\"open\")\nexcept OSError as e: print(\"closed\", e)'")
        assert closed.stdout.startswith("closed"), (n.name, closed.stdout)


def _csr_pem(cn: str, dns: list[str], ips: list[str]) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    return (x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:nodes"),
                                     x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))


def test_serving_csr_for_another_nodes_address_or_an_extra_name_is_denied(
        kube_lab: Lab, config: Path, up: dict, members: list[NodeState]) -> None:  # type: ignore[type-arg]
    a, b = [n for n in members if n.role == "worker"][:2]
    wanted = {
        "kw-test-steal": _csr_pem(f"system:node:{a.name}", [a.name], [a.private_address, b.private_address]),
        "kw-test-extra": _csr_pem(f"system:node:{a.name}", [a.name, "api.example.com"], [a.private_address]),
    }
    for name, pem in wanted.items():
        body = json.dumps({"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
                           "metadata": {"name": name},
                           "spec": {"request": base64.b64encode(pem).decode(), "signerName": "kubernetes.io/kubelet-serving",
                                    "usages": ["digital signature", "key encipherment", "server auth"]}})
        # submitted on node A with node A's own credentials (its key never leaves it)
        pki = "/var/lib/kubelet/pki/kubelet-client-current.pem"
        r = sh(kube_lab, a.name, f"curl -s --max-time 10 --cacert /etc/kubernetes/pki/ca.crt --cert {pki} --key {pki} "
                                 "-H 'Content-Type: application/json' -X POST "
                                 "https://127.0.0.1:6443/apis/certificates.k8s.io/v1/certificatesigningrequests "
                                 f"-d '{body}' -o /dev/null -w '%{{http_code}}'")
        assert r.stdout == "201", (name, r.stdout, r.stderr)
    decided = kw(config, "csr", "approve", "-o", "json", *wanted)
    assert decided.returncode == 0, decided.stderr
    verdicts = {d["name"]: d for d in json.loads(decided.stdout)}
    assert not verdicts["kw-test-steal"]["approved"] and f"IP SAN {b.private_address}" in verdicts["kw-test-steal"]["reason"]
    assert not verdicts["kw-test-extra"]["approved"] and "api.example.com" in verdicts["kw-test-extra"]["reason"]
    listed = {c["name"]: c for c in json.loads(kw(config, "csr", "list", "-o", "json").stdout)}
    assert listed["kw-test-steal"]["state"] == listed["kw-test-extra"]["state"] == "Denied"
    assert not listed["kw-test-steal"]["issued"]


def test_second_up_changes_nothing(config: Path, up: dict) -> None:  # type: ignore[type-arg]
    rc, report = up_json(config)
    assert rc == 0, json.dumps(report, indent=1)[-3000:]
    changed = {h: [c["summary"] for c in r["changes"]] for h, r in report["hosts"].items() if r["changes"]}
    assert changed == {}


def test_nodeport_times_out_from_a_source_outside_nodeport_sources(config: Path, up: dict) -> None:  # type: ignore[type-arg]
    text = config.read_text()
    assert "nodeport_range: 30001-30099" in text
    config.write_text(text.replace("  nodeport_range: 30001-30099", "  nodeport_range: 30001-30099\n"
                                   "  nodeport_sources: [192.0.2.0/24]"))
    try:
        rc, report = up_json(config, "--only", "firewall")
        assert rc == 0, json.dumps(report, indent=1)[-3000:]
        r = kw(config, "check", "-o", "json")
        assert r.stdout, r.stderr[-3000:]
        doc = json.loads(r.stdout)
        status = {c["name"]: c["status"] for c in doc["checks"]}
        failed = [c for c in doc["checks"] if c["status"] == "fail"]
        assert status["nodeport-disallowed-source"] == "pass", failed
        assert status["nodeport-from-node"] == "pass", failed
        assert r.returncode == 0 and doc["cleaned"], doc
    finally:
        config.write_text(text)
        # the cluster is shared with the other Kubernetes modules: put its firewall back
        rc, report = up_json(config, "--only", "firewall")
        assert rc == 0, json.dumps(report, indent=1)[-3000:]
