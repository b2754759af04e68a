"""ensure_pki and the store: reuse, re-issue exactly what changed and say why, expiry, CA cascade,
orphans, file modes, atomic writes; status; renew."""

from __future__ import annotations

import os
import stat
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kubeward.config import ClusterConfig, parse_config
from kubeward.pki import (
    ROWS,
    Issued,
    PkiError,
    PkiReport,
    PkiStore,
    desire,
    ensure_pki,
    new_ca,
    parse_cert,
    parse_private_key,
    read_pki_status,
    render_private_key,
    resolve_renew,
    sign_cert,
)
from kubeward.pki.keys import new_private_key

NOW = datetime(2030, 1, 1, tzinfo=UTC)
CLUSTER = """\
name: pkitest
ssh: {user: debian, key_path: keys/id_ed25519}
hosts:
  - {name: cp-1, address: 192.0.2.10, private_address: 10.0.0.10, role: control-plane}
  - {name: cp-2, address: 192.0.2.11, private_address: 10.0.0.11, role: control-plane}
  - {name: cp-3, address: 192.0.2.12, private_address: 10.0.0.12, role: control-plane}
  - {name: worker-1, address: 192.0.2.21, private_address: 10.0.0.21, role: worker}
  - {name: worker-2, address: 192.0.2.22, private_address: 10.0.0.22, role: worker}
admin:
  name: kubeadmin
  uid: 1500
  ssh_public_key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFyHcpvoFU9dFloJmk8OQ/+icBDjiqm8gFKciq1gR8X9 a@b
network:
  private_subnet: 10.0.0.0/24
  admin_cidrs: [198.51.100.0/24]
"""
# etcd-ca: 3 clients + 2 per control plane; ca: 7 + 2 per control plane + 1 per host; front-proxy-ca: 1
LEAVES = (3 + 2 * 3) + (7 + 2 * 3 + 5) + 1  # etcd; Kubernetes (loopback serving per CP, API proxy per host); sa


def config(text: str, tmp_path: Path) -> ClusterConfig:
    return parse_config(text, base_dir=tmp_path).config


@pytest.fixture
def cfg(tmp_path: Path) -> ClusterConfig:
    return config(CLUSTER, tmp_path)


@pytest.fixture
def store(cfg: ClusterConfig) -> PkiStore:
    return PkiStore.for_config(cfg)


def changed(report: PkiReport) -> dict[str, str]:
    return {e.name: e.action for e in report.changed}


def test_first_run_issues_everything_second_reuses_everything(cfg: ClusterConfig, store: PkiStore) -> None:
    first = ensure_pki(cfg, store, NOW)
    assert {e.action for e in first.entries} == {"issued"}
    assert len(first.entries) == 4 + LEAVES + 1  # CAs (3 roots, kubelet-signer), leaves, sa
    before = {p: store.path(p).read_bytes() for p in store.read_files()}
    second = ensure_pki(cfg, store, NOW + timedelta(days=10))
    assert second.changed == ()
    assert {e.action for e in second.entries} == {"reused"}
    assert {p: store.path(p).read_bytes() for p in store.read_files()} == before
    assert read_pki_status(cfg, store, NOW).ok


def test_store_modes_and_layout(cfg: ClusterConfig, store: PkiStore) -> None:
    ensure_pki(cfg, store, NOW)
    root = cfg.state_dir / "pki"
    assert store.root == root
    for d in (root, root / "etcd"):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, d
    files = store.read_files()
    assert "etcd/server-cp-2.crt" in files and "etcd/peer-cp-3.key" in files and "sa.pub" in files
    for rel in files:
        mode = stat.S_IMODE(store.path(rel).stat().st_mode)
        assert mode == (0o600 if rel.endswith(".key") else 0o644), rel
    # atomic writes leave no temporary files behind
    assert all(not name.startswith(".") for _, _, names in os.walk(root) for name in names)


