"""Audit evaluation as data: observations of a 3-node cluster in, findings out (none when clean)."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest
import yaml

from kubeward.audit.evaluate import (
    CHECKS,
    SSHD_ALGORITHMS,
    SSHD_REQUIRED,
    AuditInputs,
    ExpectedFile,
    evaluate,
    parse_listeners,
    port_allowed,
    proof_gaps,
)
from kubeward.audit.model import (
    EXIT_INCOMPLETE,
    AuditReport,
    AuthorizedKey,
    FileStat,
    Finding,
    Incomplete,
    Listener,
    LocalObservation,
    Observations,
    PortProbe,
    PrivateKeyFile,
    SshAuthProbe,
    SshdContext,
    TlsProbe,
)
from kubeward.audit.probe import parse_local
from kubeward.audit.report import render_html
from kubeward.audit.sshd_policy import ContextDefaults, derive_contexts, parse_contexts, render_contexts_script
from kubeward.catalog.matrix import build_matrix
from kubeward.config import ClusterConfig, parse_config
from kubeward.ops.sshd import match_loosenings, parse_match_blocks

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFyHcpvoFU9dFloJmk8OQ/+icBDjiqm8gFKciq1gR8X9"
DOC = {
    "name": "test",
    "ssh": {"user": "debian", "key_path": "keys/id_ed25519"},
    "hosts": [
        {"name": "cp-1", "address": "192.0.2.10", "private_address": "10.0.0.10", "role": "control-plane"},
        {"name": "worker-1", "address": "192.0.2.11", "private_address": "10.0.0.11", "role": "worker"},
        {"name": "worker-2", "address": "192.0.2.12", "private_address": "10.0.0.12", "role": "worker"},
    ],
    "admin": {"name": "kubeadmin", "uid": 1500, "ssh_public_key": KEY},
    "network": {"private_subnet": "10.0.0.0/24", "admin_cidrs": ["198.51.100.0/24"]},
}
OPERATOR = "198.51.100.7"
PRIVATE = {"cp-1": "10.0.0.10", "worker-1": "10.0.0.11", "worker-2": "10.0.0.12"}
PUBLIC = {"cp-1": "192.0.2.10", "worker-1": "192.0.2.11", "worker-2": "192.0.2.12"}
ETCD_CA_KEY_SHA = hashlib.sha256(b"etcd ca key").hexdigest()
AK = "/home/kubeadmin/.ssh/authorized_keys"


def config(**top: object) -> ClusterConfig:
    return parse_config(yaml.safe_dump({**DOC, **top})).config


CONFIG = config()


def inputs(cfg: ClusterConfig = CONFIG) -> AuditInputs:
    inp = AuditInputs(cfg, build_matrix(cfg))
    for h in cfg.hosts:
        inp.compiled_firewall_sha[h.name] = f"compiled-{h.name}"
        inp.expected_files[h.name] = [
            ExpectedFile(AK, "kubeadmin", 0o600, True),
            ExpectedFile("/etc/sudoers.d/kubeward-kubeadmin", "root", 0o440, False),
        ]
        inp.ca_keys_allowed[h.name] = set()
    inp.ca_key_shas = {ETCD_CA_KEY_SHA: "etcd-ca"}
    return inp


def sshd_good() -> dict[str, str]:
    d = dict(SSHD_REQUIRED)
    d.update({k: ",".join(sorted(v)) for k, v in SSHD_ALGORITHMS.items()})
    d.update({"port": "22", "allowtcpforwarding": "yes"})
    return d


def local(name: str) -> LocalObservation:
    priv = PRIVATE[name]
    listeners = [
        Listener("tcp", "0.0.0.0", 22, "sshd"),
        Listener("tcp", "::", 22, "sshd"),
        Listener("tcp", "*", 10250, "kubelet"),
        Listener("tcp", "127.0.0.1", 10248, "kubelet"),
        Listener("tcp", "127.0.0.1", 10249, "kube-proxy"),
        Listener("tcp", "127.0.0.1", 10256, "kube-proxy"),
        Listener("udp", "127.0.0.53", 53, "systemd-resolve"),
        Listener("tcp", priv, 10250, "kubeward-probe"),
    ]
    if name == "cp-1":
        listeners += [
            Listener("tcp", priv, 2379, "etcd"),
            Listener("tcp", "127.0.0.1", 2379, "etcd"),
            Listener("tcp", priv, 2380, "etcd"),
            Listener("tcp", "127.0.0.1", 2381, "etcd"),
            Listener("tcp", priv, 6443, "kube-apiserver"),
            Listener("tcp", "127.0.0.1", 10257, "kube-controller"),
            Listener("tcp", "::1", 10259, "kube-scheduler"),
        ]
    return LocalObservation(
        listeners=listeners,
        sshd=sshd_good(),
        files=[FileStat(AK, "kubeadmin", "kubeadmin", 0o600, "a" * 64),
               FileStat("/etc/sudoers.d/kubeward-kubeadmin", "root", "root", 0o440, "b" * 64)],
        firewall_live_sha="live",
        firewall_recorded_sha="live",
        firewall_persisted_sha=f"compiled-{name}",
    )


def port(vantage: str, source: str, target: str, p: int, state: str, protocol: str = "tcp") -> PortProbe:
    src_addr = OPERATOR if source == "operator" else PRIVATE[source]
    dst_addr = PUBLIC[target] if vantage == "outside" else PRIVATE[target]
    return PortProbe(vantage, source, src_addr, target, dst_addr, p, protocol, state)  # type: ignore[arg-type]


def tls(target: str, p: int, row: str, **kw: object) -> TlsProbe:
    base: dict[str, object] = dict(target=target, port=p, row=row, handshake="ok", legacy_tls_accepted="",
                                   chain_ok=True, chain_error="", expected_ca="ca", san_ok=True,
                                   sans=(target, PRIVATE[target]), client_cert_required=None, http_status=401,
                                   http_path="/")
    base.update(kw)
    return TlsProbe(**base)  # type: ignore[arg-type]


def observations() -> Observations:
    obs = Observations(operator_address=OPERATOR)
    for name in PRIVATE:
        obs.local[name] = local(name)
        obs.ports += [port("outside", "operator", name, 22, "open"),
                      port("outside", "operator", name, 10250, "filtered"),
                      port("outside", "operator", name, 10255, "filtered")]
        obs.ssh_auth.append(SshAuthProbe(name, ("publickey",)))
        obs.tls.append(tls(name, 10250, "kubelet", expected_ca="ca"))
    obs.ports += [
        port("outside", "operator", "cp-1", 2379, "filtered"),
        port("outside", "operator", "cp-1", 6443, "filtered"),
        port("peer", "worker-1", "cp-1", 6443, "open"),
        port("peer", "worker-1", "cp-1", 2379, "filtered"),
        port("peer", "worker-1", "cp-1", 10250, "open"),
        port("peer", "cp-1", "worker-1", 10250, "open"),
        port("peer", "worker-2", "worker-1", 10256, "filtered"),
    ]
    obs.tls += [
        tls("cp-1", 6443, "kube-apiserver"),
        tls("cp-1", 2379, "etcd-client", expected_ca="etcd-ca", client_cert_required=True, http_status=None),
        tls("cp-1", 2380, "etcd-peer", expected_ca="etcd-ca", client_cert_required=True, http_status=None),
    ]
    return obs


def findings(obs: Observations, inp: AuditInputs | None = None) -> list[Finding]:
    return evaluate(inp or inputs(), obs)


def ids(fs: list[Finding]) -> list[tuple[str, str, int | None]]:
    return [(f.id, f.node, f.port) for f in fs]


def test_clean_cluster_has_no_findings() -> None:
    assert findings(observations()) == []


def test_check_table() -> None:
    assert [c.id for c in CHECKS] == ["listeners", "reachability", "outside-sweep", "tls", "ssh", "files",
                                      "private-keys", "authorized-keys", "firewall", "components", "kube-api"]


# ----- listeners ---------------------------------------------------------------------------------


def test_listen_forbidden_kubelet_read_only_port() -> None:
    obs = observations()
    obs.local["worker-2"].listeners.append(Listener("tcp", "0.0.0.0", 10255, "kubelet"))
    [f] = findings(obs)
    assert (f.id, f.severity, f.node, f.port, f.protocol, f.vantage) == (
        "KW-LISTEN-FORBIDDEN", "high", "worker-2", 10255, "tcp", "local")


def test_loopback_forbidden_port_is_not_a_finding() -> None:
    obs = observations()
    obs.local["worker-2"].listeners.append(Listener("tcp", "127.0.0.1", 10255, "kubelet"))
    assert findings(obs) == []


def test_bind_wide_etcd_metrics_on_control_plane() -> None:
    obs = observations()
    obs.local["cp-1"].listeners.append(Listener("tcp", "0.0.0.0", 2381, "etcd"))
    assert ids(findings(obs)) == [("KW-BIND-WIDE", "cp-1", 2381)]


def test_bind_public_etcd_client_on_every_address() -> None:
    obs = observations()
    obs.local["cp-1"].listeners.append(Listener("tcp", "0.0.0.0", 2379, "etcd"))
    [f] = findings(obs)
    assert (f.id, f.node, f.port, f.severity) == ("KW-BIND-PUBLIC", "cp-1", 2379, "high")
    assert "10.0.0.10" in f.fix


def test_bind_public_on_the_public_address_and_ipv6_wildcard() -> None:
    obs = observations()
    obs.local["cp-1"].listeners += [Listener("tcp", "192.0.2.10", 6443, "kube-apiserver"),
                                    Listener("tcp", "::", 2380, "etcd")]
    assert sorted(ids(findings(obs))) == [("KW-BIND-PUBLIC", "cp-1", 2380), ("KW-BIND-PUBLIC", "cp-1", 6443)]


def test_listen_unlisted() -> None:
    obs = observations()
    obs.local["worker-1"].listeners += [Listener("tcp", "0.0.0.0", 9999, "nc"), Listener("udp", "::", 5353, "avahi")]
    fs = findings(obs)
    assert [(f.id, f.node, f.port, f.protocol, f.severity) for f in fs] == [
        ("KW-LISTEN-UNLISTED", "worker-1", 9999, "tcp", "medium"),
        ("KW-LISTEN-UNLISTED", "worker-1", 5353, "udp", "low"),
    ]


def test_control_plane_port_on_a_worker_is_unlisted() -> None:
    obs = observations()
    obs.local["worker-1"].listeners.append(Listener("tcp", "10.0.0.11", 2379, "etcd"))
    assert ids(findings(obs)) == [("KW-LISTEN-UNLISTED", "worker-1", 2379)]


def test_preflights_listener_and_loopback_are_ignored() -> None:
    obs = observations()
    obs.local["worker-1"].listeners += [Listener("tcp", "127.0.0.1", 9999, "x"), Listener("tcp", "::1", 9998, "x"),
                                        Listener("tcp", "10.0.0.11", 10250, "kubeward-probe")]
    assert findings(obs) == []


def test_a_process_named_like_preflights_listener_elsewhere_is_reported() -> None:
    """Any process can call itself kubeward-probe: only preflight's port is left out."""
    obs = observations()
    obs.local["worker-1"].listeners.append(Listener("tcp", "0.0.0.0", 4444, "kubeward-probe"))
    assert ids(findings(obs)) == [("KW-LISTEN-UNLISTED", "worker-1", 4444)]


