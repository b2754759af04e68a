"""`kubeward audit` and the audit phase at the end of `kubeward up`: observe (``audit.probe``), then
evaluate without I/O (``audit.evaluate``)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from kubeward.audit import probe as probe_module
from kubeward.audit.evaluate import (
    AuditInputs,
    ExpectedFile,
    component_skips,
    evaluate,
    firewall_proven,
    port_allowed,
    proof_gaps,
)
from kubeward.audit.evidence import (
    ProofRecord,
    Reuse,
    decide_reuse,
    digest_inputs,
    new_record,
    parse_record,
    proof_refusal,
    render_record,
)
from kubeward.audit.kube_probe import probe_kubernetes
from kubeward.audit.model import AuditReport, Observations
from kubeward.audit.probe import (
    candidate_ports,
    probe_local,
    probe_outside,
    probe_outside_sweep,
    probe_peers,
    probe_ssh_auth,
    probe_tls,
    recheck_filtered,
    render_local_script,
)
from kubeward.audit.sampling import plan_peer_sources
from kubeward.catalog.matrix import build_matrix
from kubeward.config import ClusterConfig, HostConfig, LoadedConfig
from kubeward.fileutil import write_private
from kubeward.firewall.compile import render_ruleset
from kubeward.firewall.paths import RULESET, sha
from kubeward.hostscripts.programs import read_program
from kubeward.ops.base import HostOutcome, Unchanged
from kubeward.ops.sshd import DROPIN
from kubeward.phases.base import Phase, RunContext
from kubeward.remote.openssh import render_known_hosts_for
from kubeward.remote.ssh import Session
from kubeward.remote.targets import targets_for

log = logging.getLogger("kubeward.audit")

#: CA certificates and keys in the state directory (kubeadm-style layout of `kubeward pki`)
CA_FILES = {"ca": "pki/ca", "etcd-ca": "pki/etcd/ca", "front-proxy-ca": "pki/front-proxy-ca",
            "kubelet-signer": "pki/kubelet-signer"}


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


def public_key_fingerprints(key: PublicKeyTypes) -> list[str]:
    """How a node reports this public key (see ``audit.probe``): sha256 of the DER SubjectPublicKeyInfo
    (what `openssl pkey -pubout -outform DER` prints) and of the OpenSSH public key blob."""
    out = [f"spki:{hashlib.sha256(key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).hexdigest()}"]
    try:
        blob = base64.b64decode(key.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).split()[1])
        out.append(f"ssh:{hashlib.sha256(blob).hexdigest()}")
    except ValueError:  # a key type OpenSSH cannot carry
        pass
    return out


def read_ca_material(state_dir: Path) -> tuple[dict[str, x509.Certificate], dict[str, str], dict[str, str]]:
    """CA certificates, sha256 of each CA key file, and each CA key's public key fingerprints."""
    certs: dict[str, x509.Certificate] = {}
    key_shas: dict[str, str] = {}
    fingerprints: dict[str, str] = {}
    for name, stem in CA_FILES.items():
        crt, key = state_dir / f"{stem}.crt", state_dir / f"{stem}.key"
        if crt.exists():
            certs[name] = x509.load_pem_x509_certificate(crt.read_bytes())
            fingerprints.update(dict.fromkeys(public_key_fingerprints(certs[name].public_key()), name))
        if key.exists():
            data = key.read_bytes()
            key_shas[hashlib.sha256(data).hexdigest()] = name
            fingerprints.update(dict.fromkeys(
                public_key_fingerprints(serialization.load_pem_private_key(data, None).public_key()), name))
    return certs, key_shas, fingerprints


def read_login_key(path: Path) -> str:
    """The base64 public key blob of kubeward's own login key (it may be in the SSH user's authorized_keys)."""
    pub = path.with_name(path.name + ".pub")
    try:
        if pub.exists():
            return pub.read_text().split()[1]
        key = serialization.load_ssh_private_key(path.read_bytes(), None)
        return key.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode().split()[1]
    except (OSError, ValueError, IndexError, TypeError):
        return ""


