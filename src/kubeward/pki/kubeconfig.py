"""Kubeconfig rendering (YAML text) for admins, components and kubelets.

The cluster's CA is always embedded (``certificate-authority-data``). A user authenticates with
an embedded client certificate, with certificate files on the host, or with a token. Components
and kubelets talk to the first control plane's private address; the admin kubeconfigs, used from
the operator's machine, to its public ``address``. Every renderer takes ``server`` to override
that (a load balancer, an SSH tunnel). Pure.
"""

from __future__ import annotations

import base64
import ipaddress
from dataclasses import dataclass
from typing import Literal

import yaml

from kubeward.config import ClusterConfig, HostConfig
from kubeward.pki.nodes import KUBELET_PKI_DIR
from kubeward.pki.table import ROWS
from kubeward.pki.tokens import BootstrapToken

#: where the kubeconfigs live on a host (kubeadm's paths)
KUBECONFIG_PATHS: dict[str, str] = {
    "controller-manager": "/etc/kubernetes/controller-manager.conf",
    "scheduler": "/etc/kubernetes/scheduler.conf",
    "kubelet": "/etc/kubernetes/kubelet.conf",
    "kubelet-bootstrap": "/etc/kubernetes/bootstrap-kubelet.conf",
}
CertKubeconfig = Literal["admin", "cluster-admin", "controller-manager", "scheduler"]
#: the kubeconfigs for the operator's machine, as opposed to those for components on hosts
OPERATOR_KUBECONFIGS: tuple[CertKubeconfig, ...] = ("admin", "cluster-admin")


@dataclass(frozen=True)
class ClientCertData:
    """A client certificate and key embedded in the kubeconfig."""

    cert_pem: bytes
    key_pem: bytes


@dataclass(frozen=True)
class ClientCertFiles:
    """A client certificate and key the kubeconfig points at (kubelet: files placed by files_for_node)."""

    cert_path: str
    key_path: str


@dataclass(frozen=True)
class TokenAuth:
    token: str


Credentials = ClientCertData | ClientCertFiles | TokenAuth


def api_server_url(address: str, port: int) -> str:
    """https://address:port, with IPv6 addresses in brackets."""
    try:
        if isinstance(ipaddress.ip_address(address), ipaddress.IPv6Address):
            address = f"[{address}]"
    except ValueError:
        pass
    return f"https://{address}:{port}"


def admin_server(config: ClusterConfig) -> str:
    """The API server URL from the operator's machine: the first control plane's address."""
    return api_server_url(config.control_planes[0].address, config.network.api_port)


def component_server(config: ClusterConfig) -> str:
    """The API server URL from inside the cluster: the first control plane's private address."""
    return api_server_url(str(config.control_planes[0].private_address), config.network.api_port)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def render_kubeconfig(
    *, cluster_name: str, server: str, ca_pem: bytes, user: str, credentials: Credentials,
    tls_server_name: str | None = None,
) -> str:
    """A kubeconfig with one cluster, one user and one context (the current one). ``tls_server_name``
    is the name checked in the server's certificate when ``server`` is not one of its names (a tunnel
    on 127.0.0.1)."""
    creds: dict[str, str]
    if isinstance(credentials, ClientCertData):
        creds = {"client-certificate-data": _b64(credentials.cert_pem),
                 "client-key-data": _b64(credentials.key_pem)}
    elif isinstance(credentials, ClientCertFiles):
        creds = {"client-certificate": credentials.cert_path, "client-key": credentials.key_path}
    else:
        creds = {"token": credentials.token}
    context = f"{user}@{cluster_name}"
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name,
                      "cluster": {"server": server, "certificate-authority-data": _b64(ca_pem),
                                  **({"tls-server-name": tls_server_name} if tls_server_name else {})}}],
        "users": [{"name": user, "user": creds}],
        "contexts": [{"name": context, "context": {"cluster": cluster_name, "user": user}}],
        "current-context": context,
        "preferences": {},
    }
    return yaml.safe_dump(doc, sort_keys=False, width=1 << 30)


def render_cert_kubeconfig(
    config: ClusterConfig, which: CertKubeconfig, ca_pem: bytes, cert_pem: bytes, key_pem: bytes,
    *, server: str | None = None,
) -> str:
    """admin, cluster-admin, controller-manager or scheduler, its certificate embedded."""
    default = admin_server(config) if which in OPERATOR_KUBECONFIGS else component_server(config)
    return render_kubeconfig(
        cluster_name=config.name, server=server or default, ca_pem=ca_pem,
        user=ROWS[which].common_name, credentials=ClientCertData(cert_pem, key_pem),
    )


def render_kubelet_bootstrap_kubeconfig(
    config: ClusterConfig, ca_pem: bytes, token: BootstrapToken, *, server: str | None = None
) -> str:
    """The kubelet's bootstrap kubeconfig: a bootstrap token, good only for requesting a certificate."""
    return render_kubeconfig(
        cluster_name=config.name, server=server or component_server(config), ca_pem=ca_pem,
        user="tls-bootstrap-token-user", credentials=TokenAuth(token.token),
    )


def render_kubelet_kubeconfig(
    config: ClusterConfig, host: HostConfig, ca_pem: bytes, *, server: str | None = None,
    credentials: ClientCertData | ClientCertFiles | None = None,
) -> str:
    """The kubelet's kubeconfig: its client certificate, by default the files files_for_node places."""
    creds = credentials or ClientCertFiles(f"{KUBELET_PKI_DIR}/kubelet-client.crt",
                                           f"{KUBELET_PKI_DIR}/kubelet-client.key")
    return render_kubeconfig(
        cluster_name=config.name, server=server or component_server(config), ca_pem=ca_pem,
        user=f"system:node:{host.name}", credentials=creds,
    )


#: a name every API server certificate has (see ``apiserver_sans``): what a tunnelled client checks
API_SERVER_NAME = "kubernetes"


def render_tunnel_kubeconfig(config: ClusterConfig, ca_pem: bytes, cert_pem: bytes, key_pem: bytes, port: int) -> str:
    """The daily admin (``cluster-admin``, not system:masters) through ``kubeward tunnel api`` on
    127.0.0.1:PORT; the server's certificate is checked for the name ``kubernetes``."""
    return render_kubeconfig(
        cluster_name=config.name, server=api_server_url("127.0.0.1", port), ca_pem=ca_pem,
        user=ROWS["cluster-admin"].common_name, credentials=ClientCertData(cert_pem, key_pem),
        tls_server_name=API_SERVER_NAME,
    )
