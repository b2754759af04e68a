"""The audit's probes of the Kubernetes API and of etcd's stored Secrets (I/O).

Through the lightkube module (``kube.client.api_client``: an SSH tunnel to one control plane's API
server, kubeward's daily ``cluster-admin`` certificate) and kubeward's etcd client (a tunnel to that
control plane's etcd, kubeward's etcd client certificate). Read-only but for SubjectAccessReviews,
which the API server evaluates and does not store.
"""

from __future__ import annotations

import asyncio
import base64

from lightkube import AsyncClient
from lightkube.models.authorization_v1 import ResourceAttributes, SubjectAccessReviewSpec
from lightkube.resources.authorization_v1 import SubjectAccessReview
from lightkube.resources.core_v1 import Secret
from lightkube.resources.rbac_authorization_v1 import ClusterRoleBinding, RoleBinding

from kubeward.audit.kube_api import ANONYMOUS_PROBES, AccessReview, Binding, KubeObservation
from kubeward.config import ClusterConfig
from kubeward.config.loader import LoadedConfig
from kubeward.etcd.client import ClientCredentials, EtcdClient, member_tunnels
from kubeward.kube.client import api_client, list_csrs
from kubeward.remote.ssh import Session


async def _anonymous(client: AsyncClient) -> list[AccessReview]:
    async def one(verb: str, resource: str, sub: str, ns: str) -> AccessReview:
        sar = SubjectAccessReview(spec=SubjectAccessReviewSpec(
            user="system:anonymous", groups=["system:unauthenticated"],
            resourceAttributes=ResourceAttributes(verb=verb, resource=resource, subresource=sub or None,
                                                  namespace=ns or None)))
        res = await client.create(sar)
        return AccessReview(verb, resource, sub, ns, bool(res.status and res.status.allowed))

    return list(await asyncio.gather(*(one(*p) for p in ANONYMOUS_PROBES)))


async def _bindings(client: AsyncClient) -> list[Binding]:
    out = []
    async for b in client.list(ClusterRoleBinding):
        out.append(Binding("ClusterRoleBinding", (b.metadata.name if b.metadata else "") or "", "", b.roleRef.name,
                           tuple((s.kind, s.name) for s in b.subjects or [])))
    async for rb in client.list(RoleBinding, namespace="*"):
        md = rb.metadata
        out.append(Binding("RoleBinding", (md.name if md else "") or "", (md.namespace if md else "") or "",
                           rb.roleRef.name, tuple((s.kind, s.name) for s in rb.subjects or [])))
    return out


async def _tokens_and_a_secret(client: AsyncClient) -> tuple[dict[str, str], str]:
    tokens: dict[str, str] = {}
    some = ""
    async for s in client.list(Secret, namespace="*"):
        md = s.metadata
        if md is None or not md.name:
            continue
        if s.type == "bootstrap.kubernetes.io/token":
            exp = (s.data or {}).get("expiration", "")
            tokens[f"{md.namespace}/{md.name}"] = base64.b64decode(exp).decode(errors="replace") if exp else ""
        elif not some:
            some = f"/registry/secrets/{md.namespace}/{md.name}"
    return tokens, some


def _read_raw(port: int, config: ClusterConfig, key: str) -> bytes:
    value = EtcdClient(port, ClientCredentials.for_config(config).context(), timeout=10.0).get(key.encode())
    return value or b""


async def probe_kubernetes(loaded: LoadedConfig, session: Session, via: str) -> KubeObservation:
    """Everything the API server and etcd of control plane ``via`` say about access paths."""
    config = loaded.config
    kube = KubeObservation(via=via)
    async with api_client(session, config, loaded.state_dir, via, "cluster-admin") as client:
        # independent reads: at once, each on its own connection through the tunnel
        kube.anonymous, kube.bindings, (tokens, kube.secret_key), kube.csrs = await asyncio.gather(
            _anonymous(client), _bindings(client), _tokens_and_a_secret(client), list_csrs(client))
        kube.bootstrap_tokens = {k.split("/", 1)[1]: v for k, v in tokens.items()}
    if kube.secret_key:
        async with member_tunnels(session, config, [via]) as eps:
            ep = eps[via]
            if ep.port is None:
                raise OSError(f"no tunnel to etcd on {via}: {ep.error}")
            kube.secret_prefix = (await asyncio.to_thread(_read_raw, ep.port, config, kube.secret_key))[:16]
    return kube
