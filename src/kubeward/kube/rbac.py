"""The ClusterRoleBindings kubeward creates, as data (pure).

Each row binds a ClusterRole to subjects; kubeward creates the binding when it is missing and
replaces it when it differs (a changed role is a delete and a create: ``roleRef`` is immutable).
Bindings kubeward did not make are never touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lightkube.models.meta_v1 import ObjectMeta
from lightkube.models.rbac_v1 import RoleRef, Subject
from lightkube.resources.rbac_authorization_v1 import ClusterRoleBinding

from kubeward.pki.tokens import NODE_BOOTSTRAP_GROUP

MANAGED_BY = {"app.kubernetes.io/managed-by": "kubeward"}
SubjectKind = Literal["Group", "User"]


@dataclass(frozen=True)
class BindingRow:
    name: str
    cluster_role: str
    subjects: tuple[tuple[SubjectKind, str], ...]
    why: str


CLUSTER_ROLE_BINDINGS: tuple[BindingRow, ...] = (
    BindingRow("kubeward:cluster-admins", "cluster-admin", (("Group", "kubeward:cluster-admins"),),
               "the daily admin (cluster-admin.crt; not system:masters, so RBAC applies and can be revoked)"),
    BindingRow("kubeward:apiserver-kubelet-client", "system:kubelet-api-admin",
               (("Group", "kubeward:apiserver-kubelet-client"),),
               "the API server's client to kubelets: kubectl logs, exec and port-forward"),
    # TLS bootstrap (issue 17): a joining kubelet's short-lived token may create its client CSR,
    # which the controller-manager approves; joined nodes may renew their own client certificate.
    # Nothing more: serving CSRs are decided by kubeward's policy (kube.csr_policy).
    BindingRow("kubeward:kubelet-bootstrap", "system:node-bootstrapper",
               (("Group", NODE_BOOTSTRAP_GROUP),), "joining kubelets (bootstrap tokens) may create CSRs"),
    BindingRow("kubeward:node-autoapprove-bootstrap",
               "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
               (("Group", NODE_BOOTSTRAP_GROUP),),
               "the controller-manager approves a joining kubelet's first client certificate"),
    BindingRow("kubeward:node-autoapprove-certificate-rotation",
               "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
               (("Group", "system:nodes"),), "nodes renew their own client certificates"),
)


def render_binding(row: BindingRow) -> ClusterRoleBinding:
    return ClusterRoleBinding(
        metadata=ObjectMeta(name=row.name, labels=dict(MANAGED_BY), annotations={"kubeward.io/why": row.why}),
        roleRef=RoleRef(apiGroup="rbac.authorization.k8s.io", kind="ClusterRole", name=row.cluster_role),
        subjects=[Subject(kind=k, name=n, apiGroup="rbac.authorization.k8s.io") for k, n in row.subjects],
    )


BindingAction = Literal["create", "replace", "recreate", "none"]


def binding_action(existing: ClusterRoleBinding | None, row: BindingRow) -> BindingAction:
    """What brings ``existing`` to ``row``: create, replace (subjects or labels differ), recreate
    (the role differs; roleRef is immutable) or none."""
    if existing is None:
        return "create"
    if existing.roleRef is None or (existing.roleRef.kind, existing.roleRef.name) != ("ClusterRole", row.cluster_role):
        return "recreate"
    have = sorted((s.kind, s.name) for s in existing.subjects or ())
    labels = (existing.metadata.labels if existing.metadata else None) or {}
    if have != sorted(row.subjects) or any(labels.get(k) != v for k, v in MANAGED_BY.items()):
        return "replace"
    return "none"
