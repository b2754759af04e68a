"""`kubeward pki issue|status|renew`: the cluster's CAs, certificates and keys on this machine."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from kubeward.cli.common import config_option, run_lock
from kubeward.config import LoadedConfig, load_config
from kubeward.pki import PkiReport, PkiStore, ensure_pki, read_pki_status, resolve_renew

out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
OUTPUT = click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text",
                      show_default=True)
ACTION_STYLE = {"issued": "[green]issued[/]", "reissued": "[yellow]reissued[/]", "reused": "[dim]reused[/]"}
STATE_STYLE = {"ok": "[green]ok[/]", "expiring": "[yellow]expiring[/]", "expired": "[red]expired[/]",
               "missing": "[red]missing[/]", "mismatch": "[red]mismatch[/]"}


def _open(config_path: Path) -> tuple[LoadedConfig, PkiStore]:
    loaded = load_config(config_path)
    return loaded, PkiStore.for_config(loaded.config)


def _refresh(config_path: Path, output: str, title: str, names: tuple[str, ...] = (),
             all_leaves: bool = False, include_cas: bool = False) -> None:
    loaded, store = _open(config_path)
    wanted = resolve_renew(loaded.config, names, all_leaves=all_leaves, include_cas=include_cas)
    with run_lock(loaded):
        report = ensure_pki(loaded.config, store, datetime.now(UTC), wanted)
    if output == "json":
        click.echo(json.dumps({"ok": True, "store": str(store.root), **report.to_dict()}, indent=2))
    else:
        _print_report(report, store, title)


def _print_report(report: PkiReport, store: PkiStore, title: str) -> None:
    table = Table(title=title, title_justify="left")
    for col in ("name", "action", "reason"):
        table.add_column(col)
    for e in report.entries:
        table.add_row(e.name, ACTION_STYLE[e.action], "" if e.action == "reused" and e.reason == "valid"
                      else e.reason)
    out.print(table)
    for path in report.orphaned:
        out.print(f"[yellow]orphaned[/]: {path} (no host or row of cluster.yml wants it; left in place)")
    for path in report.modes_fixed:
        mode = "0700" if path.endswith("/") else "0600"
        out.print(f"[yellow]mode fixed[/]: {path} was open to others, now {mode}")
    d = report.to_dict()
    out.print(f"{d['issued']} issued, {d['reissued']} re-issued, {d['reused']} reused; store: {store.root}")


@click.group()
def pki() -> None:
    """Certificate authorities, certificates and keys, kept on this machine.

    Every certificate is a row of kubeward's certificate table; its SANs follow from
    cluster.yml. These commands only read and write <state_dir>/pki/: they touch no host.

    \b
    Example:
      kubeward pki issue -c cluster.yml
      kubeward pki status -c cluster.yml --output json
    """


@pki.command()
@config_option
@OUTPUT
def issue(config_path: Path, output: str) -> None:
    """Issue missing certificates and re-issue those that no longer fit cluster.yml.

    A valid certificate is reused. One is re-issued, with the reason shown, when its subject,
    SANs or usages differ from the table, its key does not match, it does not verify against
    its CA, or it expires within pki.renew_before_days; a re-issued CA re-issues everything it
    signed. Files of hosts no longer in cluster.yml are reported as orphaned and kept.
    Exit 0 on success, 1 on a problem.

    \b
    Example:
      kubeward pki issue -c cluster.yml
      kubeward pki issue -c cluster.yml --output json | jq '.entries[] | select(.action != "reused")'
    """
    _refresh(config_path, output, "kubeward pki issue")


@pki.command()
@config_option
@OUTPUT
def status(config_path: Path, output: str) -> None:
    """Show every certificate: subject, issuer, SANs, expiry and whether it still fits.

    States: ok, expiring (within pki.renew_before_days), expired, missing, mismatch (differs
    from the table, wrong key, or does not verify against its CA). Changes nothing.
    Exit 0 when every certificate is ok, 1 otherwise.

    \b
    Example:
      kubeward pki status -c cluster.yml
      kubeward pki status -c cluster.yml --output json | jq '.certs[] | select(.state != "ok")'
    """
    loaded, store = _open(config_path)
    st = read_pki_status(loaded.config, store, datetime.now(UTC))
    if output == "json":
        click.echo(json.dumps({"store": str(store.root), **st.to_dict()}, indent=2))
    else:
        table = Table(title=f"kubeward pki status ({store.root})", title_justify="left")
        for col in ("name", "subject", "issuer", "SANs", "not after", "days left", "state"):
            table.add_column(col, justify="right" if col == "days left" else "left")
        for c in st.certs:
            table.add_row(c.name, c.subject, c.issuer, ", ".join(c.sans),
                          f"{c.not_after:%Y-%m-%d}" if c.not_after else "-",
                          "-" if c.days_left is None else str(c.days_left), STATE_STYLE[c.state])
        out.print(table)
        for c in st.certs:
            for reason in c.reasons:
                out.print(f"[bold]{c.name}[/]: {reason}")
        for path in st.orphaned:
            out.print(f"[yellow]orphaned[/]: {path} (no host or row of cluster.yml wants it)")
        bad = sum(c.state != "ok" for c in st.certs)
        if bad:
            out.print(f"[red]{bad} of {len(st.certs)} not ok[/]: `kubeward pki issue` re-issues them")
        else:
            out.print(f"[green]all {len(st.certs)} ok[/]")
    sys.exit(0 if st.ok else 1)


@pki.command()
@config_option
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--all", "all_leaves", is_flag=True, help="Renew every leaf certificate.")
@click.option("--include-cas", is_flag=True,
              help="Allow renewing CAs (re-issues all they signed) and the sa key pair (--all: all of them).")
@OUTPUT
def renew(
    config_path: Path, names: tuple[str, ...], all_leaves: bool, include_cas: bool, output: str
) -> None:
    """Re-issue the named certificates now, even if they are valid.

    NAME is a certificate (apiserver, etcd-server-cp-1) or a per-host row (kubelet-serving:
    every host's). CAs and the sa key pair are renewed only with --include-cas: a new CA
    re-issues every certificate it signed and must reach every host, and a new sa key
    invalidates every service-account token. Missing certificates are issued as by
    `pki issue`. Exit 0 on success, 1 on a problem.

    \b
    Example:
      kubeward pki renew -c cluster.yml apiserver kubelet-serving
      kubeward pki renew -c cluster.yml --all
      kubeward pki renew -c cluster.yml etcd-ca --include-cas --output json
    """
    if not names and not all_leaves:
        raise click.UsageError("name the certificates to renew, or pass --all")
    _refresh(config_path, output, "kubeward pki renew", names, all_leaves, include_cas)


def register(cli: click.Group) -> None:
    cli.add_command(pki)
