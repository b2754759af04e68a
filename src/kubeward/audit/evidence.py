"""When a no-op `kubeward up` may reuse the live probes of an earlier run (pure).

The outside, peer and SSH authentication-methods probes are the audit's costly part (every port a
firewall drops costs a timeout, every node an SSH handshake), and what they observe follows from
state each node reports in the facts `up` reads anyway: every nftables table, the listening
sockets (with their inodes, which a restart or an sshd reload changes), addresses, routes and
forwarding sysctls, sshd's configuration and binary (``probe.STATE_SCRIPT``, ``LocalObservation.state``).
So a live run whose probes proved the whole cluster leaves a record (the observations, with each
node's state digests and the digest of the inputs: cluster.yml, the operator's address, the pinned
host keys, kubeward's probe code), and a later no-op `up` whose nodes report the very same digests,
within ``audit.reuse_probes_hours`` of that proof, evaluates those observations again instead of
probing. Everything else (the local view, TLS through SSH, the Kubernetes API) is observed live.

Reuse is refused, and the probes run live, when anything differs or is missing; the record is
written only by a live run that audited every node of cluster.yml, whose proof of those probes is
complete and found nothing on them (a finding is probed again next time, not repeated from a
record), and every other live run removes it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import asdict, astuple, dataclass
from datetime import datetime, timedelta
from typing import Any

from kubeward.audit.model import Finding, Incomplete, Observations, PortProbe, SshAuthProbe
from kubeward.audit.sampling import PeerPlan

PROOF_SCHEMA = "kubeward.audit-proof/v1"
#: the probes a record stands for
REUSED_PROBES = ("outside", "peer", "ssh-auth")
#: what each node reports about the state those probes depend on, in the words of the report
STATE_KEYS = {"ruleset": "ruleset", "sockets": "listening sockets", "net": "addresses and routes",
              "sshd": "sshd configuration", "sshd-bin": "sshd binary"}
#: checks whose gap means the record's probes (or the state they rest on) were not proven
PROOF_CHECKS = frozenset({"local", "outside", "peer", "ssh-auth"})
#: findings of those probes (a recorded proof must have none)
PROBE_FINDINGS = ("KW-EXPOSED-", "KW-BLOCKED-", "KW-SSH-AUTH-METHODS", "KW-SWEEP-")


@dataclass(frozen=True)
class ProofRecord:
    """What a live run proved with the outside, peer and SSH probes, and the state it proved it in."""

    proved_at: datetime
    inputs: str  # digest of cluster.yml, the operator's address, pinned host keys, the probe code
    nodes: Mapping[str, Mapping[str, str]]  # node -> state digests (STATE_KEYS)
    ports: tuple[PortProbe, ...]
    ssh_auth: tuple[SshAuthProbe, ...]
    plan: PeerPlan | None


@dataclass(frozen=True)
class Reuse:
    """The decision for one run: ``record`` when its probes stand, and the sentence that says why."""

    record: ProofRecord | None
    why: str

    @property
    def reused(self) -> bool:
        return self.record is not None


def digest_inputs(config_json: str, operator_address: str, known_hosts: str, code: str) -> str:
    return hashlib.sha256(json.dumps([config_json, operator_address, known_hosts, code]).encode()).hexdigest()


def _when(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S UTC")


def _age(d: timedelta) -> str:
    minutes = int(d.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


def decide_reuse(record: ProofRecord | None, *, now: datetime, max_age: timedelta, inputs: str,
                 states: Mapping[str, Mapping[str, str]]) -> Reuse:
    """Whether ``record`` may stand for this run's outside, peer and SSH probes: same inputs, the
    same nodes reporting the same digests, not older than ``max_age`` (nor from the future)."""
    if max_age <= timedelta(0):
        return Reuse(None, "live probes (reuse is off: audit.reuse_probes_hours is 0)")
    if record is None:
        return Reuse(None, "live probes (no earlier live proof recorded)")
    age = now - record.proved_at
    when = _when(record.proved_at)
    if age > max_age or age < timedelta(minutes=-5):
        return Reuse(None, f"live probes (the live proof of {when} is {_age(age)} old; limit "
                     f"{int(max_age.total_seconds() // 3600)} h)")
    if record.inputs != inputs:
        return Reuse(None, f"live probes (cluster.yml, the operator's address, a pinned host key or kubeward "
                     f"changed since the live proof of {when})")
    if set(record.nodes) != set(states):
        return Reuse(None, f"live probes (the nodes audited differ from those of the live proof of {when})")
    changed = [f"{STATE_KEYS[k]} of {n}" for n in sorted(states) for k in STATE_KEYS
               if not states[n].get(k) or states[n].get(k) != record.nodes[n].get(k)]
    if changed:
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        return Reuse(None, f"live probes ({', '.join(changed[:3])}{more} changed since the live proof of {when})")
    return Reuse(record, f"live probes reused from {when} ({_age(age)} ago): rulesets, listening sockets, "
                 f"addresses and routes, sshd configuration and binary unchanged on all {len(states)} nodes; "
                 "outside, peer and SSH auth-methods probes not re-run (`kubeward audit` or `up --audit-full` "
                 "probe live)")


def proof_refusal(obs: Observations, findings: Sequence[Finding], gaps: Sequence[Incomplete],
                  audited: Set[str], every_node: Set[str]) -> str | None:
    """Why this live run may not be recorded for reuse, or None when it may."""
    if audited != every_node:
        return "not every node of cluster.yml was audited"
    if obs.unreachable or set(obs.local) != every_node:
        return "a node could not be audited"
    if obs.sweep_error:
        return obs.sweep_error
    missing = [n for n, lo in obs.local.items() if any(not lo.state.get(k) for k in STATE_KEYS)]
    if missing:
        return f"{', '.join(sorted(missing))} reported no complete state"
    if any(g.check in PROOF_CHECKS for g in gaps):
        return "an outside, peer, SSH or local probe did not complete"
    if {a.target for a in obs.ssh_auth if a.methods} != every_node:
        return "the SSH auth-methods probe did not answer for every node"
    if any(f.id.startswith(PROBE_FINDINGS) for f in findings):
        return "the live probes found something (it is probed again, not repeated from a record)"
    return None


def new_record(now: datetime, inputs: str, obs: Observations,
               candidates: Set[tuple[str, int, str]]) -> ProofRecord:
    """The record of this run's probes. ``candidates``: (node, port, protocol) of the outside
    candidate scan; answers of the sweep of every other port are left out (`up` does not sweep)."""
    ports = tuple(p for p in obs.ports
                  if p.vantage == "peer" or (p.vantage == "outside" and (p.target, p.port, p.protocol) in candidates))
    return ProofRecord(now, inputs, {n: dict(lo.state) for n, lo in sorted(obs.local.items())}, ports,
                       tuple(obs.ssh_auth), obs.peer_plan)


def render_record(record: ProofRecord) -> str:
    plan = record.plan
    return json.dumps({
        "schema": PROOF_SCHEMA,
        "proved_at": record.proved_at.isoformat(),
        "inputs": record.inputs,
        "nodes": record.nodes,
        # one list per probe, in PortProbe's field order: thousands of them at 30 nodes
        "ports": [list(astuple(p)) for p in record.ports],
        "ssh_auth": [asdict(a) for a in record.ssh_auth],
        "plan": None if plan is None else {
            "mode": plan.mode, "run": plan.run, "per_pair": plan.per_pair,
            "targets": {s: list(t) for s, t in plan.targets.items()},
            "sampled": [[sr, tr, list(s)] for (sr, tr), s in sorted(plan.sampled.items())],
            "full_targets": list(plan.full_targets)},
    }, sort_keys=True, separators=(",", ":")) + "\n"


def _strs(values: Iterable[Any]) -> tuple[str, ...]:
    return tuple(str(v) for v in values)


def _port(x: Sequence[Any]) -> PortProbe:
    vantage, source, source_address, target, address, port, protocol, state = x
    if vantage not in ("outside", "peer"):
        raise ValueError(f"not a probe's vantage: {vantage!r}")
    return PortProbe(vantage, str(source), str(source_address), str(target), str(address), int(port), str(protocol),
                     str(state))


def parse_record(text: str) -> ProofRecord | None:
    """A record as ``render_record`` wrote it; None for anything else (another schema, a damaged
    file): the probes then run live."""
    try:
        d = json.loads(text)
        if not isinstance(d, dict) or d.get("schema") != PROOF_SCHEMA:
            return None
        proved_at = datetime.fromisoformat(d["proved_at"])
        if proved_at.tzinfo is None:
            return None
        p = d["plan"]
        plan = None if p is None else PeerPlan(
            str(p["mode"]), int(p["run"]), int(p["per_pair"]), {str(s): _strs(t) for s, t in p["targets"].items()},
            {(str(sr), str(tr)): _strs(s) for sr, tr, s in p["sampled"]}, _strs(p["full_targets"]))
        return ProofRecord(
            proved_at, str(d["inputs"]),
            {str(n): {str(k): str(v) for k, v in s.items()} for n, s in d["nodes"].items()},
            tuple(_port(x) for x in d["ports"]),
            tuple(SshAuthProbe(str(a["target"]), _strs(a["methods"]), str(a["error"])) for a in d["ssh_auth"]),
            plan)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
