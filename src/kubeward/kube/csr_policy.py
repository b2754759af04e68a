"""The strict policy for kubelet serving certificates (pure).

Kubernetes never approves ``kubernetes.io/kubelet-serving`` CSRs by itself, and the approvers other
installers ship check structure but not names (see docs). :func:`decide_serving_csr` approves a CSR
only when every one of these holds, and otherwise denies it with the first reason that failed:

* the signer is ``kubernetes.io/kubelet-serving``;
* the requester is ``system:node:<name>``, in group ``system:nodes``, and ``<name>`` is a host of
  cluster.yml;
* the request's subject is exactly CN ``system:node:<name>``, O ``system:nodes``;
* the usages are exactly ``server auth`` plus ``digital signature`` and/or ``key encipherment``;
* it asks for at least one SAN and every DNS and IP SAN belongs to *that* host in cluster.yml (its
  name, its address, its private address); no e-mail, URI or other SANs.

CSRs for other signers are not this policy's business (:func:`decide` says so with ``None``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.x509.oid import NameOID

SERVING_SIGNER = "kubernetes.io/kubelet-serving"
NODE_PREFIX = "system:node:"
NODES_GROUP = "system:nodes"
REQUIRED_USAGE = "server auth"
OPTIONAL_USAGES = frozenset({"digital signature", "key encipherment"})


@dataclass(frozen=True)
class CsrRecord:
    """What the API says about one CSR (certificates.k8s.io/v1)."""

    name: str
    signer: str
    username: str
    groups: tuple[str, ...]
    usages: tuple[str, ...]
    request_pem: bytes
    state: Literal["Pending", "Approved", "Denied", "Failed"] = "Pending"
    issued: bool = False


@dataclass(frozen=True)
class HostIdentity:
    """What cluster.yml says a host is: the only names and addresses its certificate may carry."""

    name: str
    dns_names: frozenset[str]
    ips: frozenset[ipaddress.IPv4Address | ipaddress.IPv6Address]


def host_identity(name: str, addresses: Iterable[str]) -> HostIdentity:
    dns: set[str] = {name.lower()}
    ips: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = set()
    for a in addresses:
        try:
            ips.add(ipaddress.ip_address(a))
        except ValueError:
            dns.add(a.lower())
    return HostIdentity(name, frozenset(dns), frozenset(ips))


@dataclass(frozen=True)
class Decision:
    csr: str
    approve: bool
    reason: str
    node: str = ""


def decide_serving_csr(csr: CsrRecord, inventory: Mapping[str, HostIdentity]) -> Decision:
    """Approve or deny one kubelet-serving CSR by the policy of the module docstring."""

    def deny(reason: str, node: str = "") -> Decision:
        return Decision(csr.name, False, reason, node)

    if csr.signer != SERVING_SIGNER:
        return deny(f"signer {csr.signer!r} is not {SERVING_SIGNER}")
    if not csr.username.startswith(NODE_PREFIX):
        return deny(f"requested by {csr.username!r}, not by a node (system:node:<name>)")
    node = csr.username[len(NODE_PREFIX):]
    if NODES_GROUP not in csr.groups:
        return deny(f"requester {csr.username!r} is not in group {NODES_GROUP}", node)
    host = inventory.get(node)
    if host is None:
        return deny(f"node {node!r} is not a host of cluster.yml", node)
    usages = set(csr.usages)
    if REQUIRED_USAGE not in usages or usages - OPTIONAL_USAGES - {REQUIRED_USAGE}:
        return deny(f"usages {sorted(usages)} are not exactly server auth (+ digital signature, key "
                    f"encipherment)", node)
    try:
        req = x509.load_pem_x509_csr(csr.request_pem)
    except ValueError as exc:
        return deny(f"the request is not a PEM certificate request ({exc})", node)
    if not req.is_signature_valid:
        return deny("the request's signature does not verify", node)
    cns = [a.value for a in req.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    orgs = [a.value for a in req.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    others = [a.oid.dotted_string for a in req.subject
              if a.oid not in (NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME)]
    if cns != [csr.username]:
        return deny(f"subject CN {cns} is not the requester {csr.username!r}", node)
    if orgs != [NODES_GROUP] or others:
        return deny(f"subject must be exactly O={NODES_GROUP}, CN={csr.username} (has O={orgs}, "
                    f"other attributes {others})", node)
    try:
        ext = req.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return deny("no subject alternative names", node)
    unknown = [g for g in ext if not isinstance(g, x509.DNSName | x509.IPAddress)]
    if unknown:
        return deny(f"SANs of kinds other than DNS and IP: {[type(g).__name__ for g in unknown]}", node)
    for dns in ext.get_values_for_type(x509.DNSName):
        if dns.lower() not in host.dns_names:
            return deny(f"DNS SAN {dns!r} does not belong to {node} in cluster.yml", node)
    for ip in ext.get_values_for_type(x509.IPAddress):
        if ip not in host.ips:
            return deny(f"IP SAN {ip} does not belong to {node} in cluster.yml", node)
    sans = len(ext.get_values_for_type(x509.DNSName)) + len(ext.get_values_for_type(x509.IPAddress))
    if sans == 0:
        return deny("no DNS or IP subject alternative names", node)
    return Decision(csr.name, True, f"{node}: name, usages and every SAN match cluster.yml", node)


def decide_pending(csrs: Iterable[CsrRecord], inventory: Mapping[str, HostIdentity]) -> list[Decision]:
    """Decisions for every pending kubelet-serving CSR (others are left alone)."""
    return [decide_serving_csr(c, inventory) for c in csrs
            if c.state == "Pending" and c.signer == SERVING_SIGNER]


def csr_node(c: CsrRecord) -> str | None:
    """The node a CSR was made for: by its kubelet (requester ``system:node:NODE``) or for it (its
    bootstrap client CSR, requested with a token, asks for the common name ``system:node:NODE``)."""
    if c.username.startswith(NODE_PREFIX):
        return c.username[len(NODE_PREFIX):]
    try:
        cns = x509.load_pem_x509_csr(c.request_pem).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    except ValueError:
        return None
    cn = str(cns[0].value) if cns else ""
    return cn[len(NODE_PREFIX):] if cn.startswith(NODE_PREFIX) else None


def csrs_by_node(csrs: Iterable[CsrRecord]) -> dict[str, list[str]]:
    """node -> the names of the CSRs made for it (see :func:`csr_node`)."""
    out: dict[str, list[str]] = {}
    for c in csrs:
        node = csr_node(c)
        if node:
            out.setdefault(node, []).append(c.name)
    return out
