"""One run at a time per state directory: the flock, its message, and taking over a dead run's file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kubeward.runlock import EXIT_LOCKED, LockHolder, RunLock, RunLocked

HOLD = """
import sys
from pathlib import Path
from kubeward.runlock import RunLock
with RunLock(Path(sys.argv[1]), "kubeward up -c cluster.yml"):
    print("locked", flush=True)
    sys.stdin.read()  # hold the lock until the test closes our stdin
"""


def test_a_second_run_is_refused_with_the_holders_pid_start_and_command(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        with pytest.raises(RunLocked) as exc:
            RunLock(tmp_path, "kubeward audit").acquire()
        msg = str(exc.value)
        assert f"pid {holder.pid}" in msg and "'kubeward up -c cluster.yml'" in msg and "started 20" in msg
        assert str(tmp_path) in msg and f"kill -INT {holder.pid}" in msg
        assert exc.value.exit_code == EXIT_LOCKED
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(30)
    # the holder exited: the kernel dropped its lock
    with RunLock(tmp_path, "kubeward audit") as lock:
        assert lock.taken_over is None  # it exited cleanly: its file named no one


def test_a_killed_holder_leaves_no_lock(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
    holder.kill()
    holder.wait(30)
    with RunLock(tmp_path, "kubeward up") as lock:
        assert lock.taken_over is not None and lock.taken_over.pid == holder.pid
    assert holder.stdin is not None
    holder.stdin.close()


def test_a_stale_lock_file_of_a_dead_pid_is_taken_over(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    pid = int(dead.stdout)
    (tmp_path / "lock").write_text(LockHolder(pid, "2024-01-01 00:00:00 +0000", "kubeward up").render())
    lock = RunLock(tmp_path, "kubeward preflight").acquire()
    try:
        assert lock.taken_over == LockHolder(pid, "2024-01-01 00:00:00 +0000", "kubeward up")
        assert not lock.taken_over.alive
        mine = LockHolder.parse((tmp_path / "lock").read_text())
        assert mine is not None and mine.command == "kubeward preflight"
        with pytest.raises(RunLocked):
            RunLock(tmp_path, "kubeward up").acquire()  # held by this process's own open file now
    finally:
        lock.release()
    assert (tmp_path / "lock").read_text() == ""
