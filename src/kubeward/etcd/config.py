"""An etcd member's configuration file and the systemd drop-in that makes etcd use it (pure).

etcd 3.4 (Debian bookworm's etcd-server) reads a YAML ``--config-file`` and then ignores every
other flag and ``ETCD_*`` environment variable. It silently ignores keys it does not know, so only
keys etcd 3.4 reads are written here (checked against ``etcd --help`` of 3.4.23 and its
``embed.Config`` YAML names; note that 3.4 turns the v3 JSON gateway off unless the file says
``enable-grpc-gateway: true``, unlike its command line). TLS 1.2 is etcd 3.4's built-in minimum (``transport.TLSInfo`` sets
``MinVersion: tls.VersionTLS12``); ``tls-min-version`` only exists from etcd 3.5, so it is not
written. TLS 1.3 is negotiated when the client offers it; its suites are not configurable in Go.

The *bootstrap* keys (``initial-cluster``, ``initial-cluster-state``, ``initial-cluster-token``)
only matter the first time a member starts with an empty data directory. Once a member has data,
kubeward keeps the values its file already has (see :func:`parse_bootstrap`), so membership changes
elsewhere in the cluster never rewrite, and so never restart, the members that are running.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import yaml

from kubeward.config import ClusterConfig, HostConfig
from kubeward.pki.nodes import K8S_PKI_DIR

#: kubeward's configuration file for etcd. Not under /etc/kubeward: the firewall phase keeps that
#: directory 0700 root, and etcd runs as the ``etcd`` user.
CONFIG_PATH = "/etc/etcd/kubeward.yaml"
CONFIG_DIR = "/etc/etcd"
DROPIN_PATH = "/etc/systemd/system/etcd.service.d/10-kubeward.conf"
UNIT = "etcd"
ETCD_BIN = "/usr/bin/etcd"
PACKAGES = ("etcd-server", "etcd-client")

PKI_DIR = f"{K8S_PKI_DIR}/etcd"
CA_FILE = f"{PKI_DIR}/ca.crt"
SERVER_CERT, SERVER_KEY = f"{PKI_DIR}/server.crt", f"{PKI_DIR}/server.key"
PEER_CERT, PEER_KEY = f"{PKI_DIR}/peer.crt", f"{PKI_DIR}/peer.key"
HEALTHCHECK_CERT, HEALTHCHECK_KEY = f"{PKI_DIR}/healthcheck-client.crt", f"{PKI_DIR}/healthcheck-client.key"
#: what etcd itself reads when it starts (the health-check client is only used by probes)
TLS_FILES = (CA_FILE, SERVER_CERT, SERVER_KEY, PEER_CERT, PEER_KEY)

#: AEAD, forward-secret TLS 1.2 suites, by the key type of the member's certificates (etcd 3.4 names)
CIPHER_SUITES: dict[str, tuple[str, ...]] = {
    "ecdsa": (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
    ),
    "rsa": (
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
    ),
}

ClusterState = Literal["new", "existing"]


def cipher_suites(key_type: str) -> tuple[str, ...]:
    """The suites for ``pki.key_type`` (ecdsa-p256, rsa-2048, ...)."""
    return CIPHER_SUITES["ecdsa" if key_type.startswith("ecdsa") else "rsa"]


def peer_url(config: ClusterConfig, host: HostConfig) -> str:
    return f"https://{host.private_address}:{config.etcd.peer_port}"


def client_url(config: ClusterConfig, host: HostConfig) -> str:
    return f"https://{host.private_address}:{config.etcd.client_port}"


def local_client_url(config: ClusterConfig) -> str:
    return f"https://127.0.0.1:{config.etcd.client_port}"


def cluster_token(config: ClusterConfig) -> str:
    return f"kubeward-{config.name}"


def initial_cluster(members: Sequence[tuple[str, str]]) -> str:
    """``name=peer-url,...`` in the order given."""
    return ",".join(f"{name}={url}" for name, url in members)


def desired_initial_cluster(config: ClusterConfig) -> str:
    """Every control plane of cluster.yml: the initial cluster of a new etcd cluster."""
    return initial_cluster([(h.name, peer_url(config, h)) for h in config.control_planes])


@dataclass(frozen=True)
class Bootstrap:
    """How a member starts the first time (with an empty data directory)."""

    state: ClusterState
    initial_cluster: str
    token: str


def new_cluster_bootstrap(config: ClusterConfig) -> Bootstrap:
    return Bootstrap("new", desired_initial_cluster(config), cluster_token(config))


def render_config(config: ClusterConfig, host: HostConfig, bootstrap: Bootstrap) -> str:
    """The member's etcd 3.4 YAML configuration file (rendered by PyYAML: no value is hand-quoted)."""
    e = config.etcd
    private = str(host.private_address)
    doc: dict[str, object] = {
        "name": host.name,
        "data-dir": str(e.data_dir),
        "listen-client-urls": f"https://{private}:{e.client_port},https://127.0.0.1:{e.client_port}",
        "advertise-client-urls": client_url(config, host),
        "listen-peer-urls": peer_url(config, host),
        "initial-advertise-peer-urls": peer_url(config, host),
        "listen-metrics-urls": f"http://127.0.0.1:{e.metrics_port}",
        # bootstrap: only read when the data directory is empty
        "initial-cluster": bootstrap.initial_cluster,
        "initial-cluster-state": bootstrap.state,
        "initial-cluster-token": bootstrap.token,
        "strict-reconfig-check": True,
        "enable-v2": False,
        "enable-pprof": False,
        # etcd 3.4 leaves its v3 JSON gateway off when it reads a config file; kubeward's client uses it
        "enable-grpc-gateway": True,
        "logger": "zap",
        "log-outputs": ["stderr"],
        "client-transport-security": {
            "cert-file": SERVER_CERT, "key-file": SERVER_KEY, "trusted-ca-file": CA_FILE,
            "client-cert-auth": True, "auto-tls": False,
        },
        "peer-transport-security": {
            "cert-file": PEER_CERT, "key-file": PEER_KEY, "trusted-ca-file": CA_FILE,
            "client-cert-auth": True, "auto-tls": False,
        },
        "cipher-suites": list(cipher_suites(config.pki.key_type)),
    }
    header = (f"# Managed by kubeward (`kubeward up`): etcd member {' '.join(host.name.split())}. "
              "Local edits are overwritten.\n"
              f"# Read by etcd 3.4 through {DROPIN_PATH}; other flags and ETCD_* variables are ignored.\n")
    return header + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=1000)


