"""`kubeward etcd ...` commands: status, snapshot save, snapshot restore."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from kubeward.cli.common import RemoteOptions, remote_options, run_lock, trust_for
from kubeward.errors import KubewardError
from kubeward.etcd.admin import (
    ClusterStatus,
    RestoreResult,
    cluster_status,
    control_plane_names,
    format_bytes,
    restore_snapshot,
    save_snapshot,
)
from kubeward.etcd.client import verify_snapshot_file
from kubeward.remote.ssh import Session
from kubeward.remote.targets import targets_for

out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False, soft_wrap=True)


@click.group()
def etcd() -> None:
    """etcd on the control planes: status, snapshots.

    kubeward talks to etcd with its own client certificate
    (<state_dir>/pki/etcd/kubeward-client.*), through SSH tunnels to each
    member's 127.0.0.1 client port; etcd's ports stay closed to the outside.

    \b
    Example:
      kubeward etcd status -c cluster.yml
    """


def _print_status(st: ClusterStatus) -> None:
    t = Table(title=f"etcd cluster {st.cluster_id or '?'}", title_justify="left")
    for col in ("host", "member", "role", "health", "version", "db size", "raft term/index", "detail"):
        t.add_column(col)
    for m in st.members:
        role = "leader" if m.leader else ("learner" if m.learner else ("follower" if m.reachable else "-"))
        health = "[green]healthy[/]" if m.healthy else ("[red]unreachable[/]" if not m.reachable else "[red]unhealthy[/]")
        size = f"{format_bytes(m.db_size)} ({format_bytes(m.db_size_in_use)} in use)" if m.reachable else "-"
        t.add_row(m.host, m.id or "-", role, health, m.version or "-", size,
                  f"{m.raft_term}/{m.raft_index}" if m.reachable else "-",
                  (m.error or "") + ("; alarms: " + ", ".join(m.alarms) if m.alarms else ""))
    out.print(t)
    for u in st.unknown_members:
        out.print(f"[yellow]member not in cluster.yml:[/] {u['name'] or '(unstarted)'} {u['id']} {', '.join(u['peer_urls'])}")
    healthy = sum(m.healthy for m in st.members)
    out.print(f"leader: {st.leader or 'none'}; {healthy} of {len(st.members)} members healthy")


@etcd.command()
@remote_options
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def status(opts: RemoteOptions, output: str) -> None:
    """Members, leader, health, database size and version of every control plane's etcd.

    Exit 0 when every member is healthy, 1 otherwise.

    \b
    Example:
      kubeward etcd status -c cluster.yml
      kubeward etcd status -c cluster.yml -o json | jq '.members[] | {host, healthy, leader}'
    """
    loaded = opts.load()
    names = list(control_plane_names(loaded.config))

    async def go() -> ClusterStatus:
        trust = trust_for(loaded, opts.config_path, opts.trust_new_hosts)
        async with Session(targets_for(loaded.config, names), trust, connect_timeout=opts.connect_timeout,
                           connect_retries=0) as session:
            return await cluster_status(session, loaded.config)

    st = asyncio.run(go())
    if output == "json":
        click.echo(json.dumps(st.as_dict(), indent=2))
    else:
        _print_status(st)
    sys.exit(0 if st.healthy else 1)


@etcd.group()
def snapshot() -> None:
    """Save etcd's data to a local file, or restore every member from one.

    \b
    Example:
      kubeward etcd snapshot save -c cluster.yml backup.db
    """


@snapshot.command("save")
@remote_options
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
def snapshot_save(opts: RemoteOptions, output: str, file: Path) -> None:
    """Stream a snapshot from a healthy member (the leader if it answers) into FILE (mode 0600).

    The snapshot comes through an SSH tunnel from etcd's JSON gateway; its trailing SHA-256
    is checked before FILE appears (written beside it, then renamed).

    \b
    Example:
      kubeward etcd snapshot save -c cluster.yml backup.db
    """
    loaded = opts.load()
    names = list(control_plane_names(loaded.config))

    async def go() -> dict[str, object]:
        async with opts.session(loaded, names) as session:
            return await save_snapshot(session, loaded.config, file,
                                       lambda m: err.print(f"[dim]{m}[/]") if output == "text" else None)

    info = asyncio.run(go())
    if output == "json":
        click.echo(json.dumps(info, indent=2))
    else:
        b = info["bytes"]
        assert isinstance(b, int)
        out.print(f"saved {info['file']}: {format_bytes(b)} from {info['member']} at revision {info['revision']} "
                  f"in {info['seconds']} s")


@snapshot.command("restore")
@remote_options
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
def snapshot_restore(opts: RemoteOptions, yes: bool, output: str, file: Path) -> None:
    """Replace the data of every etcd member with the snapshot FILE.

    Uploads FILE to every control plane, stops etcd everywhere, moves each data
    directory aside to DATA_DIR.kubeward-TIMESTAMP (kept), restores each member
    with its own name and peer URL (every control plane of cluster.yml), starts
    them all and waits until each is healthy. Every write since the snapshot is
    lost. If a member cannot be restored, the previous data is put back everywhere.

    \b
    Example:
      kubeward etcd snapshot restore -c cluster.yml backup.db --yes
    """
    loaded = opts.load()
    names = list(control_plane_names(loaded.config))
    size = verify_snapshot_file(file)
    if not yes:
        if not sys.stdin.isatty():
            raise KubewardError("restore replaces every etcd member's data: pass --yes to confirm")
        click.confirm(f"Replace the etcd data of {', '.join(names)} with {file} ({format_bytes(size)})? "
                      "Every write since the snapshot is lost", abort=True)

    def report(m: str) -> None:
        if output == "text":
            err.print(f"[dim]{m}[/]")

    async def go() -> RestoreResult:
        async with opts.session(loaded, names) as session:
            return await restore_snapshot(session, loaded.config, file, report)

    with run_lock(loaded):
        res = asyncio.run(go())
    if output == "json":
        click.echo(json.dumps({"ok": res.ok, "seconds": res.seconds, "hosts": res.hosts,
                               "moved_aside": res.moved_aside}, indent=2))
    else:
        for h, what in res.hosts.items():
            color = "green" if what.endswith("healthy") and not what.startswith("not") else "red"
            out.print(f"{h}: [{color}]{what}[/]")
        out.print(f"restored in {res.seconds:.1f} s; previous data kept at {res.moved_aside} on every control plane")
    sys.exit(0 if res.ok else 1)


def register(cli: click.Group) -> None:
    cli.add_command(etcd)
