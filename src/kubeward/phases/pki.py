"""The pki phase: issue or refresh the PKI locally (once per run), then give each host exactly the
files its role needs (keys 0600, owned by the service that reads them).

Files are written on every host at once: a renewed leaf is signed by the same CA as the one it
replaces, so old and new are both valid while the services pick them up. Each file changed here is
recorded in ``RunContext.changed_files``; a running component that reads one (``Component.reads``:
etcd, kube-apiserver, kube-controller-manager, kube-scheduler) is restarted by its own restart policy
(one node at a time, each healthy before the next): by its phase later in the run, or here when that
phase is not part of the run. The API servers' restarts keep the API available: every node's API
proxy takes an API server out while it fails /readyz (see ``render_haproxy_config``). A CA certificate is never replaced on a host whose services trust the
one it has: that would be a CA rotation, which kubeward does not do (see :class:`CaCertificate`).
CA keys stay on the operator's machine unless pki.ca_keys_on_nodes is set."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from kubeward.components.certificates import installed_certs
from kubeward.components.control_plane import ControlPlaneInputs, api_proxy_component, control_plane_components
from kubeward.components.etcd import etcd_component
from kubeward.components.plan import reads_reason, restart_manner
from kubeward.components.spec import Component
from kubeward.config import ClusterConfig
from kubeward.errors import KubewardError, RemoteError
from kubeward.etcd.config import new_cluster_bootstrap
from kubeward.ops.base import Change, HostOutcome, Op, Outcome, Refusal
from kubeward.ops.ops import AbsentFile, Directory, File, SystemUser, parse_stat_fact
from kubeward.phases.base import OpsPhase, RunContext
from kubeward.phases.component import restart_components
from kubeward.phases.control_plane import read_inputs
from kubeward.pki.installed import HostCerts, assess_host, render_installed_script
from kubeward.pki.nodes import RETIRED_NODE_FILES, files_for_node
from kubeward.pki.store import PkiStore, ensure_pki
from kubeward.pki.table import ROWS, desire, desired_certs
from kubeward.remote.ssh import Session

#: services that trust the CAs on a node once they run
TRUSTING_UNITS = ("etcd", "kube-apiserver", "kubelet")
_ACTIVE = "active:"


@dataclass(frozen=True)
class CaCertificate:
    """A CA certificate on a host: created when missing, never replaced while a service that trusts
    the one on the host runs (a new CA there would be a CA rotation: every certificate the old one
    signed, and every kubelet's, would stop verifying at once)."""

    file: File
    ca: str  # the row: ca, etcd-ca, front-proxy-ca, kubelet-signer

    @property
    def id(self) -> str:
        return self.file.id

    def fact_script(self) -> str:
        units = " ".join(TRUSTING_UNITS)
        return (f"printf '{_ACTIVE}'; for u in {units}; do systemctl is-active -q \"$u\" 2>/dev/null && "
                f"printf ' %s' \"$u\"; done; echo\n{self.file.fact_script()}")

    def evaluate(self, fact: str) -> list[Outcome]:
        first, _, rest = fact.partition("\n")
        active = first.removeprefix(_ACTIVE).split() if first.startswith(_ACTIVE) else []
        st = parse_stat_fact(rest)
        other = st is not None and st.kind.startswith("regular") and \
            st.sha256 != hashlib.sha256(self.file.content).hexdigest()
        if other and active:
            return [Refusal(self.id, (
                f"{self.file.path} is another {self.ca} than the state directory's, and the services running "
                f"there ({', '.join(active)}) trust the one on the host; kubeward does not rotate a CA on a running cluster (every "
                f"certificate it signed would stop verifying at once). If `kubeward pki renew {self.ca} "
                "--include-cas` made a new one, put the previous CA (its .crt and .key) back into the state "
                "directory's pki/ from a backup; if this cluster.yml points at another cluster's hosts, fix "
                "its state_dir"))]
        return self.file.evaluate(rest)


class Pki(OpsPhase):
    name = "pki"
    title = "Distribute certificates"

    async def prepare(self, ctx: RunContext) -> None:
        store = PkiStore.for_config(ctx.config)
        report = ensure_pki(ctx.config, store, datetime.now(UTC))
        issued = [e for e in report.entries if e.action != "reused"]
        if issued:
            ctx.notes.setdefault("(operator)", []).extend(f"pki {e.action} {e.name}: {e.reason}" for e in issued)
        self.store = store
        self.ca_paths = {d.cert_path: d.name for d in desired_certs(ctx.config) if d.is_signer}
        # the control-plane components restarted here when their own phase is not part of the run
        self.inputs: ControlPlaneInputs | None = None
        self.inputs_error = ""
        k = ctx.config.kubernetes
        if "control-plane" not in ctx.phase_names and k.enabled and k.version is not None:
            try:
                self.inputs = read_inputs(ctx, create_keys=False)
            except KubewardError as exc:
                self.inputs_error = str(exc)

    def ops_for(self, ctx: RunContext, host: str) -> list[Op]:
        h = ctx.config.host(host)
        files = files_for_node(ctx.config, h)
        ops: list[Op] = []
        if h.is_control_plane:
            # the etcd package would create this user; the keys must be owned by it before etcd exists
            ops.append(SystemUser("etcd", "/var/lib/etcd"))
        dirs = sorted({f.remote_path.rsplit("/", 1)[0] for f in files})
        ops += [Directory(d, "root", "root", 0o755) for d in dirs]
        for f in files:
            secret = f.remote_path.endswith(".key")
            op = File(f.remote_path, self.store.path(f.local_path).read_bytes(), f.owner, f.owner, f.mode,
                      secret=secret)
            ops.append(CaCertificate(op, self.ca_paths[f.local_path]) if f.local_path in self.ca_paths else op)
        ops += [AbsentFile(p, "kubelets get their certificates by CSR now") for p in RETIRED_NODE_FILES]
        return ops

    async def run_all(self, ctx: RunContext, hosts: Sequence[str]) -> dict[str, HostOutcome]:
        out = await super().run_all(ctx, hosts)
        for h, o in out.items():
            changed = {c.op.removeprefix("file:") for c in o.changes if c.op.startswith("file:")}
            if changed and not o.error:
                ctx.changed_files.setdefault(h, set()).update(changed)
        await self.restart_readers(ctx, hosts, out)
        return out

    def readers(self, ctx: RunContext, host: str) -> list[Component]:
        """Components that read this phase's files and whose own phase is not part of this run, in
        start order (etcd first: the API servers need it)."""
        h = ctx.config.host(host)
        comps = []
        if h.is_control_plane and "etcd" not in ctx.phase_names and ctx.config.etcd.source == "apt":
            comps.append(etcd_component(ctx.config, h, new_cluster_bootstrap(ctx.config)))
        if self.inputs is not None:
            comps.append(api_proxy_component(ctx.config))
            if h.is_control_plane:
                comps += control_plane_components(ctx.config, h, self.inputs)
        return comps

    async def restart_readers(self, ctx: RunContext, hosts: Sequence[str], out: dict[str, HostOutcome]) -> None:
        """Restart here, by their own policy and only if they run, the readers of changed files whose
        phase does not run (``up --only pki``)."""
        by_name: dict[str, dict[str, Component]] = {}
        for h in hosts:
            changed = ctx.changed_files.get(h, set())
            if out[h].error or not changed:
                continue
            for comp in self.readers(ctx, h):
                hit = comp.reads_changed(changed)
                if not hit:
                    continue
                by_name.setdefault(comp.name, {})[h] = comp
                out[h].changes.append(Change(f"service:{comp.unit}", f"restart {comp.unit} if it runs "
                                             f"({reads_reason(hit)}; {restart_manner(comp)})", ""))
            if self.inputs_error and ctx.config.host(h).is_control_plane:
                ctx.notes.setdefault(h, []).append(f"pki: control-plane components not restarted here "
                                                   f"({self.inputs_error}); run the control-plane phase")
        for due in by_name.values():
            if not await restart_components(ctx, due, out, if_running=True):
                return


async def read_installed(session: Session, config: ClusterConfig, hosts: Sequence[str], store_files: dict[str, bytes],
                         now: datetime) -> list[HostCerts]:
    """Every host's certificates against the state directory (``pki status``): one round-trip per
    host, all hosts at once; a host that cannot be read says why."""
    signer = desire(ROWS["kubelet-signer"], config).cert_path
    wanted = {h: installed_certs(config, config.host(h)) for h in hosts}
    renew_before = timedelta(days=config.pki.renew_before_days)

    async def one(h: str) -> HostCerts:
        res = await session.run(h, render_installed_script(wanted[h]), label="read the installed certificates",
                                reads_only=True, check=False)
        return assess_host(h, wanted[h], res.stdout, store_files, signer, now, renew_before)

    out = []
    for h, r in (await session.each(one, list(hosts))).items():
        if isinstance(r, HostCerts):
            out.append(r)
        elif isinstance(r, RemoteError):
            out.append(HostCerts(h, error=str(r)))
        else:
            raise r
    return out


#: the phase that runs (and restarts) each unit that reads a certificate
UNIT_PHASES = {"etcd": "etcd", "haproxy.service": "control-plane", "kube-apiserver.service": "control-plane",
               "kube-controller-manager.service": "control-plane", "kube-scheduler.service": "control-plane",
               "kube-proxy.service": "nodes"}


@dataclass(frozen=True)
class Rollout:
    """What rolling renewed certificates out takes: the phases to run (in the runner's order), the
    units restarted, and the certificates no host holds (used from the operator's machine only)."""

    phases: tuple[str, ...]
    units: tuple[str, ...]
    local_only: tuple[str, ...]


def plan_rollout(config: ClusterConfig, names: Collection[str]) -> Rollout:
    """The phases that put the certificates ``names`` on the hosts and restart what reads them: the
    pki phase for files it places, the phase of each unit that reads one or embeds one in its
    kubeconfig (etcd, control-plane, nodes). Pure."""
    paths = {d.cert_path for d in desired_certs(config) if d.name in names}
    phases: set[str] = set()
    units: dict[str, None] = {}
    placed: set[str] = set()
    for h in config.hosts:
        for c in installed_certs(config, h):
            if c.store_path not in paths:
                continue
            placed.add(c.store_path)
            if c.source == "file":
                phases.add("pki")
            for u in c.readers:
                units[u] = None
                phases.add(UNIT_PHASES[u])
    order = ("pki", "etcd", "control-plane", "nodes")
    local = tuple(d.name for d in desired_certs(config) if d.name in names and d.cert_path not in placed)
    return Rollout(tuple(p for p in order if p in phases), tuple(units), local)
