"""Key files are loaded before connecting: every way a key can be unusable is a ConnectError that says
why, and a passphrase-protected key is looked up in ssh-agent by its public key."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import asyncssh
import pytest

from kubeward.remote.ssh import ConnectError, Session, Target, Trust, read_client_key


def keygen(path: Path, passphrase: str) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-f", str(path)], check=True)
    return path


@pytest.mark.parametrize(("make", "kind", "says"), [
    (lambda d: Path("/dev/null"), "bad key", "/dev/null is not a usable private key"),
    (lambda d: d, "key unreadable", "Is a directory"),
    (lambda d: d / "missing", "no key", "does not exist"),
    (lambda d: Path(f"{keygen(d / 'k', '')}.pub"), "bad key", "is not a usable private key"),
])
def test_unusable_key_files_are_connect_errors(tmp_path: Path, make: object, kind: str, says: str) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(ConnectError) as exc:
        read_client_key(path, "cp-1")
    assert exc.value.kind == kind and exc.value.local
    assert says in str(exc.value) and "key_path" in str(exc.value)


def test_a_plain_key_loads_and_a_passphrase_key_gives_its_public_blob(tmp_path: Path) -> None:
    assert isinstance(read_client_key(keygen(tmp_path / "plain", ""), "h"), asyncssh.SSHKeyPair)
    locked = keygen(tmp_path / "locked", "secret")
    public = asyncssh.read_public_key(f"{locked}.pub").public_data
    assert read_client_key(locked, "h") == public
    Path(f"{locked}.pub").unlink()  # the blob comes from the key file's own unencrypted header
    assert read_client_key(locked, "h") == public


def connect_all(tmp_path: Path, key: Path) -> dict[str, object]:
    target = Target("cp-1", "192.0.2.1", 22, "debian", key)  # TEST-NET: never reached

    async def go() -> dict[str, object]:
        async with Session([target], Trust(tmp_path / "known_hosts")) as s:
            return dict(await s.connect_all())

    return asyncio.run(go())


def test_connect_all_reports_a_bad_key_as_a_failure_not_as_connected(tmp_path: Path) -> None:
    err = connect_all(tmp_path, Path("/dev/null"))["cp-1"]
    assert isinstance(err, ConnectError) and err.kind == "bad key"


def test_a_passphrase_key_without_ssh_agent_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    key = keygen(tmp_path / "locked", "secret")
    err = connect_all(tmp_path, key)["cp-1"]
    assert isinstance(err, ConnectError) and err.kind == "key needs a passphrase"
    assert "passphrase-protected" in str(err) and f"ssh-add {key}" in str(err)
