"""`kubeward up` and `kubeward plan`."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Callable

import click
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from kubeward.cli.common import (
    RemoteOptions,
    check_hosts,
    ensure_state_dir,
    remote_options,
    run_lock,
    split_names,
    start_log,
)
from kubeward.config import LoadedConfig
from kubeward.phases.base import RunContext
from kubeward.phases.runner import PHASE_NAMES, PHASES, RunReport, run_phases, select_phases

out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
STATE_STYLE = {"running": "[cyan]…[/]", "ok": "[green]ok[/]", "changed": "[yellow]changed[/]",
               "failed": "[red]FAILED[/]", "": "[dim]-[/]"}




def confirm_fn(yes: bool, live: list[Live]) -> Callable[[str], bool] | None:
    """How `up` asks before what cannot be undone: --yes answers for the operator; without a terminal
    nobody can answer (None: the phase refuses and says so); the live table pauses for the question."""
    if yes:
        return lambda _question: True
    if not sys.stdin.isatty():
        return None

    def ask(question: str) -> bool:
        for lv in live:
            lv.stop()
        try:
            return click.confirm(question, default=False, err=True)
        finally:
            for lv in live:
                lv.start()

    return ask


def execute_run(opts: RemoteOptions, only: tuple[str, ...], skip: tuple[str, ...], apply: bool,
             output: str, host: tuple[str, ...] = (), audit_sweep: bool = False,
             audit_full: bool = False, before: Callable[[LoadedConfig], None] | None = None,
             max_unavailable: int = 1, allow_downgrade: bool = False,
             yes: bool = False) -> tuple[LoadedConfig, RunReport]:
    """Run the phases under the state directory's lock; ``before`` runs first under the same lock
    (`pki renew --apply` renews there)."""
    loaded = opts.load()
    ensure_state_dir(loaded.state_dir)
    phases = select_phases(split_names(only), split_names(skip))
    log_path = start_log(loaded, "up" if apply else "plan")
    hosts = check_hosts(loaded, split_names(host)) or [h.name for h in loaded.config.hosts]
    grid: dict[tuple[str, str], str] = {}
    live_wanted = output == "text" and sys.stdout.isatty()
    report = RunReport([p.name for p in phases], log_path=log_path)

    def render() -> Table:
        t = Table(title=("kubeward up" if apply else "kubeward plan"), title_justify="left")
        t.add_column("host")
        for p in phases:
            t.add_column(p.name)
        for h in hosts:
            t.add_row(h, *[STATE_STYLE.get(grid.get((p.name, h), ""), "?") for p in phases])
        return t

    lives: list[Live] = []

    async def go() -> RunReport:
        async with opts.session(loaded) as session:
            ctx = RunContext(loaded, session, apply, audit_sweep=audit_sweep, audit_full=audit_full,
                             max_unavailable=max_unavailable, allow_downgrade=allow_downgrade,
                             confirm=confirm_fn(yes, lives))
            if live_wanted:
                with Live(render(), console=out, refresh_per_second=8, transient=False) as live:
                    lives.append(live)
                    def progress(phase: str, host: str, state: str) -> None:
                        grid[(phase, host)] = state
                        live.update(render())
                    return await run_phases(ctx, phases, progress, hosts, report)
            return await run_phases(ctx, phases, hosts=hosts, report=report)

    try:
        with run_lock(loaded):
            if before is not None:
                before(loaded)
            asyncio.run(go())
    except KeyboardInterrupt:
        logging.getLogger("kubeward").warning("interrupted (Ctrl-C) during phase %s", report.running or "-")
        _print_interrupted(loaded, report, apply, output)
        sys.exit(130)
    return loaded, report


def _print_interrupted(loaded: LoadedConfig, report: RunReport, apply: bool, output: str) -> None:
    """What an interrupted run did so far, per host and phase, and where hosts may be half-changed."""
    half = report.half_changed(apply)
    if output == "json":
        data = summary_json(loaded, report, apply)
        data["ok"] = False
        data["interrupted"] = {"phase": report.running, "hosts_maybe_half_changed": half}
        click.echo(json.dumps(data, indent=2))
        return
    out.print(f"[red]interrupted[/] (Ctrl-C){f' during phase {report.running}' if report.running else ''}"
              f" after {report.seconds:.1f} s.")
    verb = "changed" if apply else "would change"
    done = [p for p in report.phases if p in report.outcomes]
    if not done:
        out.print("no phase had finished.")
    for h in [x.name for x in loaded.config.hosts if any(x.name in o for o in report.outcomes.values())]:
        parts = []
        for p in done:
            o = report.outcomes[p].get(h)
            if o is not None:
                parts.append(f"{p}: " + ("FAILED" if o.error else f"{len(o.changes)} {verb}" if o.changes
                                         else "no change"))
        out.print(f"  {h}: {'; '.join(parts)}")
    if half:
        out.print(f"[yellow]{report.running} was under way on {', '.join(half)}: these hosts may be "
                  "half-changed.[/] Run `kubeward plan` to see what is left, or `kubeward up` to finish: "
                  "every operation is idempotent.")
    elif apply:
        out.print("no host was left half-changed (the phase under way only reads hosts).")
    out.print(f"log: {report.log_path}")


def summary_json(loaded: LoadedConfig, report: RunReport, apply: bool) -> dict[str, object]:
    hosts = {}
    worked = {h for outs in report.outcomes.values() for h in outs}
    for h in [x for x in loaded.config.hosts if x.name in worked]:
        changes = [
            {"phase": phase, "summary": c.summary, "diff": c.diff}
            for phase, outs in report.outcomes.items() if h.name in outs for c in outs[h.name].changes
        ]
        failed = report.host_failed(h.name)
        hosts[h.name] = {
            "status": "failed" if failed else ("changed" if changes else "unchanged"),
            "changed": report.changed(h.name),
            "unchanged": report.unchanged(h.name),
            "error": failed,
            "changes": changes,
            "notes": report.notes.get(h.name, []),
        }
    return {
        "command": "up" if apply else "plan",
        "ok": report.ok,
        "phases": report.phases,
        "stopped_after": report.stopped_after,
        "seconds": round(report.seconds, 3),
        "log": str(report.log_path),
        "round_trips": report.round_trips,
        "hosts": hosts,
    }


def print_summary(loaded: LoadedConfig, report: RunReport, apply: bool, verbose: int) -> None:
    data = summary_json(loaded, report, apply)
    hosts = data["hosts"]
    assert isinstance(hosts, dict)
    if not apply:
        for name, h in hosts.items():
            if not h["changes"]:
                out.print(f"[green]{name}[/]: no change")
                continue
            out.print(f"[bold]{name}[/]: {len(h['changes'])} change(s)")
            for c in h["changes"]:
                out.print(f"  [yellow]~[/] {escape('[' + c['phase'] + ']')} {escape(c['summary'])}")
                if c["diff"]:
                    for line in c["diff"].rstrip("\n").splitlines():
                        style = "green" if line.startswith("+") else "red" if line.startswith("-") else "dim"
                        out.print(f"      [{style}]{escape(line)}[/]", markup=True)
    for name, h in hosts.items():
        for note in h["notes"]:
            out.print(f"[yellow]note[/] {name}: {escape(note)}")
    table = Table(title="summary", title_justify="left")
    for col in ("host", "status", "changed", "unchanged", "detail"):
        table.add_column(col)
    for name, h in hosts.items():
        st = h["status"]
        color = {"failed": "red", "changed": "yellow"}.get(st, "green")
        phases = sorted({c["phase"] for c in h["changes"]})
        detail = h["error"] or (f"in {', '.join(phases)}" if phases else "")
        table.add_row(name, f"[{color}]{st}[/]", str(h["changed"]), str(h["unchanged"]), escape(detail))
    out.print(table)
    changed = sum(h["changed"] for h in hosts.values())
    verb = "changed" if apply else "would change"
    if report.stopped_after:
        out.print(f"[red]stopped after phase {report.stopped_after}[/]: a host failed there; the other hosts "
                  "finished that phase. Fix the cause and run again: every operation is idempotent.")
    elif changed == 0 and report.ok:
        out.print(f"[green]nothing to change[/]: {len(hosts)} hosts already converged")
    out.print(f"{len(hosts)} hosts, {changed} {verb}, in {report.seconds:.2f} s; log: {report.log_path}")
    if verbose:
        trips = data["round_trips"]
        assert isinstance(trips, dict)
        out.print("SSH round-trips per host: " + ", ".join(f"{k}={v}" for k, v in sorted(trips.items())))


ONLY = click.option("--only", multiple=True, metavar="PHASE[,PHASE]",
                    help=f"Run only these phases ({', '.join(PHASE_NAMES)}); connect is implied.")
SKIP = click.option("--skip", multiple=True, metavar="PHASE", help="Skip these phases.")
OUTPUT = click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
HOST = click.option("--host", multiple=True, metavar="NAME[,NAME]",
                    help="Work on these hosts only (default: all); the others are left untouched.")
MAX_UNAVAILABLE = click.option(
    "--max-unavailable", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
    help="Roll-out of changed Kubernetes binaries: drain and update N workers at a time (control planes "
         "always go one at a time).")
ALLOW_DOWNGRADE = click.option(
    "--allow-downgrade", is_flag=True,
    help="Allow kubernetes.version to be older than what the nodes run (a rollback: workers go first).")


def phases_help() -> str:
    """The phase list for --help, from the runner's table so that it cannot drift."""
    width = max(len(p.name) for p in PHASES)
    return "\b\nPhases, in order:\n" + "\n".join(f"  {p.name:<{width}}  {p.title}" for p in PHASES)


