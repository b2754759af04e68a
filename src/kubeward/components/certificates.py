"""Which certificates each host holds, where, and which services read them (pure): what
``kubeward pki status`` reads on the nodes (:mod:`kubeward.pki.installed`).

The pki phase's files (``.crt`` only) come from :func:`kubeward.pki.nodes.files_for_node`; the
client certificates embedded in kubeconfigs from the components that write them; the kubelet's own
certificates from its ``--cert-dir``. Readers come from the components' ``reads`` (the files their
flags name), so they cannot drift from what is restarted when a certificate changes.
"""

from __future__ import annotations

from kubeward.components.control_plane import API_PROXY_READS, API_PROXY_UNIT, control_plane_reads
from kubeward.components.kube import CONTROLLER_MANAGER_CONF, SCHEDULER_CONF
from kubeward.components.node import KUBE_PROXY_KUBECONFIG, KUBE_PROXY_UNIT
from kubeward.config import ClusterConfig, HostConfig
from kubeward.etcd.config import TLS_FILES as ETCD_FILES
from kubeward.etcd.config import UNIT as ETCD_UNIT
from kubeward.pki.installed import InstalledCert
from kubeward.pki.nodes import KUBELET_PKI_DIR, files_for_node
from kubeward.pki.table import ROWS, desire, desired_certs

#: kubeconfigs kubeward writes with a client certificate of the table embedded: (path, row, unit, roles)
EMBEDDED: tuple[tuple[str, str, str, bool], ...] = (
    (CONTROLLER_MANAGER_CONF, "controller-manager", "kube-controller-manager.service", True),
    (SCHEDULER_CONF, "scheduler", "kube-scheduler.service", True),
    (KUBE_PROXY_KUBECONFIG, "kube-proxy", KUBE_PROXY_UNIT, False),
)
#: the kubelet's own certificates (``--cert-dir``): keys made on the node, certificates by CSR
KUBELET_CERTS = (("kubelet-client", f"{KUBELET_PKI_DIR}/kubelet-client-current.pem"),
                 ("kubelet-serving", f"{KUBELET_PKI_DIR}/kubelet-server-current.pem"))


def installed_certs(config: ClusterConfig, host: HostConfig) -> list[InstalledCert]:
    """Every certificate ``host`` should hold, with the units that read it."""
    names = {d.cert_path: d.name for d in desired_certs(config)}
    readers: dict[str, list[str]] = {}
    if host.is_control_plane:
        for path in ETCD_FILES:
            readers.setdefault(path, []).append(ETCD_UNIT)
    kube = config.kubernetes.enabled and config.kubernetes.version is not None
    if kube:
        reads = dict(control_plane_reads(config, host)) if host.is_control_plane else {}
        reads[API_PROXY_UNIT] = API_PROXY_READS
        for unit, paths in reads.items():
            for path in paths:
                readers.setdefault(path, []).append(unit)
    out = [InstalledCert(f.remote_path, names[f.local_path], f.local_path, "file", tuple(readers.get(f.remote_path, ())))
           for f in files_for_node(config, host) if f.remote_path.endswith(".crt")]
    if kube:
        for path, row, unit, control_plane_only in EMBEDDED:
            if host.is_control_plane or not control_plane_only:
                d = desire(ROWS[row], config)
                out.append(InstalledCert(path, d.name, d.cert_path, "kubeconfig", (unit,)))
        out += [InstalledCert(path, name, None) for name, path in KUBELET_CERTS]
    return out
