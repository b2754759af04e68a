"""The certificate table, walked row by row: subject, issuer, SANs, usages, CA flags, and
`openssl verify` of every leaf against its CA; which files go to which host."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubeward.config import ClusterConfig, parse_config
from kubeward.pki import (
    CERT_TABLE,
    ROWS,
    desired_certs,
    expected_paths,
    files_for_node,
    new_ca,
    new_cert,
    parse_cert,
    plan_refresh,
)
from kubeward.pki.nodes import RETIRED_NODE_FILES

NOW = datetime(2030, 1, 1, tzinfo=UTC)
CLUSTER = """\
name: pkitest
ssh: {user: debian, key_path: keys/id_ed25519}
hosts:
  - {name: cp-1, address: 192.0.2.10, private_address: 10.0.0.10, role: control-plane}
  - {name: cp-2, address: cp2.example.net, private_address: 10.0.0.11, role: control-plane}
  - {name: cp-3, address: 192.0.2.12, private_address: 10.0.0.12, role: control-plane}
  - {name: worker-1, address: 192.0.2.21, private_address: 10.0.0.21, role: worker}
  - {name: worker-2, address: 192.0.2.22, private_address: 10.0.0.22, role: worker}
admin:
  name: kubeadmin
  uid: 1500
  ssh_public_key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFyHcpvoFU9dFloJmk8OQ/+icBDjiqm8gFKciq1gR8X9 a@b
network:
  private_subnet: 10.0.0.0/24
  admin_cidrs: [198.51.100.0/24]
  service_cidr: 10.32.0.0/16
pki:
  extra_sans: [k8s.example.com, 203.0.113.7]
"""
SMALL = """\
name: small
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

SERVER, CLIENT = "serverAuth", "clientAuth"
CA = "ca"
# Written from the issue, not from the table: (signing CA, common name, organisations, EKUs).
EXPECTED: dict[str, tuple[str | None, str, tuple[str, ...], set[str]]] = {
    "ca": (None, "kubernetes-ca", (), set()),
    "etcd-ca": (None, "etcd-ca", (), set()),
    "front-proxy-ca": (None, "front-proxy-ca", (), set()),
    # an intermediate under the cluster CA: the controller-manager signs kubelet CSRs with it
    "kubelet-signer": ("ca", "kubeward-kubelet-signer", (), set()),
    "etcd-server-{n}": ("etcd-ca", "{n}", (), {SERVER, CLIENT}),
    "etcd-peer-{n}": ("etcd-ca", "{n}", (), {SERVER, CLIENT}),
    "apiserver-etcd-client": ("etcd-ca", "kube-apiserver-etcd-client", (), {CLIENT}),
    "etcd-healthcheck-client": ("etcd-ca", "kube-etcd-healthcheck-client", (), {CLIENT}),
    "kubeward-etcd-client": ("etcd-ca", "kubeward-etcd-client", (), {CLIENT}),
    "apiserver": ("ca", "kube-apiserver", (), {SERVER}),
    "apiserver-kubelet-client": (
        "ca", "kube-apiserver-kubelet-client", ("kubeward:apiserver-kubelet-client",), {CLIENT}
    ),
    "front-proxy-client": ("front-proxy-ca", "front-proxy-client", (), {CLIENT}),
    "controller-manager": ("ca", "system:kube-controller-manager", (), {CLIENT}),
    "scheduler": ("ca", "system:kube-scheduler", (), {CLIENT}),
    "admin": ("ca", "kubernetes-super-admin", ("system:masters",), {CLIENT}),
    "cluster-admin": ("ca", "kubeward-admin", ("kubeward:cluster-admins",), {CLIENT}),
    "kube-proxy": ("ca", "system:kube-proxy", (), {CLIENT}),
    "controller-manager-serving-{n}": ("ca", "kube-controller-manager", (), {SERVER}),
    "scheduler-serving-{n}": ("ca", "kube-scheduler", (), {SERVER}),
    # each node's API proxy checks /readyz with it: no group, so no right beyond any authenticated user's
    "api-proxy-{n}": ("ca", "kubeward:api-proxy:{n}", (), {CLIENT}),
}
CP_ONLY = ("etcd-server-{n}", "etcd-peer-{n}", "controller-manager-serving-{n}", "scheduler-serving-{n}")
ALL_NODES: tuple[str, ...] = ("api-proxy-{n}",)  # kubelets get their certificates by CSR
CPS = ("cp-1", "cp-2", "cp-3")
NODES = (*CPS, "worker-1", "worker-2")