UP_HELP = f"""Converge every host to cluster.yml, phase by phase (below).

Hosts are worked on concurrently; a host that fails lets the others finish the
phase, and the run stops before the next phase. Running again continues from
where things stand: every operation is idempotent, and a converged cluster
reports no change. Exit 0 on success, 1 if any host failed, 75 if another
kubeward run holds the state directory's lock, 130 when interrupted (Ctrl-C:
what was applied so far is printed).

A host removed from cluster.yml is drained, taken out of etcd (refused when
that would break etcd's quorum) and its Node deleted, after a confirmation
naming it (--yes for scripts); to stop its services too, use
`kubeward node remove NAME` before removing it from the file. A host added
to cluster.yml joins; the other hosts only get what must change (firewall
sets, pod routes, the API proxy's backends): `kubeward plan` lists it.

Changed Kubernetes binaries (a new build, or a new kubernetes.version the
version skew policy allows) are staged by `artifacts` and installed by
`rollout`: an etcd snapshot into STATE_DIR/backups/ first, then control
planes one at a time, then workers --max-unavailable at a time, each
cordoned, drained, restarted, Ready again and uncordoned. A node that fails
stops the roll-out and stays cordoned; running `up` again continues there.

{phases_help()}

\b
Example:
  kubeward up -c cluster.yml
  kubeward up -c cluster.yml --only provision --output json
  kubeward up -c cluster.yml --max-unavailable 2
"""

