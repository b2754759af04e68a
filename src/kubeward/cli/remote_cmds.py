"""`kubeward preflight` and `kubeward trust`."""

from __future__ import annotations

import asyncio
import json
import sys

import click
from rich.console import Console
from rich.table import Table

from kubeward.cli.common import RemoteOptions, check_hosts, ensure_state_dir, remote_options, run_lock
from kubeward.errors import RemoteError
from kubeward.phases.preflight import PreflightReport, run_preflight
from kubeward.preflight.checks import CHECKS
from kubeward.remote.known_hosts import HostKey
from kubeward.remote.ssh import HostKeyError, Session

out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False, soft_wrap=True)
MARK = {"pass": "[green]✓[/]", "warn": "[yellow]![/]", "fail": "[red]✗[/]", "skip": "[dim]-[/]"}


@click.command()
@remote_options
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def preflight(opts: RemoteOptions, output: str) -> None:
    """Check every host against kubeward's host requirements (read-only).

    Gathers each host's facts in one SSH round-trip, all hosts at once, then
    has every node connect to every other on its private address. Exits 0 when
    nothing fails (warnings allowed), 1 otherwise.

    \b
    Example:
      kubeward preflight -c cluster.yml
      kubeward preflight -c cluster.yml --output json | jq '.results[] | select(.status=="fail")'
    """
    loaded = opts.load()
    ensure_state_dir(loaded.state_dir)

    async def go() -> PreflightReport:
        async with opts.session(loaded) as session:
            return await run_preflight(loaded.config, session)

    with run_lock(loaded):
        report = asyncio.run(go())
    if output == "json":
        click.echo(json.dumps({
            "ok": report.ok,
            "seconds": round(report.seconds, 3),
            "unreachable": report.unreachable,
            "results": [r.as_dict() for r in report.results],
            "round_trips": report.round_trips,
        }, indent=2))
    else:
        _print_report(report, [h.name for h in loaded.config.hosts], opts.verbose)
    sys.exit(0 if report.ok else 1)


def _print_report(report: PreflightReport, hosts: list[str], verbose: int) -> None:
    table = Table(title="preflight", title_justify="left")
    table.add_column("host")
    for c in CHECKS:
        table.add_column(c.short, justify="center")
    by_host: dict[str, dict[str, str]] = {h: {} for h in hosts}
    for r in report.results:
        by_host[r.host][r.check] = r.status
    for h in hosts:
        if h in report.unreachable:
            table.add_row(f"[red]{h}[/]", *["[red]?[/]"] * len(CHECKS))
        else:
            table.add_row(h, *[MARK.get(by_host[h].get(c.id, "skip"), "?") for c in CHECKS])
    out.print(table)
    for h, why in report.unreachable.items():
        out.print(f"[red]✗ {h}: unreachable[/] — {why}")
    for r in report.results:
        if r.status in ("fail", "warn") or verbose:
            color = {"fail": "red", "warn": "yellow"}.get(r.status, "green")
            line = f"[{color}]{r.status:4}[/] {r.host} {r.check}: {r.observed}"
            if r.message:
                line += f" — {r.message}"
            out.print(line)
    fails = sum(r.status == "fail" for r in report.results) + len(report.unreachable)
    warns = sum(r.status == "warn" for r in report.results)
    out.print(f"{len(hosts)} hosts, {fails} failed, {warns} warnings, in {report.seconds:.2f} s")
    if verbose:
        trips = ", ".join(f"{h}={n}" for h, n in sorted(report.round_trips.items()))
        out.print(f"SSH round-trips per host (connection + commands): {trips}")


@click.command()
@remote_options
@click.option("--replace", is_flag=True,
              help="Forget the recorded key of the named hosts first (after a legitimate re-key).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation with --replace.")
@click.argument("hosts", nargs=-1)
def trust(opts: RemoteOptions, replace: bool, yes: bool, hosts: tuple[str, ...]) -> None:
    """Record the SSH host keys of hosts in kubeward's known_hosts.

    Connects to each host (all of them when none is named), shows the key's
    fingerprint and records it. A key that differs from a recorded one is
    refused unless --replace is given for that host: then both fingerprints,
    recorded and presented, are shown before asking, and exactly the key shown
    is recorded. A key that differs from a pin in cluster.yml is always refused
    (edit the pin instead).

    \b
    Example:
      kubeward trust -c cluster.yml
      kubeward trust -c cluster.yml --replace node-2
    """
    loaded = opts.load()
    ensure_state_dir(loaded.state_dir)
    names = check_hosts(loaded, list(hosts)) or [h.name for h in loaded.config.hosts]
    session = opts.session(loaded, names)
    session.trust.trust_new = True

    async def go(s: Session) -> dict[str, RemoteError | None]:
        async with s:
            return await s.connect_all()

    with run_lock(loaded):
        results = asyncio.run(go(session))
        changed = {n: e.decision for n, e in results.items()
                   if isinstance(e, HostKeyError) and e.decision.verdict == "changed"}
        if replace and changed:
            # both keys before the question: the operator compares the new one with what they verified
            for n, d in changed.items():
                t = session.targets[n]
                for old in session.trust.recorded(t):
                    err.print(f"{n} {t.pattern}: recorded {old.key.type} {old.key.fingerprint}")
                err.print(f"{n} {t.pattern}: presents [bold]{d.presented.type} {d.presented.fingerprint}[/]")
            if not yes:
                click.confirm("Replace the recorded keys with the keys the hosts present now?", abort=True)
            for n, d in changed.items():
                session.trust.forget(session.targets[n])
                session.trust.remember(session.targets[n], d.presented)
            results.update(asyncio.run(go(opts.session(loaded, list(changed)))))  # proof: they connect now
    failed = False
    for n in names:
        err_ = results.get(n)
        t = session.targets[n]
        if err_ is None:
            if t.host_key:
                out.print(f"[green]✓[/] {n} {t.pattern}: pinned in cluster.yml ({HostKey.parse(t.host_key).fingerprint})")
            else:
                fp = ", ".join(k.key.fingerprint for k in session.trust.recorded(t))
                out.print(f"[green]✓[/] {n} {t.pattern}: trusted {fp}")
        else:
            failed = True
            out.print(f"[red]✗[/] {err_}")
    sys.exit(1 if failed else 0)


def register(cli: click.Group) -> None:
    cli.add_command(preflight)
    cli.add_command(trust)
