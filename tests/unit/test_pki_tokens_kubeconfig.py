"""Tokens (bootstrap and static) and kubeconfig rendering."""

from __future__ import annotations

import base64
import math
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from kubeward.config import parse_config
from kubeward.pki import (
    ROWS,
    BootstrapToken,
    ClientCertData,
    PkiError,
    StaticToken,
    api_server_url,
    new_bootstrap_token,
    new_ca,
    new_cert,
    new_static_token,
    parse_bootstrap_token,
    parse_cert,
    parse_static_token_file,
    render_bootstrap_token_secret,
    render_cert_kubeconfig,
    render_kubeconfig,
    render_kubelet_bootstrap_kubeconfig,
    render_kubelet_kubeconfig,
    render_static_token_file,
)

NOW = datetime(2030, 1, 1, tzinfo=UTC)
CLUSTER = """\
name: tok
ssh: {user: debian, key_path: keys/id_ed25519}
hosts:
  - {name: cp-1, address: 192.0.2.10, private_address: 10.0.0.10, role: control-plane}
  - {name: cp-2, address: 192.0.2.11, private_address: 10.0.0.11, role: control-plane}
  - {name: cp-3, address: 192.0.2.12, private_address: 10.0.0.12, role: control-plane}
  - {name: worker-1, address: 192.0.2.21, private_address: 10.0.0.21, role: worker}
admin:
  name: kubeadmin
  uid: 1500
  ssh_public_key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFyHcpvoFU9dFloJmk8OQ/+icBDjiqm8gFKciq1gR8X9 a@b
network:
  private_subnet: 10.0.0.0/24
  admin_cidrs: [198.51.100.0/24]
  api_port: 8443
"""
# the line from the token file format the apiserver reads (../shared/seeds/003)
SEED_LINE = '02b50b05283e98dd0fd71db496ef01e8,kubelet-bootstrap,10001,"system:kubelet-bootstrap"'


# --- bootstrap tokens ----------------------------------------------------------------------------


def test_bootstrap_token_format_and_expiry() -> None:
    t = new_bootstrap_token(NOW, timedelta(hours=2))
    assert re.fullmatch(r"[a-z0-9]{6}\.[a-z0-9]{16}", t.token)
    assert t.token == f"{t.id}.{t.secret}"
    assert t.expires == NOW + timedelta(hours=2)
    assert not t.expired(NOW + timedelta(hours=1)) and t.expired(NOW + timedelta(hours=2))
    assert t.secret not in repr(t)
    assert parse_bootstrap_token(t.token, t.expires) == t
    for bad in ("ABCDEF.0123456789abcdef", "abcdef.0123456789abcde", "abcdef0123456789abcdef", "abc.def"):
        with pytest.raises(PkiError):
            parse_bootstrap_token(bad, NOW)
    with pytest.raises(PkiError):
        BootstrapToken("abcdef", "0123456789abcdef", datetime(2030, 1, 1))  # naive expiry


def test_bootstrap_tokens_use_the_whole_alphabet_and_never_repeat() -> None:
    tokens = [new_bootstrap_token(NOW) for _ in range(2000)]
    assert len({t.token for t in tokens}) == len(tokens)
    assert len({t.id for t in tokens}) > 1990  # 36^6 ids: collisions in 2000 are rare
    counts = Counter("".join(t.secret for t in tokens))
    assert set(counts) == set("abcdefghijklmnopqrstuvwxyz0123456789")
    # roughly uniform: every character within 30% of the mean (32000 draws / 36)
    mean = 16 * len(tokens) / 36
    assert all(abs(c - mean) < 0.3 * mean for c in counts.values())
    # the secret carries all the format allows: 16 characters from 36
    assert 16 * math.log2(36) > 82


def test_bootstrap_token_secret_manifest() -> None:
    t = BootstrapToken("abcdef", "0123456789abcdef", NOW + timedelta(hours=24))
    doc = yaml.safe_load(render_bootstrap_token_secret(t))
    assert doc["metadata"] == {"name": "bootstrap-token-abcdef", "namespace": "kube-system"}
    assert doc["type"] == "bootstrap.kubernetes.io/token"
    data = doc["stringData"]
    assert (data["token-id"], data["token-secret"], data["expiration"]) == (
        "abcdef", "0123456789abcdef", "2030-01-02T00:00:00Z")
    assert data["usage-bootstrap-authentication"] == "true"
    assert data["auth-extra-groups"].startswith("system:bootstrappers:")


# --- static tokens -------------------------------------------------------------------------------


def test_static_token_file_matches_the_seed_format() -> None:
    tokens = parse_static_token_file(SEED_LINE + "\n")
    assert tokens == (StaticToken("02b50b05283e98dd0fd71db496ef01e8", "kubelet-bootstrap", "10001",
                                  ("system:kubelet-bootstrap",)),)
    assert render_static_token_file(tokens) == SEED_LINE + "\n"
    two = StaticToken("0" * 32, "ops", "42", ("group1", "group2"))
    none = StaticToken("1" * 32, "bot", "43")
    text = render_static_token_file([two, none])
    assert text == f'{"0" * 32},ops,42,"group1,group2"\n{"1" * 32},bot,43\n'
    assert parse_static_token_file(text) == (two, none)


