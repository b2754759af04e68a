"""`kubeward pki issue|status|renew`: the cluster's CAs, certificates and keys on this machine."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table

from kubeward.cli.common import RemoteOptions, check_hosts, config_option, remote_options, run_lock, split_names
from kubeward.config import LoadedConfig, load_config
from kubeward.errors import KubewardError
from kubeward.pki import PkiReport, PkiStore, ensure_pki, read_pki_status, resolve_renew
from kubeward.pki.installed import HostCerts
from kubeward.pki.table import CA_NAMES, SA_KEY

if TYPE_CHECKING:
    from kubeward.phases.pki import Rollout

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
    cluster.yml. `issue` and `renew` write <state_dir>/pki/ and touch no host; `status`
    also reads what each host has installed (not with --local), and `renew --apply` rolls
    renewed certificates out, one node at a time.

    \b
    Example:
      kubeward pki issue -c cluster.yml
      kubeward pki status -c cluster.yml --output json
      kubeward pki renew -c cluster.yml apiserver --apply
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


NODE_STYLE = {"in sync": "[green]in sync[/]", "pending rollout": "[yellow]pending rollout[/]",
              "restart pending": "[yellow]restart pending[/]", "missing": "[red]missing[/]",
              "unreadable": "[red]unreadable[/]"}
KUBELET_STYLE = {"ok": "[green]ok[/]", "rotation due": "[cyan]rotation due[/]", "overdue": "[red]overdue[/]",
                 "expiring": "[yellow]expiring[/]", "expired": "[red]expired[/]", "missing": "[red]missing[/]",
                 "mismatch": "[red]mismatch[/]", "unreadable": "[red]unreadable[/]"}


def _read_hosts(opts: RemoteOptions, loaded: LoadedConfig, store: PkiStore, names: list[str]) -> list[HostCerts]:
    from kubeward.phases.pki import read_installed

    async def go() -> list[HostCerts]:
        async with opts.session(loaded, names) as session:
            return await read_installed(session, loaded.config, names, store.read_files(), datetime.now(UTC))

    return asyncio.run(go())


def _print_hosts(hosts: list[HostCerts]) -> None:
    table = Table(title="on the hosts (against the state directory)", title_justify="left")
    for col in ("host", "certificate", "file", "serial", "not after", "state"):
        table.add_column(col)
    for h in hosts:
        for f in h.files:
            table.add_row(h.host, f.name, f.path, f.serial[:16], f"{f.not_after:%Y-%m-%d}" if f.not_after else "-",
                          NODE_STYLE[f.state])
    out.print(table)
    table = Table(title="kubelet certificates (made on each node, renewed by the kubelet)", title_justify="left")
    for col in ("host", "certificate", "subject", "SANs", "issuer", "not after", "days left", "state", "renewal"):
        table.add_column(col, justify="right" if col == "days left" else "left",
                         overflow="fold" if col in ("subject", "issuer") else "ellipsis")
    renewed_by: dict[str, str] = {}
    for h in hosts:
        for k in h.kubelet:
            renewed_by[k.name] = k.renewed_by
            table.add_row(h.host, k.name, k.subject, ", ".join(k.sans), k.issuer,
                          f"{k.not_after:%Y-%m-%d}" if k.not_after else "-",
                          "-" if k.days_left is None else str(k.days_left), KUBELET_STYLE[k.state], k.renewal)
    out.print(table)
    for name, who in renewed_by.items():
        out.print(f"[dim]{name}: renewed by {who}[/]")
    for h in hosts:
        if h.error:
            out.print(f"[red]{h.host}[/]: not read: {h.error}")
        for f in h.files:
            if not f.ok:
                out.print(f"[bold]{h.host}[/] {f.path}: {f.reason}")


@pki.command()
@remote_options
@click.option("--local", is_flag=True, help="Only the state directory: read no host (the view before hosts existed).")
@click.option("--host", multiple=True, metavar="NAME[,NAME]", help="Read these hosts only (default: all).")
@OUTPUT
def status(opts: RemoteOptions, local: bool, host: tuple[str, ...], output: str) -> None:
    """Show every certificate: in the state directory, as installed on each host, and the kubelets'.

    \b
    State directory: subject, issuer, SANs, expiry and whether each still fits the table
      (ok, expiring within pki.renew_before_days, expired, missing, mismatch).
    Hosts (one SSH round-trip per host, all at once; --local skips them): each certificate
      file and kubeconfig-embedded client certificate against the state directory's copy:
      in sync; pending rollout (renewed locally, not yet on the host: `kubeward up` or
      `kubeward pki renew --apply`); restart pending (on the host, but a running service
      that reads it started before it changed); missing; unreadable.
    Kubelets: client and serving certificate of each node (subject, SANs, issuer, expiry,
      days left, where the kubelet's own rotation stands, signed by kubelet-signer or not).

    Only certificates are read from hosts, never a private key. Changes nothing.
    Exit 0 when everything is ok and in sync, 1 otherwise, 3 when a host could not be read.

    \b
    Example:
      kubeward pki status -c cluster.yml
      kubeward pki status -c cluster.yml --local
      kubeward pki status -c cluster.yml -o json | jq '.hosts[].files[] | select(.state != "in sync")'
    """
    loaded = opts.load()
    store = PkiStore.for_config(loaded.config)
    st = read_pki_status(loaded.config, store, datetime.now(UTC))
    names = [] if local else check_hosts(loaded, split_names(host)) or [h.name for h in loaded.config.hosts]
    hosts = _read_hosts(opts, loaded, store, names) if names else []
    unread = [h for h in hosts if h.error]
    bad_hosts = [h for h in hosts if not h.ok and not h.error]
    ok = st.ok and not bad_hosts and not unread
    if output == "json":
        click.echo(json.dumps({"store": str(store.root), **st.to_dict(), "ok": ok,
                               "hosts": None if local else [h.to_dict() for h in hosts]}, indent=2))
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
        if hosts:
            _print_hosts(hosts)
        bad = sum(c.state != "ok" for c in st.certs)
        if bad:
            out.print(f"[red]{bad} of {len(st.certs)} not ok[/] in the state directory: `kubeward pki issue` "
                      "re-issues them")
        else:
            out.print(f"[green]all {len(st.certs)} ok[/] in the state directory")
        if hosts:
            files = [f for h in hosts for f in h.files]
            kubelets = [k for h in hosts for k in h.kubelet]
            out.print(f"hosts: {sum(f.ok for f in files)} of {len(files)} files in sync, "
                      f"{sum(k.ok for k in kubelets)} of {len(kubelets)} kubelet certificates ok"
                      + (f", [red]{len(unread)} host(s) not read[/]" if unread else ""))
    sys.exit(1 if not st.ok or bad_hosts else 3 if unread else 0)


def _refuse_for_apply(names: tuple[str, ...], include_cas: bool) -> None:
    guarded = sorted({n for n in names if n in CA_NAMES or n == SA_KEY.name})
    if include_cas and not guarded:
        guarded = [*CA_NAMES, SA_KEY.name]
    if not guarded:
        return
    cas = [n for n in guarded if n in CA_NAMES]
    parts = []
    if cas:
        parts.append(f"{', '.join(cas)} {'is a CA' if len(cas) == 1 else 'are CAs'}: a new CA is a CA rotation (every "
                     "node and service must trust the new CA before anything it signs is used, and every "
                     "certificate it signed, the kubelets' too, must be replaced), which kubeward does not do on a "
                     "running cluster. Renew the certificates it signed instead (`kubeward pki renew --all "
                     "--apply`); a CA is valid pki.ca_validity_days (`kubeward pki status` shows how long is left)")
    if SA_KEY.name in guarded:
        parts.append("sa: a new service-account key invalidates every service-account token, and API servers "
                     "would disagree on them while it rolls out; renew it without --apply and run `kubeward up` "
                     "when that is what you want")
    raise KubewardError("--apply rolls out renewed leaf certificates only. " + "; ".join(parts))


@pki.command()
@remote_options
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--all", "all_leaves", is_flag=True, help="Renew every leaf certificate.")
@click.option("--include-cas", is_flag=True,
              help="Allow renewing CAs (re-issues all they signed) and the sa key pair (--all: all of them).")
@click.option("--apply", is_flag=True,
              help="Then roll them out: run only the phases that place and use them (pki, etcd, control-plane, "
                   "nodes as needed), restarting each service one node at a time, each healthy before the next.")
@OUTPUT
def renew(opts: RemoteOptions, names: tuple[str, ...], all_leaves: bool, include_cas: bool, apply: bool,
          output: str) -> None:
    """Re-issue the named certificates now, even if they are valid; with --apply, roll them out.

    NAME is a certificate (apiserver, etcd-server-cp-1) or a per-host row (etcd-server:
    every control plane's); `kubeward pki status --local` lists them. CAs and the sa key pair
    are renewed only with --include-cas (a new CA re-issues every certificate it signed and
    must reach every host; a new sa key invalidates every service-account token), and never
    with --apply: kubeward does not rotate a CA on a running cluster. The kubelets'
    certificates are not here: each kubelet renews its own.

    Without --apply only the state directory changes: `kubeward up` rolls the certificates
    out later (the plan shows which services restart). With --apply the phases that need
    them run now (e.g. `apiserver`: pki and control-plane): files go to every host, then
    each service that reads one restarts one node at a time, each healthy (/readyz) before
    the next, so a cluster of several control planes keeps its API available.
    Exit 0 on success, 1 on a problem (renewed, but not rolled out, is said so).

    \b
    Example:
      kubeward pki renew -c cluster.yml apiserver --apply
      kubeward pki renew -c cluster.yml apiserver etcd-server && kubeward up -c cluster.yml
      kubeward pki renew -c cluster.yml --all --apply --output json
      kubeward pki renew -c cluster.yml etcd-ca --include-cas   # a new CA: before the first `up` only
    """
    from kubeward.phases.pki import plan_rollout

    if not names and not all_leaves:
        raise click.UsageError("name the certificates to renew, or pass --all")
    if apply:
        _refuse_for_apply(names, include_cas)
    loaded = opts.load()
    store = PkiStore.for_config(loaded.config)
    wanted = resolve_renew(loaded.config, names, all_leaves=all_leaves, include_cas=include_cas)
    rollout = plan_rollout(loaded.config, wanted)
    renewed: list[PkiReport] = []

    def do_renew(cfg: LoadedConfig) -> None:
        renewed.append(ensure_pki(cfg.config, store, datetime.now(UTC), wanted))

    if not apply or not rollout.phases:
        with run_lock(loaded):
            do_renew(loaded)
        report = renewed[0]
        if output == "json":
            click.echo(json.dumps({"ok": True, "store": str(store.root), **report.to_dict(),
                                   "rollout": {"phases": list(rollout.phases), "restarts": list(rollout.units),
                                               "local_only": list(rollout.local_only), "applied": False}},
                                  indent=2))
            return
        _print_report(report, store, "kubeward pki renew")
        _print_rollout_hint(rollout, apply)
        return

    from kubeward.cli.up_cmds import execute_run, print_summary, summary_json

    loaded, run = execute_run(opts, (",".join(rollout.phases),), (), True, output, before=do_renew)
    report = renewed[0]
    if output == "json":
        click.echo(json.dumps({"ok": run.ok, "store": str(store.root), **report.to_dict(),
                               "rollout": {"phases": list(rollout.phases), "restarts": list(rollout.units),
                                           "local_only": list(rollout.local_only), "applied": True,
                                           "run": summary_json(loaded, run, True)}}, indent=2))
    else:
        _print_report(report, store, "kubeward pki renew")
        print_summary(loaded, run, True, opts.verbose)
        if not run.ok:
            out.print("[red]renewed in the state directory, but the roll-out did not finish[/]: fix the cause and "
                      "run `kubeward up` (`kubeward pki status` shows which hosts still have the old ones)")
    sys.exit(0 if run.ok else 1)


def _print_rollout_hint(rollout: Rollout, apply: bool) -> None:
    if rollout.local_only:
        out.print(f"used from this machine only (nothing to roll out): {', '.join(rollout.local_only)}")
    if rollout.phases and not apply:
        restarts = f"; restarts {', '.join(rollout.units)} one node at a time" if rollout.units else ""
        out.print(f"not on the hosts yet: `kubeward up` (or `kubeward pki renew ... --apply`, which runs only "
                  f"{', '.join(rollout.phases)}) rolls them out{restarts}")


def register(cli: click.Group) -> None:
    cli.add_command(pki)
