"""The OpenSSH client command line for `kubeward ssh` (interactive sessions want a real terminal),
with kubeward's trust and bastion settings: host keys from the pins and kubeward's known_hosts only.

Values from cluster.yml reach OpenSSH in two places that interpret them: ``IdentityFile`` and
``UserKnownHostsFile`` expand ``%`` tokens, and ``ProxyCommand`` expands them and is then run by
``/bin/sh -c``. So every such value has its ``%`` doubled, and the proxy command is built as an argv
joined with ``shlex.join``: a key path like ``/keys/$(touch x) a%b`` stays one literal word.
"""

from __future__ import annotations

import shlex
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


def escape_percent(value: str) -> str:
    """A literal for an OpenSSH option that expands ``%`` tokens."""
    return value.replace("%", "%%")


def config_value(value: str) -> str:
    """A path as one word of an OpenSSH option (``-o Name=VALUE``): ``%`` doubled, then double-quoted
    as ssh's own config-line splitter reads it. ``-i`` cannot carry a ``%``: it checks the literal path
    exists, then expands tokens in it."""
    escaped = escape_percent(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def render_proxy_command(bastion: Target, known_hosts: Path) -> str:
    """The ``ProxyCommand`` reaching a host through ``bastion``: one shell word per argument, ``%``
    doubled, except the ``%h:%p`` that OpenSSH fills in with the destination."""
    # two expansions of %: the inner ssh's own (IdentityFile, UserKnownHostsFile), then ProxyCommand's
    argv = [
        "ssh", "-o", f"IdentityFile={config_value(str(bastion.key_path))}", "-p", str(bastion.port),
        "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={config_value(str(known_hosts))}", "-o", "GlobalKnownHostsFile=/dev/null",
        "-l", bastion.user, "--", bastion.address,
    ]
    words = [escape_percent(shlex.quote(a)) for a in argv]
    # -W goes before the destination; %h and %p are OpenSSH's own, safe words (host and port)
    return " ".join([*words[:-2], "-W", "%h:%p", *words[-2:]])


def openssh_argv(target: Target, known_hosts: Path, command: list[str], tty: bool,
                 extra: tuple[str, ...] = ()) -> list[str]:
    """``extra`` options go before the destination (e.g. ``("-N", "-L", "...")``)."""
    argv = [
        "ssh", "-o", f"IdentityFile={config_value(str(target.key_path))}", "-p", str(target.port),
        "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={config_value(str(known_hosts))}", "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "UpdateHostKeys=no", "-o", "ConnectTimeout=10",
    ]
    b = target.bastion
    if b is not None:
        # the jump host is verified with the same known_hosts file and its own key
        argv += ["-o", f"ProxyCommand={render_proxy_command(b, known_hosts)}"]
    argv += ["-t"] if tty else ["-T"]
    # -l and "--": a user or address starting with "-" can never be read as an option
    return [*argv, *extra, "-l", target.user, "--", target.address, *command]
