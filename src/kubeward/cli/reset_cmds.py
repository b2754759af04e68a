"""`kubeward reset`."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections import Counter
from pathlib import Path

import click
from rich.console import Console

from kubeward.cli.common import RemoteOptions, check_hosts, remote_options, run_lock, start_log
from kubeward.errors import KubewardError
from kubeward.hostscripts.reset import KINDS
from kubeward.phases.base import RunContext
from kubeward.phases.reset import HostReset, ResetReport, reset_hosts
from kubeward.reset.plan import partial_reset_notes, partial_reset_problem, plan_reset

out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False, soft_wrap=True)

#: how each kind of item reads for people
LABELS = {
    "stop": "stop unit", "disable": "disable unit", "container": "remove container", "netns":
    "remove network namespace", "image": "remove image", "iptables": "remove iptables chain", "unmount": "unmount",
    "file": "remove file", "conffile": "put Debian's version back of", "link": "remove link", "tree": "remove directory tree", "dir": "remove empty directory",
    "nft": "remove nftables table", "route": "remove route", "netdev": "remove network device",
    "user": "remove user", "group": "remove group", "sshd-dropin": "remove the sshd drop-in (guarded)",
}
assert set(LABELS) == set(KINDS)


def _status(r: HostReset, report: ResetReport) -> str:
    if r.error:
        return "failed"
    if not r.items:
        return "unchanged"
    if report.dry_run or r.host not in report.done:
        return "would-reset"
    return "reset"


def summary_json(report: ResetReport, everything: bool, notes: list[str], log_path: Path) -> dict[str, object]:
    hosts = {}
    for h, r in report.result.items():
        hosts[h] = {
            "status": _status(r, report),
            "changed": len(r.items),
            "changes": [{"kind": i.kind, "what": i.what} for i in r.items],
            "kept": r.kept,
            "error": r.error,
            "seconds": round(r.seconds, 3),
        }
    return {
        "command": "reset",
        "dry_run": report.dry_run,
        "all": everything,
        "ok": report.ok,
        "confirmed": report.confirmed,
        "changed": sum(len(r.items) for r in report.done.values()),
        "found": sum(len(r.items) for r in report.checked.values()),
        "seconds": round(report.seconds, 3),
        "log": str(log_path),
        "round_trips": report.round_trips,
        "notes": notes,
        "hosts": hosts,
    }


def _counts(r: HostReset) -> str:
    c = Counter(i.kind for i in r.items)
    return ", ".join(f"{LABELS[k]} x{n}" if n > 1 else LABELS[k] for k, n in c.items())


def _print_items(r: HostReset) -> None:
    for i in r.items:
        out.print(f"  [yellow]-[/] {LABELS[i.kind]} {i.what}")


def _print_report(report: ResetReport, notes: list[str], verbose: int) -> None:
    results = report.result
    for h, r in results.items():
        if r.error:
            out.print(f"[bold]{h}[/]: [red]FAILED[/] {r.error}")
            if r.items:
                out.print(f"  removed before that: {_counts(r)}")
        elif not r.items:
            out.print(f"[green]{h}[/]: nothing to remove")
        elif report.dry_run or h not in report.done:
            out.print(f"[bold]{h}[/]: would remove {len(r.items)}:")
            _print_items(r)
        else:
            out.print(f"[bold]{h}[/]: removed {len(r.items)} in {r.seconds:.1f} s ({_counts(r)})")
            if verbose:
                _print_items(r)
    # what every host keeps once; what one host kept (an account in use, say) under its name
    common = set.intersection(*(set(r.kept) for r in results.values())) if results else set()
    for h, r in results.items():
        for k in r.kept:
            if k not in common:
                out.print(f"[yellow]kept[/] {h}: {k}")
    for k in sorted(common):
        out.print(f"[dim]kept: {k}[/]")
    for n in notes:
        out.print(f"[yellow]note[/] {n}")
    changed = sum(len(r.items) for r in report.done.values())
    if report.ok and not any(r.items for r in results.values()):
        out.print(f"[green]nothing to change[/]: kubeward is not on {len(results)} host(s) (anymore)")
    elif report.dry_run:
        out.print(f"dry run: nothing was changed ({report.seconds:.1f} s)")
    elif report.confirmed:
        out.print(f"{len(report.done)} host(s) reset, {changed} thing(s) removed, in {report.seconds:.1f} s")


RESET_HELP = """Remove from hosts what kubeward installed, and only that.

