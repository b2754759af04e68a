"""`kubeward check` (end-to-end smoke test) and `kubeward csr list|approve|deny` (kubelet CSRs by
kubeward's strict serving policy)."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click
from lightkube import AsyncClient
from rich.console import Console
from rich.table import Table

from kubeward.cli.common import RemoteOptions, ensure_state_dir, remote_options
from kubeward.cli.kube_cmds import find_kubectl, render_admin_kubeconfig
from kubeward.config import LoadedConfig
from kubeward.errors import KubewardError, RemoteError
from kubeward.fileutil import write_private
from kubeward.remote.ssh import Session

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
T = TypeVar("T")


async def _connect_control_plane(opts: RemoteOptions, loaded: LoadedConfig, all_hosts: bool) -> tuple[Session, str]:
    names = [h.name for h in loaded.config.hosts] if all_hosts else [h.name for h in loaded.config.control_planes]
    session = opts.session(loaded, names)
    errors = []
    for cp in (h.name for h in loaded.config.control_planes):
        try:
            await session.connect(cp)
            return session, cp
        except RemoteError as exc:
            errors.append(str(exc))
    await session.close()
    raise KubewardError("no control plane reachable: " + "; ".join(errors))


def _with_client(opts: RemoteOptions, fn: Callable[[LoadedConfig, AsyncClient], Awaitable[T]]) -> T:
    from kubeward.kube.client import api_client

    loaded = opts.load()
    ensure_state_dir(loaded.state_dir)

    async def go() -> T:
        session, cp = await _connect_control_plane(opts, loaded, all_hosts=False)
        try:
            async with api_client(session, loaded.config, loaded.state_dir, cp, "cluster-admin") as client:
                return await fn(loaded, client)
        finally:
            await session.close()

    return asyncio.run(go())


@click.group("csr")
def csr_group() -> None:
    """Kubelet certificate signing requests, judged by kubeward's serving policy.

    A kubernetes.io/kubelet-serving CSR is approved only when its requester is
    system:node:NAME in system:nodes, NAME is a host of cluster.yml, CN equals the requester,
    the usages are exactly server auth (+ digital signature, key encipherment) and every DNS
    and IP SAN is that host's name or one of its addresses in cluster.yml; anything else is
    denied with the reason. `kubeward up` does this for pending CSRs by itself.

    \b
    Example:
      kubeward csr list -c cluster.yml
      kubeward csr approve -c cluster.yml          # decide every pending serving CSR
      kubeward csr deny -c cluster.yml csr-abcde   # deny one, whatever it asks for
    """


@csr_group.command("list")
@remote_options
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
def csr_list(opts: RemoteOptions, output: str) -> None:
    """Every CSR with its state and, for pending serving CSRs, the policy's verdict.

    \b
    Example:
      kubeward csr list -c cluster.yml -o json | jq '.[] | select(.state == "Pending")'
    """
    from kubeward.kube.client import list_csrs
    from kubeward.kube.csr_policy import SERVING_SIGNER, decide_serving_csr
    from kubeward.phases.nodes import inventory

    async def fn(loaded: LoadedConfig, client: AsyncClient) -> list[dict[str, object]]:
        inv = inventory(loaded.config)
        rows: list[dict[str, object]] = []
        for c in await list_csrs(client):
            verdict = ""
            if c.signer == SERVING_SIGNER and c.state == "Pending":
                d = decide_serving_csr(c, inv)
                verdict = ("approve: " if d.approve else "deny: ") + d.reason
            rows.append({"name": c.name, "signer": c.signer, "requester": c.username, "state": c.state,
                         "issued": c.issued, "policy": verdict})
        return rows

    rows = _with_client(opts, fn)
    if output == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table("name", "signer", "requester", "state", "policy")
    for r in rows:
        table.add_row(str(r["name"]), str(r["signer"]), str(r["requester"]),
                      f"{r['state']}{', issued' if r['issued'] else ''}", str(r["policy"]))
    out.print(table)


def _decide(opts: RemoteOptions, names: tuple[str, ...], output: str, force_deny: bool) -> None:
    from kubeward.kube.client import decide_csr, list_csrs
    from kubeward.kube.csr_policy import SERVING_SIGNER, Decision, decide_serving_csr
    from kubeward.phases.nodes import inventory

    async def fn(loaded: LoadedConfig, client: AsyncClient) -> list[Decision]:
        inv = inventory(loaded.config)
        csrs = {c.name: c for c in await list_csrs(client)}
        unknown = [n for n in names if n not in csrs]
        if unknown:
            raise KubewardError(f"no CSR called {', '.join(unknown)} (kubeward csr list)")
        chosen = [csrs[n] for n in names] if names else [c for c in csrs.values()
                                                          if c.state == "Pending" and c.signer == SERVING_SIGNER]
        decisions = []
        for c in chosen:
            if c.state != "Pending":
                raise KubewardError(f"{c.name} is {c.state} already")
            if force_deny:
                d = Decision(c.name, False, "denied by the operator (kubeward csr deny)")
            elif c.signer != SERVING_SIGNER:
                raise KubewardError(f"{c.name} is for {c.signer}: kubeward approves kubelet-serving CSRs only")
            else:
                d = decide_serving_csr(c, inv)
            await decide_csr(client, d.csr, d.approve, d.reason)
            decisions.append(d)
        return decisions

    decisions = _with_client(opts, fn)
    if output == "json":
        click.echo(json.dumps([{"name": d.csr, "approved": d.approve, "node": d.node, "reason": d.reason}
                               for d in decisions], indent=2))
    else:
        for d in decisions:
            out.print(f"{d.csr}: {'[green]approved[/]' if d.approve else '[red]denied[/]'} ({d.reason})")
        if not decisions:
            out.print("no pending kubelet-serving CSR")


@csr_group.command("approve")
@remote_options
@click.argument("names", nargs=-1)
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
def csr_approve(opts: RemoteOptions, names: tuple[str, ...], output: str) -> None:
    """Decide pending kubelet-serving CSRs (NAMES, default all) by the policy: a CSR the policy
    refuses is denied, never approved.

    \b
    Example:
      kubeward csr approve -c cluster.yml
    """
    _decide(opts, names, output, force_deny=False)


@csr_group.command("deny")
@remote_options
@click.argument("names", nargs=-1, required=True)
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
def csr_deny(opts: RemoteOptions, names: tuple[str, ...], output: str) -> None:
    """Deny pending CSRs by name.

    \b
    Example:
      kubeward csr deny -c cluster.yml csr-abcde
    """
    _decide(opts, names, output, force_deny=True)


@click.command("check")
@remote_options
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
def check_cmd(opts: RemoteOptions, output: str) -> None:
    """End-to-end smoke test: nodes Ready, a pod on every node, pod-to-pod by pod IP, a ClusterIP
    and a NodePort Service (from an allowed and, when this machine is not in nodeport_sources, a
    disallowed source), kubectl logs and exec; its namespace is deleted afterwards. Exit 1 on a
    failed check.

    \b
    Example:
      kubeward check -c cluster.yml
      kubeward check -c cluster.yml -o json | jq .checks
    """
    from kubeward.kube.check import run_check

    loaded = opts.load()
    ensure_state_dir(loaded.state_dir)
    kubectl = find_kubectl(loaded)

    def write_kubeconfig(port: int) -> Path:
        path = loaded.state_dir / f".check-{port}.kubeconfig"
        write_private(path, render_admin_kubeconfig(loaded, port))
        return path

    def progress(msg: str) -> None:
        if output != "json":
            err.print(f"[dim]{msg}[/]")

    async def go() -> dict[str, object]:
        session, cp = await _connect_control_plane(opts, loaded, all_hosts=True)
        try:
            await session.connect_all([h.name for h in loaded.config.hosts])
            report = await run_check(loaded, session, kubectl, cp, write_kubeconfig, progress)
            return report.to_json()
        finally:
            await session.close()

    doc = asyncio.run(go())
    if output == "json":
        click.echo(json.dumps(doc, indent=2))
    else:
        table = Table("check", "result", "detail")
        colour = {"pass": "green", "fail": "red", "skip": "yellow"}
        checks = doc["checks"]
        assert isinstance(checks, list)
        for c in checks:
            table.add_row(c["name"], f"[{colour[c['status']]}]{c['status']}[/]", c["detail"])
        out.print(table)
        out.print("[green]cluster works[/]" if doc["ok"] else "[red]check failed[/]")
    sys.exit(0 if doc["ok"] else 1)


def register(cli: click.Group) -> None:
    cli.add_command(csr_group)
    cli.add_command(check_cmd)
