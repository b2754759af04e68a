"""Files kubeward writes on the operator's machine that hold secrets or what an attacker would want
(keys, kubeconfigs, host-key pins, the audit's record of open ports)."""

from __future__ import annotations

import os
from pathlib import Path


def write_private(path: Path, data: str | bytes) -> None:
    """Replace ``path`` atomically with ``data``, 0600 from its first byte (a temporary file of this
    process beside it, synced, then renamed over it: a reader sees the old or the new content)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)  # O_CREAT's mode applies to a new file only
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