def test_preflights_listener_does_not_make_a_closed_kubelet_port_a_finding() -> None:
    """`up` reads the audit's facts while preflight's listener holds 10250; a peer that then finds
    10250 closed (no kubelet: Kubernetes is off) has not found a blocked path."""
    obs = observations()
    lo = obs.local["worker-1"]
    lo.listeners = [x for x in lo.listeners if x.process != "kubelet"]  # only preflight's listener on 10250
    obs.tls = [t for t in obs.tls if t.row != "kubelet"]
    obs.ports = [p for p in obs.ports if (p.target, p.port) != ("worker-1", 10250)]
    obs.ports.append(port("peer", "cp-1", "worker-1", 10250, "closed"))
    assert findings(obs) == []
    lo.listeners.append(Listener("tcp", "*", 10250, "kubelet"))  # a real kubelet there: blocked
    assert ids(findings(obs)) == [("KW-BLOCKED-PEER", "worker-1", 10250)]


# ----- reachability ------------------------------------------------------------------------------


def test_exposed_outside_etcd_from_the_operator() -> None:
    obs = observations()
    obs.ports.append(port("outside", "operator", "cp-1", 2379, "open"))
    [f] = findings(obs)
    assert (f.id, f.node, f.port, f.vantage, f.severity) == ("KW-EXPOSED-OUTSIDE", "cp-1", 2379, "outside", "high")
    assert "the operator's machine" in f.observed


