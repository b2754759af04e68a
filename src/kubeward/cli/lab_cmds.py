"""`kubeward lab ...`: the local lab, real Debian 12 nodes on this machine (root only)."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict

import click
from rich.console import Console
from rich.table import Table

from kubeward.errors import LabError

console = Console(stderr=True)
out = Console()

NAME_OPTION = click.option(
    "--name", "-n", default=lambda: os.environ.get("KUBEWARD_LAB", "default"), show_default="default",
    help="Lab name ($KUBEWARD_LAB); several labs can run side by side.",
)


def _say(message: str) -> None:
    console.print(f"[dim]lab:[/] {message}", highlight=False)


@click.group("lab")
def lab() -> None:
    """Local lab: real Debian 12 nodes (systemd, sshd) in namespaces on this machine.

    \b
    Nodes have a "public" interface (eth0) that this machine reaches and a
    node-only "private" one (eth1); nothing in the lab routes off this machine.

    \b
    Example:
      kubeward lab up --nodes 3 --control-planes 1
      kubeward validate -c $(kubeward lab path)
      kubeward lab down
    """


@lab.command("up")
@NAME_OPTION
@click.option("--nodes", default=3, show_default=True, help="Number of nodes.")
@click.option("--control-planes", default=1, show_default=True, help="How many of them are control-planes.")
@click.option("--if-missing", is_flag=True, help="Do nothing if the lab already exists (start stopped nodes).")
@click.option("--kubernetes", "kubernetes", is_flag=True,
              help="Turn Kubernetes on in cluster.yml, using the local build (`kubeward artifacts build`).")
def lab_up(name: str, nodes: int, control_planes: int, if_missing: bool, kubernetes: bool) -> None:
    """Build the node image if needed (cached), boot the nodes, write cluster.yml.

    \b
    Example:
      kubeward lab up --name demo --nodes 5 --control-planes 3
    """
    from kubeward.lab.lab import Lab

    lb = Lab(name)
    if if_missing and lb.exists():
        for st in lb.status():
            if st.state in ("stopped", "dead"):
                lb.start_node(st.name, progress=_say)
        _say(f"lab {name} already exists")
    else:
        lb.up(nodes, control_planes, progress=_say)
    if kubernetes:
        from kubeward.artifacts.build import find_entry
        from kubeward.lab.lab import render_kubernetes_yml

        entry = find_entry("1.20.2")
        if entry is None:
            raise LabError("no local Kubernetes build: run `make kube-bin` (kubeward artifacts build) first")
        text = lb.cluster_yml.read_text()
        if "\nkubernetes:" not in text:
            lb.cluster_yml.write_text(text + render_kubernetes_yml("1.20.2", entry))
    console.print(f"cluster.yml: [bold]{lb.cluster_yml}[/]  (SSH key: {lb.key_path})", highlight=False)
    click.echo(str(lb.cluster_yml))


@lab.command("down")
@NAME_OPTION
@click.option("--all", "all_labs", is_flag=True, help="Remove every lab on this machine.")
def lab_down(name: str, all_labs: bool) -> None:
    """Remove a lab completely: processes, mounts, namespaces, links, files.

    \b
    Example:
      kubeward lab down --name demo
    """
    from kubeward.lab.lab import Lab, list_labs

    for n in list_labs() if all_labs else [name]:
        Lab(n).down(progress=_say)


@lab.command("status")
@NAME_OPTION
@click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True)
def lab_status(name: str, output: str) -> None:
    """Show the nodes of a lab, their addresses and state.

    \b
    Example:
      kubeward lab status --name demo --output json
    """
    from kubeward.lab.lab import Lab

    lb = Lab(name)
    state = lb.load()
    statuses = lb.status()
    if output == "json":
        click.echo(json.dumps({
            "name": state.name, "cluster_yml": str(lb.cluster_yml), "key": str(lb.key_path),
            "public_subnet": state.public_subnet, "private_subnet": state.private_subnet,
            "operator_address": state.gateway, "nodes": [asdict(s) for s in statuses],
        }, indent=2))
        return
    table = Table(title=f"lab {name}: public {state.public_subnet}, private {state.private_subnet}")
    for col in ("node", "role", "public", "private", "state"):
        table.add_column(col)
    colors = {"running": "green", "degraded": "yellow", "partitioned": "yellow", "stopped": "dim"}
    for s in statuses:
        c = colors.get(s.state, "red")
        table.add_row(s.name, s.role, s.public_address, s.private_address, f"[{c}]{s.state}[/]")
    out.print(table)
    out.print(f"cluster.yml: {lb.cluster_yml}", highlight=False)


@lab.command("list")
@click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True)
def lab_list(output: str) -> None:
    """List the labs on this machine.

    \b
    Example:
      kubeward lab list
    """
    from kubeward.lab.lab import list_labs

    names = list_labs()
    click.echo(json.dumps(names) if output == "json" else "\n".join(names))


@lab.command("path")
@NAME_OPTION
def lab_path(name: str) -> None:
    """Print the path of the lab's cluster.yml.

    \b
    Example:
      kubeward validate -c $(kubeward lab path --name demo)
    """
    from kubeward.lab.lab import Lab

    lb = Lab(name)
    lb.load()
    click.echo(str(lb.cluster_yml))


@lab.command("exec", context_settings={"ignore_unknown_options": True})
@NAME_OPTION
@click.argument("node")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def lab_exec(name: str, node: str, command: tuple[str, ...]) -> None:
    """Run a command inside a node as root (a console, not SSH).

    \b
    Example:
      kubeward lab exec default-cp1 -- systemctl is-system-running
    """
    from kubeward.lab.lab import Lab

    argv = Lab(name).exec_argv(node, list(command))
    sys.stdout.flush()
    os.execvp(argv[0], argv)


def _node_command(verb: str, doc: str) -> None:
    @lab.command(verb, help=doc)
    @NAME_OPTION
    @click.argument("nodes", nargs=-1, required=True)
    def cmd(name: str, nodes: tuple[str, ...]) -> None:
        from kubeward.lab.lab import Lab

        lb = Lab(name)
        for node in nodes:
            if verb == "stop":
                lb.stop_node(node)
            elif verb == "start":
                lb.start_node(node, progress=_say)
            elif verb == "partition":
                lb.partition(node)
            elif verb == "heal":
                lb.heal(node)
            else:  # pragma: no cover
                raise LabError(verb)
            _say(f"{verb}: {node}")


_node_command("stop", "Power a node off (its disk survives).\n\n\b\nExample:\n  kubeward lab stop default-w1")
_node_command("start", "Boot a stopped node again.\n\n\b\nExample:\n  kubeward lab start default-w1")
_node_command(
    "partition",
    "Cut a node's public and private links (fault tests).\n\n\b\nExample:\n  kubeward lab partition default-w1",
)
_node_command("heal", "Restore a partitioned node's links.\n\n\b\nExample:\n  kubeward lab heal default-w1")


def register(cli: click.Group) -> None:
    cli.add_command(lab)
