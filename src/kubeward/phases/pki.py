"""The pki phase: issue or refresh the PKI locally (once per run), then give each host exactly the
files its role needs (keys 0600, owned by the service that reads them). A component whose
certificates changed is restarted by its own restart policy (etcd: one member at a time, each
healthy before the next): by its phase later in the run, or here when that phase does not run.
CA keys stay on the operator's machine unless pki.ca_keys_on_nodes is set."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from kubeward.components.etcd import etcd_component
from kubeward.components.spec import Component
from kubeward.etcd.config import PKI_DIR as ETCD_PKI_DIR
from kubeward.etcd.config import new_cluster_bootstrap
from kubeward.ops.base import Change, HostOutcome, Op
from kubeward.ops.ops import AbsentFile, Directory, File, SystemUser
from kubeward.phases.base import OpsPhase, RunContext
from kubeward.phases.component import restart_components
from kubeward.pki.nodes import K8S_PKI_DIR, RETIRED_NODE_FILES, files_for_node
from kubeward.pki.store import PkiStore, ensure_pki

#: files under these directories are read by etcd: a change restarts it (when it runs)
ETCD_PREFIX = f"{ETCD_PKI_DIR}/"


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
            ops.append(File(f.remote_path, self.store.path(f.local_path).read_bytes(), f.owner, f.owner,
                            f.mode, secret=secret))
        ops += [AbsentFile(p, "kubelets get their certificates by CSR now") for p in RETIRED_NODE_FILES]
        return ops

    async def run_all(self, ctx: RunContext, hosts: Sequence[str]) -> dict[str, HostOutcome]:
        out = await super().run_all(ctx, hosts)
        due: dict[str, Component] = {}
        for h, o in out.items():
            hc = ctx.config.host(h)
            if o.error or not hc.is_control_plane:
                continue
            if any(c.op.startswith(f"file:{K8S_PKI_DIR}/") and not c.op.startswith(f"file:{ETCD_PREFIX}")
                   for c in o.changes):
                # the control-plane phase restarts them, one node at a time, when they run
                ctx.restart_due.setdefault(h, set()).update(("kube-apiserver", "kube-controller-manager"))
            if not any(c.op.startswith(f"file:{ETCD_PREFIX}") for c in o.changes):
                continue
            ctx.restart_due.setdefault(h, set()).add("etcd")
            due[h] = etcd_component(ctx.config, hc, new_cluster_bootstrap(ctx.config))
            if "etcd" not in ctx.phase_names:
                o.changes.append(Change("service:etcd", "restart etcd if it runs (its certificates changed; "
                                        "one member at a time)", ""))
        if due and "etcd" not in ctx.phase_names:
            # the etcd phase is not part of this run: restart here, by etcd's own policy
            await restart_components(ctx, due, out, if_running=True)
        return out
