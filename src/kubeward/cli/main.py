"""The `kubeward` command group; each subcommand lives in its own module."""

from __future__ import annotations

import importlib
import sys

import click
from rich.console import Console

from kubeward import __version__
from kubeward.errors import KubewardError

err_console = Console(stderr=True)


#: command name -> module that registers it; a command's module is imported only when it is used
#: (importing every command costs most of a short run's time)
COMMAND_MODULES = {
    "validate": "config_cmds", "schema": "config_cmds",
    "lab": "lab_cmds",
    "preflight": "remote_cmds", "trust": "remote_cmds",
    "up": "up_cmds", "plan": "up_cmds",
    "pki": "pki_cmds",
    "firewall": "firewall_cmds", "matrix": "firewall_cmds",
    "tunnel": "tunnel_cmds", "ssh": "tunnel_cmds",
    "audit": "audit_cmds",
    "etcd": "etcd_cmds",
    "artifacts": "artifacts_cmds", "bundle": "artifacts_cmds",
    "kubeconfig": "kube_cmds", "kubectl": "kube_cmds", "secrets": "kube_cmds",
    "check": "node_cmds", "csr": "node_cmds",
    "node": "membership_cmds",
    "reset": "reset_cmds",
}


def _load(name: str) -> click.Command | None:
    module = COMMAND_MODULES.get(name)
    if module is None:
        return None
    scratch = click.Group()
    importlib.import_module(f"kubeward.cli.{module}").register(scratch)
    return scratch.commands.get(name)


class KubewardGroup(click.Group):
    """Loads commands on first use, and turns every KubewardError into its message and exit code
    instead of a traceback."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMAND_MODULES})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return self.commands.get(name) or _load(name)

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
    Example (a local lab; root, this machine only):
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


def main() -> None:
    cli(prog_name="kubeward")
