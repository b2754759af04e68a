"""Which component listens on which port, on which roles (pure data).

This is the seed of the port matrix: preflight uses it to know which ports must be free on a node
before kubeward installs the component that will listen there. ``process`` names the program that
may legitimately hold the port (then it is "held by the managed service", not a conflict).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["control-plane", "worker"]
BOTH: tuple[Role, ...] = ("control-plane", "worker")
CP: tuple[Role, ...] = ("control-plane",)


@dataclass(frozen=True)
class Listener:
    component: str
    port: int
    protocol: Literal["tcp", "udp"]
    roles: tuple[Role, ...]
    process: tuple[str, ...]  # process names that may own it


LISTENERS: tuple[Listener, ...] = (
    Listener("kube-apiserver", 6443, "tcp", CP, ("kube-apiserver",)),
    Listener("etcd client", 2379, "tcp", CP, ("etcd",)),
    Listener("etcd peer", 2380, "tcp", CP, ("etcd",)),
    Listener("etcd metrics", 2381, "tcp", CP, ("etcd",)),
    Listener("kube-controller-manager", 10257, "tcp", CP, ("kube-controller",)),
    Listener("kube-scheduler", 10259, "tcp", CP, ("kube-scheduler",)),
    Listener("kubelet", 10250, "tcp", BOTH, ("kubelet",)),
    Listener("kubelet healthz", 10248, "tcp", BOTH, ("kubelet",)),
    Listener("kube-proxy metrics", 10249, "tcp", BOTH, ("kube-proxy",)),
    Listener("kube-proxy healthz", 10256, "tcp", BOTH, ("kube-proxy",)),
)


def listeners_for(role: str, *, etcd_ports: tuple[int, int, int] = (2379, 2380, 2381),
                  api_port: int = 6443) -> list[Listener]:
    """The listeners a node of ``role`` will run, with the ports cluster.yml configures."""
    remap = {2379: etcd_ports[0], 2380: etcd_ports[1], 2381: etcd_ports[2], 6443: api_port}
    return [
        Listener(x.component, remap.get(x.port, x.port), x.protocol, x.roles, x.process)
        for x in LISTENERS
        if role in x.roles
    ]
