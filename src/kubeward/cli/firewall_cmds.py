"""`kubeward matrix` and `kubeward firewall ...`: the port matrix and each node's compiled firewall."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from kubeward.catalog.matrix import (
    MatrixRow,
    build_matrix,
    describe_sources,
    render_matrix_markdown,
    row_targets,
    rows_for_host,
)
from kubeward.cli.common import config_option
from kubeward.config import ClusterConfig, HostConfig, load_config
from kubeward.firewall import (
    export_rules,
    render_rules_markdown,
    render_ruleset,
)


def _load(config_path: Path) -> ClusterConfig:
    loaded = load_config(config_path)
    for issue in loaded.warnings:
        click.echo(str(issue), err=True)
    return loaded.config


def _hosts(config: ClusterConfig, node: str | None) -> list[HostConfig]:
    if node is None:
        return list(config.hosts)
    try:
        return [config.host(node)]
    except KeyError as exc:
        raise click.BadParameter(str(exc.args[0]), param_hint="--node") from None


def _print_matrix_table(rows: list[MatrixRow]) -> None:
    table = Table(show_lines=False, highlight=False)
    for col in ("component", "port", "proto", "on", "bind", "reachable from", "auth", "TLS/HTTP"):
        table.add_column(col, overflow="fold")
    for r in rows:
        style = "red" if r.closed else "dim" if r.local_only else None
        kind = "/".join(k for k, on in (("TLS", r.tls), ("HTTP", r.http)) if on) or "-"
        table.add_row(r.component, r.port_text, r.protocol, row_targets(r), r.bind,
                      describe_sources(r.sources), r.auth, kind, style=style)
    console = Console(highlight=False)
    if not console.is_terminal:  # piped: do not squeeze the table into 80 columns
        console = Console(highlight=False, width=160)
    console.print(table)


@click.command()
@config_option
@click.option("-o", "--output", type=click.Choice(["text", "json", "markdown"]), default="text",
              show_default=True)
@click.option("--node", default=None, help="Only the rows that apply to this host.")
def matrix(config_path: Path, output: str, node: str | None) -> None:
    """Print the port matrix: every port, who may reach it, how it authenticates.

    Rows that nobody may reach are red (the firewall drops them explicitly), rows only the node
    itself reaches are dim (loopback).

    \b
    Example:
      kubeward matrix -c cluster.yml
      kubeward matrix -c cluster.yml --node worker-1 -o json | jq '.[].ports'
    """
    config = _load(config_path)
    rows = build_matrix(config)
    if node is not None:
        rows = rows_for_host(rows, _hosts(config, node)[0])
    if output == "json":
        click.echo(json.dumps([r.to_dict() for r in rows], indent=2))
    elif output == "markdown":
        click.echo(render_matrix_markdown(rows), nl=False)
    else:
        _print_matrix_table(rows)


@click.group()
def firewall() -> None:
    """The nftables host firewall kubeward compiles for each node (table inet kubeward).

    \b
    Example:
      kubeward firewall show -c cluster.yml --node cp-1
    """


@firewall.command()
@config_option
@click.option("--node", default=None, help="Only this host (default: every host).")
@click.option("--format", "fmt", type=click.Choice(["nft", "json", "markdown"]), default="nft",
              show_default=True, help="nft: the file nft -f loads; json/markdown: provider-neutral rules.")
def show(config_path: Path, node: str | None, fmt: str) -> None:
    """Print the firewall compiled for each node, without touching any host.

    \b
    Example:
      kubeward firewall show -c cluster.yml --node cp-1 > cp-1.nft && sudo nft -c -f cp-1.nft
      kubeward firewall show -c cluster.yml --format json | jq '.[] | select(.source == "world")'
    """
    config = _load(config_path)
    hosts = _hosts(config, node)
    if not config.firewall.enabled:
        click.echo("note: firewall.enabled is false, so kubeward will not install this firewall", err=True)
    if fmt == "json":
        click.echo(json.dumps([r.to_dict() for h in hosts for r in export_rules(config, h)], indent=2))
    elif fmt == "markdown":
        rules = [r for h in hosts for r in export_rules(config, h)]
        click.echo(render_rules_markdown(rules), nl=False)
        click.echo("\nEverything else is dropped; return traffic, loopback and ICMP errors are accepted.")
    else:
        for i, h in enumerate(hosts):
            if len(hosts) > 1:
                click.echo(("\n" if i else "") + f"# ===== {h.name} =====")
            click.echo(render_ruleset(config, h), nl=False)


def register(cli: click.Group) -> None:
    cli.add_command(matrix)
    cli.add_command(firewall)
