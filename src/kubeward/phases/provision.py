"""The provisioning baseline (seed "Provisioning"): hostname and its 127.0.1.1 mapping, the cluster
admin with a fixed uid/gid, in the sudo group, with its key in authorized_keys, and packages."""

from __future__ import annotations

from kubeward.ops.base import Op
from kubeward.ops.ops import AuthorizedKey, File, Group, Hostname, HostsLine, Packages, User, sudoers_path
from kubeward.phases.base import OpsPhase, RunContext

#: installed on every node, besides cluster.yml's `packages`
BASE_PACKAGES = ("ca-certificates", "curl", "jq", "conntrack", "socat")


def provision_ops(ctx: RunContext, host: str) -> list[Op]:
    config = ctx.config
    a = config.admin
    key = str(a.ssh_public_key)
    user = User(a.name, a.uid, a.gid, tuple(a.groups))
    packages = tuple(dict.fromkeys([*BASE_PACKAGES, *config.packages]))
    return [
        Hostname(host),
        HostsLine("127.0.1.1", (host,)),
        Group(a.name, a.gid),
        user,
        AuthorizedKey(a.name, a.name, user.home, key),
        File(sudoers_path(a.name), f"{a.name} ALL=(ALL) NOPASSWD:ALL\n".encode(),
             mode=0o440, validate="visudo -cqf {}"),
        Packages(packages),
    ]


class Provision(OpsPhase):
    name = "provision"
    title = "Provision hosts"

    def ops_for(self, ctx: RunContext, host: str) -> list[Op]:
        return provision_ops(ctx, host)
