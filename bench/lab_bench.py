"""Benchmark of the local lab: time to bring a lab up and down, and memory per idle node.

Run as root::

    .venv/bin/python -m bench.lab_bench [--sizes 3,20] [--reps 3] [--out bench/out/lab.json]

For each size and repetition it creates a lab with a fresh random name (``bench`` + hex), times
``Lab.up(n, 1)`` (the image is built, or found in the cache, once beforehand and not timed), lets
the nodes idle, measures their memory, then times ``Lab.down()``. Every lab it creates is taken
down in a ``finally`` (also on Ctrl-C or SIGTERM); it never touches a lab it did not create.

Memory of a node is measured three ways:

* PSS: the sum of ``Pss`` from ``/proc/PID/smaps_rollup`` over every process in the node's PID
  namespace (shared pages, e.g. the image's libraries read through the overlay, are split between
  the processes, and so between the nodes, that map them); the fairest "cost of one more node".
* RSS: the sum of ``VmRSS`` over the same processes (counts shared pages once per process).
* cgroup: ``memory.usage_in_bytes`` of the node's v1 memory cgroup (``kubeward-<lab>-<node>``),
  which also counts page cache and kernel memory charged to the node (``cache`` and ``rss`` from
  its ``memory.stat`` are reported too).

Each idle node holds 6 inotify instances of uid 0 (systemd 5, systemd-logind 1), and the kernel's
default ``fs.inotify.max_user_instances`` of 128 is shared by every root process on the machine, so
about 20 nodes in all labs together exhaust it and the next node's systemd dies at start ("did not
boot"). Unless ``--keep-inotify-limit`` is given, the benchmark raises that limit when the largest
size would not fit, and restores it at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kubeward.lab.image import build_image
from kubeward.lab.lab import Lab, LabState
from kubeward.lab.node import NodeSpec, remove_cgroups
from kubeward.lab.plan import node_names

MIB = 1024 * 1024
#: inotify instances of uid 0 one idle node holds (systemd 5, systemd-logind 1), measured
INOTIFY_PER_NODE = 6
MEMORY_ROOT = Path("/sys/fs/cgroup/memory")


@dataclass
class NodeMemory:
    name: str
    processes: int
    inotify: int  # inotify instances its processes hold (fs.inotify.max_user_instances counts them)
    pss: int  # bytes
    rss: int  # bytes
    cgroup_usage: int | None  # bytes, memory.usage_in_bytes
    cgroup_rss: int | None  # bytes, total_rss from memory.stat
    cgroup_cache: int | None  # bytes, total_cache from memory.stat


@dataclass
class Run:
    size: int
    rep: int
    lab: str
    up_s: float
    down_s: float
    idle_s: float
    nodes: list[NodeMemory] = field(default_factory=list)
    leftovers: dict[str, list[str]] = field(default_factory=dict)

    def mean(self, attr: str) -> float | None:
        values = [getattr(n, attr) for n in self.nodes]
        if not values or any(v is None for v in values):
            return None
        return sum(values) / len(values)


# ----- measuring ------------------------------------------------------------------------------------
def _pid_namespaces() -> dict[str, list[int]]:
    """pid namespace (as the /proc/PID/ns/pid link text) -> the host pids of its processes."""
    out: dict[str, list[int]] = {}
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            ns = os.readlink(p / "ns" / "pid")
        except OSError:  # gone meanwhile, or a kernel thread we may not read
            continue
        out.setdefault(ns, []).append(int(p.name))
    return out


def _status_kib(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _uid(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Uid:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return -1


def _pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _inotify_instances(pid: int) -> int:
    n = 0
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                n += os.readlink(fd) == "anon_inode:inotify"
            except OSError:
                continue
    except OSError:
        pass
    return n


def _root_inotify_in_use() -> int:
    """inotify instances held by uid 0 processes on the whole machine (every lab node is uid 0)."""
    total = 0
    for p in Path("/proc").iterdir():
        if p.name.isdigit() and _uid(int(p.name)) == 0:
            total += _inotify_instances(int(p.name))
    return total


def _memory_cgroup(systemd_pid: int, cgroup_name: str) -> Path | None:
    """The node's v1 memory cgroup directory, found from where its systemd sits (host's view)."""
    try:
        lines = Path(f"/proc/{systemd_pid}/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) == 3 and "memory" in parts[1].split(","):
            segments = parts[2].strip("/").split("/")
            if cgroup_name in segments:
                rel = "/".join(segments[: segments.index(cgroup_name) + 1])
                path = MEMORY_ROOT / rel
                return path if path.is_dir() else None
    return None


def _memory_stat(path: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        for line in (path / "memory.stat").read_text().splitlines():
            key, _, value = line.partition(" ")
            if value.strip().isdigit():
                out[key] = int(value)
    except OSError:
        pass
    return out


def measure_nodes(lab: Lab, state: LabState) -> list[NodeMemory]:
    namespaces = _pid_namespaces()
    out = []
    for n in state.nodes:
        ns = os.readlink(f"/proc/{n.systemd_pid}/ns/pid")
        if ns == os.readlink("/proc/self/ns/pid"):
            raise RuntimeError(f"node {n.name}'s systemd ({n.systemd_pid}) is in the host's PID namespace")
        pids = namespaces.get(ns, [])
        cg = _memory_cgroup(n.systemd_pid, lab.node_spec(n).cgroup_name)
        usage = stat = None
        if cg is not None:
            usage = int((cg / "memory.usage_in_bytes").read_text())
            stat = _memory_stat(cg)
        out.append(
            NodeMemory(
                name=n.name,
                processes=len(pids),
                inotify=sum(_inotify_instances(p) for p in pids),
                pss=sum(_pss_kib(p) for p in pids) * 1024,
                rss=sum(_status_kib(p, "VmRSS") for p in pids) * 1024,
                cgroup_usage=usage,
                cgroup_rss=stat.get("total_rss") if stat else None,
                cgroup_cache=stat.get("total_cache") if stat else None,
            )
        )
    return out


def leftovers(lab_name: str) -> dict[str, list[str]]:
    """What of a lab is still on the machine: namespaces, processes, cgroups, its directory."""
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    procs = []
    marker = f"/labs/{lab_name}/".encode()
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if marker in (p / "cmdline").read_bytes():
                    procs.append(p.name)
            except OSError:
                continue
    return {
        "netns": [ln.split()[0] for ln in listing.splitlines() if ln.startswith(f"kubeward-{lab_name}-")],
        "processes": procs,
        "cgroups": [str(c) for c in Path("/sys/fs/cgroup").glob(f"*/**/kubeward-{lab_name}-*")],
        "dirs": [str(Lab(lab_name).dir)] if Lab(lab_name).dir.exists() else [],
    }


def reap(lab_name: str, size: int, say: Any) -> None:
    """Last-resort cleanup of *our own* lab after a failed up/down: kill its node launchers (by pid,
    only processes whose command line is inside this lab's directory) and remove its cgroups."""
    for pid in leftovers(lab_name)["processes"]:
        say(f"killing leftover process {pid} of lab {lab_name}")
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)
    time.sleep(1)
    for node, _role in node_names(lab_name, size, 1):
        remove_cgroups(NodeSpec(lab=lab_name, name=node, netns="", dir=Lab(lab_name).dir / "nodes" / node))


