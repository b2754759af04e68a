"""`kubeward tunnel` and `kubeward ssh`: admin access through SSH, never through opened ports."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
from pathlib import Path

import asyncssh
import click
from rich.console import Console

from kubeward.cli.common import RemoteOptions, check_hosts, ensure_state_dir, remote_options, trust_for
from kubeward.errors import KubewardError
from kubeward.remote.forward import Tunnel
from kubeward.remote.openssh import openssh_argv, render_known_hosts_for
from kubeward.remote.ssh import ConnectError, Target, read_client_key
from kubeward.remote.targets import target_for, targets_for
from kubeward.remote.tunnel_targets import resolve_target, service_row, write_tunnel_kubeconfig

err = Console(stderr=True, highlight=False, soft_wrap=True)

@click.command()
@remote_options
@click.option("--node", help="Node to tunnel through (default: the first reachable control-plane).")
@click.option("--local-port", "local_ports", multiple=True, type=click.IntRange(1, 65535),
              help="Local port for each target, in order (default: a free port).")
@click.option("--check", is_flag=True, help="Connect, verify every target answers, print, and exit.")
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.argument("targets", nargs=-1, required=True)
def tunnel(opts: RemoteOptions, node: str | None, local_ports: tuple[int, ...], check: bool, output: str,
           targets: tuple[str, ...]) -> None:
    """Forward local ports (127.0.0.1 only) to services on a node, over verified SSH.

    TARGET is a service of the port matrix (api, etcd, etcd-metrics, kubelet,
    any row of `kubeward matrix`), a PORT, or HOST:PORT as seen from the node. Stays up until Ctrl-C and reconnects by itself when
    the SSH connection drops.

    \b
    Example:
      kubeward tunnel -c cluster.yml etcd
      kubeward tunnel -c cluster.yml --node cp-1 --local-port 16443 api
      kubeward tunnel -c cluster.yml --check api etcd
    """
    loaded = opts.load()
    ensure_state_dir(loaded.state_dir)
    config = loaded.config
    if node:
        check_hosts(loaded, [node])
        candidates = [node]
    elif any((r := service_row(config, t)) is not None and r.roles == ("control-plane",) for t in targets):
        candidates = [h.name for h in config.control_planes]
    else:
        candidates = [h.name for h in config.hosts]

    async def go() -> int:
        session = opts.session(loaded, candidates)
        # the first healthy one, in cluster.yml order
        chosen = await session.connect_first(candidates, "no node to tunnel through")
        forwards = [resolve_target(config, chosen, t) for t in targets]
        for f, p in zip(forwards, local_ports, strict=False):
            f.local_port = p
        tun = Tunnel(session, chosen, forwards, lambda m: err.print(f"[yellow]tunnel:[/] {m}"))
        try:
            await tun.start()
            results = await tun.check() if check else {}
            info = []
            for f in forwards:
                entry = {"target": f.name, "node": chosen, "local": f.local, "remote": f"{f.dest_host}:{f.dest_port}",
                         "error": results.get(f.name)}
                if f.name == "api":
                    kc = write_tunnel_kubeconfig(loaded, f.local_port)
                    entry["kubeconfig"] = str(kc) if kc else None
                info.append(entry)
            if output == "json":
                click.echo(json.dumps(info, indent=2))
            else:
                for e in info:
                    state = f" [red]{e['error']}[/]" if e["error"] else (" [green]answers[/]" if check else "")
                    extra = f" (kubeconfig: {e['kubeconfig']})" if e.get("kubeconfig") else ""
                    err.print(f"{e['target']}: [bold]{e['local']}[/] -> {chosen} {e['remote']}{state}{extra}")
            sys.stdout.flush()
            if check:
                return 1 if any(results.values()) else 0
            err.print("[dim]tunnel up; Ctrl-C to stop[/]")
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            watcher = asyncio.create_task(tun.run())
            await stop.wait()
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            err.print("tunnel closed")
            return 0
        finally:
            await tun.close()
            await session.close()

    sys.exit(asyncio.run(go()))


def _check_key(target: Target, node: str) -> None:
    """The same key checks as every other command, before OpenSSH would print its own terse refusal."""
    loaded = read_client_key(target.key_path, node)
    if not isinstance(loaded, asyncssh.SSHKeyPair) and not os.environ.get("SSH_AUTH_SOCK") \
            and not sys.stdin.isatty():
        raise ConnectError(node, "key needs a passphrase", f"SSH key {target.key_path} is passphrase-protected "
                           "and there is neither ssh-agent (SSH_AUTH_SOCK) nor a terminal to ask on",
                           f"load it into ssh-agent (`ssh-add {target.key_path}`) and run again")


@click.command("ssh", context_settings={"ignore_unknown_options": True})
@remote_options
@click.argument("node")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def ssh_cmd(opts: RemoteOptions, node: str, command: tuple[str, ...]) -> None:
    """Open a shell on a node, or run a command, with kubeward's host-key trust and bastion.

    \b
    Example:
      kubeward ssh -c cluster.yml cp-1
      kubeward ssh -c cluster.yml cp-1 -- sudo ss -tlnp
    """
    loaded = opts.load()
    check_hosts(loaded, [node])
    target = target_for(loaded.config.host(node))
    for t in (target, target.bastion):
        if t is not None:
            _check_key(t, node)
    trust = trust_for(loaded, opts.config_path, False)
    known = render_known_hosts_for(targets_for(loaded.config), trust)
    if not any(line.split(" ", 1)[0] == target.pattern for line in known.splitlines()):
        raise KubewardError(f"the host key of {node} is not trusted yet: run `kubeward trust -c "
                            f"{opts.config_path} {node}` first, or pin it in cluster.yml")
    fd, path = tempfile.mkstemp(prefix="kubeward-known-hosts-")
    with os.fdopen(fd, "w") as fh:
        fh.write(known)
    argv = openssh_argv(target, Path(path), list(command), tty=not command and sys.stdin.isatty())
    try:
        import subprocess

        rc = subprocess.call(argv)
    finally:
        os.unlink(path)
    sys.exit(rc)


def register(cli: click.Group) -> None:
    cli.add_command(tunnel)
    cli.add_command(ssh_cmd)
