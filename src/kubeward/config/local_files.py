"""Checks of the operator's files cluster.yml names: SSH private keys and the state directory.

These read the local disk (modes, owners, a key's type), so the loader runs them only for a file it
read from disk (``load_config``), after the pure checks. Missing files are not findings here: a key
is needed only to connect, and the state directory is created on first use.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import stat
import struct
from pathlib import Path

from kubeward.config.model import ClusterConfig
from kubeward.config.source import KeyPath
from kubeward.config.validate import Finding
from kubeward.config.values import SYSTEM_DIRS
from kubeward.errors import KubewardError

#: a private key is a few kilobytes; reading more than this is never needed to learn its type
_MAX_KEY_BYTES = 64 * 1024
_OPENSSH_BEGIN = "-----BEGIN OPENSSH PRIVATE KEY-----"
_PEM_TYPES = {"RSA": "ssh-rsa", "DSA": "ssh-dss", "EC": "ecdsa"}


def private_key_type(data: bytes) -> str | None:
    """The key type a private key file holds ('ssh-ed25519', 'ssh-rsa', ...), or None if unknown.

    OpenSSH's format keeps the public key unencrypted, so this works for keys with a passphrase too.
    """
    text = data.decode("ascii", errors="replace")
    if _OPENSSH_BEGIN in text:
        body = text.split(_OPENSSH_BEGIN, 1)[1].split("-----END", 1)[0]
        try:
            blob = base64.b64decode("".join(body.split()), validate=True)
        except (binascii.Error, ValueError):
            return None
        magic = b"openssh-key-v1\0"
        if not blob.startswith(magic):
            return None
        pos = len(magic)
        try:
            for _ in range(3):  # cipher, kdf, kdf options
                (n,) = struct.unpack(">I", blob[pos : pos + 4])
                pos += 4 + n
            pos += 4  # number of keys
            pos += 4  # length of the public key blob
            (n,) = struct.unpack(">I", blob[pos : pos + 4])
            return blob[pos + 4 : pos + 4 + n].decode("ascii")
        except (struct.error, UnicodeDecodeError):
            return None
    for word, key_type in _PEM_TYPES.items():
        if f"-----BEGIN {word} PRIVATE KEY-----" in text:
            return key_type
    return None


def _key_findings(path: Path, where: KeyPath, login: bool) -> list[Finding]:
    try:
        st = path.stat()
    except OSError:
        return []
    if not stat.S_ISREG(st.st_mode):
        return [Finding(where, f"{path} is not a file; give the path of an SSH private key")]
    out: list[Finding] = []
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        out.append(Finding(where, f"{path} is readable by other users (mode {mode:04o}); like OpenSSH, kubeward "
                           f"refuses such a private key: run 'chmod 600 {path}'"))
    if login:
        try:
            with path.open("rb") as f:
                key_type = private_key_type(f.read(_MAX_KEY_BYTES))
        except OSError:
            key_type = None
        if key_type is not None and key_type != "ssh-ed25519":
            out.append(Finding(where, f"{path} is an {key_type} key, but kubeward's hardened sshd accepts only "
                               "ed25519 keys, so this login would stop working: make one with "
                               "'ssh-keygen -t ed25519', add its .pub to the user's authorized_keys and use it"))
    return out


def _state_dir_findings(path: Path) -> list[Finding]:
    where: KeyPath = ("state_dir",)
    try:
        st = path.stat()
    except OSError:
        return []
    if not stat.S_ISDIR(st.st_mode):
        return [Finding(where, f"{path} exists and is not a directory; point state_dir at a directory")]
    out: list[Finding] = []
    if hasattr(os, "geteuid") and st.st_uid != os.geteuid():
        out.append(Finding(where, f"{path} is owned by uid {st.st_uid}, not by you (uid {os.geteuid()}); whoever owns "
                           "it can replace kubeward's CAs and pinned host keys: use a directory of your own, or "
                           f"'chown -R {os.geteuid()} {path}' if it is yours"))
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o022:
        out.append(Finding(where, f"{path} is writable by other users (mode {mode:04o}), who could replace "
                           f"kubeward's CAs and pinned host keys: run 'chmod 700 {path}'"))
    return out


def check_local_files(config: ClusterConfig) -> list[Finding]:
    """Problems with the local files cluster.yml names: key modes and types, the state directory's owner."""
    out: list[Finding] = []
    seen: set[tuple[Path, bool]] = set()
    for i, host in enumerate(config.hosts):
        keys: list[tuple[Path, KeyPath, bool]] = [(host.ssh.key_path, ("hosts", i, "ssh", "key_path"), True)]
        if host.ssh.bastion is not None and host.ssh.bastion.key_path is not None:
            keys.append((host.ssh.bastion.key_path, ("hosts", i, "ssh", "bastion", "key_path"), False))
        for path, where, login in keys:
            if (path, login) in seen:
                continue
            seen.add((path, login))
            out += _key_findings(path, where, login)
    out += _state_dir_findings(config.state_dir)
    return out


class LocalFileError(KubewardError):
    """A local file or directory cluster.yml names cannot be used (made, written, trusted)."""

    exit_code = 2


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def make_state_dir(path: Path) -> None:
    """Create the state directory (0700) or say which directory cannot be made and what to do."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, 0o700)
    except OSError as exc:
        where = exc.filename or path
        raise LocalFileError(f"state directory {path} cannot be made ({where}: {_reason(exc)}); set state_dir in "
                             "cluster.yml to a directory you can write, or fix the permissions") from None
    problems = _state_dir_findings(path)
    real = Path(os.path.realpath(path))
    if real != path.absolute() and str(real) in SYSTEM_DIRS | {str(Path.home())}:
        problems.append(Finding(("state_dir",), f"{path} leads to {real} (a symlink), a directory that holds other data"))
    if problems:
        raise LocalFileError(f"state directory {problems[0].message}")


def open_log_file(path: Path) -> logging.FileHandler:
    """A log handler writing to path (its directory made), or an error saying what to fix."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return logging.FileHandler(path)
    except OSError as exc:
        where = exc.filename or path
        raise LocalFileError(f"cannot write the run log {path} ({where}: {_reason(exc)}); make "
                             f"{path.parent} writable for you, or set state_dir in cluster.yml elsewhere") from None
