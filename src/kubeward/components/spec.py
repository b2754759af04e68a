"""What a component is (pure values)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Literal

from kubeward.ops.base import Op
from kubeward.ops.ops import Directory, File, Packages, Service, SystemUser

#: ``all``: hosts restart at once; ``rolling``: one host at a time, each healthy before the next
RestartPolicy = Literal["all", "rolling"]


@dataclass(frozen=True)
class Health:
    """A health probe: shell (run as root on the host) that exits 0 once the component serves, and
    how long a start or restart may take until it does."""

    script: str
    timeout: int = 120
    what: str = "healthy"


@dataclass(frozen=True)
class Component:
    """One service on one host, fully described.

    ``files`` whose change must restart the service are listed in ``restart_on`` by path (all
    files by default); a changed ``unit_files`` entry also needs a daemon-reload first. ``reads``
    are files another phase places (certificates and keys, by the pki phase) that the service reads
    when it starts: when an earlier phase of the run changed one, the running service is restarted
    by its policy too.
    """

    name: str
    unit: str
    files: tuple[File, ...] = ()
    unit_files: tuple[File, ...] = ()  # the unit or drop-ins: daemon-reload on change
    directories: tuple[Directory, ...] = ()
    system_user: SystemUser | None = None
    packages: tuple[str, ...] = ()
    #: a script wrapped around package installation (e.g. holding back the package's own start)
    package_guard: str = ""
    health: Health | None = None
    restart: RestartPolicy = "rolling"
    restart_on: tuple[str, ...] | None = None  # paths; None: every file and unit file
    #: paths whose change the running service takes by ``systemctl reload`` (no restart: HAProxy
    #: keeps its connections); listed here, not in ``restart_on``
    reload_on: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()  # paths placed by another phase that a restart picks up
    ports: tuple[str, ...] = ()  # port-matrix row ids this component serves
    enabled: bool = True
    #: what the running service creates by itself (its data, files it writes, caches): never written
    #: by `up`, removed with the component by `kubeward reset`. A directory goes with its content (a
    #: mount point is emptied, not removed); a trailing ``*`` stands for every name in that directory
    #: starting with what precedes it.
    state: tuple[str, ...] = ()
    extra_facts: dict[str, str] = field(default_factory=dict, hash=False, compare=False)

    def ops(self) -> list[Op]:
        """The operations, in the order they are read and applied (user and directories first, so
        files can be owned by the service user; packages last, so their own start sees kubeward's
        configuration)."""
        out: list[Op] = []
        if self.system_user is not None:
            out.append(self.system_user)
        out += [*self.directories, *self.files, *self.unit_files]
        if self.packages:
            out.append(Packages(self.packages))
        out.append(self.service_op())
        return out

    def service_op(self) -> Service:
        return Service(self.unit, enabled=self.enabled, running=self.enabled)

    def restarts_on(self, op_id: str) -> bool:
        """Whether a change of operation ``op_id`` needs the running service restarted."""
        paths = [f.path for f in (*self.files, *self.unit_files)] if self.restart_on is None else self.restart_on
        return any(op_id == f"file:{p}" for p in paths)

    def reloads_on(self, op_id: str) -> bool:
        """Whether a change of operation ``op_id`` is taken by reloading the running service."""
        return any(op_id == f"file:{p}" for p in self.reload_on)

    def reads_changed(self, changed: Collection[str]) -> tuple[str, ...]:
        """Which of the files it ``reads`` are among ``changed`` (absolute paths), in its order."""
        return tuple(p for p in self.reads if p in changed)

    def reloads_units(self, op_id: str) -> bool:
        return any(op_id == f"file:{f.path}" for f in self.unit_files) or op_id.startswith("packages:")
