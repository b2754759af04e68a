"""Issue 13/14 classes: dedicated paths, one key per key line, text that cannot be written, local
files kubeward must not trust, every problem in one run, and clear errors (exit 2) instead of
tracebacks, through the real CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kubeward.config import parse_config
from kubeward.config.errors import ConfigError

DATA = Path(__file__).parent / "data"
GOOD = (DATA / "good.yml").read_text()
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFyHcpvoFU9dFloJmk8OQ/+icBDjiqm8gFKciq1gR8X9 admin@example.com"
OTHER = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJS4M6K1/s3jk6KtQoQqP8ldCTyJmifkEzisd4bkG7kD other@example.com"


def errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    return [str(i) for i in info.value.errors]


def kubeward(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kubeward", *args], capture_output=True, text=True, timeout=60)


def assert_clean_error(r: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    for e in expected:
        assert e in r.stderr, r.stderr


# --- 5: paths kubeward owns are dedicated ----------------------------------------------------------

@pytest.mark.parametrize("path", ["/etc", "/usr", "/var/lib", "/home", "/root", "/", "/etc/", "//var//lib/",
                                  "/var/lib/.", "/home/alice", "/lib/etcd", "/var/run/etcd", "/tmp/etcd",
                                  "/proc/etcd", "/usr/share/etcd", "/etc/ssh/etcd", "/var/log", "/etc/etcd",
                                  "/usr/local/bin", "/var/lib/../../etc"])
def test_etcd_data_dir_must_be_a_dedicated_directory(path: str) -> None:
    [err] = errors(GOOD + f"etcd:\n  data_dir: '{path}'\n")
    assert err.startswith("cluster.yml:26:13: etcd.data_dir "), err
    assert "kubeward would make it its own" in err or "without '..'" in err, err


@pytest.mark.parametrize("path", ["var/lib/etcd", "/var/lib/etcd\n", "/var/lib/et\tcd", "/var/lib/etcd\x1b[2J",
                                  "/var/lib/et cd"])
def test_etcd_data_dir_refuses_relative_paths_and_control_characters(path: str) -> None:
    escaped = path.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\x1b", "\\e")
    [err] = errors(GOOD + f'etcd:\n  data_dir: "{escaped}"\n')
    assert "etcd.data_dir" in err and ("relative" in err or "control character" in err or "letters" in err), err


@pytest.mark.parametrize("path", ["/var/lib/etcd-main", "/srv/etcd", "/data/etcd", "/usr/local/etcd"])
def test_dedicated_data_dirs_pass_normalised(path: str) -> None:
    assert str(parse_config(GOOD + f"etcd:\n  data_dir: {path}/\n").config.etcd.data_dir) == path


@pytest.mark.parametrize("state_dir", ["/etc", "/", "~", ".", "..", "/home/alice"])
def test_state_dir_must_not_hold_other_data(state_dir: str, tmp_path: Path) -> None:
    [err] = errors(f"state_dir: '{state_dir}'\n" + GOOD)
    assert err.startswith("cluster.yml:1:12: state_dir "), err
    assert "use a directory of its own" in err, err


def test_local_paths_refuse_control_characters() -> None:
    errs = errors(GOOD.replace("key_path: keys/id_ed25519", 'key_path: "keys/id\\n_ed25519"'))
    assert errs == ["cluster.yml:4:13: ssh.key_path contains the control character U+000A; write the path "
                    "without it, got 'keys/id\\n_ed25519'"]


# --- 7: one key line is one ed25519 key ------------------------------------------------------------

@pytest.mark.parametrize("value", [f"{KEY}\\n{OTHER}", f"{KEY}\\r{OTHER}", f"{KEY}\\0", f"{KEY} {OTHER}",
                                   f"{KEY}\\u2028{OTHER}"])
def test_admin_key_is_exactly_one_key(value: str) -> None:
    [err] = errors(GOOD.replace(f"ssh_public_key: {KEY}", f'ssh_public_key: "{value}"'))
    assert "admin.ssh_public_key" in err and ("one key line" in err or "one OpenSSH public key on one line" in err
                                              or "more than one key" in err), err


def test_admin_key_with_one_final_newline_is_one_key() -> None:
    config = parse_config(GOOD.replace(f"ssh_public_key: {KEY}", f"ssh_public_key: |\n    {KEY}\n")).config
    assert str(config.admin.ssh_public_key) == KEY


def test_names_with_a_trailing_newline_are_refused() -> None:
    errs = errors(GOOD.replace("name: kubeadmin", 'name: "kubeadmin\\n"').replace("name: cp-1", 'name: "cp-1\\n"'))
    assert [e.split(" ")[1] for e in errs] == ["hosts[0].name", "admin.name"], errs


# --- 11: text that cannot be written, files that cannot be read --------------------------------------

def test_a_lone_surrogate_is_refused_at_load() -> None:
    [err] = errors(GOOD.replace(f"ssh_public_key: {KEY}", f'ssh_public_key: "{KEY[:-12]}\\udc80"'))
    assert err.startswith("cluster.yml:21:19: admin.ssh_public_key contains U+DC80, a lone surrogate"), err


def test_a_config_without_end_is_read_only_up_to_the_limit() -> None:
    r = kubeward("validate", "-c", "/dev/zero")
    assert_clean_error(r, "/dev/zero:1:1: is more than 4194304 bytes")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cluster.yml"
    path.write_text(text)
    return path


def _key(tmp_path: Path, kind: str = "ed25519", mode: int = 0o600) -> Path:
    key = tmp_path / f"id_{kind}"
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", str(key)], check=True)
    os.chmod(key, mode)
    return key


def test_a_private_key_readable_by_others_is_refused_with_the_chmod(tmp_path: Path) -> None:
    key = _key(tmp_path, mode=0o644)
    path = _write(tmp_path, GOOD.replace("key_path: keys/id_ed25519", f"key_path: {key}"))
    assert_clean_error(kubeward("validate", "-c", str(path)),
                       f"{path}:4:13: ssh.key_path {key} is readable by other users (mode 0644)",
                       f"run 'chmod 600 {key}'")
    os.chmod(key, 0o600)
    assert kubeward("validate", "-c", str(path)).returncode == 0


def test_an_rsa_login_key_is_refused_at_validate(tmp_path: Path) -> None:
    key = _key(tmp_path, "rsa")
    path = _write(tmp_path, GOOD.replace("key_path: keys/id_ed25519", f"key_path: {key}"))
    assert_clean_error(kubeward("validate", "-c", str(path)),
                       f"ssh.key_path {key} is an ssh-rsa key, but kubeward's hardened sshd accepts only ed25519")


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_a_state_dir_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    os.chown(state, 54321, 54321)
    path = _write(tmp_path, f"state_dir: {state}\n" + GOOD)
    assert_clean_error(kubeward("validate", "-c", str(path)), f"{path}:1:12: state_dir {state} is owned by uid 54321")


def test_a_group_writable_state_dir_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    os.chmod(state, 0o770)
    path = _write(tmp_path, f"state_dir: {state}\n" + GOOD)
    assert_clean_error(kubeward("validate", "-c", str(path)), f"run 'chmod 700 {state}'")


def test_an_uncreatable_state_dir_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    path = _write(tmp_path, f"state_dir: {tmp_path / 'file' / 'state'}\n" + GOOD)
    assert_clean_error(kubeward("plan", "-c", str(path)), f"state directory {tmp_path / 'file' / 'state'} cannot be made")


def test_an_unwritable_log_directory_is_a_clear_error(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (state / "logs").write_text("in the way")
    path = _write(tmp_path, f"state_dir: {state}\n" + GOOD)
    assert_clean_error(kubeward("plan", "-c", str(path)), f"cannot write the run log {state / 'logs'}")


# --- UX: every problem in one run, family-correct hints, what cannot work --------------------------

def test_cross_field_errors_are_reported_with_per_key_errors() -> None:
    text = GOOD.replace("uid: 1500", "uid: 1").replace("address: 192.0.2.12", "address: 192.0.2.11")
    text = text.replace("private_address: 10.0.0.12", "private_address: 10.0.1.12\n    labels: {'bad key!': x}")
    errs = errors(text)
    assert "cluster.yml:21:8: admin.uid expected an integer from 1000 to 60000, got 1" in errs
    assert any(e.startswith("cluster.yml:15:14: hosts[2].address 192.0.2.11 is already used by hosts[1]") for e in errs)
    assert "cluster.yml:16:22: hosts[2].private_address 10.0.1.12 is not inside network.private_subnet 10.0.0.0/24" \
        in errs


def test_cross_field_errors_keep_the_indices_as_written_when_an_item_is_dropped() -> None:
    text = GOOD.replace("address: 192.0.2.10", "address: '-bad-'").replace("address: 192.0.2.12", "address: 192.0.2.11")
    errs = errors(text)
    assert any(e.startswith("cluster.yml:7:14: hosts[0].address") for e in errs), errs
    assert any("hosts[2].address 192.0.2.11 is already used by hosts[1]" in e for e in errs), errs


def test_ipv6_host_bits_hint_is_ipv6() -> None:
    [err] = errors(GOOD.replace("admin_cidrs: [198.51.100.0/24]", "admin_cidrs: ['2001:db8::1/64']"))
    assert "did you mean 2001:db8::/64, or 2001:db8::1/128 for one address?" in err, err
    assert "203.0.113" not in err, err
    [err] = errors(GOOD.replace("private_subnet: 10.0.0.0/24", "private_subnet: 'fd00::/64'"))
    assert "IPv6 network 'fd00::/64'; this key takes IPv4 only" in err and "host bits" not in err, err


def test_etcd_source_binary_is_refused_as_not_implemented() -> None:
    [err] = errors(GOOD + "etcd:\n  source: binary\n")
    assert err.startswith("cluster.yml:26:11: etcd.source 'binary' (an upstream etcd release) is not implemented"), err


@pytest.mark.parametrize("port,roles,bad", [(8080, "[control-plane]", True), ("8000-8099", "[control-plane, worker]", True),
                                            (8080, "[worker]", False), ("8000-8079", "[control-plane]", False)])
def test_extra_ports_the_firewall_drops_are_refused(port: object, roles: str, bad: bool) -> None:
    text = GOOD + f"firewall:\n  extra_ports:\n    - name: web\n      port: {port}\n      roles: {roles}\n      sources: [world]\n"
    if bad:
        [err] = errors(text)
        assert "8080/tcp, kube-apiserver insecure port, which the firewall drops on control-planes" in err, err
    else:
        parse_config(text)


# --- 6: a member's data directory is never changed under it -------------------------------------------

def test_a_changed_data_dir_is_a_refusal_for_a_member_with_a_file() -> None:
    from kubeward.etcd.config import data_dir_change

    config = parse_config(GOOD + "etcd:\n  data_dir: /var/lib/etcd-new\n").config
    why = data_dir_change(config, b"name: 'cp-1'\ndata-dir: '/var/lib/etcd'\n")
    assert why is not None and "keeps its data in /var/lib/etcd" in why and "back to /var/lib/etcd" in why
    assert data_dir_change(config, b"data-dir: '/var/lib/etcd-new'\n") is None
    assert data_dir_change(config, None) is None
