"""Tunnel targets come from the port matrix: where each service listens, on which port."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeward.config import parse_config
from kubeward.errors import KubewardError
from kubeward.remote.tunnel_targets import resolve_target, service_row

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cluster.yml"


def config():  # type: ignore[no-untyped-def]
    return parse_config(EXAMPLE.read_text(), base_dir=EXAMPLE.parent).config


@pytest.mark.parametrize(("target", "where", "port"), [
    ("api", "private", 6443), ("etcd", "private", 2379), ("etcd-metrics", "loopback", 2381),
    ("kubelet", "private", 10250), ("kube-scheduler", "loopback", 10259),
    ("8080", "loopback", 8080), ("10.9.9.9:22", "10.9.9.9", 22),
])
def test_targets_resolve_from_the_matrix(target: str, where: str, port: int) -> None:
    c = config()
    cp = c.control_planes[0]
    f = resolve_target(c, cp.name, target)
    expected = {"private": str(cp.private_address), "loopback": "127.0.0.1"}.get(where, where)
    assert (f.dest_host, f.dest_port) == (expected, port)


def test_control_plane_services_are_known_as_such_and_unknown_names_are_errors() -> None:
    c = config()
    row = service_row(c, "etcd")
    assert row is not None and row.roles == ("control-plane",)
    assert service_row(c, "kubelet") is not None and service_row(c, "kubelet").roles != ("control-plane",)  # type: ignore[union-attr]
    with pytest.raises(KubewardError, match="unknown tunnel target 'bogus'.*api"):
        resolve_target(c, c.hosts[0].name, "bogus")
    with pytest.raises(KubewardError):
        resolve_target(c, c.hosts[0].name, "70000")