def parse_bootstrap(text: str) -> Bootstrap | None:
    """The bootstrap keys of an existing configuration file, or None if it has no valid ones."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    if not isinstance(data, dict):
        return None
    state, cluster, token = data.get("initial-cluster-state"), data.get("initial-cluster"), data.get("initial-cluster-token")
    if state not in ("new", "existing") or not isinstance(cluster, str) or not cluster or not isinstance(token, str):
        return None
    return Bootstrap(state, cluster, token)


def parse_data_dir(text: str) -> str | None:
    """The ``data-dir`` an existing configuration file gives etcd, or None if it has none."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    value = data.get("data-dir") if isinstance(data, dict) else None
    return value if isinstance(value, str) and value else None


def data_dir_change(config: ClusterConfig, current_config: bytes | None) -> str | None:
    """Why a member whose file names another data directory than ``etcd.data_dir`` must not be converged.

    Writing the new path into its file would only take effect at etcd's next restart, which then
    starts an empty member that cannot rejoin: kubeward does not move a member's data.
    """
    if not current_config:
        return None
    current = parse_data_dir(current_config.decode(errors="replace"))
    wanted = str(config.etcd.data_dir)
    if current is None or current.rstrip("/") == wanted:
        return None
    return (f"etcd.data_dir is {wanted}, but this member keeps its data in {current} ({CONFIG_PATH} says so); "
            f"kubeward does not move etcd data: set etcd.data_dir back to {current}. To move it, take a "
            "snapshot (kubeward etcd snapshot save), remove the member (make the host a worker, run up), "
            "then make it a control plane again with the new etcd.data_dir")


def render_dropin() -> str:
    """The systemd drop-in over Debian's etcd.service: kubeward's file is etcd's whole configuration.

    ``Environment=`` and ``EnvironmentFile=`` are reset so Debian's ``ETCD_NAME=%H``,
    ``ETCD_DATA_DIR`` and /etc/default/etcd cannot matter; a failed etcd is restarted (a member
    that was removed from the cluster exits 0 and stays down).
    """
    return f"""# Managed by kubeward (`kubeward up`). Local edits are overwritten.
[Service]
Environment=
EnvironmentFile=
ExecStart=
ExecStart={ETCD_BIN} --config-file {CONFIG_PATH}
Restart=on-failure
RestartSec=5s
"""
