"""What `kubeward tunnel` forwards to: port-matrix services, ports, HOST:PORT; and the kubeconfig
that reaches the API server through such a tunnel."""

from __future__ import annotations

import re
from pathlib import Path

from kubeward.catalog.matrix import MatrixRow, build_matrix
from kubeward.config import ClusterConfig, LoadedConfig
from kubeward.errors import KubewardError
from kubeward.fileutil import write_private
from kubeward.pki.kubeconfig import render_tunnel_kubeconfig
from kubeward.remote.forward import Forward

#: short names for port-matrix rows; any row key of `kubeward matrix` works as a target too
ALIASES = {"api": "kube-apiserver", "etcd": "etcd-client"}


def service_row(config: ClusterConfig, name: str) -> MatrixRow | None:
    """The port-matrix row a service name (or alias) stands for, if it is a single TCP port."""
    key = ALIASES.get(name, name)
    for row in build_matrix(config):
        if row.key == key and row.protocol == "tcp" and row.ports is not None and row.ports.lo == row.ports.hi:
            return row
    return None


def resolve_target(config: ClusterConfig, node: str, spec: str) -> Forward:
    """TARGET is a service of the port matrix, a PORT, or HOST:PORT as seen from the node."""
    host = config.host(node)
    row = service_row(config, spec)
    if row is not None:
        assert row.ports is not None
        dest = {"loopback": "127.0.0.1", "public": str(host.address)}.get(row.bind, str(host.private_address))
        return Forward(spec, dest, row.ports.lo)
    m = re.fullmatch(r"(?:(.+):)?(\d{1,5})", spec)
    if not m or not 0 < int(m.group(2)) < 65536:
        names = sorted({*ALIASES, *(r.key for r in build_matrix(config) if r.protocol == "tcp" and r.ports
                                     and r.ports.lo == r.ports.hi and not r.closed)})
        raise KubewardError(f"unknown tunnel target {spec!r}: use a service ({', '.join(names)}), "
                            "a PORT, or HOST:PORT as seen from the node")
    return Forward(spec, m.group(1) or "127.0.0.1", int(m.group(2)))


def write_tunnel_kubeconfig(loaded: LoadedConfig, port: int) -> Path | None:
    """STATE_DIR/tunnel.kubeconfig (0600): the daily admin through a tunnel on 127.0.0.1:PORT; None
    until the PKI exists."""
    pki = loaded.state_dir / "pki"
    ca, cert, key = pki / "ca.crt", pki / "cluster-admin.crt", pki / "cluster-admin.key"
    if not (ca.exists() and cert.exists() and key.exists()):
        return None
    text = render_tunnel_kubeconfig(loaded.config, ca.read_bytes(), cert.read_bytes(), key.read_bytes(), port)
    path = loaded.state_dir / "tunnel.kubeconfig"
    write_private(path, text)
    return path
