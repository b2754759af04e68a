"""Loading cluster.yml: good files load, each kind of mistake is reported at its exact line:col."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from kubeward.cli.main import cli
from kubeward.config import ConfigError, ConfigIssue, LoadedConfig, load_config, parse_config

DATA = Path(__file__).parent / "data"
GOOD = (DATA / "good.yml").read_text()
EXAMPLE = Path(__file__).parents[2] / "examples" / "cluster.yml"
RSA_KEY = (DATA / "rsa.pub").read_text().strip()
ED25519_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFyHcpvoFU9dFloJmk8OQ/+icBDjiqm8gFKciq1gR8X9"


def variant(old: str, new: str, text: str = GOOD) -> str:
    assert text.count(old) == 1, f"{old!r} must occur exactly once"
    return text.replace(old, new)


def errors_of(text: str) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    return list(info.value.errors)


# --- the good files ----------------------------------------------------------------------------


def test_good_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "cluster.yml"
    path.write_text(GOOD)
    loaded = load_config(path)
    assert isinstance(loaded, LoadedConfig)
    config = loaded.config
    assert loaded.warnings == ()
    assert [h.name for h in config.control_planes] == ["cp-1"]
    assert [h.name for h in config.workers] == ["worker-1", "worker-2"]
    assert config.host("worker-2").private_address.exploded == "10.0.0.12"
    # relative paths are resolved against cluster.yml's directory
    assert config.hosts[0].ssh.key_path == tmp_path / "keys" / "id_ed25519"
    assert loaded.state_dir == tmp_path / ".kubeward"
    assert loaded.base_dir == tmp_path
    assert loaded.resolve_path("ca/ca.crt") == tmp_path / "ca" / "ca.crt"
    assert loaded.resolve_path("/etc/x") == Path("/etc/x")


def test_example_file_validates() -> None:
    loaded = load_config(EXAMPLE)
    assert len(loaded.config.hosts) == 3
    assert loaded.warnings == ()


def test_defaults() -> None:
    config = parse_config(GOOD).config
    assert config.name == "test"
    assert config.admin.gid == 1500
    assert config.admin.groups == ("sudo",)
    net = config.network
    assert (str(net.pod_cidr), str(net.service_cidr), net.cni, net.ipv6, net.api_port) == (
        "10.244.0.0/16",
        "10.96.0.0/12",
        "routes",
        "drop",
        6443,
    )
    assert (net.nodeport_lo, net.nodeport_hi) == (30001, 30099)
    assert [str(n) for n in net.nodeport_sources] == ["0.0.0.0/0"]
    assert config.firewall.enabled and config.firewall.rollback_seconds == 60
    assert (config.etcd.client_port, config.etcd.peer_port, config.etcd.metrics_port) == (2379, 2380, 2381)
    assert str(config.etcd.data_dir) == "/var/lib/etcd" and config.etcd.source == "apt"
    assert (config.pki.key_type, config.pki.ca_validity_days, config.pki.cert_validity_days) == (
        "ecdsa-p256",
        3650,
        365,
    )
    assert config.pki.renew_before_days == 30 and not config.pki.ca_keys_on_nodes
    assert config.hosts[0].private_interface == "eth1"
    assert config.hosts[0].ssh.port == 22
    assert not config.addons.ingress_nginx.enabled


# --- every kind of mistake, at its exact place -------------------------------------------------

CASES = [
    pytest.param(
        variant("private_subnet: 10.0.0.0/24", "private_subnet: 10.0.0/24"),
        "23:19: network.private_subnet expected an IPv4 CIDR like 10.0.0.0/24, got '10.0.0/24'",
        id="bad-cidr",
    ),
    pytest.param(
        variant("    address: 192.0.2.11", "    adress: 192.0.2.11"),
        "11:5: hosts[1] unknown key 'adress' (did you mean 'address'? allowed: name, address, "
        "private_address, private_interface, role, ssh, labels)",
        id="unknown-key",
    ),
    pytest.param(
        variant("name: worker-2", "name: worker-1"),
        "14:11: hosts[2].name worker-1 is already used by hosts[1]; every host needs its own name",
        id="duplicate-host-name",
    ),
    pytest.param(
        variant("uid: 1500", "uid: [1500]"),
        "20:8: admin.uid expected an integer from 1000 to 60000, got a list",
        id="wrong-type",
    ),
    pytest.param(
        variant("private_address: 10.0.0.12", "private_address: 10.1.0.9"),
        "16:22: hosts[2].private_address 10.1.0.9 is not inside network.private_subnet 10.0.0.0/24",
        id="address-outside-subnet",
    ),
    pytest.param(
        GOOD + "  pod_cidr: 10.0.0.0/16\n",
        "25:13: network.pod_cidr 10.0.0.0/16 overlaps network.private_subnet 10.0.0.0/24; "
        "the private network, pods and services need separate ranges",
        id="overlapping-cidrs",
    ),
    pytest.param(
        variant("role: control-plane", "role: worker"),
        "6:3: hosts has no host with role control-plane; at least one is needed to run etcd and the "
        "API server",
        id="no-control-plane",
    ),
    pytest.param(
        variant(ED25519_KEY, RSA_KEY),
        "21:19: admin.ssh_public_key is an ssh-rsa key, but kubeward's hardened sshd accepts only "
        "ssh-ed25519 keys",
        id="rsa-admin-key",
    ),
    pytest.param(
        (DATA / "bad-syntax.yml").read_text(),
        "5:4: YAML syntax error: expected <block end>, but found '<block mapping start>'",
        id="yaml-syntax",
    ),
    pytest.param(
        (DATA / "duplicate-key.yml").read_text(),
        "10:5: hosts[0].address is a duplicate key (first set at line 7); remove one of them",
        id="duplicate-key",
    ),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_mistake_is_located(text: str, expected: str, tmp_path: Path) -> None:
    path = tmp_path / "cluster.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.exit_code == 2
    lines = str(info.value).splitlines()
    assert any(line.startswith(f"{path}:{expected}") for line in lines), lines

    result = CliRunner().invoke(cli, ["validate", "-c", str(path)])
    assert result.exit_code == 2
    assert f"{path}:{expected}" in result.stderr


def test_all_issues_are_collected() -> None:
    text = variant("uid: 1500", "uid: 5")
    text = variant("private_subnet: 10.0.0.0/24", "private_subnet: banana", text)
    text = variant("role: worker\n  - name: worker-2", "role: wroker\n  - name: worker-2", text)
    issues = errors_of(text)
    assert [(i.line, i.col, i.path_str) for i in issues] == [
        (13, 11, "hosts[1].role"),
        (20, 8, "admin.uid"),
        (23, 19, "network.private_subnet"),
    ]
    assert "did you mean 'worker'?" in issues[0].message


def test_issue_str_format() -> None:
    issue = ConfigIssue("cluster.yml", 14, 18, "hosts[2].private_address", "10.1.0.9 is not inside x")
    assert str(issue) == "cluster.yml:14:18: hosts[2].private_address 10.1.0.9 is not inside x"
    warning = ConfigIssue("c.yml", 1, 2, "hosts", "odd", "warning")
    assert str(warning) == "c.yml:1:2: warning: hosts odd"


@pytest.mark.parametrize(
    ("old", "new", "where", "message"),
    [
        ("uid: 1500", "uid: '1500'", "20:8", "admin.uid expected an integer from 1000 to 60000, got '1500'"),
        (
            "role: worker\n  - name: worker-2",
            "role: worker\n    labels: {gpu: true}\n  - name: worker-2",
            "14:19",
            "hosts[1].labels.gpu expected a label value like frontend, got true (quote it)",
        ),
        (
            "private_address: 10.0.0.11",
            "private_address: 10.0.0.300",
            "12:22",
            "hosts[1].private_address expected an IPv4 address like 10.0.0.5, got '10.0.0.300'",
        ),
        (
            "admin_cidrs: [198.51.100.0/24]",
            "admin_cidrs: [198.51.100.7/24]",
            "24:17",
            "network.admin_cidrs[0] expected a CIDR like 203.0.113.0/24 or a single address like "
            "203.0.113.7, got '198.51.100.7/24' (host bits are set: did you mean 198.51.100.0/24",
        ),
        (
            "admin_cidrs: [198.51.100.0/24]",
            "admin_cidrs: []",
            "24:16",
            "network.admin_cidrs expected at least 1 item",
        ),
        (
            "    private_address: 10.0.0.11\n",
            "",
            "10:5",
            "hosts[1].private_address is required but missing: IPv4 address on the private network",
        ),
        ("name: test", "name: !!python/object:os.system test", "1:7", "name has YAML tag '!!python/object"),
        ("name: test", "name: Test", "1:7", "name expected a name of 1-63 lower-case letters"),
        (
            "key_path: keys/id_ed25519",
            "key_path: ~no-such-user-kw/id",
            "4:13",
            "ssh.key_path expected a file path; '~no-such-user-kw' names a home directory that does not "
            "exist",
        ),
    ],
)
def test_more_mistakes(old: str, new: str, where: str, message: str) -> None:
    issues = errors_of(variant(old, new))
    rendered = [str(i) for i in issues]
    assert any(r.startswith(f"cluster.yml:{where}: {message}") for r in rendered), rendered


def test_missing_admin_uid_is_reported_once() -> None:
    issues = errors_of(variant("  uid: 1500\n", ""))
    assert [(i.path_str, i.line, i.col) for i in issues] == [("admin.uid", 19, 3)]


def test_invalid_ssh_default_is_reported_once() -> None:
    issues = errors_of(variant("user: debian", "user: Debian"))
    assert [i.path_str for i in issues] == ["ssh.user"]


def test_host_without_ssh_user_anywhere() -> None:
    issues = errors_of(variant("  user: debian\n", ""))
    assert [(i.path_str, i.line) for i in issues] == [
        ("hosts[0].ssh.user", 5),
        ("hosts[1].ssh.user", 9),
        ("hosts[2].ssh.user", 13),
    ]
    assert "top-level ssh" in issues[0].message


def test_yaml_11_oddities_stay_strings() -> None:
    # `22:22` would be sexagesimal 1342 and `no` would be false in YAML 1.1
    issues = errors_of(variant("  user: debian\n", "  user: debian\n  port: 22:22\n"))
    assert [str(i) for i in issues] == [
        "cluster.yml:4:9: ssh.port expected a port number from 1 to 65535, got '22:22'"
    ]
    config = parse_config(variant("name: test", "name: no").replace("user: debian", "user: on")).config
    assert (config.name, config.ssh.user) == ("no", "on")


def test_warnings_do_not_fail() -> None:
    text = variant("role: worker\n  - name: worker-2", "role: control-plane\n  - name: worker-2")
    loaded = parse_config(text)
    assert [(w.severity, w.path_str, w.line) for w in loaded.warnings] == [("warning", "hosts", 6)]
    assert "odd number" in loaded.warnings[0].message


def test_extra_port_collision_names_both() -> None:
    text = GOOD + "firewall:\n  extra_ports:\n    - {name: mine, port: 10250, sources: [world]}\n"
    [issue] = errors_of(text)
    assert (issue.line, issue.col, issue.path_str) == (27, 26, "firewall.extra_ports[0].port")
    assert "10250/tcp (mine) collides with kubelet API 10250/tcp" in issue.message


def test_configurable_ports_collide() -> None:
    issues = errors_of(GOOD + "  api_port: 2379\n")
    assert [(i.line, i.path_str) for i in issues] == [(1, "etcd.client_port"), (25, "network.api_port")]
    assert "collides with etcd client 2379/tcp (set at etcd.client_port)" in issues[1].message


def test_ssh_merge_and_bastion_inheritance() -> None:
    text = variant(
        "  key_path: keys/id_ed25519\n",
        "  key_path: keys/id_ed25519\n  port: 2222\n  bastion: {address: jump.example.com}\n",
    )
    text = variant(
        "    role: worker\n  - name: worker-2",
        "    role: worker\n    ssh: {user: ops, bastion: null}\n  - name: worker-2",
        text,
    )
    config = parse_config(text, base_dir=Path("/cfg")).config
    cp, w1, w2 = config.hosts
    assert (cp.ssh.user, cp.ssh.port, cp.ssh.key_path) == ("debian", 2222, Path("/cfg/keys/id_ed25519"))
    assert cp.ssh.bastion is not None
    assert (cp.ssh.bastion.user, cp.ssh.bastion.key_path, cp.ssh.bastion.port) == (
        "debian",
        Path("/cfg/keys/id_ed25519"),
        22,
    )
    assert (w1.ssh.user, w1.ssh.bastion) == ("ops", None)
    assert w2.ssh.bastion is not None


def test_merge_keys_and_anchors() -> None:
    text = variant(
        "  - name: worker-2\n    address: 192.0.2.12\n    private_address: 10.0.0.12\n    role: worker\n",
        "  - &w\n    name: worker-2\n    address: 192.0.2.12\n    private_address: 10.0.0.12\n"
        "    role: worker\n"
        "  - <<: *w\n    name: worker-3\n    address: 192.0.2.13\n    private_address: 10.0.0.13\n",
    )
    config = parse_config(text).config
    assert [h.role for h in config.hosts] == ["control-plane", "worker", "worker", "worker"]
    # a mistake in a merged-in value points at where it is written
    bad = variant("    role: worker\n  - <<: *w", "    role: wroker\n  - <<: *w", text)
    assert {(i.path_str, i.line) for i in errors_of(bad)} == {("hosts[2].role", 18), ("hosts[3].role", 18)}


# --- file problems -----------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yml")
    assert (
        str(info.value) == f"{tmp_path / 'nope.yml'}:1:1: does not exist; create it (examples/cluster.yml "
        "shows every part) or pass -c PATH"
    )


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "cluster.yml"
    path.write_bytes(b"name: x\nhosts: \xff\xfe\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}:2:8: is not UTF-8 text (byte 0xff)")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "cluster.yml:1:1: is empty; it needs at least hosts, admin and network"),
        ("# only a comment\n", "cluster.yml:1:1: is empty; it needs at least hosts, admin and network"),
        (
            "- a\n- b\n",
            "cluster.yml:1:1: must be a mapping of keys like hosts, admin and network, got a list",
        ),
        (
            "just text",
            "cluster.yml:1:1: must be a mapping of keys like hosts, admin and network, got 'just text'",
        ),
        ("a: 1\n---\nb: 2\n", "cluster.yml:2:1: holds a second YAML document here"),
        ("name: a\x00b\n", "cluster.yml:1:8: contains the character U+0000, which YAML does not allow"),
        (
            "a:\n\tb: 1\n",
            "cluster.yml:2:1: YAML syntax error: found character '\\t' that cannot start any token; "
            "indent with spaces",
        ),
        ("a: &x [*x]\n", "cluster.yml:1:4: a[0] is an alias that contains itself"),
        ("a: " + "[" * 2000 + "]" * 2000, "cluster.yml:1:1: is nested too deeply to be a cluster.yml"),
        ("? [a]\n: 1\n", "cluster.yml:1:3: has a key that is not a plain string"),
    ],
)
def test_structural_problems(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    assert any(line.startswith(expected) for line in str(info.value).splitlines()), str(info.value)


def test_alias_bomb_is_refused() -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for prev, name in zip("abcdef", "bcdefg", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
    with pytest.raises(ConfigError, match="expands to more than"):
        parse_config("\n".join(lines))


def test_located_issue_for_later_phases() -> None:
    loaded = parse_config(GOOD)
    issue = loaded.issue(("hosts", 1, "address"), "did not answer on port 22")
    assert str(issue) == "cluster.yml:11:14: hosts[1].address did not answer on port 22"
    # a path that is not written falls back to the nearest written parent
    assert loaded.issue(("hosts", 1, "ssh", "port"), "x").line == 10
