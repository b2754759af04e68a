"""kubeward's PKI: certificate authorities, certificates, tokens and kubeconfigs.

Every certificate is a row of a table (``table.CERT_TABLE``); constructors are pure, and the one
module that reads and writes files is ``store``. Import from here::

    from kubeward.pki import PkiStore, ensure_pki, files_for_node

Modules: ``table`` (the rows and their SAN rules), ``keys`` (key generation and PEM),
``issue`` (new_ca, new_cert), ``check`` (judging an existing certificate), ``refresh`` (what to
reuse and what to issue; status), ``nodes`` (which file goes to which host), ``tokens``,
``kubeconfig``, ``store`` (the files on the operator's machine), ``errors`` (PkiError, a
KubewardError).
"""

from kubeward.pki.check import Assessment, State, StoredCert, assess_cert, parse_stored
from kubeward.pki.errors import PkiError
from kubeward.pki.issue import (
    Issued,
    KeyPair,
    new_ca,
    new_cert,
    new_key_pair,
    parse_cert,
    render_cert,
    sign_ca,
    sign_cert,
)
from kubeward.pki.keys import KEY_TYPES, KeyType, new_private_key, parse_private_key, render_private_key
from kubeward.pki.kubeconfig import (
    KUBECONFIG_PATHS,
    ClientCertData,
    ClientCertFiles,
    TokenAuth,
    admin_server,
    api_server_url,
    component_server,
    render_cert_kubeconfig,
    render_kubeconfig,
    render_kubelet_bootstrap_kubeconfig,
    render_kubelet_kubeconfig,
)
from kubeward.pki.nodes import K8S_PKI_DIR, KUBELET_PKI_DIR, NodeFile, files_for_node
from kubeward.pki.refresh import (
    CertStatus,
    FileWrite,
    PkiReport,
    PkiStatus,
    Refresh,
    ReportEntry,
    find_orphans,
    pki_status,
    plan_refresh,
    resolve_renew,
)
from kubeward.pki.store import PkiStore, ensure_pki, read_pki_status
from kubeward.pki.table import (
    CA_NAMES,
    CERT_TABLE,
    ROWS,
    SA_KEY,
    CertRow,
    DesiredCert,
    KeyPairSpec,
    SanValue,
    apiserver_sans,
    desire,
    desired_certs,
    etcd_sans,
    expected_paths,
    kubelet_serving_sans,
    kubernetes_service_ip,
)
from kubeward.pki.tokens import (
    BootstrapToken,
    StaticToken,
    new_bootstrap_token,
    new_static_token,
    parse_bootstrap_token,
    parse_static_token_file,
    render_bootstrap_token_secret,
    render_static_token_file,
)

__all__ = [
    "CA_NAMES", "CERT_TABLE", "K8S_PKI_DIR", "KEY_TYPES", "KUBECONFIG_PATHS", "KUBELET_PKI_DIR", "ROWS",
    "SA_KEY", "Assessment", "BootstrapToken", "CertRow", "CertStatus", "ClientCertData", "ClientCertFiles",
    "DesiredCert", "FileWrite", "Issued", "KeyPair", "KeyPairSpec", "KeyType", "NodeFile", "PkiError",
    "PkiReport", "PkiStatus", "PkiStore", "Refresh", "ReportEntry", "SanValue", "State", "StaticToken",
    "StoredCert", "TokenAuth", "admin_server", "api_server_url", "apiserver_sans", "assess_cert",
    "component_server", "desire", "desired_certs", "ensure_pki", "etcd_sans", "expected_paths",
    "files_for_node", "find_orphans", "kubelet_serving_sans", "kubernetes_service_ip", "new_bootstrap_token",
    "new_ca", "new_cert", "new_key_pair", "new_private_key", "new_static_token", "parse_bootstrap_token",
    "parse_cert", "parse_private_key", "parse_static_token_file", "parse_stored", "pki_status",
    "plan_refresh", "read_pki_status", "render_bootstrap_token_secret", "render_cert",
    "render_cert_kubeconfig", "render_kubeconfig", "render_kubelet_bootstrap_kubeconfig",
    "render_kubelet_kubeconfig", "render_private_key", "render_static_token_file", "resolve_renew",
    "sign_ca", "sign_cert",
]
