"""The strict kubelet-serving CSR policy: CSRs built with the cryptography library, one per way a
request can be wrong."""

from __future__ import annotations

import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kubeward.kube.csr_policy import CsrRecord, csrs_by_node, decide_pending, decide_serving_csr, host_identity

INVENTORY = {
    "node-a": host_identity("node-a", ["192.0.2.10", "10.0.0.10"]),
    "node-b": host_identity("node-b", ["192.0.2.11", "10.0.0.11"]),
}
GOOD_USAGES = ("digital signature", "key encipherment", "server auth")


def request(cn: str = "system:node:node-a", org: str | None = "system:nodes",
            dns: tuple[str, ...] = ("node-a",), ips: tuple[str, ...] = ("192.0.2.10", "10.0.0.10"),
            extra: list[x509.GeneralName] | None = None) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    b = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    names += extra or []
    if names:
        b = b.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def csr(pem: bytes, user: str = "system:node:node-a", groups: tuple[str, ...] = ("system:nodes",
        "system:authenticated"), usages: tuple[str, ...] = GOOD_USAGES,
        signer: str = "kubernetes.io/kubelet-serving") -> CsrRecord:
    return CsrRecord("csr-x", signer, user, groups, usages, pem)


def test_a_proper_request_is_approved() -> None:
    d = decide_serving_csr(csr(request()), INVENTORY)
    assert d.approve and d.node == "node-a"
    assert decide_serving_csr(csr(request(dns=(), ips=("10.0.0.10",)), usages=("server auth",)), INVENTORY).approve


@pytest.mark.parametrize(("record", "reason"), [
    (csr(request(ips=("10.0.0.11",))), "IP SAN 10.0.0.11 does not belong to node-a"),
    (csr(request(dns=("node-a", "evil.example"))), "DNS SAN 'evil.example' does not belong"),
    (csr(request(dns=("node-b",))), "DNS SAN 'node-b' does not belong"),
    (csr(request(cn="system:node:node-b")), "subject CN ['system:node:node-b'] is not the requester"),
    (csr(request(org="system:masters")), "subject must be exactly O=system:nodes"),
    (csr(request(), usages=("server auth", "client auth")), "usages"),
    (csr(request(), usages=("digital signature",)), "usages"),
    (csr(request(), user="system:bootstrap:abcdef"), "not by a node"),
    (csr(request(), groups=("system:authenticated",)), "not in group system:nodes"),
    (csr(request(cn="system:node:ghost", dns=("ghost",), ips=()), user="system:node:ghost"), "not a host"),
    (csr(request(dns=(), ips=())), "no subject alternative names"),
    (csr(request(extra=[x509.RFC822Name("a@b.c")])), "other than DNS and IP"),
    (csr(request(extra=[x509.UniformResourceIdentifier("spiffe://x")])), "other than DNS and IP"),
    (csr(request(), signer="kubernetes.io/kube-apiserver-client"), "signer"),
])
def test_everything_else_is_denied_with_a_reason(record: CsrRecord, reason: str) -> None:
    d = decide_serving_csr(record, INVENTORY)
    assert not d.approve and reason in d.reason, d.reason


def test_only_pending_serving_csrs_are_decided() -> None:
    pem = request()
    records = [csr(pem), CsrRecord("client", "kubernetes.io/kube-apiserver-client-kubelet", "system:bootstrap:x",
                                    ("system:bootstrappers",), ("client auth",), pem),
               CsrRecord("done", "kubernetes.io/kubelet-serving", "system:node:node-a", ("system:nodes",),
                         GOOD_USAGES, pem, state="Approved")]
    assert [d.csr for d in decide_pending(records, INVENTORY)] == ["csr-x"]


def test_the_csrs_of_a_departed_node_are_found_by_requester_and_by_the_name_they_ask_for() -> None:
    from dataclasses import replace

    records = [
        replace(csr(request()), name="serving-a"),
        replace(csr(request(dns=(), ips=()), user="system:bootstrap:abcdef",
                    signer="kubernetes.io/kube-apiserver-client-kubelet"), name="client-a"),
        replace(csr(request(cn="system:node:node-b", dns=("node-b",)), user="system:node:node-b"), name="serving-b"),
        replace(csr(b"not a pem", user="system:bootstrap:123456"), name="garbage"),
    ]
    assert csrs_by_node(records) == {"node-a": ["serving-a", "client-a"], "node-b": ["serving-b"]}
