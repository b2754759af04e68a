"""The one place kubeward talks to the Kubernetes API: lightkube over an SSH tunnel.

:func:`api_client` forwards a free port on 127.0.0.1 through kubeward's verified SSH connection to a
control plane's API server on its private address (never an opened port) and yields a lightkube
``AsyncClient`` authenticated by a client certificate of the state directory (files 0600 there;
nothing is copied). The API server's certificate carries 127.0.0.1, so the tunnel's end verifies
against the cluster CA without a name override. Also here: applying the RBAC table, and rewriting
every Secret (the encryption-key rotation).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import httpx2
from lightkube import ApiError, AsyncClient, KubeConfig
from lightkube.resources.core_v1 import Secret
from lightkube.resources.rbac_authorization_v1 import ClusterRoleBinding

from kubeward.config import ClusterConfig
from kubeward.errors import KubewardError, RemoteError
from kubeward.kube.rbac import CLUSTER_ROLE_BINDINGS, BindingRow, binding_action, render_binding
from kubeward.pki.kubeconfig import api_server_url
from kubeward.remote.forward import Forward, Tunnel
from kubeward.remote.ssh import Session

log = logging.getLogger("kubeward.kube")

#: whose certificate the client presents: the break-glass ``admin`` (system:masters) only to
#: bootstrap RBAC and rewrite Secrets; the daily ``cluster-admin`` for everything else
Identity = Literal["admin", "cluster-admin"]


class ApiAccessError(KubewardError):
    pass


def client_kubeconfig(config: ClusterConfig, pki_dir: Path, identity: Identity, port: int) -> KubeConfig:
    return KubeConfig.from_dict({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": config.name, "cluster": {
            "server": api_server_url("127.0.0.1", port),
            "certificate-authority": str(pki_dir / "ca.crt")}}],
        "users": [{"name": identity, "user": {
            "client-certificate": str(pki_dir / f"{identity}.crt"),
            "client-key": str(pki_dir / f"{identity}.key")}}],
        "contexts": [{"name": identity, "context": {"cluster": config.name, "user": identity}}],
        "current-context": identity,
    })


@contextlib.asynccontextmanager
async def api_client(session: Session, config: ClusterConfig, state_dir: Path, node: str,
                     identity: Identity) -> AsyncIterator[AsyncClient]:
    """A lightkube client to ``node``'s API server through an SSH tunnel, closed on exit."""
    host = config.host(node)
    forward = Forward("api", str(host.private_address), config.network.api_port)
    tunnel = Tunnel(session, node, [forward], lambda msg: log.info("%s", msg))
    try:
        await tunnel.start()
    except RemoteError as exc:
        raise ApiAccessError(f"cannot tunnel to the API server of {node}: {exc}") from exc
    client = AsyncClient(client_kubeconfig(config, state_dir / "pki", identity, forward.local_port),
                         field_manager="kubeward", timeout=httpx2.Timeout(30))
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            await client.close()
        await tunnel.close()


@dataclass
class RbacResult:
    changes: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


async def apply_rbac(client: AsyncClient, *, apply: bool,
                     rows: Sequence[BindingRow] = CLUSTER_ROLE_BINDINGS) -> RbacResult:
    """Read every binding of the table; create or replace only what differs (nothing under plan)."""
    out = RbacResult()
    for row in rows:
        try:
            existing: ClusterRoleBinding | None = await client.get(ClusterRoleBinding, row.name)
        except ApiError as exc:
            if exc.status.code != 404:
                raise ApiAccessError(f"reading ClusterRoleBinding {row.name}: {exc.status.message}") from exc
            existing = None
        action = binding_action(existing, row)
        if action == "none":
            out.unchanged.append(row.name)
            continue
        out.changes.append(f"{action} ClusterRoleBinding {row.name} ({row.cluster_role} for "
                           f"{', '.join(n for _, n in row.subjects)})")
        if not apply:
            continue
        desired = render_binding(row)
        try:
            if action == "create":
                await client.create(desired)
            elif action == "recreate":
                await client.delete(ClusterRoleBinding, row.name)
                await client.create(desired)
            else:
                assert existing is not None and existing.metadata is not None and desired.metadata is not None
                desired.metadata.resourceVersion = existing.metadata.resourceVersion
                await client.replace(desired)
        except ApiError as exc:
            raise ApiAccessError(f"{action} ClusterRoleBinding {row.name}: {exc.status.message}") from exc
    return out


async def rewrite_secrets(client: AsyncClient) -> int:
    """Write every Secret back unchanged (get + replace), so the API server encrypts it with the
    current first key; a Secret changed meanwhile (409) is read again. Returns how many."""
    count = 0
    async for item in client.list(Secret, namespace="*"):
        assert item.metadata is not None and item.metadata.name is not None
        name, ns = item.metadata.name, item.metadata.namespace
        for _ in range(5):
            try:
                fresh = await client.get(Secret, name, namespace=ns)
                await client.replace(fresh)
                count += 1
                break
            except ApiError as exc:
                if exc.status.code == 404:
                    break
                if exc.status.code != 409:
                    raise ApiAccessError(f"rewriting Secret {ns}/{name}: {exc.status.message}") from exc
        else:
            raise ApiAccessError(f"rewriting Secret {ns}/{name}: it kept changing; run the rotation again")
    return count