def config(text: str = CLUSTER) -> ClusterConfig:
    return parse_config(text).config


def sans_expected(name: str) -> set[object]:
    loopback = {ip_address("127.0.0.1"), "localhost"}
    cps = {"cp-1": ("192.0.2.10", "10.0.0.10"), "cp-2": ("cp2.example.net", "10.0.0.11"),
           "cp-3": ("192.0.2.12", "10.0.0.12")}
    nodes = {**cps, "worker-1": ("192.0.2.21", "10.0.0.21"), "worker-2": ("192.0.2.22", "10.0.0.22")}

    def addr(text: str) -> object:
        try:
            return ip_address(text)
        except ValueError:
            return text

    if name == "apiserver":
        out: set[object] = {"kubernetes", "kubernetes.default", "kubernetes.default.svc",
                            "kubernetes.default.svc.cluster.local", ip_address("10.32.0.1"),
                            "k8s.example.com", ip_address("203.0.113.7"), ip_address("127.0.0.1")}
        for cp, (a, p) in cps.items():
            out |= {cp, addr(a), ip_address(p)}
        return out
    for prefix in ("controller-manager-serving-", "scheduler-serving-"):
        if name.startswith(prefix):
            return {ip_address("127.0.0.1"), "localhost", name.removeprefix(prefix)}
    for prefix in ("etcd-server-", "etcd-peer-"):
        if name.startswith(prefix):
            node = name.removeprefix(prefix)
            return {node, ip_address(cps[node][1]), *loopback}
    if name.startswith("kubelet-serving-"):
        node = name.removeprefix("kubelet-serving-")
        return {node, addr(nodes[node][0]), ip_address(nodes[node][1])}
    return set()


def expected_rows() -> dict[str, tuple[str | None, str, tuple[str, ...], set[str]]]:
    rows = {}
    for pattern, (ca, cn, o, eku) in EXPECTED.items():
        nodes = CPS if pattern in CP_ONLY else NODES if pattern in ALL_NODES else (None,)
        for n in nodes:
            name = pattern.format(n=n) if n else pattern
            rows[name] = (ca, cn.format(n=n) if n else cn, o, eku)
    return rows


def write_all(cfg: ClusterConfig, root: Path) -> dict[str, bytes]:
    files = {w.path: w.data for w in plan_refresh(cfg, {}, NOW).writes}
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return files


def openssl_verify(ca: Path, leaf: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", "verify", "-x509_strict", "-attime", str(int(NOW.timestamp())), *args,
         "-CAfile", str(ca), str(leaf)],
        capture_output=True, text=True, check=False,
    )


def ext(cert: x509.Certificate, cls: type[x509.ExtensionType]) -> x509.Extension[x509.ExtensionType] | None:
    try:
        return cert.extensions.get_extension_for_class(cls)
    except x509.ExtensionNotFound:
        return None


def san_set(cert: x509.Certificate) -> set[object]:
    e = ext(cert, x509.SubjectAlternativeName)
    if e is None:
        return set()
    value = e.value
    assert isinstance(value, x509.SubjectAlternativeName)
    return {*value.get_values_for_type(x509.DNSName), *value.get_values_for_type(x509.IPAddress)}


# --- the table itself ----------------------------------------------------------------------------


