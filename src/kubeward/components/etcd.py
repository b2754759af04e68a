"""etcd as a component (pure): Debian's etcd-server with kubeward's configuration file and drop-in."""

from __future__ import annotations

from kubeward.components.spec import Component, Health
from kubeward.config import ClusterConfig, HostConfig
from kubeward.etcd import scripts
from kubeward.etcd.config import (
    CONFIG_DIR,
    CONFIG_PATH,
    DROPIN_PATH,
    PACKAGES,
    TLS_FILES,
    UNIT,
    Bootstrap,
    render_config,
    render_dropin,
)
from kubeward.ops.ops import Directory, File, SystemUser

#: extra facts: whether the member has data, and the member list and health as the local member sees them
DATA, MEMBERS, HEALTH = "etcd-data", "etcd-members", "etcd-health"


def etcd_component(config: ClusterConfig, host: HostConfig, bootstrap: Bootstrap) -> Component:
    data_dir = str(config.etcd.data_dir)
    port = config.etcd.client_port
    return Component(
        name="etcd",
        unit=UNIT,
        # the pki phase creates the user too, before the keys it owns
        system_user=SystemUser("etcd", data_dir),
        directories=(Directory(CONFIG_DIR, "root", "root", 0o755), Directory(data_dir, "etcd", "etcd", 0o700)),
        files=(File(CONFIG_PATH, render_config(config, host, bootstrap).encode(), "root", "etcd", 0o640),),
        unit_files=(File(DROPIN_PATH, render_dropin().encode()),),
        packages=PACKAGES,
        # etcd-server's postinst would start etcd, which blocks until a quorum forms
        package_guard=scripts.without_autostart("{script}"),
        health=Health(scripts.health_probe(port), scripts.HEALTH_TIMEOUT, "healthy"),
        restart="rolling",
        reads=TLS_FILES,
        ports=("etcd-client", "etcd-peer", "etcd-metrics"),
        extra_facts=extra_facts(config),
        # the member's data, and data kubeward moved aside (a stale member, a snapshot restore)
        state=(data_dir, f"{data_dir}.kubeward-*"),
    )


def extra_facts(config: ClusterConfig) -> dict[str, str]:
    port = config.etcd.client_port
    up = (f"{scripts.etcdctl_function(port)}\nkw_up=no\n"
          f"command -v etcdctl >/dev/null 2>&1 && systemctl is-active -q {UNIT} && kw_up=yes\n"
          "[ $kw_up = yes ] && kw_etcdctl --dial-timeout=1s --command-timeout=3s")
    data = scripts.q(f"{config.etcd.data_dir}/member")
    return {
        DATA: f"[ -d {data} ] && echo data || echo none",
        MEMBERS: f"{up} member list -w json 2>/dev/null | tr -d '\\n'",
        HEALTH: f"{up} endpoint health --cluster -w json 2>/dev/null | tr -d '\\n'",
    }