# ----- running ---------------------------------------------------------------------------------------
def one_run(size: int, rep: int, idle: float, say: Any) -> Run:
    lab = Lab(f"bench{secrets.token_hex(3)}")
    while lab.exists() or lab.dir.exists():  # never reuse (and so never take down) someone's lab
        lab = Lab(f"bench{secrets.token_hex(3)}")
    failed = True
    try:
        say(f"[{size} nodes, rep {rep + 1}] lab {lab.name}: up")
        t0 = time.monotonic()
        state = lab.up(size, 1)
        up_s = time.monotonic() - t0
        if len(state.nodes) != size:
            raise RuntimeError(f"lab {lab.name} has {len(state.nodes)} nodes, asked for {size}")
        time.sleep(idle)
        nodes = measure_nodes(lab, lab.load())
        say(f"[{size} nodes, rep {rep + 1}] lab {lab.name}: up in {up_s:.1f} s; down")
        t0 = time.monotonic()
        lab.down()
        down_s = time.monotonic() - t0
        run = Run(size, rep, lab.name, round(up_s, 3), round(down_s, 3), idle, nodes)
        failed = False
    finally:
        if failed:
            say(f"lab {lab.name} failed; taking it down")
            try:
                if lab.exists() or lab.dir.exists():
                    lab.down()
            finally:
                reap(lab.name, size, say)
    run.leftovers = {k: v for k, v in leftovers(lab.name).items() if v}
    return run


def inotify_limit_path() -> Path:
    return Path("/proc/sys/fs/inotify/max_user_instances")