def test_table_has_exactly_the_expected_certificates() -> None:
    names = [d.name for d in desired_certs(config())]
    assert sorted(names) == sorted(expected_rows())
    assert len(names) == len(set(names))
    # CAs come first, so a walk in order meets every signer before what it signs
    assert names[:3] == ["ca", "etcd-ca", "front-proxy-ca"]
    for row in CERT_TABLE:
        assert row.ca is None or CERT_TABLE.index(ROWS[row.ca]) < CERT_TABLE.index(row)


def test_control_plane_only_rows_have_no_worker_instances() -> None:
    names = {d.name for d in desired_certs(config())}
    for worker in ("worker-1", "worker-2"):
        assert f"etcd-server-{worker}" not in names and f"etcd-peer-{worker}" not in names
        # kubelets bootstrap their own; the node-local API proxy's health-check client is the only one
        assert [n for n in names if n.endswith(worker)] == [f"api-proxy-{worker}"]


def test_store_paths_are_like_kubeadm() -> None:
    paths = expected_paths(config())
    for p in ("ca.crt", "ca.key", "etcd/ca.crt", "etcd/ca.key", "front-proxy-ca.crt", "sa.key", "sa.pub",
              "apiserver.crt", "etcd/server-cp-2.crt", "etcd/peer-cp-3.key", "etcd/healthcheck-client.crt",
              "admin.crt",
              "cluster-admin.key"):
        assert p in paths


RSA_CLUSTER = CLUSTER.replace("pki:\n", "pki:\n  key_type: rsa-2048\n")


@pytest.mark.parametrize("text, key_type", [(CLUSTER, "ecdsa-p256"), (RSA_CLUSTER, "rsa-2048")])
def test_every_row_is_issued_as_specified_and_verifies(tmp_path: Path, text: str, key_type: str) -> None:
    cfg = parse_config(text).config
    files = write_all(cfg, tmp_path)
    certs = {d.name: parse_cert(files[d.cert_path]) for d in desired_certs(cfg)}
    paths = {d.name: tmp_path / d.cert_path for d in desired_certs(cfg)}
    expected = expected_rows()
    assert {d.name for d in desired_certs(cfg)} <= set(expected)
    for name, cert in certs.items():
        ca_name, cn, orgs, ekus = expected[name]
        # subject and issuer
        assert [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)] == [cn], name
        assert tuple(a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)) == orgs
        issuer = certs[ca_name or name]
        assert cert.issuer == issuer.subject, name
        # key type
        key = cert.public_key()
        if key_type == "ecdsa-p256":
            assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
        else:
            assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 2048
        # CA flags, key usages, identifiers
        bc = ext(cert, x509.BasicConstraints)
        ku = ext(cert, x509.KeyUsage)
        assert bc is not None and bc.critical and ku is not None and ku.critical
        assert isinstance(bc.value, x509.BasicConstraints) and isinstance(ku.value, x509.KeyUsage)
        aki = ext(cert, x509.AuthorityKeyIdentifier)
        issuer_ski = ext(issuer, x509.SubjectKeyIdentifier)
        assert aki is not None and issuer_ski is not None
        assert isinstance(aki.value, x509.AuthorityKeyIdentifier)
        assert isinstance(issuer_ski.value, x509.SubjectKeyIdentifier)
        assert aki.value.key_identifier == issuer_ski.value.digest
        if name == "kubelet-signer":  # intermediate: a CA signed by the cluster CA, any purpose below it
            assert bc.value.ca and bc.value.path_length == 0
            assert ku.value.key_cert_sign and ku.value.crl_sign and not ku.value.digital_signature
            assert ext(cert, x509.ExtendedKeyUsage) is None
            assert cert.not_valid_after_utc - NOW == timedelta(days=3650)
            assert openssl_verify(paths[ca_name], paths[name]).returncode == 0, name
            continue
        if ca_name is None:
            assert bc.value.ca and bc.value.path_length == 0
            assert ku.value.key_cert_sign and ku.value.crl_sign and not ku.value.digital_signature
            assert ext(cert, x509.ExtendedKeyUsage) is None
            assert cert.not_valid_after_utc - NOW == timedelta(days=3650)  # ca_validity_days
        else:
            assert not bc.value.ca
            assert ku.value.digital_signature and not ku.value.key_cert_sign and not ku.value.crl_sign
            assert ku.value.key_encipherment == (key_type != "ecdsa-p256")
            eku = ext(cert, x509.ExtendedKeyUsage)
            assert eku is not None and isinstance(eku.value, x509.ExtendedKeyUsage)
            oids = {ExtendedKeyUsageOID.SERVER_AUTH: SERVER, ExtendedKeyUsageOID.CLIENT_AUTH: CLIENT}
            assert {oids[o] for o in eku.value} == ekus, name
            assert cert.not_valid_after_utc - NOW == timedelta(days=365)  # cert_validity_days
        assert NOW - cert.not_valid_before_utc == timedelta(minutes=5)  # backdated for clock skew
        assert san_set(cert) == sans_expected(name), name
        assert 2**64 < cert.serial_number < 2**128
        # openssl agrees: the chain, the purpose, strict X.509
        if ca_name is not None:
            ok = openssl_verify(paths[ca_name], paths[name])
            assert ok.returncode == 0, (name, ok.stdout, ok.stderr)
            purpose = "sslserver" if SERVER in ekus else "sslclient"
            assert openssl_verify(paths[ca_name], paths[name], "-purpose", purpose).returncode == 0, name
            other = "front-proxy-ca" if ca_name != "front-proxy-ca" else "ca"
            assert openssl_verify(paths[other], paths[name]).returncode != 0, name
        else:
            assert openssl_verify(paths[name], paths[name]).returncode == 0, name