Per host: its services stopped and disabled (the kubelet first, then the pods
and images of containerd's k8s.io namespace, kube-proxy, the control plane,
etcd, the API proxy, containerd), kubeward's units, drop-ins, configuration
files, binaries and links, the PKI files, the kubelet's and etcd's data,
the iptables chains of the kubelet and kube-proxy, kubeward's nftables
tables (table inet kubeward, table ip kubeward_pods: never another table),
the pod routes, the CNI configuration and bridge. Debian packages, home
directories and other software's units, tables and files stay; so do the
admin account and the sshd hardening, unless --all is given (the sshd
drop-in then goes by a guarded change proven by a fresh SSH login; the admin
account only where kubeward does not log in as it). The state directory
(PKI, keys, host keys) stays, so `kubeward up` installs the cluster again.

First every host is checked (one SSH round-trip: exactly what is there);
then, after confirmation naming the hosts (--yes to skip it; without a
terminal --yes is required), one more round-trip per host removes it. A host
with nothing left reports no change. Resetting some control planes but not
all is refused (etcd would keep members that no longer exist).

\b
Example:
  kubeward reset -c cluster.yml --dry-run
  kubeward reset -c cluster.yml --yes -o json
  kubeward reset -c cluster.yml --host worker-3
  kubeward reset -c cluster.yml --all
"""


@click.command(help=RESET_HELP)
@remote_options
@click.option("--host", multiple=True, metavar="NAME[,NAME]", help="Reset these hosts only (default: all).")
@click.option("--all", "everything", is_flag=True,
              help="Also remove the sshd hardening (guarded) and the admin account (where kubeward does not log in "
                   "as it).")
@click.option("--dry-run", is_flag=True, help="List exactly what would be removed per host; change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def reset(opts: RemoteOptions, host: tuple[str, ...], everything: bool, dry_run: bool, yes: bool,
          output: str) -> None:
    loaded = opts.load()
    config = loaded.config
    hosts = check_hosts(loaded, [x.strip() for v in host for x in v.split(",") if x.strip()]) \
        or [h.name for h in config.hosts]
    problem = partial_reset_problem(config, hosts)
    if problem:
        raise KubewardError(f"refusing to reset: {problem}")
    if not dry_run and not yes and not sys.stdin.isatty():
        raise KubewardError(f"reset removes kubeward and the cluster's data from {', '.join(hosts)}: there is no "
                            "terminal to confirm on, pass --yes (or --dry-run to see what it would remove)")
    plans = {h: plan_reset(config, h, everything=everything) for h in hosts}
    notes = partial_reset_notes(config, hosts)
    log_path = start_log(loaded, "reset")

    def progress(h: str, msg: str) -> None:
        logging.getLogger("kubeward.reset").info("%s: %s", h, msg)
        if output == "text":
            err.print(f"[dim]{h}: {msg}[/]")

    async def confirm(checked: dict[str, HostReset]) -> bool:
        if yes:
            return True
        todo = {h: r for h, r in checked.items() if r.items and not r.error}
        for h, r in todo.items():
            err.print(f"{h}: {len(r.items)} to remove ({_counts(r)})")
        failed = [h for h, r in checked.items() if r.error]
        if failed:
            err.print(f"[red]not reset (check failed): {', '.join(failed)}[/]")
        question = (f"Reset {', '.join(todo)}: stop kubeward's services and remove them with the cluster's data"
                    f"{' and the sshd hardening and admin account' if everything else ''}?")
        return await asyncio.to_thread(click.confirm, question, default=False, err=True)

    async def go() -> ResetReport:
        async with opts.session(loaded, hosts) as session:
            ctx = RunContext(loaded, session, apply=not dry_run)
            session.read_only = dry_run
            return await reset_hosts(ctx, plans, dry_run=dry_run, confirm=confirm, progress=progress)

    try:
        with run_lock(loaded):
            report = asyncio.run(go())
    except KeyboardInterrupt:
        logging.getLogger("kubeward.reset").warning("interrupted (Ctrl-C)")
        err.print("[red]interrupted[/] (Ctrl-C): hosts being reset may be half-reset; run `kubeward reset` again to "
                  f"finish (every step only removes what is still there). log: {log_path}")
        sys.exit(130)
    declined = not dry_run and not report.confirmed and any(r.items and not r.error for r in report.checked.values())
    if output == "json":
        click.echo(json.dumps(summary_json(report, everything, notes, log_path), indent=2))
    else:
        _print_report(report, notes, opts.verbose)
        if declined:
            out.print("[yellow]not confirmed: nothing was changed[/]")
        out.print(f"log: {log_path}")
    sys.exit(0 if report.ok and not declined else 1)


def register(cli: click.Group) -> None:
    cli.add_command(reset)
