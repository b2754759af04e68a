"""Host-key trust: parsing keys, fingerprints (checked against ssh-keygen), known_hosts files, verdicts."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from kubeward.remote.known_hosts import (
    HostKey,
    KnownHost,
    decide,
    host_pattern,
    parse_known_hosts,
    read_known_hosts,
    render_known_hosts,
    write_known_hosts,
)

ED_A = HostKey("ssh-ed25519", "AAAAC3NzaC1lZDI1NTE5AAAAIJS4M6K1/s3jk6KtQoQqP8ldCTyJmifkEzisd4bkG7kD")
ED_B = HostKey("ssh-ed25519", "AAAAC3NzaC1lZDI1NTE5AAAAIFyHcpvoFU9dFloJmk8OQ/+icBDjiqm8gFKciq1gR8X9")
ECDSA = HostKey("ecdsa-sha2-nistp256", "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOmxkZMy7opKgwFB9nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WZ2YB/++Tpockg=")

needs_keygen = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen not installed")


def keygen(tmp_path: Path, kind: str) -> str:
    path = tmp_path / f"key_{kind}"
    size = ["-b", "1024"] if kind == "rsa" else []  # small: this is about fingerprints, not strength
    subprocess.run(["ssh-keygen", "-q", "-t", kind, *size, "-N", "", "-C", "host@example", "-f", str(path)],
                   check=True, capture_output=True, timeout=10)
    return (tmp_path / f"key_{kind}.pub").read_text()


@needs_keygen
@pytest.mark.parametrize("kind", ["ed25519", "ecdsa", "rsa"])
def test_fingerprint_matches_ssh_keygen(tmp_path: Path, kind: str) -> None:
    pub = keygen(tmp_path, kind)
    key = HostKey.parse(pub)
    out = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", str(tmp_path / f"key_{kind}.pub")],
                         check=True, capture_output=True, text=True, timeout=10).stdout
    # "256 SHA256:... host@example (ED25519)"
    assert key.fingerprint == out.split()[1]
    assert key.type == pub.split()[0]
    assert key.line() == " ".join(pub.split()[:2])


@needs_keygen
def test_ssh_keygen_finds_a_rendered_known_hosts_entry(tmp_path: Path) -> None:
    """The file kubeward writes is one OpenSSH reads (ssh-keygen -F looks a host up in it)."""
    key = HostKey.parse(keygen(tmp_path, "ed25519"))
    path = tmp_path / "state" / "known_hosts"
    write_known_hosts(path, [KnownHost(host_pattern("10.0.0.5", 2222), key, "cp-1"),
                             KnownHost(host_pattern("10.0.0.6", 22), ED_A)])
    out = subprocess.run(["ssh-keygen", "-F", "[10.0.0.5]:2222", "-f", str(path)], capture_output=True, text=True,
                         timeout=10)
    assert out.returncode == 0 and key.blob in out.stdout
    out = subprocess.run(["ssh-keygen", "-F", "10.0.0.6", "-f", str(path)], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0 and ED_A.blob in out.stdout
    miss = subprocess.run(["ssh-keygen", "-F", "10.0.0.5", "-f", str(path)], capture_output=True, text=True, timeout=10)
    assert miss.returncode != 0  # port 2222's entry is not port 22's


def test_fingerprint_known_value() -> None:
    # computed independently: sha256 of the decoded blob, base64 without padding
    import base64
    import hashlib

    want = "SHA256:" + base64.b64encode(hashlib.sha256(base64.b64decode(ED_A.blob)).digest()).decode().rstrip("=")
    assert ED_A.fingerprint == want
    assert len(ED_A.fingerprint) == len("SHA256:") + 43
    assert ED_A.fingerprint != ED_B.fingerprint


def test_parse_drops_comment_and_rejects_garbage() -> None:
    assert HostKey.parse(f"{ED_A.line()} root@host extra words") == ED_A
    with pytest.raises(ValueError, match="not an OpenSSH public key"):
        HostKey.parse("ssh-ed25519")
    with pytest.raises(ValueError):
        HostKey.parse("ssh-ed25519 not*base64!")


def test_host_pattern() -> None:
    assert host_pattern("10.0.0.5", 22) == "10.0.0.5"
    assert host_pattern("10.0.0.5", 2222) == "[10.0.0.5]:2222"
    assert host_pattern("cp-1.example.com", 2200) == "[cp-1.example.com]:2200"
    assert host_pattern("2001:db8::1", 2222) == "[2001:db8::1]:2222"


def test_parse_known_hosts() -> None:
    text = (
        "# comment\n\n"
        f"10.0.0.5,cp-1 {ED_A.line()} cp-1 pinned by kubeward\n"
        f"[10.0.0.6]:2222 {ECDSA.line()}\n"
        f"@cert-authority *.example.com {ED_B.line()}\n"
        "10.0.0.7 ssh-ed25519 !!!notbase64\n"
        "10.0.0.8 ssh-ed25519\n"
    )
    assert parse_known_hosts(text) == [
        KnownHost("10.0.0.5", ED_A, "cp-1 pinned by kubeward"),
        KnownHost("cp-1", ED_A, "cp-1 pinned by kubeward"),
        KnownHost("[10.0.0.6]:2222", ECDSA, ""),
    ]


def test_render_parse_round_trip() -> None:
    entries = [
        KnownHost("10.0.0.5", ED_A, "cp-1"),
        KnownHost("[10.0.0.6]:2222", ED_B, ""),
        KnownHost("[10.0.0.6]:2222", ECDSA, "worker-1 ecdsa"),
    ]
    text = render_known_hosts(entries)
    assert text.startswith("# kubeward known_hosts")
    assert f"[10.0.0.6]:2222 {ED_B.line()}\n" in text  # no trailing blank for an empty comment
    assert parse_known_hosts(text) == entries
    assert render_known_hosts(parse_known_hosts(text)) == text


# ----- decide ------------------------------------------------------------------------------------

KNOWN = [
    KnownHost("10.0.0.5", ED_A),
    KnownHost("[10.0.0.6]:2222", ED_B),
    KnownHost("10.0.0.7", ECDSA),
]


def test_decide_pinned_match() -> None:
    d = decide(ED_A, "10.0.0.9", ED_A, [])
    assert (d.verdict, d.ok, d.expected) == ("pinned", True, ED_A)


def test_decide_pin_mismatch_even_when_known_hosts_agrees() -> None:
    d = decide(ED_A, "10.0.0.5", ED_B, KNOWN)  # the pin wins over the file
    assert (d.verdict, d.ok, d.expected, d.presented) == ("pin-mismatch", False, ED_B, ED_A)


def test_decide_trusted() -> None:
    d = decide(ED_B, "[10.0.0.6]:2222", None, KNOWN)
    assert (d.verdict, d.ok, d.expected) == ("trusted", True, ED_B)


def test_decide_unknown_host() -> None:
    d = decide(ED_A, "10.0.0.99", None, KNOWN)
    assert (d.verdict, d.ok, d.expected) == ("unknown", False, None)


def test_decide_same_address_other_port_is_another_host() -> None:
    assert decide(ED_B, "10.0.0.6", None, KNOWN).verdict == "unknown"
    assert decide(ED_A, "[10.0.0.5]:2222", None, KNOWN).verdict == "unknown"


def test_decide_changed_key_of_same_type() -> None:
    d = decide(ED_B, "10.0.0.5", None, KNOWN)
    assert (d.verdict, d.ok, d.expected, d.presented) == ("changed", False, ED_A, ED_B)


def test_decide_other_key_type_on_record_is_unknown() -> None:
    d = decide(ED_A, "10.0.0.7", None, KNOWN)  # only an ECDSA key recorded
    assert (d.verdict, d.ok, d.expected) == ("unknown", False, None)


def test_decide_trusted_when_one_of_several_keys_matches() -> None:
    known = [KnownHost("10.0.0.5", ECDSA), KnownHost("10.0.0.5", ED_A)]
    assert decide(ED_A, "10.0.0.5", None, known).verdict == "trusted"


# ----- files --------------------------------------------------------------------------------------


def test_write_known_hosts_mode_and_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "state" / "known_hosts"
    entries = [KnownHost("10.0.0.5", ED_A, "cp-1"), KnownHost("[10.0.0.6]:2222", ECDSA)]
    write_known_hosts(path, entries)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) & 0o077 == 0
    assert read_known_hosts(path) == entries
    assert [p.name for p in path.parent.iterdir()] == ["known_hosts"]  # no temporary left


def test_write_known_hosts_replaces_a_loose_file(tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    path.write_text("old\n")
    path.chmod(0o644)
    write_known_hosts(path, [KnownHost("10.0.0.5", ED_A)])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_known_hosts(path) == [KnownHost("10.0.0.5", ED_A)]


def test_read_known_hosts_missing_file(tmp_path: Path) -> None:
    assert read_known_hosts(tmp_path / "nope") == []
