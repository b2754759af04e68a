"""The preflight phase: gather every host's facts (one round-trip), probe the private network
between nodes (a second round-trip), and evaluate (pure, in ``kubeward.preflight.checks``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from kubeward.config import ClusterConfig
from kubeward.errors import RemoteError
from kubeward.preflight.checks import HostInput, Result, evaluate
from kubeward.preflight.facts import (
    Facts,
    parse_facts,
    parse_probe_output,
    render_facts_script,
    render_probe_script,
)
from kubeward.remote.ssh import Session


@dataclass
class PreflightReport:
    results: list[Result]
    unreachable: dict[str, str] = field(default_factory=dict)  # host -> reason
    round_trips: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.unreachable and all(r.status != "fail" for r in self.results)


def preflight_facts_script(config: ClusterConfig, host: str) -> str:
    h = config.host(host)
    return render_facts_script(config.admin.name, config.admin.uid, str(h.private_address), len(config.hosts) - 1)


async def run_preflight(
    config: ClusterConfig,
    session: Session,
    hosts: Sequence[str] | None = None,
    cached: Callable[[str], tuple[str, tuple[float, float]] | None] | None = None,
) -> PreflightReport:
    """``cached(host)`` may give the facts output (and the round-trip's time window) read earlier."""
    started = time.monotonic()
    names = list(hosts) if hosts is not None else [h.name for h in config.hosts]

    async def gather(name: str) -> tuple[Facts, tuple[float, float]]:
        pre = cached(name) if cached else None
        if pre is not None:
            return parse_facts(pre[0]), pre[1]
        script = preflight_facts_script(config, name)
        await session.connect(name)
        before = time.time()
        res = await session.run(name, script, sudo=False, check=False, timeout=60, reads_only=True)
        after = time.time()
        return parse_facts(res.stdout), (before, after)

    gathered = await session.each(gather, names)
    facts: dict[str, tuple[Facts, tuple[float, float]]] = {}
    unreachable: dict[str, str] = {}
    for name, res in gathered.items():
        if isinstance(res, RemoteError):
            unreachable[name] = str(res)
        elif isinstance(res, BaseException):
            raise res
        else:
            facts[name] = res

    # active check: every reachable node connects to every other reachable node's listener
    endpoints = {}
    via = {}
    for name, (f, _) in facts.items():
        addr = str(config.host(name).private_address)
        endpoints[name] = (addr, f.listener_port or 22)
        via[name] = "listener" if f.listener_port else "sshd"

    async def probe(name: str) -> dict[str, bool]:
        targets = [ep for other, ep in endpoints.items() if other != name]
        if not targets:
            return {}
        res = await session.run(name, render_probe_script(targets), sudo=False, check=False, timeout=30, reads_only=True)
        return parse_probe_output(res.stdout)

    probed = await session.each(probe, list(facts)) if len(facts) > 1 else {}
    inputs = []
    for h in [config.host(n) for n in names]:
        if h.name in facts:
            f, t = facts[h.name]
            p = probed.get(h.name)
            # peers that were unreachable over SSH are reported as such, not probed
            peers_seen = p if isinstance(p, dict) else None
            inputs.append(HostInput(h, f, t, peers_seen, via.get(h.name, "listener")))
        else:
            inputs.append(HostInput(h, None, error=unreachable.get(h.name)))
    results = evaluate(config, inputs)
    return PreflightReport(results, unreachable, dict(session.round_trips), time.monotonic() - started)