def test_new_ca_and_new_cert_are_the_row_constructors(tmp_path: Path) -> None:
    cfg = config()
    ca = new_ca(ROWS["etcd-ca"], cfg, NOW)
    leaf = new_cert(ROWS["etcd-peer"], ca, cfg, cfg.host("cp-2"), NOW)
    assert leaf.cert.issuer == ca.cert.subject
    assert san_set(leaf.cert) == sans_expected("etcd-peer-cp-2")
    (tmp_path / "ca.crt").write_bytes(ca.cert_pem())
    (tmp_path / "leaf.crt").write_bytes(leaf.cert_pem())
    assert openssl_verify(tmp_path / "ca.crt", tmp_path / "leaf.crt").returncode == 0
    # two certificates never share a serial
    assert new_cert(ROWS["etcd-peer"], ca, cfg, cfg.host("cp-2"), NOW).cert.serial_number != \
        leaf.cert.serial_number


def test_leaf_never_outlives_its_ca() -> None:
    cfg = parse_config(SMALL + "pki: {ca_validity_days: 400, cert_validity_days: 365}\n").config
    ca = new_ca(ROWS["ca"], cfg, NOW)
    later = datetime(2030, 12, 1, tzinfo=UTC)
    leaf = new_cert(ROWS["apiserver"], ca, cfg, None, later)
    assert leaf.cert.not_valid_after_utc == ca.cert.not_valid_after_utc


# --- which files go to which host ----------------------------------------------------------------


def remote_of(cfg: ClusterConfig, host: str) -> dict[str, tuple[str, str, int]]:
    return {f.remote_path: (f.local_path, f.owner, f.mode) for f in files_for_node(cfg, cfg.host(host))}