def test_loose_key_mode_is_tightened(cfg: ClusterConfig, store: PkiStore) -> None:
    ensure_pki(cfg, store, NOW)
    os.chmod(store.path("apiserver.key"), 0o644)
    os.chmod(store.path("etcd"), 0o755)
    report = ensure_pki(cfg, store, NOW)
    assert report.modes_fixed == ("etcd/", "apiserver.key") and report.changed == ()
    assert stat.S_IMODE(store.path("apiserver.key").stat().st_mode) == 0o600
    assert stat.S_IMODE(store.path("etcd").stat().st_mode) == 0o700


def test_new_private_address_reissues_exactly_the_affected_certs(tmp_path: Path, store: PkiStore) -> None:
    ensure_pki(config(CLUSTER, tmp_path), store, NOW)
    edited = config(CLUSTER.replace("10.0.0.11", "10.0.0.99"), tmp_path)
    report = ensure_pki(edited, store, NOW)
    assert changed(report) == {n: "reissued" for n in
                               ("apiserver", "etcd-server-cp-2", "etcd-peer-cp-2")}
    for e in report.changed:
        assert "SANs differ" in e.reason and "10.0.0.99" in e.reason and "10.0.0.11" in e.reason, e
    assert ensure_pki(edited, store, NOW).changed == ()


def test_new_public_address_reissues_the_apiserver_only(tmp_path: Path, store: PkiStore) -> None:
    ensure_pki(config(CLUSTER, tmp_path), store, NOW)
    edited = config(CLUSTER.replace("192.0.2.11", "192.0.2.99"), tmp_path)
    report = ensure_pki(edited, store, NOW)
    assert changed(report) == {"apiserver": "reissued"}  # kubelets ask for serving certificates by CSR


def test_extra_sans_and_service_cidr_change_only_the_apiserver(tmp_path: Path, store: PkiStore) -> None:
    ensure_pki(config(CLUSTER, tmp_path), store, NOW)
    text = CLUSTER + "  service_cidr: 10.40.0.0/16\npki: {extra_sans: [api.example.com]}\n"
    edited = config(text, tmp_path)
    report = ensure_pki(edited, store, NOW)
    assert changed(report) == {"apiserver": "reissued"}
    assert "api.example.com" in report.changed[0].reason and "10.40.0.1" in report.changed[0].reason


def test_a_new_worker_needs_only_its_api_proxy_client_and_old_kubelet_files_are_orphans(
        tmp_path: Path, store: PkiStore) -> None:
    ensure_pki(config(CLUSTER, tmp_path), store, NOW)
    worker_3 = "  - {name: worker-3, address: 192.0.2.23, private_address: 10.0.0.23, role: worker}\n"
    added = CLUSTER.replace("admin:", worker_3 + "admin:")
    assert changed(ensure_pki(config(added, tmp_path), store, NOW)) == {"api-proxy-worker-3": "issued"}
    # what kubeward issued per node before kubelets bootstrapped themselves
    store.write_file("kubelet/client-worker-2.crt", b"x", 0o644)
    store.write_file("kubelet/client-worker-2.key", b"x", 0o600)
    report = ensure_pki(config(added, tmp_path), store, NOW)
    assert report.changed == ()
    assert report.orphaned == ("kubelet/client-worker-2.crt", "kubelet/client-worker-2.key")


def test_expiry_within_renew_window_reissues_leaves(cfg: ClusterConfig, store: PkiStore) -> None:
    ensure_pki(cfg, store, NOW)
    # cert_validity_days 365, renew_before_days 30: day 334 is outside the window, day 336 inside
    assert ensure_pki(cfg, store, NOW + timedelta(days=334)).changed == ()
    later = NOW + timedelta(days=336)
    st = read_pki_status(cfg, store, later)
    assert {c.name: c.state for c in st.certs if c.state != "ok"}.keys() == \
        {d.name for d in st.certs if d.kind == "cert"}
    assert {c.state for c in st.certs if c.kind == "cert"} == {"expiring"}
    report = ensure_pki(cfg, store, later)
    leaves = {e.name for e in report.entries if e.kind == "cert"}
    assert changed(report) == dict.fromkeys(leaves, "reissued")
    assert all("within pki.renew_before_days 30" in e.reason for e in report.changed)
    assert ensure_pki(cfg, store, later).changed == ()


