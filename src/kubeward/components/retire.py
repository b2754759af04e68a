"""What a host leaving the cluster stops (`kubeward node remove`), as one script (pure).

Everything that runs there because kubeward put it there is stopped and disabled, in an order that
keeps the cluster's API available: the API server first (the other nodes' local proxies fail over
to the others), then the rest of the control plane, etcd (its member was removed from the cluster
before; its data is moved aside, never deleted), the kubelet and kube-proxy, the containers the
kubelet left (DaemonSet pods), the node-local API proxy, the pod network (its routes and masquerade
table go too) and containerd.

The host keeps its files (certificates, binaries, configuration), kubeward's firewall table and the
sshd hardening: they protect it, and a later `up` with the host back in cluster.yml reuses them.
"""

from __future__ import annotations

from kubeward.components.control_plane import CONFIG_KEYS, HAPROXY_CONFIG
from kubeward.components.node import (
    CONTAINERD_UNIT,
    KUBE_PROXY_UNIT,
    KUBELET_UNIT,
    POD_NETWORK_UNIT,
    ROUTE_PROTO,
)
from kubeward.config import ClusterConfig, HostConfig
from kubeward.etcd import scripts as etcd_scripts
from kubeward.etcd.config import UNIT as ETCD_UNIT

#: kube-apiserver first: it is what the other nodes reach
CONTROL_PLANE_UNITS = tuple(f"{name}.service" for name in CONFIG_KEYS)
NODE_UNITS = (KUBELET_UNIT, KUBE_PROXY_UNIT)
API_PROXY_UNIT = "haproxy.service"
#: the masquerade table of the pod-network script
POD_NAT_TABLE = "ip kubeward_pods"
DONE = "@@retired"
STILL_ACTIVE = "@@still-active"


def retired_units(host: HostConfig) -> list[str]:
    """The units stopped and disabled on ``host``, in order (etcd's is handled by its own script)."""
    units = list(CONTROL_PLANE_UNITS) if host.is_control_plane else []
    return [*units, *NODE_UNITS, API_PROXY_UNIT, POD_NETWORK_UNIT, CONTAINERD_UNIT]


def _stop(unit: str) -> str:
    # reset-failed: a unit that had failed (etcd exits once its member is removed) shows as stopped
    return (f"if systemctl cat {unit} >/dev/null 2>&1; then systemctl disable --now --quiet {unit} 2>/dev/null "
            f"|| systemctl stop {unit}; systemctl reset-failed {unit} 2>/dev/null; fi")


def render_retire_script(config: ClusterConfig, host: HostConfig, stamp: str) -> str:
    """Stop and disable kubeward's services on ``host`` (idempotent: a second run changes nothing).

    Only the node-local proxy of kubeward's configuration is stopped: a haproxy serving another
    configuration is left alone."""
    lines = ["set -u", f"# kubeward node remove {host.name}: stop what kubeward runs here"]
    if host.is_control_plane:
        lines += [_stop(u) for u in CONTROL_PLANE_UNITS]
        lines += [etcd_scripts.decommission_script(str(config.etcd.data_dir), stamp),
                  f"systemctl reset-failed {ETCD_UNIT} 2>/dev/null"]
    lines += [_stop(u) for u in NODE_UNITS]
    # the kubelet left its pods' containers running (DaemonSet pods survive a drain)
    lines.append("if command -v ctr >/dev/null 2>&1 && systemctl is-active -q containerd; then\n"
                 "  for t in $(ctr -n k8s.io tasks ls -q 2>/dev/null); do "
                 "ctr -n k8s.io tasks kill -s SIGKILL \"$t\" >/dev/null 2>&1 || true; done\nfi")
    lines.append(f"if [ -f {HAPROXY_CONFIG} ]; then {_stop(API_PROXY_UNIT)}; fi")
    lines += [_stop(POD_NETWORK_UNIT),
              f"ip -4 route flush proto {ROUTE_PROTO} 2>/dev/null || true",
              f"nft delete table {POD_NAT_TABLE} 2>/dev/null || true",
              _stop(CONTAINERD_UNIT)]
    units = " ".join([*(u for u in retired_units(host) if u != API_PROXY_UNIT),
                      *([ETCD_UNIT] if host.is_control_plane else [])])
    lines += [f"for u in {units}; do systemctl is-active -q \"$u\" && echo \"{STILL_ACTIVE} $u\"; done",
              f"[ -f {HAPROXY_CONFIG} ] && systemctl is-active -q {API_PROXY_UNIT} && echo \"{STILL_ACTIVE} "
              f"{API_PROXY_UNIT}\"",
              f"echo {DONE}"]
    return "\n".join(lines) + "\n"


def parse_still_active(output: str) -> list[str]:
    """The units the script could not stop (its ``@@still-active UNIT`` lines)."""
    return [line.split()[1] for line in output.splitlines() if line.startswith(STILL_ACTIVE + " ")]
