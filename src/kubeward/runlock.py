"""One kubeward run at a time per cluster: an exclusive lock on ``STATE_DIR/lock``.

Two runs at once on the same hosts collide (the preflight and audit probes listen on the same ports,
two ``up`` runs both form etcd). Every command that changes hosts or the state directory, or runs
probes on hosts, holds this lock for its whole run; read-only and long-lived commands (``tunnel``,
``ssh``, ``etcd status``) do not, so an open tunnel never blocks an ``up``.

The lock is ``flock(2)`` on the file: the kernel drops it when its process dies, however it dies, so
a crashed run never leaves a lock behind. The holder's pid, start time and command line are written
into the file only for the message the next run prints; a file naming a dead process (a run that
crashed, or one of an older kubeward) is noted and taken over.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from kubeward.errors import KubewardError

log = logging.getLogger("kubeward.lock")

LOCK_NAME = "lock"
#: sysexits EX_TEMPFAIL: try again later
EXIT_LOCKED = 75


@dataclass(frozen=True)
class LockHolder:
    """What a lock file says about the run that wrote it."""

    pid: int
    started: str
    command: str

    @classmethod
    def parse(cls, text: str) -> LockHolder | None:
        try:
            data = json.loads(text)
            return cls(int(data["pid"]), str(data["started"]), str(data["command"]))
        except (ValueError, KeyError, TypeError):
            return None

    def render(self) -> str:
        return json.dumps({"pid": self.pid, "started": self.started, "command": self.command}) + "\n"

    @property
    def alive(self) -> bool:
        return pid_alive(self.pid)


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class RunLocked(KubewardError):
    """Another kubeward run holds the state directory's lock."""

    exit_code = EXIT_LOCKED

    def __init__(self, state_dir: Path, holder: LockHolder | None) -> None:
        self.state_dir, self.holder = state_dir, holder
        if holder is None:
            who = "another kubeward run"
            stop = "stop it"
        else:
            who = f"another kubeward run (pid {holder.pid}, started {holder.started}, command {holder.command!r})"
            stop = f"stop it (`kill -INT {holder.pid}`)"
        super().__init__(f"{who} holds the lock on {state_dir}: one run at a time per cluster. Wait for it to "
                         f"finish and run again, or {stop} if it should not be running")


class RunLock:
    """``with RunLock(state_dir, "up"):`` holds the lock or raises :class:`RunLocked` at once."""

    def __init__(self, state_dir: Path, command: str) -> None:
        self.path = state_dir / LOCK_NAME
        self.state_dir = state_dir
        self.command = command
        self.taken_over: LockHolder | None = None  # the dead run whose lock file this run took over
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = LockHolder.parse(_read(fd))
            os.close(fd)
            raise RunLocked(self.state_dir, holder) from None
        except BaseException:
            os.close(fd)
            raise
        previous = LockHolder.parse(_read(fd))
        if previous is not None and previous.pid != os.getpid():
            # flock is free, so that run is over; its file stayed behind because it died
            self.taken_over = previous
            log.warning("took over the lock of a run that is gone (pid %d, started %s, %s)",
                        previous.pid, previous.started, previous.command)
        me = LockHolder(os.getpid(), time.strftime("%Y-%m-%d %H:%M:%S %z"), self.command)
        os.ftruncate(fd, 0)
        os.pwrite(fd, me.render().encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        # empty the file first: a file naming no one is what a clean exit leaves
        os.ftruncate(self._fd, 0)
        os.close(self._fd)  # closing drops the flock
        self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


def command_line() -> str:
    """This process's kubeward command, for the lock file (``kubeward up --only connect``)."""
    return " ".join(["kubeward", *sys.argv[1:]])


def _read(fd: int) -> str:
    return os.pread(fd, 4096, 0).decode(errors="replace")