def test_worker_gets_only_the_ca_cert_and_its_api_proxy_client() -> None:
    cfg = config()
    files = remote_of(cfg, "worker-1")
    assert files == {"/etc/kubernetes/pki/ca.crt": ("ca.crt", "root", 0o644),
                     "/etc/kubernetes/pki/api-proxy.crt": ("api-proxy-worker-1.crt", "root", 0o644),
                     "/etc/kubernetes/pki/api-proxy.key": ("api-proxy-worker-1.key", "root", 0o600)}
    assert not [p for p in remote_of(cfg, "cp-1") if p.startswith("/var/lib/kubelet/")]
    assert RETIRED_NODE_FILES == ("/var/lib/kubelet/pki/kubelet-client.crt", "/var/lib/kubelet/pki/kubelet-client.key",
                                  "/var/lib/kubelet/pki/kubelet.crt", "/var/lib/kubelet/pki/kubelet.key")
    with_keys = parse_config(CLUSTER.replace("pki:\n", "pki:\n  ca_keys_on_nodes: true\n")).config
    assert with_keys.pki.ca_keys_on_nodes
    assert remote_of(with_keys, "worker-1") == files


def test_control_plane_files() -> None:
    cfg = config()
    files = remote_of(cfg, "cp-2")
    locals_ = {local for local, _, _ in files.values()}
    for rel in ("ca.crt", "etcd/ca.crt", "front-proxy-ca.crt", "apiserver.crt", "apiserver.key",
                "apiserver-kubelet-client.key", "apiserver-etcd-client.key", "front-proxy-client.key",
                "sa.key", "sa.pub", "etcd/server-cp-2.key", "etcd/peer-cp-2.crt",
                "etcd/healthcheck-client.key"):
        assert rel in locals_, rel
    # no CA key, nobody else's etcd certificate, no operator-only credentials
    for rel in locals_:
        assert rel not in ("ca.key", "etcd/ca.key", "front-proxy-ca.key", "admin.key", "cluster-admin.key",
                           "etcd/kubeward-client.key"), rel
        assert "cp-1" not in rel and "cp-3" not in rel and "worker" not in rel
    assert files["/etc/kubernetes/pki/etcd/server.key"] == ("etcd/server-cp-2.key", "etcd", 0o600)
    assert files["/etc/kubernetes/pki/etcd/ca.crt"] == ("etcd/ca.crt", "root", 0o644)
    assert files["/etc/kubernetes/pki/sa.key"] == ("sa.key", "root", 0o600)
    for local, _, mode in files.values():
        assert mode == (0o600 if local.endswith(".key") else 0o644)
        assert local in expected_paths(cfg)


def test_ca_keys_reach_control_planes_only_when_asked() -> None:
    cfg = parse_config(CLUSTER.replace("pki:\n", "pki:\n  ca_keys_on_nodes: true\n")).config
    files = remote_of(cfg, "cp-1")
    assert files["/etc/kubernetes/pki/ca.key"] == ("ca.key", "root", 0o600)
    assert files["/etc/kubernetes/pki/etcd/ca.key"] == ("etcd/ca.key", "root", 0o600)
    assert files["/etc/kubernetes/pki/front-proxy-ca.key"] == ("front-proxy-ca.key", "root", 0o600)


# --- the package keeps its promise: pure, apart from store.py ------------------------------------

PKI_DIR = Path(__file__).parents[2] / "src" / "kubeward" / "pki"
IO_MODULES = {"os", "pathlib", "shutil", "tempfile", "subprocess", "socket", "io", "asyncio", "asyncssh"}


@pytest.mark.parametrize("module", sorted(p.name for p in PKI_DIR.glob("*.py")))
def test_only_the_store_does_io(module: str) -> None:
    import ast

    tree = ast.parse((PKI_DIR / module).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id != "open" or module == "store.py", module
    roots = {name.split(".")[0] for name in imported}
    layers = {".".join(name.split(".")[:2]) for name in imported if name.startswith("kubeward.")}
    assert not layers & {"kubeward.remote", "kubeward.phases", "kubeward.cli", "kubeward.ops"}, module
    if module != "store.py":
        assert not roots & IO_MODULES, (module, roots & IO_MODULES)