def expected_authorized_keys(config: ClusterConfig, host: HostConfig, login_key: str) -> dict[str, set[str]]:
    """user -> key blobs kubeward expects in its authorized_keys: the admin's key for the admin, kubeward's
    login key for the SSH user; nothing for root or anyone else."""
    out: dict[str, set[str]] = {config.admin.name: {str(config.admin.ssh_public_key).split()[1]}}
    if login_key and host.ssh.user != "root":
        out.setdefault(host.ssh.user, set()).add(login_key)
    return out


def audit_inputs(config: ClusterConfig, ca_key_shas: dict[str, str],
                 ca_key_fingerprints: dict[str, str] | None = None,
                 login_keys: dict[str, str] | None = None) -> AuditInputs:
    inp = AuditInputs(config, build_matrix(config), ca_key_shas=ca_key_shas,
                      ca_key_fingerprints=ca_key_fingerprints or {})
    for h in config.hosts:
        inp.compiled_firewall_sha[h.name] = sha(render_ruleset(config, h))
        inp.expected_files[h.name] = expected_files(config, h)
        allowed = set(CA_FILES) if config.pki.ca_keys_on_nodes and h.is_control_plane else set()
        if h.is_control_plane:  # the controller-manager signs kubelet CSRs with it: it must be there
            allowed.add("kubelet-signer")
        inp.ca_keys_allowed[h.name] = allowed
        inp.authorized_keys[h.name] = expected_authorized_keys(config, h, (login_keys or {}).get(h.name, ""))
    return inp


def read_state_cert_expiry(state_dir: Path) -> list[tuple[str, str]]:
    """(name, not_after) of every certificate in the state directory's PKI (CAs and components)."""
    out = []
    for path in sorted((state_dir / "pki").rglob("*.crt")):
        try:
            cert = x509.load_pem_x509_certificate(path.read_bytes())
        except (OSError, ValueError):
            continue
        out.append((str(path.relative_to(state_dir / "pki")), cert.not_valid_after_utc.isoformat()))
    return out


async def probe_kube(loaded: LoadedConfig, session: Session, obs: Observations) -> None:
    """The API and etcd probes, from the first reachable control plane; a failure is not proven."""
    via = next((h.name for h in loaded.config.hosts if h.is_control_plane and h.name in obs.local), None)
    if via is None:
        obs.could_not("cluster", "kube-api", "no control plane could be audited: RBAC, tokens, CSRs and Secrets "
                      "at rest were not judged")
        return
    try:
        obs.kube = await probe_kubernetes(loaded, session, via)
    except Exception as exc:  # noqa: BLE001 - any failure of the API or etcd leaves this unproven, said
        obs.could_not(via, "kube-api", f"the Kubernetes API / etcd probes failed: {type(exc).__name__}: {exc}")


async def timed(obs: Observations, what: str, probe: Awaitable[None]) -> None:
    """Run one probe and note its wall-clock seconds (``probes.seconds`` in JSON; numbers for bench/)."""
    started = time.monotonic()
    try:
        await probe
    finally:
        obs.seconds[what] = round(time.monotonic() - started, 3)


#: the audit's run counter in the state directory: it rotates the peer scan's sampled sources
RUN_COUNTER = "audit-run"


def next_audit_run(state_dir: Path) -> int:
    """This run's index (0 the first time), counted in the state directory so sources rotate."""
    path = state_dir / RUN_COUNTER
    try:
        run = int(path.read_text().strip() or 0)
    except (OSError, ValueError):
        run = 0
    with contextlib.suppress(OSError):  # a read-only state directory: the sample does not rotate, still a sample
        path.write_text(f"{run + 1}\n")
    return run


def local_script(loaded: LoadedConfig, host: str) -> str:
    return render_local_script([f.path for f in expected_files(loaded.config, loaded.config.host(host))])


#: the last live proof of the outside, peer and SSH probes, for a no-op `up` to reuse (``audit.evidence``)
PROOF_FILE = "audit-proof.json"


def read_proof(state_dir: Path) -> ProofRecord | None:
    try:
        return parse_record((state_dir / PROOF_FILE).read_text())
    except OSError:
        return None