PLAN_HELP = f"""Show, per host, exactly what `kubeward up` would change (diffs for files), changing nothing.

{phases_help()}

\b
Example:
  kubeward plan -c cluster.yml
  kubeward plan -c cluster.yml --output json | jq '.hosts[].changes'
  kubeward plan -c cluster.yml --max-unavailable 2   # the roll-out's batches
"""


@click.command(help=UP_HELP)
@remote_options
@ONLY
@SKIP
@OUTPUT
@HOST
@click.option("--audit-sweep", is_flag=True,
              help="The audit phase also connects to every TCP port of each node from outside (about 8 s a node; "
                   "`kubeward audit` always does).")
@click.option("--audit-full", is_flag=True,
              help="The audit's peer scan probes from every node to every other one (cost: nodes squared), "
                   "not from a rotating sample of sources per pair of roles.")
@MAX_UNAVAILABLE
@ALLOW_DOWNGRADE
@click.option("-y", "--yes", is_flag=True,
              help="Answer yes to the confirmation `up` asks before draining and removing hosts gone from "
                   "cluster.yml (for scripts; without a terminal and without --yes, `up` refuses).")
def up(opts: RemoteOptions, only: tuple[str, ...], skip: tuple[str, ...], output: str,
       host: tuple[str, ...], audit_sweep: bool, audit_full: bool, max_unavailable: int,
       allow_downgrade: bool, yes: bool) -> None:
    loaded, report = execute_run(opts, only, skip, True, output, host, audit_sweep, audit_full,
                              max_unavailable=max_unavailable, allow_downgrade=allow_downgrade, yes=yes)
    if output == "json":
        click.echo(json.dumps(summary_json(loaded, report, True), indent=2))
    else:
        print_summary(loaded, report, True, opts.verbose)
    sys.exit(0 if report.ok else 1)


@click.command(help=PLAN_HELP)
@remote_options
@ONLY
@SKIP
@OUTPUT
@HOST
@MAX_UNAVAILABLE
@ALLOW_DOWNGRADE
def plan(opts: RemoteOptions, only: tuple[str, ...], skip: tuple[str, ...], output: str,
         host: tuple[str, ...], max_unavailable: int, allow_downgrade: bool) -> None:
    loaded, report = execute_run(opts, only, skip, False, output, host, max_unavailable=max_unavailable,
                              allow_downgrade=allow_downgrade)
    if output == "json":
        click.echo(json.dumps(summary_json(loaded, report, False), indent=2))
    else:
        print_summary(loaded, report, False, opts.verbose)
    sys.exit(0 if report.ok else 1)


def register(cli: click.Group) -> None:
    cli.add_command(up)
    cli.add_command(plan)
