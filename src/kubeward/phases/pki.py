"""The pki phase: issue or refresh the PKI locally (once per run), then give each host exactly the
files its role needs (keys 0600, owned by the service that reads them), restarting what uses a
changed certificate. CA keys stay on the operator's machine unless pki.ca_keys_on_nodes is set."""

from __future__ import annotations

from datetime import UTC, datetime

from kubeward.ops.base import Op
from kubeward.ops.ops import Directory, File, SystemUser
from kubeward.phases.base import OpsPhase, RunContext
from kubeward.pki.nodes import files_for_node
from kubeward.pki.store import PkiStore, ensure_pki

#: files under these directories are read by etcd: a change restarts it (when it runs)
ETCD_PREFIX = "/etc/kubernetes/pki/etcd/"


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
            notify = ("try-restart:etcd",) if f.remote_path.startswith(ETCD_PREFIX) else ()
            ops.append(File(f.remote_path, self.store.path(f.local_path).read_bytes(), f.owner, f.owner,
                            f.mode, secret=secret, notify=notify))
        return ops
