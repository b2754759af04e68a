"""`kubeward audit`: prove what is exposed, from outside, from peer nodes and on each node."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from kubeward.audit.model import SEVERITIES, AuditReport, Severity
from kubeward.audit.report import render_html
from kubeward.catalog.matrix import build_matrix
from kubeward.cli.common import RemoteOptions, check_hosts, ensure_state_dir, remote_options, run_lock
from kubeward.errors import KubewardError
from kubeward.phases.audit import run_audit
from kubeward.remote.ssh import ConnectError
from kubeward.runlock import RunLocked

out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
STYLE = {"critical": "bold magenta", "high": "bold red", "medium": "yellow", "low": "cyan", "info": "dim"}


def print_report(report: AuditReport) -> None:
    by_node: dict[str, list[object]] = {}
    for f in report.findings:
        by_node.setdefault(f.node, []).append(f)
    table = Table(title="kubeward audit", title_justify="left")
    for col in ("node", "severity", "id", "port", "vantage", "observed", "fix"):
        table.add_column(col, overflow="fold")
    for f in report.findings:
        port = "" if f.port is None else f"{f.port}/{f.protocol}"
        table.add_row(f.node, f"[{STYLE[f.severity]}]{f.severity}[/]", f.id, port, f.vantage or "",
                      f"{f.title}: {f.observed}", f.fix)
    if report.findings:
        out.print(table)
    if report.incomplete:
        gaps = Table(title="not proven: checks that could not run", title_justify="left")
        for col in ("node", "check", "reason"):
            gaps.add_column(col, overflow="fold")
        for i in report.incomplete:
            gaps.add_row(i.node, i.check, i.reason)
        out.print(gaps)
    if report.skipped:  # grouped: the same check skipped for the same reason on many nodes is one line
        groups: dict[tuple[str, str], list[str]] = {}
        for s in report.skipped:
            groups.setdefault((s.id, s.reason), []).append(s.node)
        out.print("skipped, not for the running version: " + "; ".join(
            f"{i} ({why}) on {', '.join(sorted(set(nodes)))}" for (i, why), nodes in sorted(groups.items())))
    counts = report.counts()
    summary = ", ".join(f"[{STYLE[s]}]{counts[s]} {s}[/]" for s in SEVERITIES if counts[s])
    verdict = summary or ("[green]no findings[/]" if report.complete else "no findings")
    if not report.complete:
        verdict += f"; [bold yellow]proof incomplete[/]: {len(report.incomplete)} check(s) could not run"
    if report.observations.peer_plan is not None:
        out.print(report.observations.peer_plan.describe())
    out.print(f"{len(report.nodes)} nodes, {report.checks_run} observations in {report.seconds:.2f} s: {verdict}")


@click.command()
@remote_options
@click.option("-o", "--output", type=click.Choice(["text", "json", "html"]), default="text", show_default=True)
@click.option("--file", "out_file", type=click.Path(path_type=Path), help="Write the report here (html: required).")
@click.option("--fail-on", type=click.Choice(SEVERITIES), default="high", show_default=True,
              help="Exit 1 when a finding is at this severity or above.")
@click.option("--host", multiple=True, help="Audit only these nodes.")
@click.option("--no-sweep", is_flag=True, help="Skip the sweep of every TCP port from outside (the candidate "
              "ports are still scanned): faster, but a port opened by a DNAT could hide.")
@click.option("--full", is_flag=True, help="The peer scan probes from every node to every other one (cost: "
              "nodes squared), not from a rotating sample of sources per pair of roles.")
def audit(opts: RemoteOptions, output: str, out_file: Path | None, fail_on: Severity, host: tuple[str, ...],
          no_sweep: bool, full: bool) -> None:
    """Scan what is really exposed and report every deviation from the port matrix.

    Three vantage points, all at once: from this machine to every node's public
    address, from every node to the others on the private network, and on each
    node (listeners, sshd -T, key modes, the firewall table). Also TLS versions,
    certificate chains and SANs, client-certificate enforcement, and anonymous
    HTTP answers (only 401 passes). Exit 0: nothing at --fail-on or above and
    every check ran; 1: findings at --fail-on or above; 2: the audit could not
    run; 3: no such finding, but some check or vantage point could not run
    (listed as "not proven"), so the proof is incomplete; 75: another kubeward
    run holds the lock (try again later).

    \b
    Example:
      kubeward audit -c cluster.yml
      kubeward audit -c cluster.yml --output html --file audit.html
      kubeward audit -c cluster.yml --output json --fail-on medium | jq .counts
    """
    try:
        loaded = opts.load()
        ensure_state_dir(loaded.state_dir)
        names = check_hosts(loaded, list(host)) or None

        async def go() -> AuditReport:
            async with opts.session(loaded, names) as session:
                # a key or agent problem here is not a finding about a host: the audit cannot run
                errors = await session.connect_all(names)
                local = [e for e in errors.values() if isinstance(e, ConnectError) and e.local]
                if local:
                    raise local[0]
                return await run_audit(loaded, session, names, sweep=not no_sweep, full=full)

        with run_lock(loaded):
            report = asyncio.run(go())
    except RunLocked:
        raise  # its own exit status: try again later
    except KubewardError as exc:
        click.echo(f"error: audit could not run: {exc}", err=True)
        sys.exit(2)
    if output == "json":
        text = json.dumps(report.to_dict(), indent=2)
        if out_file:
            out_file.write_text(text)
        else:
            click.echo(text)
    elif output == "html":
        if out_file is None:
            raise click.UsageError("--output html needs --file FILE")
        out_file.write_text(render_html(report, build_matrix(loaded.config), loaded.config.name))
        print_report(report)
        out.print(f"report: {out_file}")
    else:
        print_report(report)
    sys.exit(report.exit_code(fail_on))


def register(cli: click.Group) -> None:
    cli.add_command(audit)