def test_exposed_peer_etcd_from_a_worker() -> None:
    obs = observations()
    obs.ports.append(port("peer", "worker-2", "cp-1", 2379, "open"))
    [f] = findings(obs)
    assert (f.id, f.node, f.port, f.vantage) == ("KW-EXPOSED-PEER", "cp-1", 2379, "peer")
    assert "worker-2 (10.0.0.12)" in f.observed


def test_exposed_unlisted_port() -> None:
    obs = observations()
    obs.ports.append(port("outside", "operator", "worker-1", 9999, "open"))
    [f] = findings(obs)
    assert f.id == "KW-EXPOSED-OUTSIDE" and f.title.startswith("unlisted port")


def test_a_dnat_found_by_the_outside_sweep_is_a_high_finding_with_its_port() -> None:
    obs = observations()
    obs.swept = {name: 65535 - 120 for name in PRIVATE}
    # what the sweep records: a port nothing on the node listens on answers (a DNAT into a container)
    obs.ports.append(port("outside", "operator", "worker-1", 18080, "open"))
    [f] = findings(obs)
    assert (f.id, f.node, f.port, f.protocol, f.severity) == ("KW-EXPOSED-OUTSIDE", "worker-1", 18080, "tcp", "high")


def test_a_failed_outside_sweep_is_reported_for_every_node() -> None:
    obs = observations()
    obs.sweep_error = "the outside sweep of every TCP port failed: [Errno 24] Too many open files"
    fs = findings(obs)
    assert ids(fs) == [("KW-SWEEP-INCOMPLETE", n, None) for n in sorted(PRIVATE)]
    assert all(f.severity == "high" and "Too many open files" in f.observed for f in fs)


def test_ssh_from_outside_the_admin_cidrs_is_exposed() -> None:
    obs = observations()
    obs.ports.append(PortProbe("outside", "operator", "203.0.113.5", "worker-1", PUBLIC["worker-1"], 22, "tcp",
                               "open"))
    assert ids(findings(obs)) == [("KW-EXPOSED-OUTSIDE", "worker-1", 22)]


def test_blocked_peer_kubelet_while_listening() -> None:
    obs = observations()
    obs.ports.append(port("peer", "worker-2", "cp-1", 10250, "filtered"))
    [f] = findings(obs)
    assert (f.id, f.node, f.port, f.severity) == ("KW-BLOCKED-PEER", "cp-1", 10250, "medium")
    assert "nodes, pods must reach it" in f.observed


def test_blocked_but_not_listening_is_not_a_finding() -> None:
    obs = observations()
    obs.local["cp-1"].listeners = [x for x in obs.local["cp-1"].listeners if x.port != 10250]
    obs.ports.append(port("peer", "worker-2", "cp-1", 10250, "closed"))
    assert findings(obs) == []


def test_blocked_when_only_loopback_listens_is_not_a_finding() -> None:
    obs = observations()
    obs.local["cp-1"].listeners = [x for x in obs.local["cp-1"].listeners if x.port != 6443]
    obs.local["cp-1"].listeners.append(Listener("tcp", "127.0.0.1", 6443, "kube-apiserver"))
    obs.ports.append(port("peer", "worker-2", "cp-1", 6443, "filtered"))
    assert findings(obs) == []


# ----- TLS and HTTP ------------------------------------------------------------------------------


def test_tls_legacy() -> None:
    obs = observations()
    obs.tls.append(tls("cp-1", 6443, "kube-apiserver", legacy_tls_accepted="TLSv1.1"))
    [f] = findings(obs)
    assert (f.id, f.node, f.port, f.severity) == ("KW-TLS-LEGACY", "cp-1", 6443, "high")
    assert "TLSv1.1" in f.title


def test_tls_chain() -> None:
    obs = observations()
    obs.tls.append(tls("worker-1", 10250, "kubelet", chain_ok=False, chain_error="self-signed certificate",
                       san_ok=False))
    [f] = findings(obs)  # no SAN finding on top of a broken chain
    assert (f.id, f.node, f.port, f.observed) == ("KW-TLS-CHAIN", "worker-1", 10250, "self-signed certificate")


def test_tls_chain_not_judged_without_handshake() -> None:
    obs = observations()
    obs.tls.append(tls("worker-1", 10250, "kubelet", handshake="connection refused", chain_ok=False, san_ok=False,
                       http_status=None))
    assert findings(obs) == []