def ensure_inotify_headroom(nodes: int, say: Any) -> int | None:
    """Every node's systemd and logind hold ~6 inotify instances of uid 0; the kernel's default
    per-user limit (128) caps the whole machine at ~20 lab nodes. Raise the limit when the largest
    lab would not fit; return the old value to restore, or None when nothing was changed."""
    path = inotify_limit_path()
    limit = int(path.read_text())
    in_use = _root_inotify_in_use()
    need = in_use + INOTIFY_PER_NODE * nodes + 16
    if need <= limit:
        return None
    new = (need // 128 + 1) * 128
    say(
        f"fs.inotify.max_user_instances is {limit}, {in_use} in use by root and {nodes} nodes need about "
        f"{INOTIFY_PER_NODE * nodes} more: raising it to {new} for this run"
    )
    path.write_text(f"{new}\n")
    return limit


def summarize(runs: list[Run]) -> list[dict[str, Any]]:
    rows = []
    for size in sorted({r.size for r in runs}):
        rs = [r for r in runs if r.size == size]

        def med(values: list[float | None], scale: float = 1.0) -> float | None:
            vals = [v for v in values if v is not None]
            return round(statistics.median(vals) / scale, 2) if vals else None

        rows.append(
            {
                "size": size,
                "reps": len(rs),
                "up_s": med([r.up_s for r in rs]),
                "up_s_per_node": med([r.up_s / size for r in rs]),
                "down_s": med([r.down_s for r in rs]),
                "pss_mib_per_node": med([r.mean("pss") for r in rs], MIB),
                "rss_mib_per_node": med([r.mean("rss") for r in rs], MIB),
                "cgroup_usage_mib_per_node": med([r.mean("cgroup_usage") for r in rs], MIB),
                "cgroup_rss_mib_per_node": med([r.mean("cgroup_rss") for r in rs], MIB),
                "cgroup_cache_mib_per_node": med([r.mean("cgroup_cache") for r in rs], MIB),
                "processes_per_node": med([r.mean("processes") for r in rs]),
                "inotify_per_node": med([r.mean("inotify") for r in rs]),
            }
        )
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    cols = [
        ("size", "nodes"),
        ("reps", "reps"),
        ("up_s", "up s"),
        ("up_s_per_node", "up s/node"),
        ("down_s", "down s"),
        ("pss_mib_per_node", "PSS MiB/node"),
        ("rss_mib_per_node", "RSS MiB/node"),
        ("cgroup_usage_mib_per_node", "cgroup MiB/node"),
        ("processes_per_node", "procs/node"),
    ]
    cells = [[h for _, h in cols]] + [["-" if r[k] is None else str(r[k]) for k, _ in cols] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(cols))]
    return "\n".join("  ".join(c[i].rjust(widths[i]) for i in range(len(cols))) for c in cells)


def _sizes(text: str) -> list[int]:
    sizes = [int(s) for s in text.split(",") if s.strip()]
    if not sizes or any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError("--sizes takes positive integers separated by commas, e.g. 3,20")
    return sizes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.lab_bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=_sizes, default=[3, 20], help="lab sizes in nodes (default 3,20)")
    ap.add_argument("--reps", type=int, default=3, help="repetitions per size (default 3)")
    ap.add_argument("--idle", type=float, default=3.0, help="seconds nodes idle before measuring (default 3)")
    ap.add_argument(
        "--keep-inotify-limit",
        action="store_true",
        help="never raise fs.inotify.max_user_instances (large labs then fail to boot)",
    )
    ap.add_argument("--out", type=Path, default=Path("bench/out/lab.json"), help="JSON results file")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("the lab benchmark needs root (network namespaces, overlay mounts, cgroups)", file=sys.stderr)
        return 2

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")  # so the finally blocks take labs down

    signal.signal(signal.SIGTERM, on_term)

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    t0 = time.monotonic()
    image = build_image(say)
    say(f"image {image.key} ready ({time.monotonic() - t0:.1f} s, not timed)")
    old_limit = None if args.keep_inotify_limit else ensure_inotify_headroom(max(args.sizes), say)
    runs: list[Run] = []
    try:
        for size in args.sizes:
            for rep in range(args.reps):
                runs.append(one_run(size, rep, args.idle, say))
    finally:
        if old_limit is not None:
            inotify_limit_path().write_text(f"{old_limit}\n")
            say(f"fs.inotify.max_user_instances restored to {old_limit}")
    rows = summarize(runs)
    print(table(rows))
    left = {r.lab: r.leftovers for r in runs if r.leftovers}
    if left:
        print(f"WARNING: labs left things behind: {json.dumps(left)}", file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "image": image.key,
                "cpus": os.cpu_count(),
                "kernel": os.uname().release,
                "idle_s": args.idle,
                "inotify_limit_raised_from": old_limit,
                "summary": rows,
                "runs": [asdict(r) for r in runs],
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {args.out}")
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())
