"""The OpenSSH client command line for `kubeward ssh` (interactive sessions want a real terminal),
with kubeward's trust and bastion settings: host keys from the pins and kubeward's known_hosts only."""

from __future__ import annotations

from pathlib import Path

from kubeward.remote.known_hosts import HostKey, KnownHost, render_known_hosts
from kubeward.remote.ssh import Target, Trust


def render_known_hosts_for(targets: list[Target], trust: Trust) -> str:
    entries: list[KnownHost] = list(trust.entries())
    for t in targets:
        for x in [t, t.bastion]:
            if x is not None and x.host_key:
                entries.append(KnownHost(x.pattern, HostKey.parse(x.host_key), f"pinned:{x.name}"))
    return render_known_hosts(entries)


def openssh_argv(target: Target, known_hosts: Path, command: list[str], tty: bool,
                 extra: tuple[str, ...] = ()) -> list[str]:
    """``extra`` options go before the destination (e.g. ``("-N", "-L", "...")``)."""
    argv = [
        "ssh", "-i", str(target.key_path), "-p", str(target.port),
        "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "UpdateHostKeys=no", "-o", "ConnectTimeout=10",
    ]
    b = target.bastion
    if b is not None:
        # the jump host is verified with the same known_hosts file and its own key
        proxy = (f"ssh -i {b.key_path} -p {b.port} -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes "
                 f"-o UserKnownHostsFile={known_hosts} -o GlobalKnownHostsFile=/dev/null -W %h:%p "
                 f"{b.user}@{b.address}")
        argv += ["-o", f"ProxyCommand={proxy}"]
    argv += ["-t"] if tty else ["-T"]
    return [*argv, *extra, f"{target.user}@{target.address}", *command]