def test_tls_san() -> None:
    obs = observations()
    obs.tls.append(tls("worker-2", 10250, "kubelet", san_ok=False, sans=("localhost",)))
    foreign, f = findings(obs)
    assert (f.id, f.node, f.severity, f.observed) == ("KW-TLS-SAN", "worker-2", "medium", "SANs: localhost")
    # a kubelet's certificate names exactly its node: another name is a finding of its own
    assert (foreign.id, foreign.node, foreign.port) == ("KW-TLS-SAN-FOREIGN", "worker-2", 10250)


def test_tls_no_client_auth_on_etcd() -> None:
    obs = observations()
    obs.tls.append(tls("cp-1", 2379, "etcd-client", expected_ca="etcd-ca", client_cert_required=False,
                       http_status=200, http_path="/version"))
    [f] = findings(obs)  # and not also an anonymous-HTTP finding
    assert (f.id, f.node, f.port, f.severity) == ("KW-TLS-NO-CLIENT-AUTH", "cp-1", 2379, "critical")
    assert "HTTP 200 for /version" in f.observed


def test_http_anonymous_kubelet_403() -> None:
    obs = observations()
    obs.tls.append(tls("worker-1", 10250, "kubelet", http_status=403, http_path="/pods"))
    [f] = findings(obs)
    assert (f.id, f.node, f.port) == ("KW-HTTP-ANONYMOUS", "worker-1", 10250)
    assert "answered 403" in f.observed


def test_http_200_on_an_unauthenticated_row_is_fine() -> None:
    obs = observations()
    obs.tls.append(tls("worker-1", 10256, "kube-proxy-healthz", http_status=200))
    assert findings(obs) == []


# ----- SSH ---------------------------------------------------------------------------------------


def test_ssh_auth_methods() -> None:
    obs = observations()
    obs.ssh_auth[1] = SshAuthProbe("worker-1", ("publickey", "password"))
    [f] = findings(obs)
    assert (f.id, f.node, f.port, f.vantage) == ("KW-SSH-AUTH-METHODS", "worker-1", 22, "outside")
    assert "publickey, password" in f.observed


def test_ssh_auth_probe_error_is_not_a_finding() -> None:
    obs = observations()
    obs.ssh_auth[1] = SshAuthProbe("worker-1", (), "Connection timed out")
    assert findings(obs) == []


def test_ssh_auth_methods_reports_the_hosts_ssh_port() -> None:
    hosts = [dict(h) for h in DOC["hosts"]]  # type: ignore[attr-defined]
    hosts[1]["ssh"] = {"port": 2222}
    cfg = config(hosts=hosts)
    obs = observations()
    obs.ssh_auth[1] = SshAuthProbe("worker-1", ("publickey", "password"))
    [f] = [f for f in findings(obs, inputs(cfg)) if f.id == "KW-SSH-AUTH-METHODS"]
    assert f.port == 2222


def test_sshd_setting() -> None:
    obs = observations()
    obs.local["worker-2"].sshd["passwordauthentication"] = "yes"
    obs.local["worker-2"].sshd["permitrootlogin"] = "prohibit-password"
    fs = findings(obs)
    assert sorted(f.title for f in fs) == ["sshd passwordauthentication is yes", "sshd permitrootlogin is prohibit-password"]
    assert {(f.id, f.node) for f in fs} == {("KW-SSHD-SETTING", "worker-2")}


def test_sshd_algorithms() -> None:
    obs = observations()
    obs.local["cp-1"].sshd["ciphers"] += ",aes128-cbc"
    obs.local["cp-1"].sshd["macs"] = "hmac-sha1,hmac-sha2-256-etm@openssh.com"
    fs = findings(obs)
    assert [(f.id, f.node, f.severity) for f in fs] == [("KW-SSHD-ALGORITHMS", "cp-1", "medium")] * 2
    assert any("aes128-cbc" in f.observed for f in fs) and any("hmac-sha1" in f.observed for f in fs)


def test_sshd_not_read_is_not_judged() -> None:
    obs = observations()
    obs.local["cp-1"].sshd = {}
    assert findings(obs) == []


# ----- files -------------------------------------------------------------------------------------


def test_file_secret_mode() -> None:
    obs = observations()
    obs.local["worker-1"].files[0] = FileStat(AK, "kubeadmin", "kubeadmin", 0o644, "a" * 64)
    [f] = findings(obs)
    assert (f.id, f.node, f.severity, f.observed) == ("KW-FILE-SECRET-MODE", "worker-1", "high",
                                                      "kubeadmin:kubeadmin 0644")


def test_file_secret_wrong_owner() -> None:
    obs = observations()
    obs.local["worker-1"].files[0] = FileStat(AK, "root", "root", 0o600, "a" * 64)
    assert ids(findings(obs)) == [("KW-FILE-SECRET-MODE", "worker-1", None)]


def test_file_mode_of_a_non_secret() -> None:
    obs = observations()
    obs.local["cp-1"].files[1] = FileStat("/etc/sudoers.d/kubeward-kubeadmin", "root", "root", 0o666, "b" * 64)
    assert ids(findings(obs)) == [("KW-FILE-MODE", "cp-1", None)]


def test_ca_key_on_node() -> None:
    obs = observations()
    obs.local["worker-2"].files.append(FileStat("/tmp/ca.key", "root", "root", 0o600, ETCD_CA_KEY_SHA))
    [f] = findings(obs)
    assert (f.id, f.node, f.severity) == ("KW-CA-KEY-ON-NODE", "worker-2", "critical")
    assert "etcd-ca" in f.title and "/tmp/ca.key" in f.observed


def test_ca_key_on_node_allowed() -> None:
    obs = observations()
    obs.local["cp-1"].files.append(FileStat("/etc/kubernetes/pki/etcd/ca.key", "root", "root", 0o600,
                                            ETCD_CA_KEY_SHA))
    inp = inputs()
    inp.ca_keys_allowed["cp-1"] = {"etcd-ca"}
    assert findings(obs, inp) == []
    inp.ca_keys_allowed["cp-1"] = {"ca"}  # another CA's permission does not cover it
    assert ids(findings(obs, inp)) == [("KW-CA-KEY-ON-NODE", "cp-1", None)]


