"""What the API and etcd say, evaluated without I/O; and the path map's statuses."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kubeward.audit.kube_api import AccessReview, Binding, CertExpiry, KubeObservation, evaluate_expiry, evaluate_kube
from kubeward.audit.model import AuditReport, Finding, Observations, SshAuthProbe, TlsProbe
from kubeward.audit.paths import path_status
from kubeward.kube.csr_policy import CsrRecord, host_identity

NOW = datetime(2026, 11, 30, tzinfo=UTC)
INVENTORY = {"w-1": host_identity("w-1", ["192.0.2.21", "10.0.0.21"]),
             "w-2": host_identity("w-2", ["192.0.2.22", "10.0.0.22"])}


def _csr(node: str, ips: list[str], state: str) -> CsrRecord:
    key = ec.generate_private_key(ec.SECP256R1())
    req = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:nodes"),
                                    x509.NameAttribute(NameOID.COMMON_NAME, f"system:node:{node}")]))
           .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(i)) for i in ips]),
                          critical=False)
           .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    return CsrRecord(f"csr-{node}-{state}", "kubernetes.io/kubelet-serving", f"system:node:{node}", ("system:nodes",),
                     ("server auth", "digital signature"), req, state)  # type: ignore[arg-type]


def _ids(findings: list[Finding]) -> list[tuple[str, str, int | None]]:
    return sorted((f.id, f.severity, f.port) for f in findings)


def test_a_clean_api_has_no_finding() -> None:
    kube = KubeObservation(
        via="cp-1", anonymous=[AccessReview("list", "pods", "", "", False)],
        bindings=[Binding("ClusterRoleBinding", "cluster-admin", "", "cluster-admin", (("Group", "system:masters"),)),
                  Binding("ClusterRoleBinding", "kubeward:cluster-admins", "", "cluster-admin",
                          (("Group", "kubeward:cluster-admins"),)),
                  Binding("ClusterRoleBinding", "system:public-info-viewer", "", "system:public-info-viewer",
                          (("Group", "system:authenticated"), ("Group", "system:unauthenticated")))],
        bootstrap_tokens={"bootstrap-token-old": "2026-11-29T00:00:00Z"},
        csrs=[_csr("w-1", ["10.0.0.21"], "Approved")], secret_key="/registry/secrets/a/b", secret_prefix=b"k8s:enc:aescbc:")
    assert list(evaluate_kube(kube, INVENTORY, NOW)) == []


def test_each_api_weakness_is_a_finding() -> None:
    kube = KubeObservation(
        via="cp-1", anonymous=[AccessReview("list", "pods", "", "", True)],
        bindings=[Binding("ClusterRoleBinding", "oops", "", "view", (("User", "system:anonymous"),)),
                  Binding("RoleBinding", "ci", "ci", "cluster-admin", (("ServiceAccount", "deployer"),)),
                  Binding("ClusterRoleBinding", "masters", "", "edit", (("Group", "system:masters"),))],
        bootstrap_tokens={"bootstrap-token-abcdef": "2026-12-01T00:00:00Z", "bootstrap-token-never": ""},
        csrs=[_csr("w-1", ["10.0.0.22"], "Approved"), _csr("w-2", ["10.0.0.21"], "Pending")],
        secret_key="/registry/secrets/a/b", secret_prefix=b"\x6b\x38\x73\x00")
    assert _ids(list(evaluate_kube(kube, INVENTORY, NOW))) == [
        ("KW-BOOTSTRAP-TOKEN", "high", 6443), ("KW-BOOTSTRAP-TOKEN", "high", 6443),
        ("KW-CSR-FOREIGN", "critical", 10250), ("KW-CSR-FOREIGN", "medium", 10250),
        ("KW-RBAC-ADMIN-BINDING", "high", 6443), ("KW-RBAC-ADMIN-BINDING", "high", 6443),
        ("KW-RBAC-ANONYMOUS", "high", 6443), ("KW-RBAC-ANONYMOUS", "high", 6443),
        ("KW-SECRETS-PLAINTEXT", "critical", 2379),
    ]


def test_certificate_expiry_before_the_renewal_window() -> None:
    certs = [CertExpiry("", "ca.crt", NOW + timedelta(days=3000)),
             CertExpiry("w-1", "kubelet serving", NOW + timedelta(days=10), 10250),
             CertExpiry("", "apiserver.crt", NOW - timedelta(days=1))]
    got = [(f.id, f.severity, f.node, f.port) for f in evaluate_expiry(certs, 30, NOW)]
    assert got == [("KW-CERT-EXPIRY", "medium", "w-1", 10250), ("KW-CERT-EXPIRY", "high", "state-dir", None)]


def _tls(row: str, port: int, **kw: object) -> TlsProbe:
    base: dict[str, object] = dict(target="cp-1", port=port, row=row, handshake="ok", legacy_tls_accepted="",
                                   chain_ok=True, chain_error="", expected_ca="ca", san_ok=True, sans=("cp-1",),
                                   client_cert_required=True, http_status=None)
    base.update(kw)
    return TlsProbe(**base)  # type: ignore[arg-type]


def test_path_map_is_green_only_where_this_run_proved_it() -> None:
    obs = Observations()
    obs.local = {"cp-1": None}  # type: ignore[dict-item]
    obs.ssh_auth = [SshAuthProbe("cp-1", ("publickey",))]
    obs.tls = [_tls("etcd-client", 2379), _tls("etcd-peer", 2380, client_cert_required=False)]
    report = AuditReport([Finding("KW-KUBELET-ANONYMOUS", "high", "w-1", "t", "o", "f", 10250, "tcp", "local")], obs,
                         [])
    status = {p.spec.name: p.status for p in path_status(report)}
    assert status == {
        "operator -> sshd": "proven", "node -> API server": "configured", "API server -> kubelet": "finding",
        "API server -> etcd": "proven", "etcd -> etcd": "configured",
        "API server -> etcd (Secrets at rest)": "configured", "pod -> pod": "configured",
        "outside -> NodePort": "configured",
    }


def test_the_kubelets_client_certificate_expiry_is_read_on_the_node() -> None:
    from kubeward.audit.probe import parse_local

    lo = parse_local("@@certs\nDec  3 10:00:00 2026 GMT|/var/lib/kubelet/pki/kubelet-client-current.pem\n"
                     "|/var/lib/kubelet/pki/broken.pem\n@@end\n")
    assert lo.cert_expiry == {"/var/lib/kubelet/pki/kubelet-client-current.pem": "2026-12-03T10:00:00+00:00"}
    assert ("certs", "the expiry of /var/lib/kubelet/pki/broken.pem could not be read") in lo.gaps
    certs = [CertExpiry("w-1", p, datetime.fromisoformat(na)) for p, na in lo.cert_expiry.items()]
    [f] = evaluate_expiry(certs, 30, NOW)
    assert (f.id, f.node, f.severity) == ("KW-CERT-EXPIRY", "w-1", "medium")
