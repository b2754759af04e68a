"""Which component listens on which port, on which roles: the listening half of the port matrix.

Preflight uses it to know which ports must be free on a node before kubeward installs the component
that will listen there. ``process`` names the program that may legitimately hold the port (then it is
"held by the managed service", not a conflict). The rows come from ``catalog.matrix.core_rows``, so
this list and the firewall cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from kubeward.catalog.matrix import BOTH, CP, core_rows
from kubeward.config.model import Role

__all__ = ["BOTH", "CP", "LISTENERS", "Listener", "Role", "listeners_for"]


@dataclass(frozen=True)
class Listener:
    component: str
    port: int
    protocol: Literal["tcp", "udp"]
    roles: tuple[Role, ...]
    process: tuple[str, ...]  # process names that may own it


def _listeners(api_port: int, etcd_ports: tuple[int, int, int]) -> tuple[Listener, ...]:
    out = []
    for row in core_rows(api_port=api_port, etcd_ports=etcd_ports):
        if row.ports is None or row.protocol == "esp" or not row.process:
            continue
        out.append(Listener(row.component, row.ports.lo, row.protocol, row.roles, row.process))
    return tuple(out)


#: the listeners with the default ports
LISTENERS: tuple[Listener, ...] = _listeners(6443, (2379, 2380, 2381))


def listeners_for(role: str, *, etcd_ports: tuple[int, int, int] = (2379, 2380, 2381),
                  api_port: int = 6443) -> list[Listener]:
    """The listeners a node of ``role`` will run, with the ports cluster.yml configures."""
    return [x for x in _listeners(api_port, etcd_ports) if role in x.roles]