# ----- firewall ----------------------------------------------------------------------------------


def test_firewall_missing() -> None:
    obs = observations()
    obs.local["worker-1"].firewall_live_sha = ""
    assert ids(findings(obs)) == [("KW-FW-MISSING", "worker-1", None)]


def test_firewall_drift() -> None:
    obs = observations()
    obs.local["cp-1"].firewall_live_sha = "edited"
    assert ids(findings(obs)) == [("KW-FW-DRIFT", "cp-1", None)]


def test_firewall_outdated() -> None:
    obs = observations()
    obs.local["worker-2"].firewall_persisted_sha = "older"
    [f] = findings(obs)
    assert (f.id, f.node, f.severity) == ("KW-FW-OUTDATED", "worker-2", "medium")


def test_firewall_disabled_is_not_judged() -> None:
    cfg = config(firewall={"enabled": False})
    obs = observations()
    for lo in obs.local.values():
        lo.firewall_live_sha = ""
    assert findings(obs, inputs(cfg)) == []


# ----- unreachable, ordering, report -----------------------------------------------------------------


def test_unreachable() -> None:
    obs = observations()
    del obs.local["worker-2"]
    obs.unreachable["worker-2"] = "ssh: connect to host 192.0.2.12 port 22: Connection timed out"
    [f] = findings(obs)
    assert (f.id, f.node, f.severity) == ("KW-UNREACHABLE", "worker-2", "high")
    assert "timed out" in f.observed


def test_findings_sorted_by_node_then_severity_and_deduplicated() -> None:
    obs = observations()
    obs.local["worker-1"].listeners.append(Listener("tcp", "0.0.0.0", 9999, "nc"))  # medium
    obs.local["cp-1"].firewall_persisted_sha = "older"  # medium
    obs.tls.append(tls("cp-1", 2379, "etcd-client", client_cert_required=False, http_status=None))  # critical
    obs.ports += [port("outside", "operator", "cp-1", 2379, "open")] * 2  # high, twice
    fs = findings(obs)
    assert [(f.node, f.severity, f.id) for f in fs] == [
        ("cp-1", "critical", "KW-TLS-NO-CLIENT-AUTH"),
        ("cp-1", "high", "KW-EXPOSED-OUTSIDE"),
        ("cp-1", "medium", "KW-FW-OUTDATED"),
        ("worker-1", "medium", "KW-LISTEN-UNLISTED"),
    ]


def _report(*severities: str) -> AuditReport:
    fs = [Finding(f"KW-{i}", s, "n", "t", "o", "f") for i, s in enumerate(severities)]  # type: ignore[arg-type]
    return AuditReport(fs, Observations(), [])


def test_report_counts_and_failed() -> None:
    r = _report("high", "medium", "medium", "info")
    assert r.counts() == {"critical": 0, "high": 1, "medium": 2, "low": 0, "info": 1}
    assert r.failed("critical") is False
    assert r.failed("high") is True
    assert r.failed("info") is True
    assert _report("low").failed("medium") is False
    assert _report().failed("info") is False
    d = r.to_dict()
    assert d["schema"] == "kubeward.audit/v1" and d["counts"] == r.counts() and len(d["findings"]) == 4


# ----- port_allowed ------------------------------------------------------------------------------


@pytest.mark.parametrize(("target", "p", "proto", "source", "allowed"), [
    ("cp-1", 22, "tcp", OPERATOR, True),
    ("cp-1", 22, "tcp", "203.0.113.5", False),
    ("cp-1", 2379, "tcp", "10.0.0.10", True),
    ("cp-1", 2379, "tcp", "10.0.0.11", False),
    ("cp-1", 2379, "tcp", OPERATOR, False),
    ("cp-1", 6443, "tcp", "10.0.0.12", True),
    ("cp-1", 6443, "tcp", "10.244.3.7", True),       # pods
    ("worker-1", 10250, "tcp", "10.0.0.10", True),
    ("worker-1", 10255, "tcp", "10.0.0.10", False),  # closed row
    ("worker-1", 2379, "tcp", "10.0.0.10", False),   # not a worker's port
    ("worker-1", 8472, "udp", "10.0.0.12", False),   # cni: routes has no overlay port
    ("worker-1", 30050, "tcp", "203.0.113.5", True),  # nodeport_sources default 0.0.0.0/0
    ("worker-1", 10250, "tcp", "not-an-ip", False),
])
def test_port_allowed(target: str, p: int, proto: str, source: str, allowed: bool) -> None:
    assert port_allowed(inputs(), target, p, proto, source) is allowed


# ----- parse_listeners ---------------------------------------------------------------------------

SS_HTLNUP = """\
udp   UNCONN 0      0          127.0.0.53%lo:53         0.0.0.0:*    users:(("systemd-resolve",pid=301,fd=13))
udp   UNCONN 0      0                0.0.0.0:8472       0.0.0.0:*
tcp   LISTEN 0      128              0.0.0.0:22         0.0.0.0:*    users:(("sshd",pid=1,fd=3))
tcp   LISTEN 0      128                 [::]:22            [::]:*    users:(("sshd",pid=1,fd=4))
tcp   LISTEN 0      4096           10.0.0.10:2379       0.0.0.0:*    users:(("etcd",pid=77,fd=8),("etcd",pid=77,fd=9))
tcp   LISTEN 0      4096                   *:10250            *:*    users:(("kubelet",pid=88,fd=20))
tcp   LISTEN 0      4096      [fe80::1%eth1]:2380          [::]:*    users:(("etcd",pid=77,fd=10))
Netid State  Recv-Q Send-Q Local Address:Port Peer Address:Port Process
tcp   LISTEN 0      4096           0.0.0.0:bad        0.0.0.0:*
"""