def write_proof(state_dir: Path, record: ProofRecord) -> None:
    """Atomically, 0600 from the start (it lists every node's open ports)."""
    path = state_dir / PROOF_FILE
    try:
        write_private(path, render_record(record))
    except OSError as exc:  # no reuse next time: the probes then run live
        log.warning("cannot record the audit's live proof in %s: %s", path, exc)


def remove_proof(state_dir: Path) -> None:
    try:
        (state_dir / PROOF_FILE).unlink(missing_ok=True)
    except OSError as exc:
        log.warning("cannot remove %s: %s", state_dir / PROOF_FILE, exc)


def probe_code_digest() -> str:
    """kubeward's version and the code of its probes: a record of other probes is not reused."""
    from kubeward import __version__

    h = hashlib.sha256(__version__.encode())
    h.update(Path(probe_module.__file__).read_bytes())
    h.update(read_program("peer_scanner").encode())
    return h.hexdigest()


def proof_inputs(loaded: LoadedConfig, session: Session, operator: str) -> str:
    known = render_known_hosts_for(targets_for(loaded.config), session.trust)
    return digest_inputs(loaded.config.model_dump_json(), operator, known, probe_code_digest())


async def run_audit(loaded: LoadedConfig, session: Session, hosts: Sequence[str] | None = None,
                    cached: Callable[[str], str | None] | None = None, *, sweep: bool = True,
                    full: bool = False, reuse: bool = False) -> AuditReport:
    """``cached(host)``: the local view read earlier in this run, if the host did not change since.

    ``sweep``: also connect to every other TCP port of each node from outside (about 8 s a node: every
    filtered port costs a timeout). `kubeward audit` sweeps; `up` does only with ``--audit-sweep``,
    and its candidate scan still covers every port that listens, the matrix and the usual suspects.

    ``full``: the peer scan probes from every node to every other one; otherwise from a sample of
    sources per pair of roles, rotated by run (``audit.sampling`` says why that proves the rules).

    ``reuse``: the outside, peer and SSH probes of the last live proof stand for this run's when
    every node reports the state it was proven in (``audit.evidence``); the local view, TLS and the
    Kubernetes API are observed live all the same. A live run records its proof for the next one,
    or removes the old record when it may not stand."""
    started = time.monotonic()
    config = loaded.config
    cas, ca_key_shas, ca_fps = read_ca_material(loaded.state_dir)
    inp = audit_inputs(config, ca_key_shas, ca_fps,
                       {h.name: read_login_key(Path(h.ssh.key_path)) for h in config.hosts})
    names = list(hosts) if hosts else [h.name for h in config.hosts]
    obs = Observations(operator_address=operator_address(config))
    await timed(obs, "local", probe_local(config, session, names,
                                          {n: [f.path for f in inp.expected_files[n]] for n in names}, obs, cached))
    now = datetime.now(UTC)
    inputs = proof_inputs(loaded, session, obs.operator_address)
    decision = Reuse(None, "")
    if reuse:
        decision = decide_reuse(read_proof(loaded.state_dir), now=now, inputs=inputs,
                                max_age=timedelta(hours=config.audit.reuse_probes_hours),
                                states={n: lo.state for n, lo in obs.local.items()})
        obs.reuse = decision.why
    obs.state_certs = read_state_cert_expiry(loaded.state_dir)
    kube = [timed(obs, "kube-api", probe_kube(loaded, session, obs))] if config.kubernetes.enabled else []
    if decision.record is not None:
        obs.ports, obs.ssh_auth = list(decision.record.ports), list(decision.record.ssh_auth)
        obs.peer_plan, obs.reused_from = decision.record.plan, decision.record.proved_at.isoformat()
        await asyncio.gather(*kube, timed(obs, "tls", probe_tls(config, inp.matrix, session, obs, cas)))
    else:
        roles = {n: config.host(n).role for n in obs.local}
        proven = firewall_proven(inp, obs)
        plan = plan_peer_sources(roles, run=next_audit_run(loaded.state_dir), full=full,
                                 unproven=set(roles) - proven)
        await asyncio.gather(
            *kube,
            timed(obs, "outside", probe_outside(config, inp.matrix, obs, obs.operator_address)),
            *([timed(obs, "sweep", probe_outside_sweep(config, inp.matrix, obs, obs.operator_address))]
              if sweep else []),
            timed(obs, "peer", probe_peers(config, inp.matrix, session, obs, plan)),
            timed(obs, "tls", probe_tls(config, inp.matrix, session, obs, cas)),
            timed(obs, "ssh-auth", probe_ssh_auth(config, session, obs)),
        )
        await timed(obs, "recheck", recheck_filtered(
            session, obs, lambda p: port_allowed(inp, p.target, p.port, p.protocol, p.source_address)))
    findings = evaluate(inp, obs)
    gaps = proof_gaps(inp, obs)
    if decision.record is None:
        refusal = proof_refusal(obs, findings, gaps, set(names), {h.name for h in config.hosts})
        if refusal is None and config.audit.reuse_probes_hours > 0:
            candidates = {(n, port, proto) for n, lo in obs.local.items() for proto, ranges in (("tcp", True),
                          ("udp", False)) for port in candidate_ports(config, inp.matrix, n, lo, proto, ranges)}
            write_proof(loaded.state_dir, new_record(now, inputs, obs, candidates))
        else:
            remove_proof(loaded.state_dir)
    nodes = [{"name": h.name, "role": h.role, "address": str(h.address), "private_address": str(h.private_address)}
             for h in config.hosts if h.name in names]
    checks = len(obs.ports) + sum(obs.swept.values()) + len(obs.tls) + len(obs.ssh_auth) + sum(
        len(lo.listeners) + len(lo.files) + len(lo.sshd) + 1 for lo in obs.local.values())
    return AuditReport(findings, obs, nodes, time.monotonic() - started, checks, gaps, component_skips(inp, obs))


