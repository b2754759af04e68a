"""The one place kubeward talks to the Kubernetes API: lightkube over an SSH tunnel.

:func:`api_client` forwards a free port on 127.0.0.1 through kubeward's verified SSH connection to a
control plane's API server on its private address (never an opened port) and yields a lightkube
``AsyncClient`` authenticated by a client certificate of the state directory (files 0600 there;
nothing is copied). The API server's certificate carries 127.0.0.1, so the tunnel's end verifies
against the cluster CA without a name override. Also here: applying the RBAC table, and rewriting
every Secret (the encryption-key rotation).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Literal

import httpx2
from lightkube import ApiError, AsyncClient, KubeConfig
from lightkube.models.certificates_v1 import CertificateSigningRequestCondition, CertificateSigningRequestStatus
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.certificates_v1 import CertificateSigningRequest, CertificateSigningRequestApproval
from lightkube.resources.core_v1 import Namespace, Node, Pod, Secret, Service, ServiceAccount
from lightkube.resources.rbac_authorization_v1 import ClusterRoleBinding

from kubeward.config import ClusterConfig
from kubeward.errors import KubewardError, RemoteError
from kubeward.kube.csr_policy import CsrRecord
from kubeward.kube.rbac import CLUSTER_ROLE_BINDINGS, MANAGED_BY, BindingRow, binding_action, render_binding
from kubeward.pki.kubeconfig import api_server_url
from kubeward.pki.tokens import NODE_BOOTSTRAP_GROUP, BootstrapToken
from kubeward.remote.forward import Forward, Tunnel
from kubeward.remote.ssh import Session

log = logging.getLogger("kubeward.kube")

#: whose certificate the client presents: the break-glass ``admin`` (system:masters) only to
#: bootstrap RBAC and rewrite Secrets; the daily ``cluster-admin`` for everything else
Identity = Literal["admin", "cluster-admin"]
CsrState = Literal["Pending", "Approved", "Denied", "Failed"]


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


# ----- nodes: bootstrap tokens, Node objects, CSRs (issue 17) -------------------------------------

#: label on kubeward's per-node bootstrap-token Secrets: which node the token is for
TOKEN_NODE_LABEL = "kubeward.io/bootstrap-node"


async def create_bootstrap_token(client: AsyncClient, token: BootstrapToken, node: str) -> None:
    """The kube-system Secret that makes ``token`` valid for authentication only, in the group
    kube.rbac binds for joining (never logged: only the token id is)."""
    secret = Secret(
        metadata=ObjectMeta(name=f"bootstrap-token-{token.id}", namespace="kube-system",
                            labels={**MANAGED_BY, TOKEN_NODE_LABEL: node}),
        type="bootstrap.kubernetes.io/token",
        stringData={
            "description": f"kubeward: kubelet TLS bootstrap of {node}",
            "token-id": token.id,
            "token-secret": token.secret,
            "expiration": token.expires.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "usage-bootstrap-authentication": "true",
            "auth-extra-groups": NODE_BOOTSTRAP_GROUP,
        },
    )
    try:
        await client.create(secret)
    except ApiError as exc:
        raise ApiAccessError(f"creating the bootstrap token {token.id} for {node}: {exc.status.message}") from exc
    log.info("bootstrap token %s created for %s", token.id, node)


async def list_bootstrap_tokens(client: AsyncClient) -> dict[str, str]:
    """``secret name -> node`` of every bootstrap-token Secret in kube-system (node "" when the
    Secret is not one of kubeward's per-node tokens)."""
    out: dict[str, str] = {}
    async for s in client.list(Secret, namespace="kube-system"):
        if s.type == "bootstrap.kubernetes.io/token" and s.metadata is not None and s.metadata.name:
            out[s.metadata.name] = (s.metadata.labels or {}).get(TOKEN_NODE_LABEL, "")
    return out


async def delete_bootstrap_token(client: AsyncClient, name: str) -> None:
    try:
        await client.delete(Secret, name, namespace="kube-system")
    except ApiError as exc:
        if exc.status.code != 404:
            raise ApiAccessError(f"deleting {name}: {exc.status.message}") from exc
    log.info("bootstrap token secret %s deleted", name)


@dataclass(frozen=True)
class NodeState:
    name: str
    ready: bool
    pod_cidr: str
    internal_ip: str


async def read_nodes(client: AsyncClient) -> list[NodeState]:
    out: list[NodeState] = []
    async for n in client.list(Node):
        assert n.metadata is not None and n.metadata.name is not None
        conds = (n.status.conditions if n.status else None) or []
        ready = any(c.type == "Ready" and c.status == "True" for c in conds)
        addrs = (n.status.addresses if n.status else None) or []
        ip = next((a.address for a in addrs if a.type == "InternalIP"), "")
        out.append(NodeState(n.metadata.name, ready, (n.spec.podCIDR if n.spec else None) or "", ip))
    return out


async def delete_node(client: AsyncClient, name: str) -> None:
    try:
        await client.delete(Node, name)
    except ApiError as exc:
        if exc.status.code != 404:
            raise ApiAccessError(f"deleting Node {name}: {exc.status.message}") from exc
    log.info("Node %s deleted (no longer in cluster.yml)", name)


async def delete_csrs(client: AsyncClient, names: Sequence[str]) -> None:
    for name in names:
        try:
            await client.delete(CertificateSigningRequest, name)
        except ApiError as exc:
            if exc.status.code != 404:
                raise ApiAccessError(f"deleting CSR {name}: {exc.status.message}") from exc


def _csr_state(obj: CertificateSigningRequest) -> tuple[CsrState, bool]:
    conds = (obj.status.conditions if obj.status else None) or []
    types = {c.type for c in conds if c.status == "True"}
    state: CsrState = ("Denied" if "Denied" in types else "Failed" if "Failed" in types
                       else "Approved" if "Approved" in types else "Pending")
    return state, bool(obj.status and obj.status.certificate)


async def list_csrs(client: AsyncClient) -> list[CsrRecord]:
    out: list[CsrRecord] = []
    async for c in client.list(CertificateSigningRequest):
        assert c.metadata is not None and c.metadata.name is not None
        state, issued = _csr_state(c)
        request = c.spec.request
        pem = base64.b64decode(request) if isinstance(request, str) else bytes(request)
        out.append(CsrRecord(c.metadata.name, c.spec.signerName, c.spec.username or "",
                             tuple(c.spec.groups or ()), tuple(c.spec.usages or ()), pem, state, issued))
    return out


async def decide_csr(client: AsyncClient, name: str, approve: bool, reason: str) -> None:
    """Approve or deny one CSR through its approval subresource, with kubeward's reason."""
    try:
        obj = await client.get(CertificateSigningRequest, name)
        conds = list((obj.status.conditions if obj.status else None) or [])
        conds.append(CertificateSigningRequestCondition(
            type="Approved" if approve else "Denied", status="True",
            reason="KubewardPolicyApproved" if approve else "KubewardPolicyDenied", message=reason[:1000]))
        if obj.status is None:
            obj.status = CertificateSigningRequestStatus()
        obj.status.conditions = conds
        approval = CertificateSigningRequestApproval.from_dict(obj.to_dict())
        assert isinstance(approval, CertificateSigningRequestApproval)
        await client.replace(approval, name)
    except ApiError as exc:
        raise ApiAccessError(f"{'approving' if approve else 'denying'} CSR {name}: {exc.status.message}") from exc
    log.info("CSR %s %s: %s", name, "approved" if approve else "denied", reason)


# ----- `kubeward check`: its test objects (issue 17) ----------------------------------------------


#: how long a create may wait for a new namespace's default ServiceAccount (its controller makes it
#: a moment after the namespace; the ServiceAccount admission refuses pods until then)
SERVICE_ACCOUNT_WAIT = 30.0


async def create_objects(client: AsyncClient, objects: Sequence[object]) -> None:
    for obj in objects:
        deadline = asyncio.get_running_loop().time() + SERVICE_ACCOUNT_WAIT
        while True:
            try:
                await client.create(obj)  # type: ignore[call-overload]
                break
            except ApiError as exc:
                message = exc.status.message or ""
                if "service account" in message and asyncio.get_running_loop().time() < deadline:
                    await asyncio.sleep(0.5)
                    continue
                raise ApiAccessError(f"creating {type(obj).__name__}: {message}") from exc


@dataclass(frozen=True)
class PodState:
    name: str
    node: str
    phase: str
    ip: str


async def read_pods(client: AsyncClient, namespace: str) -> list[PodState]:
    out: list[PodState] = []
    async for p in client.list(Pod, namespace=namespace):
        assert p.metadata is not None and p.metadata.name is not None
        out.append(PodState(p.metadata.name, (p.spec.nodeName if p.spec else None) or "",
                            (p.status.phase if p.status else None) or "", (p.status.podIP if p.status else None) or ""))
    return out


async def read_service(client: AsyncClient, namespace: str, name: str) -> tuple[str, int]:
    """(cluster IP, first node port or 0)."""
    svc = await client.get(Service, name, namespace=namespace)
    ports = (svc.spec.ports if svc.spec else None) or []
    return ((svc.spec.clusterIP if svc.spec else None) or "", (ports[0].nodePort or 0) if ports else 0)


async def delete_namespace(client: AsyncClient, name: str) -> None:
    """Its pods first, at once (grace 0: the namespace controller would otherwise wait out each
    pod's grace period and requeue), then the namespace."""
    try:
        async for p in client.list(Pod, namespace=name):
            if p.metadata is not None and p.metadata.name is not None:
                await client.delete(Pod, p.metadata.name, namespace=name, grace_period=0)
    except ApiError as exc:
        if exc.status.code != 404:
            raise ApiAccessError(f"deleting the pods of {name}: {exc.status.message}") from exc
    try:
        await client.delete(Namespace, name)
    except ApiError as exc:
        if exc.status.code != 404:
            raise ApiAccessError(f"deleting namespace {name}: {exc.status.message}") from exc


async def namespace_exists(client: AsyncClient, name: str) -> bool:
    try:
        await client.get(Namespace, name)
        return True
    except ApiError as exc:
        if exc.status.code == 404:
            return False
        raise ApiAccessError(f"reading namespace {name}: {exc.status.message}") from exc


async def service_account_exists(client: AsyncClient, namespace: str, name: str) -> bool:
    try:
        await client.get(ServiceAccount, name, namespace=namespace)
        return True
    except ApiError as exc:
        if exc.status.code == 404:
            return False
        raise ApiAccessError(f"reading ServiceAccount {namespace}/{name}: {exc.status.message}") from exc