def test_parse_listeners() -> None:
    assert parse_listeners(SS_HTLNUP) == [
        Listener("udp", "127.0.0.53", 53, "systemd-resolve"),
        Listener("udp", "0.0.0.0", 8472, ""),
        Listener("tcp", "0.0.0.0", 22, "sshd"),
        Listener("tcp", "::", 22, "sshd"),
        Listener("tcp", "10.0.0.10", 2379, "etcd"),
        Listener("tcp", "*", 10250, "kubelet"),
        Listener("tcp", "fe80::1", 2380, "etcd"),
    ]


def test_parsed_listeners_feed_the_checks() -> None:
    obs = observations()
    obs.local["cp-1"] = dataclasses.replace(obs.local["cp-1"], listeners=parse_listeners(SS_HTLNUP))
    # [::]:22 and *:10250 are fine ("all"), 2380 on a link-local address is not the private one, and
    # 8472/udp (a VXLAN overlay kubeward does not run) is no port of the matrix
    assert ids(findings(obs)) == [("KW-BIND-PUBLIC", "cp-1", 2380), ("KW-LISTEN-UNLISTED", "cp-1", 8472)]


# ----- incomplete proofs (issue 13, defect 10) ---------------------------------------------------------


def test_a_failed_ssh_auth_probe_makes_the_proof_incomplete_not_clean() -> None:
    obs = observations()
    obs.ssh_auth[1] = SshAuthProbe("worker-1", (), "Connection timed out")
    del obs.ssh_auth[2]  # worker-2: the probe never answered at all
    gaps = proof_gaps(inputs(), obs)
    assert [(g.node, g.check) for g in gaps] == [("worker-1", "ssh-auth"), ("worker-2", "ssh-auth")]
    assert "Connection timed out" in gaps[0].reason
    report = AuditReport(findings(obs), obs, [], incomplete=gaps)
    assert report.findings == [] and not report.complete
    assert report.exit_code("high") == EXIT_INCOMPLETE == 3
    d = report.to_dict()
    assert d["proof"] == "incomplete" and d["incomplete"][0]["node"] == "worker-1"


def test_findings_win_over_an_incomplete_proof_and_a_clean_proof_exits_0() -> None:
    obs = observations()
    assert proof_gaps(inputs(), obs) == []
    assert AuditReport(findings(obs), obs, []).exit_code("high") == 0
    gap = [Incomplete("cp-1", "peer", "x")]
    assert AuditReport([Finding("KW-X", "high", "n", "t", "o", "f")], obs, [], incomplete=gap).exit_code("high") == 1
    assert AuditReport([Finding("KW-X", "low", "n", "t", "o", "f")], obs, [], incomplete=gap).exit_code("high") == 3


def test_gaps_of_the_local_view_and_unreachable_nodes_are_not_proven() -> None:
    obs = observations()
    obs.local["cp-1"].gaps.append(("sshd", "sshd -T printed no settings"))
    obs.unreachable["worker-2"] = "connection refused"
    obs.local["worker-1"].private_keys.append(PrivateKeyFile("/srv/x.key", "root", "root", 0o600, (), True))
    got = {(g.node, g.check) for g in proof_gaps(inputs(), obs)}
    assert got == {("cp-1", "sshd"), ("worker-2", "local"), ("worker-1", "keys")}


def test_incomplete_proof_in_html_and_table() -> None:
    obs = observations()
    gap = Incomplete("worker-1", "ssh-auth", "the probe timed out")
    page = render_html(AuditReport([], obs, [], incomplete=[gap]), build_matrix(CONFIG), "t")
    assert 'id="incomplete"' in page and "the probe timed out" in page and "No finding at high" in page
    assert "proof is incomplete" in page
    assert 'id="incomplete"' not in render_html(AuditReport([], obs, []), build_matrix(CONFIG), "t")


# ----- sshd in every context (defect 13) -----------------------------------------------------------


def test_sshd_access_options_are_an_allow_list() -> None:
    obs = observations()
    obs.local["worker-1"].sshd["trustedusercakeys"] = "/etc/ssh/evil_ca.pub"
    obs.local["worker-1"].sshd["authorizedkeyscommand"] = "/usr/bin/fetch-keys %u"
    obs.local["cp-1"].sshd["authorizedkeysfile"] = ".ssh/authorized_keys /var/lib/extra/%u"
    obs.local["cp-1"].sshd["pubkeyacceptedalgorithms"] = "ssh-ed25519,rsa-sha2-512"
    obs.local["worker-2"].sshd["strictmodes"] = "no"
    got = {(f.node, f.title) for f in findings(obs) if f.id == "KW-SSHD-SETTING" and f.severity == "high"}
    assert got == {("worker-1", "sshd trustedusercakeys is /etc/ssh/evil_ca.pub"),
                   ("worker-1", "sshd authorizedkeyscommand is /usr/bin/fetch-keys %u"),
                   ("cp-1", "sshd authorizedkeysfile is .ssh/authorized_keys /var/lib/extra/%u"),
                   ("cp-1", "sshd pubkeyacceptedalgorithms is rsa-sha2-512"),
                   ("worker-2", "sshd strictmodes is no")}


