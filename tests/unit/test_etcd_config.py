"""The etcd member configuration file and the systemd drop-in (pure)."""

from __future__ import annotations

import yaml

from kubeward.config import ClusterConfig, parse_config
from kubeward.etcd.config import (
    CONFIG_PATH,
    Bootstrap,
    cipher_suites,
    desired_initial_cluster,
    new_cluster_bootstrap,
    parse_bootstrap,
    render_config,
    render_dropin,
)

CLUSTER = """\
name: prod-eu
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
"""

#: every key etcd 3.4's configuration file reads that kubeward writes (etcd ignores unknown keys
#: silently, so a typo would be a silent hole)
ETCD_34_KEYS = {
    "name", "data-dir", "listen-client-urls", "advertise-client-urls", "listen-peer-urls",
    "initial-advertise-peer-urls", "listen-metrics-urls", "initial-cluster", "initial-cluster-state",
    "initial-cluster-token", "strict-reconfig-check", "enable-v2", "enable-pprof", "enable-grpc-gateway",
    "logger", "log-outputs", "client-transport-security", "peer-transport-security", "cipher-suites",
}
SECURITY_KEYS = {"cert-file", "key-file", "trusted-ca-file", "client-cert-auth", "auto-tls"}


def cluster(extra: str = "") -> ClusterConfig:
    return parse_config(CLUSTER + extra).config


def rendered(config: ClusterConfig, host: str = "cp-2", bootstrap: Bootstrap | None = None) -> dict:  # type: ignore[type-arg]
    text = render_config(config, config.host(host), bootstrap or new_cluster_bootstrap(config))
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def test_urls_bind_the_private_address_and_loopback_only() -> None:
    d = rendered(cluster())
    assert d["name"] == "cp-2"
    assert d["listen-client-urls"] == "https://10.0.0.11:2379,https://127.0.0.1:2379"
    assert d["advertise-client-urls"] == "https://10.0.0.11:2379"
    assert d["listen-peer-urls"] == d["initial-advertise-peer-urls"] == "https://10.0.0.11:2380"
    assert d["listen-metrics-urls"] == "http://127.0.0.1:2381"
    assert "0.0.0.0" not in str(d) and "192.0.2" not in str(d)


def test_mutual_tls_on_client_and_peer_and_no_v2() -> None:
    d = rendered(cluster())
    client, peer = d["client-transport-security"], d["peer-transport-security"]
    assert set(client) == set(peer) == SECURITY_KEYS
    assert client["client-cert-auth"] is True and peer["client-cert-auth"] is True
    assert client["auto-tls"] is False and peer["auto-tls"] is False
    assert client["cert-file"] == "/etc/kubernetes/pki/etcd/server.crt"
    assert client["key-file"] == "/etc/kubernetes/pki/etcd/server.key"
    assert peer["cert-file"] == "/etc/kubernetes/pki/etcd/peer.crt"
    assert peer["key-file"] == "/etc/kubernetes/pki/etcd/peer.key"
    assert client["trusted-ca-file"] == peer["trusted-ca-file"] == "/etc/kubernetes/pki/etcd/ca.crt"
    assert d["enable-v2"] is False and d["enable-pprof"] is False
    # etcd 3.4 turns the JSON gateway off for config files; kubeward's own client needs it
    assert d["enable-grpc-gateway"] is True


def test_only_keys_etcd_34_reads() -> None:
    d = rendered(cluster())
    assert set(d) == ETCD_34_KEYS
    assert "tls-min-version" not in d  # etcd 3.5+; 3.4 has TLS 1.2 built in as its minimum


def test_cipher_suites_are_aead_and_follow_the_key_type() -> None:
    ecdsa = rendered(cluster())["cipher-suites"]
    assert ecdsa == ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
                     "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305"]
    rsa = rendered(cluster("pki: {key_type: rsa-3072}\n"))["cipher-suites"]
    assert all(s.startswith("TLS_ECDHE_RSA_WITH_") for s in rsa) and len(rsa) == 3
    for suite in [*ecdsa, *rsa, *cipher_suites("rsa-2048")]:
        assert ("GCM" in suite or "CHACHA20_POLY1305" in suite) and "CBC" not in suite


def test_configured_ports_and_data_dir() -> None:
    d = rendered(cluster("etcd: {data_dir: /srv/etcd, client_port: 12379, peer_port: 12380, metrics_port: 12381}\n"))
    assert d["data-dir"] == "/srv/etcd"
    assert d["listen-client-urls"] == "https://10.0.0.11:12379,https://127.0.0.1:12379"
    assert d["initial-advertise-peer-urls"] == "https://10.0.0.11:12380"
    assert d["listen-metrics-urls"] == "http://127.0.0.1:12381"
    assert d["initial-cluster"].count(":12380") == 3


def test_new_cluster_bootstrap_lists_every_control_plane_and_a_token_from_the_name() -> None:
    c = cluster()
    d = rendered(c)
    assert d["initial-cluster"] == ("cp-1=https://10.0.0.10:2380,cp-2=https://10.0.0.11:2380,"
                                    "cp-3=https://10.0.0.12:2380")
    assert d["initial-cluster"] == desired_initial_cluster(c)
    assert d["initial-cluster-state"] == "new"
    assert d["initial-cluster-token"] == "kubeward-prod-eu"


def test_bootstrap_round_trips_and_a_joining_member_says_existing() -> None:
    c = cluster()
    joining = Bootstrap("existing", "cp-1=https://10.0.0.10:2380,cp-2=https://10.0.0.11:2380", "kubeward-prod-eu")
    text = render_config(c, c.host("cp-2"), joining)
    assert parse_bootstrap(text) == joining
    assert rendered(c, bootstrap=joining)["initial-cluster-state"] == "existing"
    # the same inputs render the same bytes: a second `up` compares equal and restarts nothing
    assert text == render_config(c, c.host("cp-2"), joining)


def test_parse_bootstrap_rejects_what_is_not_a_kubeward_file() -> None:
    assert parse_bootstrap("") is None
    assert parse_bootstrap(": : not yaml [") is None
    assert parse_bootstrap("name: x\n") is None
    assert parse_bootstrap("initial-cluster: a=https://x:2380\ninitial-cluster-state: maybe\n"
                           "initial-cluster-token: t\n") is None


def test_yaml_quoting_survives_odd_values() -> None:
    c = cluster()
    b = Bootstrap("new", "cp-1=https://10.0.0.10:2380", "it's")
    assert parse_bootstrap(render_config(c, c.host("cp-1"), b)) == b


def test_dropin_replaces_the_command_and_the_environment() -> None:
    text = render_dropin()
    lines = text.splitlines()
    assert "[Service]" in lines
    i = lines.index("ExecStart=")
    assert lines[i + 1] == f"ExecStart=/usr/bin/etcd --config-file {CONFIG_PATH}"
    assert "Environment=" in lines and "EnvironmentFile=" in lines
    assert "Restart=on-failure" in lines
    assert not CONFIG_PATH.startswith("/etc/kubeward/")  # 0700 root (firewall phase): etcd could not read it
