"""`kubeward audit` and the audit phase at the end of `kubeward up`: observe (``audit.probe``), then
evaluate without I/O (``audit.evaluate``)."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from cryptography import x509

from kubeward.audit.evaluate import AuditInputs, ExpectedFile, evaluate, port_allowed
from kubeward.audit.model import AuditReport, Observations
from kubeward.audit.probe import (
    probe_local,
    probe_outside,
    probe_outside_sweep,
    probe_peers,
    probe_ssh_auth,
    probe_tls,
    recheck_filtered,
    render_local_script,
)
from kubeward.catalog.matrix import build_matrix
from kubeward.config import ClusterConfig, HostConfig, LoadedConfig
from kubeward.firewall.compile import render_ruleset
from kubeward.ops.base import HostOutcome, Unchanged
from kubeward.ops.sshd import DROPIN
from kubeward.phases.base import Phase, RunContext
from kubeward.phases.firewall import RULESET, sha
from kubeward.remote.ssh import Session

#: CA certificates and keys in the state directory (kubeadm-style layout of `kubeward pki`)
CA_FILES = {"ca": "pki/ca", "etcd-ca": "pki/etcd/ca", "front-proxy-ca": "pki/front-proxy-ca"}


def operator_address(config: ClusterConfig) -> str:
    """The address this machine uses to reach the nodes (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect((str(config.hosts[0].address), 22))
            return str(s.getsockname()[0])
        except OSError:
            return ""


def expected_files(config: ClusterConfig, host: HostConfig) -> list[ExpectedFile]:
    a = config.admin.name
    files = [
        ExpectedFile(DROPIN, "root", 0o644, False),
        ExpectedFile(RULESET, "root", 0o600, False),
        ExpectedFile(f"/etc/sudoers.d/kubeward-{a}", "root", 0o440, False),
        ExpectedFile(f"/home/{a}/.ssh/authorized_keys", a, 0o600, True),
        ExpectedFile("/etc/ssh/ssh_host_ed25519_key", "root", 0o600, True),
    ]
    try:
        from kubeward.pki.nodes import files_for_node
    except ImportError:
        return files
    for f in files_for_node(config, host):
        files.append(ExpectedFile(f.remote_path, f.owner, f.mode, f.mode & 0o077 == 0))
    return files


def read_ca_material(state_dir: Path) -> tuple[dict[str, x509.Certificate], dict[str, str]]:
    certs: dict[str, x509.Certificate] = {}
    key_shas: dict[str, str] = {}
    for name, stem in CA_FILES.items():
        crt, key = state_dir / f"{stem}.crt", state_dir / f"{stem}.key"
        if crt.exists():
            certs[name] = x509.load_pem_x509_certificate(crt.read_bytes())
        if key.exists():
            key_shas[hashlib.sha256(key.read_bytes()).hexdigest()] = name
    return certs, key_shas


def audit_inputs(config: ClusterConfig, ca_key_shas: dict[str, str]) -> AuditInputs:
    inp = AuditInputs(config, build_matrix(config), ca_key_shas=ca_key_shas)
    for h in config.hosts:
        inp.compiled_firewall_sha[h.name] = sha(render_ruleset(config, h))
        inp.expected_files[h.name] = expected_files(config, h)
        inp.ca_keys_allowed[h.name] = set(CA_FILES) if config.pki.ca_keys_on_nodes and h.is_control_plane else set()
    return inp


def local_script(loaded: LoadedConfig, host: str) -> str:
    return render_local_script([f.path for f in expected_files(loaded.config, loaded.config.host(host))])


async def run_audit(loaded: LoadedConfig, session: Session, hosts: Sequence[str] | None = None,
                    cached: Callable[[str], str | None] | None = None) -> AuditReport:
    """``cached(host)``: the local view read earlier in this run, if the host did not change since."""
    started = time.monotonic()
    config = loaded.config
    cas, ca_key_shas = read_ca_material(loaded.state_dir)
    inp = audit_inputs(config, ca_key_shas)
    names = list(hosts) if hosts else [h.name for h in config.hosts]
    obs = Observations(operator_address=operator_address(config))
    await probe_local(config, session, names, {n: [f.path for f in inp.expected_files[n]] for n in names}, obs,
                      cached)
    await asyncio.gather(
        probe_outside(config, inp.matrix, obs, obs.operator_address),
        probe_outside_sweep(config, inp.matrix, obs, obs.operator_address),
        probe_peers(config, inp.matrix, session, obs),
        probe_tls(config, inp.matrix, session, obs, cas),
        probe_ssh_auth(config, session, obs),
    )
    await recheck_filtered(session, obs, lambda p: port_allowed(inp, p.target, p.port, p.protocol, p.source_address))
    findings = evaluate(inp, obs)
    nodes = [{"name": h.name, "role": h.role, "address": str(h.address), "private_address": str(h.private_address)}
             for h in config.hosts if h.name in names]
    checks = len(obs.ports) + sum(obs.swept.values()) + len(obs.tls) + len(obs.ssh_auth) + sum(
        len(lo.listeners) + len(lo.files) + len(lo.sshd) + 1 for lo in obs.local.values())
    return AuditReport(findings, obs, nodes, time.monotonic() - started, checks)


class Audit(Phase):
    name = "audit"
    title = "Audit what is exposed"
    fail_on = ("critical", "high")

    def facts_script(self, ctx: RunContext, host: str) -> str | None:
        return local_script(ctx.loaded, host)

    async def run_all(self, ctx: RunContext, hosts: Sequence[str]) -> dict[str, HostOutcome]:
        report = await run_audit(ctx.loaded, ctx.session, hosts, lambda h: ctx.prefetched_facts(h, self.name))
        out = {}
        for h in hosts:
            bad = [f for f in report.findings if f.node == h and f.severity in self.fail_on]
            for f in report.findings:
                if f.node == h and f.severity not in self.fail_on:
                    ctx.notes.setdefault(h, []).append(f"audit {f.severity} {f.id}: {f.title}")
            err = "; ".join(f"{f.id} ({f.severity}): {f.title}" for f in bad) or None
            out[h] = HostOutcome(h, unchanged=[Unchanged("audit", "no high finding")] if not bad else [], error=err)
        return out