def test_a_match_context_that_loosens_sshd_is_a_high_finding() -> None:
    obs = observations()
    bad = {**obs.local["cp-1"].sshd, "permitrootlogin": "yes", "passwordauthentication": "yes"}
    obs.local["cp-1"].sshd_contexts = [
        SshdContext("user=root,host=10.9.9.9,addr=10.9.9.9", "Match Address 10.9.9.9 (/etc/ssh/sshd_config:130)",
                    bad),
        SshdContext("user=debian,host=1.2.3.4,addr=1.2.3.4", "Match User debian (x:1)", obs.local["cp-1"].sshd)]
    fs = findings(obs)
    assert {(f.id, f.node, f.severity) for f in fs} == {("KW-SSHD-MATCH", "cp-1", "high")}
    assert sorted(f.title for f in fs) == ["sshd passwordauthentication is yes in a Match context",
                                           "sshd permitrootlogin is yes in a Match context"]
    assert all("user=root,host=10.9.9.9,addr=10.9.9.9" in f.observed and "Match Address 10.9.9.9" in f.observed
               for f in fs)


DEFAULTS = ContextDefaults(("root", "kubeadmin", "debian"), OPERATOR, "192.0.2.10", 22)
USERS = {"root": (0, 0, "/root"), "debian": (1000, 1000, "/home/debian"), "backup": (34, 34, "/var/backups"),
         "deploy": (1001, 1001, "/home/deploy")}
GROUPS = {"sudo": (27, ("debian",)), "deploy": (1001, ()), "empty": (2000, ())}


def _contexts(text: str) -> list[str]:
    specs, gaps = derive_contexts(parse_match_blocks({"/etc/ssh/sshd_config": text}), DEFAULTS, USERS, GROUPS)
    assert gaps == []
    return [s for s, _ in specs]


@pytest.mark.parametrize(("match", "expected"), [
    ("Match Address 10.9.9.9", [f"user={u},host=10.9.9.9,addr=10.9.9.9,laddr=192.0.2.10,lport=22"
                                for u in ("root", "kubeadmin", "debian")]),
    ("Match User root Address 203.0.113.0/24,!203.0.113.1",
     ["user=root,host=203.0.113.2,addr=203.0.113.2,laddr=192.0.2.10,lport=22"]),
    ("Match Address 10.1.*", [f"user={u},host=10.1.1.1,addr=10.1.1.1,laddr=192.0.2.10,lport=22"
                              for u in ("root", "kubeadmin", "debian")]),
    ("Match User *,!debian,!kubeadmin", ["user=kw,host=198.51.100.7,addr=198.51.100.7,laddr=192.0.2.10,lport=22",
                                         "user=root,host=198.51.100.7,addr=198.51.100.7,laddr=192.0.2.10,lport=22",
                                         "user=backup,host=198.51.100.7,addr=198.51.100.7,laddr=192.0.2.10,lport=22",
                                         "user=deploy,host=198.51.100.7,addr=198.51.100.7,laddr=192.0.2.10,lport=22"]),
    ("Match Group sudo,deploy", ["user=debian,host=198.51.100.7,addr=198.51.100.7,laddr=192.0.2.10,lport=22",
                                 "user=deploy,host=198.51.100.7,addr=198.51.100.7,laddr=192.0.2.10,lport=22"]),
    ("Match LocalPort 2222 Host *.example.org", [
        f"user={u},host=kw.example.org,addr=198.51.100.7,laddr=192.0.2.10,lport=2222"
        for u in ("root", "kubeadmin", "debian")]),
    ("Match Group empty", []),          # nobody is in it: it selects no login today
    ("Match User !root", []),           # only negations never match (sshd's rule)
    ("Match User root User debian", []),  # criteria that exclude each other
])
def test_contexts_are_derived_from_every_match_block(match: str, expected: list[str]) -> None:
    assert _contexts(f"PasswordAuthentication no\n{match}\n  PermitRootLogin yes\n") == expected


def test_match_blocks_of_every_file_and_unknown_criteria_are_gaps() -> None:
    files = {"/etc/ssh/sshd_config": "Match all\n X11Forwarding yes\n",
             "/etc/ssh/sshd_config.d/x.conf": "# c\nMatch=Address 10.9.9.9\nMatch Version 9.*\n"}
    blocks = parse_match_blocks(files)
    assert [b.where for b in blocks] == ["Match all (/etc/ssh/sshd_config:1)",
                                         "Match address 10.9.9.9 (/etc/ssh/sshd_config.d/x.conf:2)",
                                         "Match version 9.* (/etc/ssh/sshd_config.d/x.conf:3)"]
    specs, gaps = derive_contexts(blocks, DEFAULTS, USERS, GROUPS)
    assert len(specs) == 6 and len(gaps) == 1 and "version" in gaps[0]


def test_contexts_script_and_its_output() -> None:
    script = render_contexts_script(["user=root,host=h,addr=10.9.9.9"])
    assert "sshd -T -C user=root,host=h,addr=10.9.9.9" in script
    got = parse_contexts("@@ctx user=root,host=h,addr=10.9.9.9\nport 22\nTrustedUserCAKeys /etc/A.pub\n@@rc 0\n"
                         "@@ctx user=x,host=h,addr=1.2.3.4\nBad configuration option\n@@rc 255\n")
    assert got["user=root,host=h,addr=10.9.9.9"] == ({"port": "22", "trustedusercakeys": "/etc/A.pub"}, "")
    assert got["user=x,host=h,addr=1.2.3.4"] == (None, "Bad configuration option")


# ----- keys and credentials (defect 14) ------------------------------------------------------------