def test_expired_certificate_is_reported_and_reissued(cfg: ClusterConfig, store: PkiStore) -> None:
    ensure_pki(cfg, store, NOW)
    later = NOW + timedelta(days=400)
    states = {c.name: c.state for c in read_pki_status(cfg, store, later).certs}
    assert states["apiserver"] == "expired" and states["ca"] == "ok" and states["sa"] == "ok"
    report = ensure_pki(cfg, store, later)
    assert report.action_of("apiserver") == "reissued"
    assert read_pki_status(cfg, store, later).ok


def test_expiring_ca_reissues_itself_and_every_leaf_it_signed(cfg: ClusterConfig, store: PkiStore) -> None:
    ensure_pki(cfg, store, NOW)
    later = NOW + timedelta(days=3650 - 10)
    report = ensure_pki(cfg, store, later)
    actions = changed(report)
    assert set(actions) == {e.name for e in report.entries if e.kind in ("ca", "cert")}
    assert "sa" not in actions
    etcd_server = next(e for e in report.entries if e.name == "etcd-server-cp-1")
    assert "its CA etcd-ca was reissued" in etcd_server.reason
    assert read_pki_status(cfg, store, later).ok


def test_leaf_that_does_not_verify_against_its_ca_is_reissued(cfg: ClusterConfig, store: PkiStore) -> None:
    ensure_pki(cfg, store, NOW)
    rogue_ca = new_ca(ROWS["ca"], cfg, NOW)  # same name, different key
    forged = sign_cert(desire(ROWS["apiserver"], cfg), rogue_ca, cfg.pki, NOW)
    store.write_file("apiserver.crt", forged.cert_pem(), 0o644)
    store.write_file("apiserver.key", forged.key_pem(), 0o600)
    assert {c.name: c.state for c in read_pki_status(cfg, store, NOW).certs}["apiserver"] == "mismatch"
    report = ensure_pki(cfg, store, NOW)
    assert changed(report) == {"apiserver": "reissued"}
    assert "signature does not verify against its CA" in report.changed[0].reason


def test_key_that_does_not_match_is_reissued(cfg: ClusterConfig, store: PkiStore) -> None:
    ensure_pki(cfg, store, NOW)
    store.write_file("scheduler.key", render_private_key(new_private_key("ecdsa-p256")), 0o600)
    report = ensure_pki(cfg, store, NOW)
    assert changed(report) == {"scheduler": "reissued"}
    assert "is not the key of" in report.changed[0].reason


def test_usages_and_subject_off_table_are_reissued(cfg: ClusterConfig, store: PkiStore) -> None:
    ensure_pki(cfg, store, NOW)
    real_ca = Issued(parse_cert(store.read_bytes("ca.crt")), parse_private_key(store.read_bytes("ca.key")))
    wrong_eku = replace(ROWS["scheduler"], ext_key_usages=("serverAuth", "clientAuth"))
    bad = sign_cert(desire(wrong_eku, cfg), real_ca, cfg.pki, NOW)
    store.write_file("scheduler.crt", bad.cert_pem(), 0o644)
    store.write_file("scheduler.key", bad.key_pem(), 0o600)
    wrong_cn = replace(ROWS["admin"], common_name="someone-else", organisation=())
    bad = sign_cert(desire(wrong_cn, cfg), real_ca, cfg.pki, NOW)
    store.write_file("admin.crt", bad.cert_pem(), 0o644)
    store.write_file("admin.key", bad.key_pem(), 0o600)
    report = ensure_pki(cfg, store, NOW)
    assert changed(report) == {"scheduler": "reissued", "admin": "reissued"}
    reasons = {e.name: e.reason for e in report.changed}
    assert "extended key usages" in reasons["scheduler"]
    assert "common name is 'someone-else'" in reasons["admin"] and "organisation" in reasons["admin"]


def test_key_type_change_reissues_leaves_not_cas(tmp_path: Path, store: PkiStore) -> None:
    ensure_pki(config(CLUSTER, tmp_path), store, NOW)
    rsa = config(CLUSTER + "pki: {key_type: rsa-2048}\n", tmp_path)
    report = ensure_pki(rsa, store, NOW)
    assert {e.kind for e in report.changed} == {"cert"}
    assert all("pki.key_type is rsa-2048" in e.reason for e in report.changed)