class Audit(Phase):
    name = "audit"
    title = "Audit what is exposed"
    fail_on = ("critical", "high")

    def facts_script(self, ctx: RunContext, host: str) -> str | None:
        return local_script(ctx.loaded, host)

    async def run_all(self, ctx: RunContext, hosts: Sequence[str]) -> dict[str, HostOutcome]:
        """A high finding fails the host, and so does a check that could not run there: `up` ends with
        the proof, and a proof with a hole is no proof (a warning would let automation read exit 0 as
        "proven"); the reason says what to re-run."""
        # a no-op `up` may reuse the last live proof of the outside, peer and SSH probes; a run that
        # changed a host, or asked for the full mesh or the sweep, probes live
        changed = sorted(ctx.changed_hosts)
        live_because = (f"this run changed {', '.join(changed) if len(changed) <= 3 else f'{len(changed)} hosts'}"
                        if changed else "--audit-full" if ctx.audit_full else "--audit-sweep" if ctx.audit_sweep
                        else "")
        report = await run_audit(ctx.loaded, ctx.session, hosts, lambda h: ctx.prefetched_facts(h, self.name),
                                 sweep=ctx.audit_sweep, full=ctx.audit_full, reuse=not live_because)
        obs = report.observations
        reuse_note = obs.reuse or (f"live probes ({live_because})" if ctx.changed_hosts else "")
        for h in hosts:
            if reuse_note:
                ctx.notes.setdefault(h, []).append("audit: " + reuse_note)
            if obs.peer_plan is not None:
                ctx.notes.setdefault(h, []).append("audit: " + obs.peer_plan.describe())
        if not ctx.audit_sweep:
            for h in hosts:
                ctx.notes.setdefault(h, []).append("audit: outside sweep of every TCP port not run in `up` "
                                                   "(`kubeward audit` or `up --audit-sweep` runs it)")
        out = {}
        for h in hosts:
            bad = [f for f in report.findings if f.node == h and f.severity in self.fail_on]
            gaps = [i for i in report.incomplete if i.node == h]
            for f in report.findings:
                if f.node == h and f.severity not in self.fail_on:
                    ctx.notes.setdefault(h, []).append(f"audit {f.severity} {f.id}: {f.title}")
            errs = [f"{f.id} ({f.severity}): {f.title}" for f in bad]
            errs += [f"not proven ({i.check}): {i.reason}" for i in gaps]
            err = "; ".join(errs) or None
            out[h] = HostOutcome(h, unchanged=[Unchanged("audit", "no high finding, proof complete")] if not err
                                 else [], error=err)
        return out
