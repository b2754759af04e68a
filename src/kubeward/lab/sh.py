"""Running commands on the lab's host (this machine). The lab is the only place kubeward
runs local privileged commands; everything that touches a *node* as a host goes over SSH."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from kubeward.errors import LabError


def run(
    argv: Sequence[str],
    *,
    input: str | bytes | None = None,
    check: bool = True,
    timeout: float | None = 120,
    what: str | None = None,
    env: dict[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv``; on failure raise LabError naming the command, its status and stderr."""
    data = input.encode() if isinstance(input, str) else input
    try:
        proc = subprocess.run(
            list(argv), input=data, capture_output=True, timeout=timeout, check=False, env=env, cwd=cwd
        )
    except FileNotFoundError as exc:
        raise LabError(f"{argv[0]} is not installed on this machine; run `make deps` (as root)") from exc
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"{what or ' '.join(argv)} did not finish within {timeout} s") from exc
    result = subprocess.CompletedProcess(
        proc.args, proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")
    )
    if check and proc.returncode != 0:
        detail = (result.stderr.strip() or result.stdout.strip())[-2000:]
        raise LabError(f"{what or ' '.join(argv)} failed (exit {proc.returncode}): {detail}")
    return result


def ip_batch(commands: Sequence[str], netns: str | None = None, *, what: str) -> None:
    """Run many `ip` commands in one process (``ip -batch``): one fork instead of dozens."""
    if not commands:
        return
    argv = ["ip"] + (["-n", netns] if netns else []) + ["-batch", "-"]
    run(argv, input="\n".join(commands) + "\n", what=what)


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock file (serialises image builds and lab slot choice across processes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def require_root() -> None:
    if os.geteuid() != 0:
        raise LabError(
            "the lab needs root (it creates network namespaces, overlay mounts and cgroups); "
            "run it with sudo"
        )


def require_tools(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        raise LabError(f"missing on this machine: {', '.join(missing)}; run `make deps` (as root)")
