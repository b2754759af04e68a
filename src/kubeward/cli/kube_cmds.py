"""`kubeward kubeconfig`, `kubeward kubectl` and `kubeward secrets rotate-key`: operator access to
the API server through SSH tunnels (its port is never opened to the operator's network)."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.console import Console

from kubeward.cli.common import RemoteOptions, ensure_state_dir, remote_options, run_lock
from kubeward.config import LoadedConfig
from kubeward.errors import KubewardError
from kubeward.fileutil import write_private
from kubeward.pki.kubeconfig import render_tunnel_kubeconfig
from kubeward.remote.forward import Forward, Tunnel

err = Console(stderr=True, highlight=False, soft_wrap=True)
DEFAULT_PORT = 16443


def render_admin_kubeconfig(loaded: LoadedConfig, port: int) -> str:
    pki = loaded.state_dir / "pki"
    try:
        ca, cert, key = ((pki / n).read_bytes() for n in ("ca.crt", "cluster-admin.crt", "cluster-admin.key"))
    except OSError as exc:
        raise KubewardError(f"{exc.filename}: {exc.strerror}; run `kubeward pki issue` or `kubeward up` first") from exc
    return render_tunnel_kubeconfig(loaded.config, ca, cert, key, port)


@click.command("kubeconfig")
@remote_options
@click.option("-o", "--output-file", "output_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write here (0600) instead of STATE_DIR/admin.kubeconfig.")
@click.option("--port", type=click.IntRange(1, 65535), default=DEFAULT_PORT, show_default=True,
              help="The local port of `kubeward tunnel --local-port PORT api`.")
def kubeconfig_cmd(opts: RemoteOptions, output_file: Path | None, port: int) -> None:
    """Write a kubeconfig for the daily admin (cluster-admin.crt: RBAC's cluster-admin, not
    system:masters) that reaches the API server through `kubeward tunnel api` on 127.0.0.1.

    \b
    Example:
      kubeward kubeconfig -c cluster.yml -o ~/.kube/kubeward
      kubeward tunnel -c cluster.yml --local-port 16443 api &
      KUBECONFIG=~/.kube/kubeward kubectl get nodes
    """
    loaded = opts.load()
    ensure_state_dir(loaded.state_dir)
    path = output_file or loaded.state_dir / "admin.kubeconfig"
    write_private(path, render_admin_kubeconfig(loaded, port))
    err.print(f"wrote {path} (0600): the daily admin through `kubeward tunnel --local-port {port} api`")
    click.echo(str(path))


def find_kubectl(loaded: LoadedConfig) -> str:
    """kubectl from the local Kubernetes build of the cluster's version, else from PATH."""
    version = loaded.config.kubernetes.version
    if version:
        from kubeward.artifacts.build import find_entry

        entry = find_entry(version)
        if entry is not None:
            built = entry / f"v{version}" / "bin" / "linux" / "amd64" / "kubectl"
            if built.is_file():
                return str(built)
    found = shutil.which("kubectl")
    if found is None:
        raise KubewardError("no kubectl: build it (`kubeward artifacts build`) or install one "
                            "(Debian: apt-get install kubernetes-client, trixie and later)")
    return found


