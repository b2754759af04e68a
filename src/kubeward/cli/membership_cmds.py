"""`kubeward node remove NAME`: take one host out of a running cluster (the library does the work:
:mod:`kubeward.phases.node_remove`)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter

import click
from rich.console import Console

from kubeward.cli.common import RemoteOptions, ensure_state_dir, remote_options, run_lock, start_log
from kubeward.cli.up_cmds import summary_json
from kubeward.config import LoadedConfig
from kubeward.config.edit import EditError, write_without_host
from kubeward.errors import KubewardError
from kubeward.phases.departures import DRAIN_TIMEOUT
from kubeward.phases.node_remove import Removal, remove_host, without_host

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


@click.group("node")
def node_group() -> None:
    """Hosts of a running cluster, one at a time.

    To add a host, add it to cluster.yml and run `kubeward up` (`kubeward plan` first
    shows that only the new host and what must follow elsewhere changes).

    \b
    Example:
      kubeward node remove -c cluster.yml kd-w3
    """


REMOVE_HELP = """Take host NAME out of the running cluster, then converge the others without it.

NAME must still be in cluster.yml (kubeward reaches it to stop its services). In order:
cordon and drain its Node (the Eviction API: PodDisruptionBudgets are honoured; pods
no controller would recreate stop the drain unless --force deletes them); for a
control plane, remove its etcd member through another member while it still runs,
then stop its control plane and etcd (its data is moved aside, not deleted); stop and
disable kubeward's services on it (kubelet, kube-proxy, the API proxy, the pod network,
containerd); delete its Node; then run `up`'s phases on the other hosts with the
cluster.yml without NAME (firewall sets, pod routes, the API proxies' backends, the
API servers' --etcd-servers and certificate).

Refused, with the reason, when removing a control plane would break etcd's quorum
or leave no control plane. Asks first, naming every step (--yes for scripts; without
a terminal and without --yes it refuses). NAME keeps its files, firewall and sshd
hardening. Afterwards remove NAME from cluster.yml (or pass --edit-config): until
then `up` adds it back.
Exit 0 when done, 1 on a refusal or failure (the message says what was done).

\b
Example:
  kubeward node remove -c cluster.yml kd-w3
  kubeward node remove -c cluster.yml kd-cp3 --yes --timeout 600 --edit-config -o json
"""


@node_group.command("remove", help=REMOVE_HELP)
@remote_options
@click.argument("name")
@click.option("-y", "--yes", is_flag=True, help="Do not ask (for scripts).")
@click.option("--force", is_flag=True,
              help="Let the drain delete pods that no controller would recreate (their data is lost).")
@click.option("--timeout", type=click.FloatRange(10, 86400), default=DRAIN_TIMEOUT, show_default=True,
              help="Seconds the drain may take (evictions a PodDisruptionBudget refuses are retried until then).")
@click.option("--edit-config", is_flag=True,
              help="Once NAME is out, take its entry out of cluster.yml too (only its lines; the file is checked "
                   "first and left alone when that is not clean).")
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def node_remove(opts: RemoteOptions, name: str, yes: bool, force: bool, timeout: float, edit_config: bool,
                output: str) -> None:
    loaded = opts.load()
    ensure_state_dir(loaded.state_dir)
    log_path = start_log(loaded, "node-remove")
    started = time.monotonic()
    result = Removal(name, "")

    def progress(msg: str) -> None:
        err.print(f"[dim]{time.monotonic() - started:6.1f}s[/] {msg}")

    states: dict[str, dict[str, str]] = {}

    def phase_progress(phase: str, host: str, state: str) -> None:
        if state == "running":
            return
        seen = states.setdefault(phase, {})
        seen[host] = state
        if len(seen) == len(result.converge_hosts):
            counts = Counter(seen.values())
            progress(f"converge: {phase}: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))

    def confirm(question: str) -> bool:
        return click.confirm(question, default=False, err=True)

    ask = (lambda _q: True) if yes else confirm if sys.stdin.isatty() else None

    async def go() -> None:
        async with opts.session(loaded) as session:
            await remove_host(loaded, session, name, confirm=ask, force=force, timeout=timeout, progress=progress,
                              phase_progress=phase_progress, result=result)

    error: str | None = None
    try:
        with run_lock(loaded):
            asyncio.run(go())
    except KubewardError as exc:
        error = str(exc)
    doc = _removal_json(loaded, result, error, str(log_path))
    if edit_config and doc["ok"]:
        try:
            doc["config_removed_lines"] = write_without_host(opts.config_path, name)
            doc["next"] = None
        except (EditError, OSError) as exc:
            doc["next"] = f"{doc['next']} (not edited: {exc})"
    if output == "json":
        click.echo(json.dumps(doc, indent=2))
    else:
        _print_removal(doc)
    sys.exit(0 if doc["ok"] else 1)


def _removal_json(loaded: LoadedConfig, r: Removal, error: str | None, log_path: str) -> dict[str, object]:
    converge = None if r.converge is None else summary_json(without_host(loaded, r.host), r.converge, True)
    departed = r.departures[0].as_dict() if r.departures else None
    ok = error is None and r.ok and departed is not None
    return {
        "command": "node remove",
        "host": r.host,
        "role": r.role,
        "ok": ok,
        "error": error or r.error,
        "steps": r.steps,
        "departure": departed,
        "converged": r.converge_hosts if r.converge is not None else [],
        "not_converged": r.skipped_hosts,
        "converge": converge,
        "seconds": round(r.seconds, 2),
        "log": log_path,
        "next": (f"remove {r.host} from {loaded.filename}: until then `kubeward up` adds it back" if departed else None),
    }


def _print_removal(doc: dict[str, object]) -> None:
    host = doc["host"]
    if doc["error"]:
        out.print(f"[red]error[/]: {doc['error']}")
    departed = doc["departure"]
    if isinstance(departed, dict):
        drain = departed.get("drain")
        if isinstance(drain, dict):
            out.print(f"{host}: drained in {drain['seconds']} s, {len(drain['evicted'])} pod(s) evicted")
        if departed.get("etcd_member_removed"):
            out.print(f"{host}: etcd member {departed['etcd_member_removed']} removed")
        if departed.get("stopped"):
            out.print(f"{host}: stopped and disabled {', '.join(departed['stopped'])}")
        if departed.get("node_deleted"):
            out.print(f"{host}: Node deleted")
    converge = doc["converge"]
    if isinstance(converge, dict):
        hosts = converge["hosts"]
        assert isinstance(hosts, dict)
        for h, v in hosts.items():
            phases = sorted({c["phase"] for c in v["changes"]})
            state = v["error"] or (f"changed in {', '.join(phases)}" if phases else "no change")
            out.print(f"  {h}: {state}")
    for h, why in dict(doc["not_converged"]).items():  # type: ignore[call-overload]
        out.print(f"[yellow]not converged[/] {h} (unreachable: {why}): run `kubeward up` once it is back")
    if doc["ok"]:
        out.print(f"[green]{host} removed[/] in {doc['seconds']} s.")
        if doc.get("config_removed_lines"):
            out.print(f"its entry is out of cluster.yml:\n{doc['config_removed_lines']}".rstrip("\n"))
        if doc["next"]:
            out.print(f"Now {doc['next']}.")
    out.print(f"log: {doc['log']}")


def register(cli: click.Group) -> None:
    cli.add_command(node_group)
