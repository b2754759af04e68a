"""The control-plane phase: kube-apiserver, kube-controller-manager and kube-scheduler on the control
planes, the node-local API proxy (HAProxy on 127.0.0.1) on every node, then RBAC through the API.

Runs only with ``kubernetes.enabled``. The components come from
:mod:`kubeward.components.control_plane`; the component phase's steps read their facts from the
prefetch, apply every host at once (a first start waits for each component's health), and restart
changed components one node at a time, each healthy before the next. A component that reads a
certificate or key the pki phase changed in this run (its ``reads``: the files its flags name) is
restarted the same way: a renewed leaf reaches one API server at a time. Last, the ClusterRoleBindings of
:mod:`kubeward.kube.rbac` are read through an SSH tunnel to one control plane's API server and only
what differs is written, as the break-glass ``admin`` (system:masters): nothing else can grant RBAC
before RBAC exists.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from kubeward.components.control_plane import ControlPlaneInputs, api_proxy_component, control_plane_components
from kubeward.components.spec import Component
from kubeward.errors import KubewardError
from kubeward.kube.client import api_client, apply_rbac
from kubeward.ops.base import Change, HostOutcome, Unchanged
from kubeward.phases.base import RunContext
from kubeward.phases.component import ComponentPhase
from kubeward.pki.store import PkiStore, ensure_keys, read_keys

log = logging.getLogger("kubeward.phases")

def read_inputs(ctx: RunContext, *, create_keys: bool) -> ControlPlaneInputs:
    """The certificates, keys and encryption keys the control-plane files embed (state directory)."""
    store = PkiStore.for_config(ctx.config)

    def read(rel: str) -> bytes:
        try:
            return store.path(rel).read_bytes()
        except OSError as exc:
            raise KubewardError(f"{store.path(rel)}: {exc.strerror}; run `kubeward pki issue` (or the pki phase)") from exc

    ring = ensure_keys(ctx.loaded.state_dir, datetime.now(UTC)) if create_keys else read_keys(ctx.loaded.state_dir)
    if ring is None:
        raise KubewardError("no Secrets encryption key yet: run `kubeward up` first")
    return ControlPlaneInputs(
        ca_pem=read("ca.crt"), signer_pem=read("kubelet-signer.crt"),
        controller_manager=(read("controller-manager.crt"), read("controller-manager.key")),
        scheduler=(read("scheduler.crt"), read("scheduler.key")),
        encryption_keys=ring.pairs(),
    )


class ControlPlane(ComponentPhase):
    name = "control-plane"
    title = "Run the Kubernetes control plane"

    def __init__(self) -> None:
        self.inputs: ControlPlaneInputs | None = None

    async def prepare(self, ctx: RunContext) -> None:
        if not ctx.config.kubernetes.enabled or ctx.config.kubernetes.version is None:
            self.inputs = None
            return
        # a plan does not create the key file: it only shows that the file would be written
        self.inputs = read_inputs(ctx, create_keys=ctx.apply)

    def components(self, ctx: RunContext, host: str) -> list[Component]:
        if self.inputs is None:
            return []
        h = ctx.config.host(host)
        out = [api_proxy_component(ctx.config)]
        if h.is_control_plane:
            out += control_plane_components(ctx.config, h, self.inputs)
        return out

    async def run_all(self, ctx: RunContext, hosts: Sequence[str]) -> dict[str, HostOutcome]:
        if self.inputs is None:
            return {h: HostOutcome(h, unchanged=[Unchanged("control-plane", "kubernetes.enabled is off")])
                    for h in hosts}
        out = await super().run_all(ctx, hosts)
        if any(o.error for o in out.values()):
            return out
        await self.converge_rbac(ctx, hosts, out)
        return out

    async def converge_rbac(self, ctx: RunContext, hosts: Sequence[str], out: dict[str, HostOutcome]) -> None:
        cps = [h.name for h in ctx.config.control_planes if h.name in hosts]
        if not cps:
            return
        node = cps[0]
        if not ctx.apply and node not in ctx.changed_hosts and any(
                c.summary.startswith("start kube-apiserver") for c in out[node].changes):
            out[node].changes.append(Change("rbac", "create kubeward's ClusterRoleBindings (once the API serves)", ""))
            return
        try:
            async with api_client(ctx.session, ctx.config, ctx.loaded.state_dir, node, "admin") as client:
                result = await apply_rbac(client, apply=ctx.apply)
        except Exception as exc:  # noqa: BLE001 - an API failure is this host's error, not a crash
            if not ctx.apply:
                ctx.notes.setdefault(node, []).append(f"control-plane: RBAC not read ({exc})")
                return
            out[node].error = f"RBAC through the API server of {node}: {exc}"
            return
        out[node].changes += [Change("rbac", c, "") for c in result.changes]
        out[node].unchanged += [Unchanged("rbac", f"ClusterRoleBinding {n} as in the table") for n in result.unchanged]
        if result.changes and ctx.apply:
            out[node].applied += len(result.changes)
