"""The PKI on the operator's machine: the only module of ``kubeward.pki`` that touches the disk.

Layout under ``<state_dir>/pki/`` (like kubeadm's /etc/kubernetes/pki)::

    ca.crt ca.key                         Kubernetes cluster CA
    front-proxy-ca.crt front-proxy-ca.key front proxy CA
    etcd/ca.crt etcd/ca.key               etcd CA
    sa.key sa.pub                         service-account token signing key pair
    apiserver.* apiserver-kubelet-client.* apiserver-etcd-client.* front-proxy-client.*
    controller-manager.* scheduler.* admin.* cluster-admin.*
    etcd/server-<host>.* etcd/peer-<host>.* etcd/healthcheck-client.* etcd/kubeward-client.*
    kubelet/client-<host>.* kubelet/serving-<host>.*

Directories are 0700, private keys 0600, certificates and sa.pub 0644. Every file is written to a
temporary file beside it, synced, and renamed over the old one, so a crash leaves either the old
or the new file, never half of one. ``ensure_pki`` reads the store, lets the pure
``refresh.plan_refresh`` decide, and writes what it says. Files of hosts no longer in cluster.yml
are reported as orphaned and left alone.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Collection
from dataclasses import replace
from datetime import datetime
from pathlib import Path, PurePosixPath

from kubeward.config import ClusterConfig
from kubeward.errors import KubewardError
from kubeward.fileutil import write_private
from kubeward.pki.encryption import FILE_NAME as KEYS_FILE
from kubeward.pki.encryption import KeyRing, new_key, parse_key_ring, render_key_ring
from kubeward.pki.errors import PkiError
from kubeward.pki.refresh import MATERIAL_SUFFIXES, PkiReport, PkiStatus, pki_status, plan_refresh
from kubeward.pki.table import expected_paths

DIR_MODE = 0o700
KEY_MODE = 0o600
_TMP_PREFIX = ".kubeward-tmp-"


class PkiStore:
    """A PKI directory; paths given to it are relative to its root, with '/' separators."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def for_config(cls, config: ClusterConfig) -> PkiStore:
        return cls(config.state_dir / "pki")

    def path(self, rel: str) -> Path:
        parts = PurePosixPath(rel).parts
        if not parts or PurePosixPath(rel).is_absolute() or ".." in parts:
            raise PkiError(f"{rel!r} is not a path inside the PKI store (kubeward bug)")
        return self.root.joinpath(*parts)

    def _ensure_dir(self, directory: Path) -> None:
        try:
            self.root.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            dirs = [self.root]
            for part in directory.relative_to(self.root).parts:
                dirs.append(dirs[-1] / part)
            for d in dirs:
                if not d.is_dir():
                    d.mkdir(mode=DIR_MODE)
                if stat.S_IMODE(d.stat().st_mode) != DIR_MODE:
                    os.chmod(d, DIR_MODE)
        except OSError as exc:
            raise PkiError(f"cannot create {exc.filename or directory}: {exc.strerror or exc}; "
                           f"check the owner and mode of {self.root.parent}") from exc

    def read_files(self) -> dict[str, bytes]:
        """Every certificate, key and public key in the store, by relative path."""
        out: dict[str, bytes] = {}
        if not self.root.exists():
            return out
        try:
            for dirpath, _dirs, names in os.walk(self.root):
                for name in names:
                    if name.startswith(_TMP_PREFIX) or not name.endswith(MATERIAL_SUFFIXES):
                        continue
                    full = Path(dirpath) / name
                    out[full.relative_to(self.root).as_posix()] = full.read_bytes()
        except OSError as exc:
            raise PkiError(f"cannot read {exc.filename}: {exc.strerror or exc}") from exc
        return out

    def read_bytes(self, rel: str) -> bytes:
        """One file of the store; PkiError saying how to create it when it is missing."""
        path = self.path(rel)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise PkiError(f"{path} does not exist; run `kubeward pki issue` first") from None
        except OSError as exc:
            raise PkiError(f"cannot read {path}: {exc.strerror or exc}") from exc

    def write_file(self, rel: str, data: bytes, mode: int) -> None:
        """Write atomically: a temporary file (created 0600) beside it, chmod, fsync, rename."""
        target = self.path(rel)
        self._ensure_dir(target.parent)
        tmp = None
        try:
            fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=target.parent)
            with os.fdopen(fd, "wb") as f:
                os.fchmod(f.fileno(), mode)
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
            tmp = None
            dir_fd = os.open(target.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            raise PkiError(f"cannot write {target}: {exc.strerror or exc}") from exc
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)

    def tighten_modes(self, paths: Collection[str]) -> tuple[str, ...]:
        """Directories back to 0700 and the given private keys back to 0600; returns what changed."""
        if not self.root.is_dir():
            return ()
        todo = [(d, DIR_MODE) for d in sorted({self.root, *(p for p in self.root.rglob("*") if p.is_dir())})]
        todo += [(self.path(rel), KEY_MODE) for rel in sorted(paths) if rel.endswith(".key")]
        fixed = []
        for p, mode in todo:
            try:
                if p.exists() and not p.is_symlink() and stat.S_IMODE(p.stat().st_mode) != mode:
                    os.chmod(p, mode)
                    rel = p.relative_to(self.root).as_posix()
                    fixed.append(rel + "/" if p.is_dir() else rel)
            except OSError as exc:
                raise PkiError(f"cannot set mode {mode:04o} on {p}: {exc.strerror or exc}") from exc
        return tuple(fixed)


def ensure_pki(
    config: ClusterConfig, store: PkiStore, now: datetime, renew: Collection[str] = ()
) -> PkiReport:
    """Make the store hold every certificate the table wants: reuse what is valid, (re)issue the rest.

    renew: certificate names to re-issue anyway (``refresh.resolve_renew`` turns a request into
    them). Touches no host.
    """
    refresh = plan_refresh(config, store.read_files(), now, renew)
    for w in refresh.writes:
        store.write_file(w.path, w.data, w.mode)
    fixed = store.tighten_modes(expected_paths(config))
    return replace(refresh.report, modes_fixed=fixed)


def read_pki_status(config: ClusterConfig, store: PkiStore, now: datetime) -> PkiStatus:
    """The state of every certificate in the store, changing nothing."""
    return pki_status(config, store.read_files(), now)


# ----- the Secrets encryption keys (STATE_DIR/encryption-keys.json, 0600) ---------------------------


def read_keys(state_dir: Path) -> KeyRing | None:
    path = state_dir / KEYS_FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise KubewardError(f"{path}: {exc.strerror}") from exc
    return parse_key_ring(text, str(path))


def write_keys(state_dir: Path, ring: KeyRing) -> None:
    """Atomically, 0600 from the start."""
    write_private(state_dir / KEYS_FILE, render_key_ring(ring))


def ensure_keys(state_dir: Path, now: datetime) -> KeyRing:
    """The key ring, generated once."""
    ring = read_keys(state_dir)
    if ring is None:
        ring = KeyRing((new_key(now),))
        write_keys(state_dir, ring)
    return ring