def test_static_tokens_are_128_random_bits() -> None:
    group = ("system:kubelet-bootstrap",)
    tokens = [new_static_token("kubelet-bootstrap", "10001", group) for _ in range(500)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", t.token) for t in tokens)
    assert len({t.token for t in tokens}) == 500
    assert set("".join(t.token for t in tokens)) == set("0123456789abcdef")
    assert tokens[0].token not in repr(tokens[0])


@pytest.mark.parametrize("user, groups", [("a,b", ()), ("x", ('sys"tem',)), ("", ()), ("x", ("a b",))])
def test_static_token_fields_breaking_the_file_are_refused(user: str, groups: tuple[str, ...]) -> None:
    with pytest.raises(PkiError):
        StaticToken("0" * 32, user, "1", groups)


def test_static_token_file_errors_name_the_line() -> None:
    with pytest.raises(PkiError, match="line 2"):
        parse_static_token_file(SEED_LINE + "\nonly,two\n")


# --- kubeconfigs ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def material() -> dict[str, Any]:
    cfg = parse_config(CLUSTER).config
    ca = new_ca(ROWS["ca"], cfg, NOW)
    certs = {n: new_cert(ROWS[n], ca, cfg, None, NOW)
             for n in ("admin", "cluster-admin", "controller-manager", "scheduler")}
    return {"cfg": cfg, "ca": ca, "certs": certs}


def parse_kubeconfig(text: str, ca_pem: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    doc = yaml.safe_load(text)
    assert doc["apiVersion"] == "v1" and doc["kind"] == "Config"
    (cluster,) = doc["clusters"]
    (user,) = doc["users"]
    (context,) = doc["contexts"]
    assert doc["current-context"] == context["name"]
    assert context["context"] == {"cluster": cluster["name"], "user": user["name"]}
    embedded = base64.b64decode(cluster["cluster"]["certificate-authority-data"])
    assert embedded == ca_pem
    parse_cert(embedded)
    return cluster["cluster"], user


@pytest.mark.parametrize("which, server, user", [
    ("admin", "https://192.0.2.10:8443", "kubernetes-super-admin"),
    ("cluster-admin", "https://192.0.2.10:8443", "kubeward-admin"),
    ("controller-manager", "https://10.0.0.10:8443", "system:kube-controller-manager"),
    ("scheduler", "https://10.0.0.10:8443", "system:kube-scheduler"),
])
def test_certificate_kubeconfigs(material: dict[str, Any], which: Any, server: str, user: str) -> None:
    cfg, ca, cert = material["cfg"], material["ca"], material["certs"][which]
    text = render_cert_kubeconfig(cfg, which, ca.cert_pem(), cert.cert_pem(), cert.key_pem())
    cluster, u = parse_kubeconfig(text, ca.cert_pem())
    assert cluster["server"] == server and u["name"] == user
    assert base64.b64decode(u["user"]["client-certificate-data"]) == cert.cert_pem()
    assert base64.b64decode(u["user"]["client-key-data"]) == cert.key_pem()
    other = render_cert_kubeconfig(cfg, which, ca.cert_pem(), cert.cert_pem(), cert.key_pem(),
                                   server="https://lb.example.com:443")
    assert parse_kubeconfig(other, ca.cert_pem())[0]["server"] == "https://lb.example.com:443"


def test_kubelet_kubeconfigs(material: dict[str, Any]) -> None:
    cfg, ca = material["cfg"], material["ca"]
    token = BootstrapToken("abcdef", "0123456789abcdef", NOW + timedelta(hours=1))
    cluster, user = parse_kubeconfig(render_kubelet_bootstrap_kubeconfig(cfg, ca.cert_pem(), token),
                                     ca.cert_pem())
    assert cluster["server"] == "https://10.0.0.10:8443"
    assert user["user"] == {"token": "abcdef.0123456789abcdef"}
    cluster, user = parse_kubeconfig(render_kubelet_kubeconfig(cfg, cfg.host("worker-1"), ca.cert_pem()),
                                     ca.cert_pem())
    assert user["name"] == "system:node:worker-1"
    assert user["user"] == {"client-certificate": "/var/lib/kubelet/pki/kubelet-client.crt",
                            "client-key": "/var/lib/kubelet/pki/kubelet-client.key"}
    embedded = render_kubelet_kubeconfig(cfg, cfg.host("worker-1"), ca.cert_pem(), server="https://x:1",
                                         credentials=ClientCertData(b"C", b"K"))
    cluster, user = parse_kubeconfig(embedded, ca.cert_pem())
    assert cluster["server"] == "https://x:1" and user["user"]["client-key-data"] == "Sw=="


def test_server_urls_bracket_ipv6() -> None:
    assert api_server_url("2001:db8::1", 6443) == "https://[2001:db8::1]:6443"
    assert api_server_url("api.example.com", 6443) == "https://api.example.com:6443"
    text = render_kubeconfig(cluster_name="c", server="https://[2001:db8::1]:6443", ca_pem=b"x", user="u",
                             credentials=ClientCertData(b"a", b"b"))
    assert yaml.safe_load(text)["clusters"][0]["cluster"]["server"] == "https://[2001:db8::1]:6443"