def test_garbage_and_missing_files(cfg: ClusterConfig, store: PkiStore) -> None:
    ensure_pki(cfg, store, NOW)
    store.write_file("front-proxy-client.crt", b"not a certificate", 0o644)
    store.path("etcd/healthcheck-client.key").unlink()
    store.path("sa.pub").unlink()
    states = {c.name: c.state for c in read_pki_status(cfg, store, NOW).certs}
    assert states["front-proxy-client"] == "mismatch"
    assert states["etcd-healthcheck-client"] == "missing"
    assert states["sa"] == "mismatch"
    report = ensure_pki(cfg, store, NOW)
    assert changed(report) == {"front-proxy-client": "reissued", "etcd-healthcheck-client": "reissued"}
    assert "sa.pub re-derived" in next(e.reason for e in report.entries if e.name == "sa")
    assert read_pki_status(cfg, store, NOW).ok


def test_lost_ca_key_is_an_error_not_a_new_ca(cfg: ClusterConfig, store: PkiStore) -> None:
    ensure_pki(cfg, store, NOW)
    store.path("etcd/ca.key").unlink()
    with pytest.raises(PkiError, match="etcd/ca.key is missing"):
        ensure_pki(cfg, store, NOW)
    assert {c.name: c.state for c in read_pki_status(cfg, store, NOW).certs}["etcd-ca"] == "missing"
    report = ensure_pki(cfg, store, NOW, resolve_renew(cfg, ["etcd-ca"], include_cas=True))
    etcd_signed = ("etcd", "apiserver-etcd", "kubeward-etcd")
    etcd_leaves = {e.name for e in report.entries if e.name.startswith(etcd_signed)}
    assert set(changed(report)) == etcd_leaves


def test_renew(cfg: ClusterConfig, store: PkiStore) -> None:
    ensure_pki(cfg, store, NOW)
    assert resolve_renew(cfg, ["apiserver", "etcd-server"]) == {
        "apiserver", "etcd-server-cp-1", "etcd-server-cp-2", "etcd-server-cp-3",
    }
    report = ensure_pki(cfg, store, NOW, resolve_renew(cfg, ["etcd-peer-cp-3"]))
    assert changed(report) == {"etcd-peer-cp-3": "reissued"}
    assert report.changed[0].reason == "renewal requested"
    all_leaves = resolve_renew(cfg, [], all_leaves=True)
    report = ensure_pki(cfg, store, NOW, all_leaves)
    assert {e.kind for e in report.changed} == {"cert"} and len(report.changed) == LEAVES
    with pytest.raises(PkiError, match="--include-cas"):
        resolve_renew(cfg, ["ca"])
    with pytest.raises(PkiError, match="service-account"):
        resolve_renew(cfg, ["sa"])
    with pytest.raises(PkiError, match="no certificate called 'etcd-server-worker-1'"):
        resolve_renew(cfg, ["etcd-server-worker-1"])
    everything = resolve_renew(cfg, [], all_leaves=True, include_cas=True)
    report = ensure_pki(cfg, store, NOW, everything)
    assert {e.action for e in report.entries} == {"reissued"}
    assert read_pki_status(cfg, store, NOW).ok


def test_status_json_shape(cfg: ClusterConfig, store: PkiStore) -> None:
    st = read_pki_status(cfg, store, NOW)
    assert not st.ok and {c.state for c in st.certs} == {"missing"}
    ensure_pki(cfg, store, NOW)
    doc = read_pki_status(cfg, store, NOW).to_dict()
    assert doc["ok"] is True
    certs = doc["certs"]
    assert isinstance(certs, list)
    api = next(c for c in certs if c["name"] == "apiserver")
    assert api["subject"] == "CN=kube-apiserver" and api["issuer"] == "CN=kubernetes-ca"
    assert "10.96.0.1" in api["sans"] and api["days_left"] == 365 and api["state"] == "ok"


def test_store_refuses_paths_outside_itself(store: PkiStore) -> None:
    for bad in ("../x.key", "/etc/passwd", ""):
        with pytest.raises(PkiError):
            store.path(bad)
