"""Which files of the store go to which host, where, owned by whom, with which mode.

Every host gets the cluster CA certificate and its own client certificate for the node-local API
proxy's /readyz checks of each API server. Control planes also get the API server's certificates,
the service-account key pair, the front proxy's CA certificate and client, the etcd CA certificate
and their own etcd server and peer certificates (renamed to ``server`` and ``peer``), and the
intermediate CA ``kubelet-signer`` with its key (the controller-manager signs kubelet certificates
with it). Kubelets make their own keys and get their certificates by CSR (``RETIRED_NODE_FILES``
are what kubeward placed before and now removes). CA private keys go to control planes only when
``pki.ca_keys_on_nodes`` is set; by default they never leave the operator's machine.
kube-controller-manager's and kube-scheduler's certificates are not files on hosts: they are
embedded in their kubeconfigs (see ``kubeconfig``), and kubeward's own etcd client certificate
stays on the operator's machine. Pure.
"""

from __future__ import annotations

from typing import NamedTuple

from kubeward.config import ClusterConfig, HostConfig
from kubeward.pki.table import ROWS, SA_KEY, DesiredCert, desire

#: where kubeadm (and so every Kubernetes how-to) keeps the cluster's PKI on a host
K8S_PKI_DIR = "/etc/kubernetes/pki"
#: kubelet's --cert-dir
KUBELET_PKI_DIR = "/var/lib/kubelet/pki"
#: the node-local API proxy's client certificate for its /readyz checks (.crt and .key; HAProxy
#: finds the key beside the certificate)
API_PROXY_CLIENT = f"{K8S_PKI_DIR}/api-proxy"
KEY_MODE = 0o600
CERT_MODE = 0o644


class NodeFile(NamedTuple):
    remote_path: str  # absolute path on the host
    local_path: str  # relative to the store (PkiStore.path(local_path) is the file)
    owner: str  # user and group owning the file on the host
    mode: int


def _pair(d: DesiredCert, remote: str, owner: str = "root") -> list[NodeFile]:
    return [
        NodeFile(f"{remote}.crt", d.cert_path, owner, CERT_MODE),
        NodeFile(f"{remote}.key", d.key_path, owner, KEY_MODE),
    ]


def _cert(d: DesiredCert, remote: str) -> NodeFile:
    return NodeFile(f"{remote}.crt", d.cert_path, "root", CERT_MODE)


def _ca(config: ClusterConfig, name: str, remote: str, with_key: bool) -> list[NodeFile]:
    d = desire(ROWS[name], config)
    return _pair(d, remote) if with_key else [_cert(d, remote)]


def files_for_node(config: ClusterConfig, host: HostConfig) -> list[NodeFile]:
    """Every PKI file host needs, as (remote_path, local_store_path, owner, mode)."""
    k, e = K8S_PKI_DIR, f"{K8S_PKI_DIR}/etcd"
    cp = host.is_control_plane
    ca_keys = cp and config.pki.ca_keys_on_nodes
    files = _ca(config, "ca", f"{k}/ca", ca_keys)
    files += _pair(desire(ROWS["api-proxy"], config, host), API_PROXY_CLIENT)
    if cp:
        files += _ca(config, "etcd-ca", f"{e}/ca", ca_keys)
        files += _pair(desire(ROWS["etcd-server"], config, host), f"{e}/server", "etcd")
        files += _pair(desire(ROWS["etcd-peer"], config, host), f"{e}/peer", "etcd")
        files += _pair(desire(ROWS["etcd-healthcheck-client"], config), f"{e}/healthcheck-client")
        for name in ("apiserver", "apiserver-kubelet-client", "apiserver-etcd-client"):
            files += _pair(desire(ROWS[name], config), f"{k}/{name}")
        files += _ca(config, "front-proxy-ca", f"{k}/front-proxy-ca", ca_keys)
        # the intermediate the controller-manager signs kubelet certificates with (its key is the
        # reason it exists: the cluster CA key itself stays off the nodes)
        files += _pair(desire(ROWS["kubelet-signer"], config), f"{k}/kubelet-signer")
        for name in ("controller-manager-serving", "scheduler-serving"):
            files += _pair(desire(ROWS[name], config, host), f"{k}/{name}")
        files += _pair(desire(ROWS["front-proxy-client"], config), f"{k}/front-proxy-client")
        files += [
            NodeFile(f"{k}/sa.key", SA_KEY.key_path, "root", KEY_MODE),
            NodeFile(f"{k}/sa.pub", SA_KEY.public_path, "root", CERT_MODE),
        ]
    return files


#: files earlier kubeward versions placed on every node, removed wherever they are still found: a
#: kubelet whose --cert-dir holds them uses them silently and never bootstraps (its own files are
#: kubelet-client-current.pem and kubelet-server-current.pem, generated on the node)
RETIRED_NODE_FILES: tuple[str, ...] = tuple(
    f"{KUBELET_PKI_DIR}/{name}.{ext}" for name in ("kubelet-client", "kubelet") for ext in ("crt", "key")
)