def test_unknown_authorized_keys_for_root_the_admin_and_others() -> None:
    inp = inputs()
    admin_blob = KEY.split()[1]
    for h in inp.config.hosts:
        inp.authorized_keys[h.name] = {"kubeadmin": {admin_blob}, "debian": {"LOGINKEY"}}
    obs = observations()
    lo = obs.local["worker-1"]
    lo.authorized_keys = [
        AuthorizedKey("kubeadmin", AK, 1, "ssh-ed25519", admin_blob, ""),
        AuthorizedKey("debian", "/home/debian/.ssh/authorized_keys", 1, "ssh-ed25519", "LOGINKEY", ""),
        AuthorizedKey("root", "/root/.ssh/authorized_keys", 1, "ssh-ed25519", "ATTACKER", 'from="1.2.3.4"'),
        AuthorizedKey("kubeadmin", "/home/kubeadmin/.ssh/authorized_keys2", 3, "ssh-rsa", "EXTRA", ""),
        AuthorizedKey("backup", "/var/backups/.ssh/authorized_keys", 1, "ssh-ed25519", admin_blob, "cert-authority"),
    ]
    fs = [f for f in findings(obs, inp) if f.id == "KW-SSH-KEY-UNKNOWN"]
    assert sorted((f.node, f.severity, f.title) for f in fs) == [
        ("worker-1", "high", "an unknown key may log in as root"),
        ("worker-1", "high", "an unknown key may log in as user backup"),
        ("worker-1", "high", "an unknown key may log in as user kubeadmin"),
    ]
    assert any("authorized_keys2:3" in f.observed for f in fs) and any('from="1.2.3.4"' in f.observed for f in fs)


def test_any_private_key_readable_by_others_and_ca_keys_by_public_key() -> None:
    inp = inputs()
    inp.ca_key_fingerprints = {"spki:" + "c" * 64: "ca", "ssh:" + "d" * 64: "etcd-ca"}
    obs = observations()
    obs.local["cp-1"].private_keys = [
        PrivateKeyFile("/etc/kubernetes/pki/etcd/peer-copy.key", "root", "root", 0o644, ("spki:" + "e" * 64,), True),
        PrivateKeyFile("/etc/kubernetes/pki/etcd/peer.key", "etcd", "etcd", 0o600, ("spki:" + "e" * 64,), True),
    ]
    obs.local["worker-1"].private_keys = [
        PrivateKeyFile("/opt/backup/ca-pkcs8.pem", "root", "root", 0o600, ("spki:" + "c" * 64,), True),
        PrivateKeyFile("/root/id_etcd", "root", "root", 0o600, ("ssh:" + "d" * 64,), True),
    ]
    got = {(f.id, f.node, f.severity, f.title) for f in findings(obs, inp)}
    assert got == {
        ("KW-KEY-READABLE", "cp-1", "high", "/etc/kubernetes/pki/etcd/peer-copy.key holds a private key others can read"),
        ("KW-CA-KEY-ON-NODE", "worker-1", "critical", "the ca private key is on this node"),
        ("KW-CA-KEY-ON-NODE", "worker-1", "critical", "the etcd-ca private key is on this node"),
    }
    inp.ca_keys_allowed["worker-1"] = {"ca", "etcd-ca"}
    assert not [f for f in findings(obs, inp) if f.node == "worker-1"]


def test_parse_local_reads_keys_authorized_keys_and_sshd_files_without_fake_sections() -> None:
    text = "\n".join([
        "@@ss", "@@sshd", "port 22", "PasswordAuthentication no", "@@sshd-rc 0",
        "@@file /etc/ssh/sshd_config", " Include /etc/ssh/sshd_config.d/*.conf", " @@fw", " Match Address 10.9.9.9",
        "  PermitRootLogin yes",
        "@@files", "@@passwd", "root:0:0:/root", "debian:1000:1000:/home/debian", "@@group", "sudo:27:debian",
        "@@ak", "@@akfile root|root|600|/root/.ssh/authorized_keys",
        ' command="echo a b",from="1.2.3.4" ssh-ed25519 AAAAKEY evil', " @@end", " # comment",
        "@@keys", "@@searched 12", "m|root|root|644|spki:" + "a" * 64 + "|/etc/x.key",
        "n|root|root|600|spki:" + "b" * 64 + " ssh:" + "c" * 64 + "|/etc/kubernetes/admin.conf",
        "@@gap keys|openssl is not installed",
        "@@fw", "", "absent", "", "", "@@end"])
    lo = parse_local(text)
    assert lo.sshd == {"port": "22", "passwordauthentication": "no"}
    assert lo.sshd_files == {"/etc/ssh/sshd_config": "Include /etc/ssh/sshd_config.d/*.conf\n@@fw\n"
                             "Match Address 10.9.9.9\n PermitRootLogin yes"}
    assert lo.users["debian"] == (1000, 1000, "/home/debian") and lo.groups["sudo"] == (27, ("debian",))
    assert lo.authorized_keys == [AuthorizedKey("root", "/root/.ssh/authorized_keys", 1, "ssh-ed25519", "AAAAKEY",
                                                'command="echo a b",from="1.2.3.4"', "root", 0o600),
                                  AuthorizedKey("root", "/root/.ssh/authorized_keys", 2, "unparsed", "@@end", "",
                                                "root", 0o600)]
    assert [(k.path, k.mode, k.marker, len(k.fingerprints)) for k in lo.private_keys] == [
        ("/etc/x.key", 0o644, True, 1), ("/etc/kubernetes/admin.conf", 0o600, False, 2)]
    assert lo.gaps == [("keys", "openssl is not installed")]
    assert parse_local("@@ss\n@@sshd\n@@sshd-rc 1\n").gaps[0][0] == "local"


def test_match_loosenings_are_reported_by_up() -> None:
    files = {"/etc/ssh/sshd_config": "Match Address 10.9.9.9\n  PermitRootLogin yes\n  PasswordAuthentication yes\n"
             "Match User deploy\n  AllowTcpForwarding no\n  X11Forwarding no\n",
             "/etc/ssh/sshd_config.d/50-dev.conf": "Match Group dev\n  StrictModes no\n  MaxAuthTries 6\n"}
    loose, dev = match_loosenings(files, [])
    assert dev == "Match group dev (/etc/ssh/sshd_config.d/50-dev.conf:1) sets strictmodes no"
    assert "Match address 10.9.9.9 (/etc/ssh/sshd_config:1)" in loose
    assert "permitrootlogin yes" in loose and "passwordauthentication yes" in loose
