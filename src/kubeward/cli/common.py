"""Options and helpers shared by the commands that reach hosts over SSH."""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from kubeward.config import LoadedConfig, load_config
from kubeward.config.local_files import make_state_dir, open_log_file
from kubeward.errors import KubewardError
from kubeward.remote.ssh import DEFAULT_CONCURRENCY, DEFAULT_CONNECT_TIMEOUT, Session, Trust
from kubeward.remote.targets import targets_for
from kubeward.runlock import RunLock, command_line

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class RemoteOptions:
    config_path: Path
    concurrency: int
    connect_timeout: float
    trust_new_hosts: bool
    verbose: int

    def load(self) -> LoadedConfig:
        return load_config(self.config_path)

    def session(self, loaded: LoadedConfig, names: list[str] | None = None) -> Session:
        return Session(
            targets_for(loaded.config, names),
            trust_for(loaded, self.config_path, self.trust_new_hosts),
            concurrency=self.concurrency,
            connect_timeout=self.connect_timeout,
        )


def trust_for(loaded: LoadedConfig, config_path: Path, trust_new: bool = False) -> Trust:
    return Trust(loaded.state_dir / "known_hosts", trust_new=trust_new, config_hint=str(config_path))


def config_option(f: F) -> F:
    return click.option(
        "-c", "--config", "config_path", type=click.Path(path_type=Path), default="cluster.yml",
        show_default=True, envvar="KUBEWARD_CONFIG", help="The cluster.yml (env: KUBEWARD_CONFIG).",
    )(f)


def remote_options(f: F) -> F:
    """-c, --concurrency, --connect-timeout, --trust-new-hosts, -v; passes ``opts: RemoteOptions``."""

    @config_option
    @click.option("--concurrency", type=click.IntRange(1, 1024), default=DEFAULT_CONCURRENCY, show_default=True,
                  help="How many hosts are worked on at once.")
    @click.option("--connect-timeout", type=click.FloatRange(0.5, 300), default=DEFAULT_CONNECT_TIMEOUT,
                  show_default=True, help="Seconds to wait for an SSH connection.")
    @click.option("--trust-new-hosts", is_flag=True,
                  help="Trust and record host keys seen for the first time (never a changed key).")
    @click.option("-v", "--verbose", count=True, help="More detail (-v: SSH round-trips per host, -vv: debug log).")
    @functools.wraps(f)
    def wrapper(config_path: Path, concurrency: int, connect_timeout: float, trust_new_hosts: bool,
                verbose: int, **kwargs: Any) -> Any:
        if verbose >= 2:
            logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(name)s %(message)s")
            logging.getLogger("asyncssh").setLevel(logging.WARNING)
        opts = RemoteOptions(config_path, concurrency, connect_timeout, trust_new_hosts, verbose)
        return f(opts=opts, **kwargs)

    return wrapper  # type: ignore[return-value]


def split_names(values: tuple[str, ...]) -> list[str]:
    """Values of a repeatable NAME[,NAME] option, one name each."""
    return [x.strip() for v in values for x in v.split(",") if x.strip()]


def check_hosts(loaded: LoadedConfig, names: list[str]) -> list[str]:
    """The named hosts, or a clear error naming the unknown ones and the known ones."""
    known = [h.name for h in loaded.config.hosts]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise KubewardError(f"no host {', '.join(map(repr, unknown))} in {loaded.filename} "
                            f"(hosts: {', '.join(known)})")
    return names


def run_lock(loaded: LoadedConfig) -> RunLock:
    """The state directory's lock for this run (``with run_lock(loaded):``); commands that change hosts
    or the state directory, or run probes on hosts, hold it (see kubeward.runlock)."""
    ensure_state_dir(loaded.state_dir)
    return RunLock(loaded.state_dir, command_line())


def ensure_state_dir(path: Path) -> None:
    make_state_dir(path)


def start_log(loaded: LoadedConfig, command: str) -> Path:
    """A debug log of this run in STATE_DIR/logs/<command>-<time>-<pid>.log (0600); its path."""
    path = loaded.state_dir / "logs" / f"{command}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    handler = open_log_file(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger("kubeward")
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if root.level == logging.NOTSET or root.level > logging.DEBUG else root.level)
    return path