@click.command("kubectl", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@remote_options
@click.option("--node", help="Control plane to tunnel through (default: the first reachable).")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def kubectl_cmd(opts: RemoteOptions, node: str | None, args: tuple[str, ...]) -> None:
    """Run kubectl as the daily admin through an SSH tunnel to a control plane's API server.

    \b
    Example:
      kubeward kubectl -c cluster.yml -- get namespaces
      kubeward kubectl -c cluster.yml -- auth can-i --list
    """
    loaded = opts.load()
    ensure_state_dir(loaded.state_dir)
    kubectl = find_kubectl(loaded)
    config = loaded.config

    async def go() -> int:
        names = [node] if node else [h.name for h in config.control_planes]
        session = opts.session(loaded, names)
        try:
            chosen = await session.connect_first(names, "no control plane reachable")
            host = config.host(chosen)
            fwd = Forward("api", str(host.private_address), config.network.api_port)
            tun = Tunnel(session, chosen, [fwd], lambda m: err.print(f"[yellow]tunnel:[/] {m}"))
            await tun.start()
            kc = loaded.state_dir / f".kubectl-{os.getpid()}.kubeconfig"
            # kubectl caches discovery and HTTP responses per server host:port; the tunnel's port is
            # random, so ~/.kube/cache would only grow and could serve another cluster's answers
            # for a reused port: a private cache for this run, removed after it
            cache = tempfile.TemporaryDirectory(prefix=".kubectl-cache-", dir=loaded.state_dir)
            try:
                write_private(kc, render_admin_kubeconfig(loaded, fwd.local_port))
                env = {**os.environ, "KUBECONFIG": str(kc)}
                proc = await asyncio.create_subprocess_exec(kubectl, "--cache-dir", cache.name, *args, env=env)
                return await proc.wait()
            finally:
                kc.unlink(missing_ok=True)
                cache.cleanup()
                await tun.close()
        finally:
            await session.close()

    sys.exit(asyncio.run(go()))


@click.group("secrets")
def secrets_group() -> None:
    """Secrets encryption at rest.

    \b
    Example:
      kubeward secrets rotate-key -c cluster.yml
    """


@secrets_group.command("rotate-key")
@remote_options
def rotate_key(opts: RemoteOptions) -> None:
    """Rotate the key that encrypts Secrets in etcd, without a moment in which an API server cannot
    read a Secret: add the new key as a second (decrypt-only) key and roll it out; make it the first
    key and roll out; rewrite every Secret through the API; drop the old key and roll out. Each roll-out
    restarts the API servers one at a time, each ready before the next. An interrupted rotation
    resumes at the step it reached.

    \b
    Example:
      kubeward secrets rotate-key -c cluster.yml
    """
    from kubeward.kube.client import api_client, rewrite_secrets
    from kubeward.phases.base import RunContext
    from kubeward.phases.runner import run_phases, select_phases
    from kubeward.pki.encryption import (
        new_key,
        rotation_add,
        rotation_drop,
        rotation_promote,
        rotation_rewritten,
    )
    from kubeward.pki.store import read_keys, write_keys

    loaded = opts.load()
    ensure_state_dir(loaded.state_dir)
    state = loaded.state_dir
    if not loaded.config.kubernetes.enabled:
        raise KubewardError("kubernetes.enabled is off: there are no Secrets to rotate")
    phases = select_phases(["control-plane"], [])

    async def roll_out(what: str) -> None:
        async with opts.session(loaded) as session:
            ctx = RunContext(loaded, session, True)
            report = await run_phases(ctx, phases)
        failed = {h: o.error for p in report.outcomes.values() for h, o in p.items() if o.error}
        if failed:
            raise KubewardError(f"{what}: " + "; ".join(f"{h}: {e}" for h, e in failed.items())
                                + "; fix it and run `kubeward secrets rotate-key` again (it resumes)")
        err.print(f"[green]{what}[/]: rolled out to every control plane")

    async def rewrite() -> int:
        async with opts.session(loaded) as session:
            cp = loaded.config.control_planes[0].name
            async with api_client(session, loaded.config, state, cp, "admin") as client:
                return await rewrite_secrets(client)

    with run_lock(loaded):
        ring = read_keys(state)
        if ring is None:
            raise KubewardError("no encryption key yet: run `kubeward up` first")
        if not ring.step:
            ring = rotation_add(ring, new_key(datetime.now(UTC)))
            write_keys(state, ring)
            asyncio.run(roll_out(f"new key {ring.keys[1].name} added (decrypt only)"))
        if ring.step == "add":
            ring = rotation_promote(ring)
            write_keys(state, ring)
            asyncio.run(roll_out(f"key {ring.keys[0].name} now encrypts"))
        if ring.step == "promote":
            count = asyncio.run(rewrite())
            err.print(f"[green]rewrote {count} Secret(s)[/] with key {ring.keys[0].name}")
            ring = rotation_rewritten(ring)
            write_keys(state, ring)
        if ring.step == "rewrite":
            old = ring.rotating_from
            ring = rotation_drop(ring)
            write_keys(state, ring)
            asyncio.run(roll_out(f"old key {old} dropped"))
        click.echo(ring.keys[0].name)


def register(cli: click.Group) -> None:
    cli.add_command(kubeconfig_cmd)
    cli.add_command(kubectl_cmd)
    cli.add_command(secrets_group)
