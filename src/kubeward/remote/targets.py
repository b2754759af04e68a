"""SSH targets from cluster.yml (pure)."""

from __future__ import annotations

from pathlib import Path

from kubeward.config import ClusterConfig, HostConfig
from kubeward.remote.ssh import Target


def target_for(host: HostConfig) -> Target:
    ssh = host.ssh
    bastion = None
    if ssh.bastion is not None:
        b = ssh.bastion
        bastion = Target(
            name=f"bastion {b.address}",
            address=str(b.address),
            port=b.port,
            user=str(b.user or ssh.user),
            key_path=Path(b.key_path or ssh.key_path),
            host_key=str(b.host_key) if b.host_key else None,
        )
    return Target(
        name=host.name,
        address=str(host.address),
        port=ssh.port,
        user=str(ssh.user),
        key_path=Path(ssh.key_path),
        host_key=str(ssh.host_key) if ssh.host_key else None,
        bastion=bastion,
    )


def targets_for(config: ClusterConfig, names: list[str] | None = None) -> list[Target]:
    hosts = config.hosts if not names else [config.host(n) for n in names]
    return [target_for(h) for h in hosts]
