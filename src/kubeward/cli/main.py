"""The `kubeward` command group; each subcommand lives in its own module."""

from __future__ import annotations

import sys

import click
from rich.console import Console

from kubeward import __version__
from kubeward.errors import KubewardError

err_console = Console(stderr=True)


class KubewardGroup(click.Group):
    """Turns every KubewardError into its message and exit code instead of a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except KubewardError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            sys.exit(exc.exit_code)


@click.group(cls=KubewardGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="kubeward")
def cli() -> None:
    """kubeward: a Kubernetes cluster from SSH hosts, every path authenticated, firewalled, audited.

    \b
    Try it on a local lab (root, this machine only):
      kubeward lab up --nodes 3
      kubeward validate -c /var/lib/kubeward/labs/default/cluster.yml
    """


@cli.command()
@click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True)
def version(output: str) -> None:
    """Print kubeward's version.

    \b
    Example:
      kubeward version --output json
    """
    if output == "json":
        import json

        click.echo(json.dumps({"version": __version__, "python": sys.version.split()[0]}))
    else:
        click.echo(f"kubeward {__version__}")


def _register() -> None:
    from kubeward.cli import (
        audit_cmds,
        config_cmds,
        etcd_cmds,
        firewall_cmds,
        lab_cmds,
        pki_cmds,
        remote_cmds,
        tunnel_cmds,
        up_cmds,
    )

    config_cmds.register(cli)
    lab_cmds.register(cli)
    remote_cmds.register(cli)
    up_cmds.register(cli)
    pki_cmds.register(cli)
    firewall_cmds.register(cli)
    tunnel_cmds.register(cli)
    audit_cmds.register(cli)
    etcd_cmds.register(cli)


_register()


def main() -> None:
    cli(prog_name="kubeward")
