"""kubeward against Ansible on the same lab, and how kubeward's cost grows with the node count.

Run as root (``make bench`` does it, after the project's and the bench's virtualenvs)::

    .venv/bin/python -m bench [--sizes 3,10,30] [--reps 3] [--first-reps N] [--skip-ansible]
                              [--ansible-strategy linear|free] [--out bench/RESULTS.md]

For each size, in each of ``--first-reps`` rounds, three fresh labs (``bn`` + 6 hex digits), one at a
time; the ``--reps`` no-op runs of a size are spread over its rounds:

* **K** (kubeward, the Ansible comparison): ``kubeward up --only provision,harden-ssh`` on fresh
  nodes (first converge), then again on converged nodes (no-op runs);
* **A** (Ansible): python3-apt installed on every node (untimed, Ansible's apt module needs it),
  then ``ansible-playbook bench/peers/ansible/site.yml`` (first converge, then no-op runs);
* **F** (kubeward, whole command): ``kubeward up`` (every phase) on fresh nodes, then no-op runs of
  ``kubeward up`` (SSH round-trips per host from ``-o json``, seconds per phase from its run log),
  each followed by ``kubeward preflight``.

The first converge needs fresh labs, so it is timed once per round: by default ``--reps`` rounds
below 10 nodes, 2 below 30, 1 from 30 (sizes 3,10,30 with 3 reps then take about 20-25 minutes on
2 cores, most of it Ansible at 30 nodes).

Every command runs as a subprocess and is timed by wall clock (interpreter start-up included, for
both tools). One node of each lab is read after its runs (files' contents, owners and modes, the
admin's ids, the 127.0.1.1 line, dpkg status, ``sshd -T``) and K is compared with A and with F.
Labs are taken down in ``finally`` (also on Ctrl-C and SIGTERM); only labs this run made.
When bench/pki_bench.py or bench/firewall_bench.py exist they are run too (``--nodes 10,100,1000``)
and their JSON is summarised. Results: ``--out`` (Markdown) and bench/out/bench.json.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import ansible_peer, state_check
from bench.report import render
from kubeward.lab.image import build_image
from kubeward.lab.lab import Lab

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "bench" / "out"
WORK = ROOT / "bench" / ".work"
COMPARE_PHASES = "provision,harden-ssh"

Say = Callable[[str], None]


@dataclass
class Sample:
    """One timed command."""

    tool: str  # kubeward | ansible
    what: str  # first | noop | full-first | full-noop | preflight
    size: int
    rep: int
    lab: str
    seconds: float  # wall clock
    ok: bool
    inner_seconds: float | None = None  # kubeward's own "seconds" (after start-up)
    changed: int | None = None  # changes made (kubeward: per-host sum; ansible: recap sum)
    round_trips: dict[str, int] = field(default_factory=dict)
    error: str = ""
    phase_seconds: dict[str, float] = field(default_factory=dict)  # kubeward up: from its run log
    load1: float = 0.0  # the machine's 1-minute load average when the command ended
    cpu_seconds: float | None = None  # user+sys CPU of the tool's process tree on this machine


@dataclass
class Results:
    machine: dict[str, Any]
    sizes: list[int]
    reps: int
    first_reps: dict[int, int]  # size -> fresh-lab rounds (first converges timed)
    ansible: str | None
    ansible_strategy: str
    samples: list[Sample] = field(default_factory=list)
    state: list[dict[str, Any]] = field(default_factory=list)  # per size/rep: mismatches
    pure: dict[str, Any] = field(default_factory=dict)  # pki / firewall benches
    notes: list[str] = field(default_factory=list)
    total_seconds: float = 0.0


# ----- machine ---------------------------------------------------------------------------------------
def machine_info() -> dict[str, Any]:
    mem = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem = int(line.split()[1]) * 1024
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break

    def out(argv: list[str]) -> str:
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=10, cwd=ROOT)
            return (p.stdout or p.stderr).strip()
        except OSError:
            return ""

    commit = out(["git", "rev-parse", "--short", "HEAD"])
    dirty = bool(out(["git", "status", "--porcelain", "--untracked-files=no", "src"]))
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "openssh_client": out(["ssh", "-V"]),
        "kubeward_commit": commit + ("+uncommitted changes in src/" if dirty else ""),
        "other_labs_running": [],
        "loadavg_start": Path("/proc/loadavg").read_text().split()[:3],
    }


# ----- running commands ------------------------------------------------------------------------------
#: the kubeward under test: a copy of src/kubeward taken when the bench starts, so that edits made to
#: the work tree during a 25-minute run do not mix versions (set by snapshot_source)
SNAPSHOT: Path | None = None


def snapshot_source() -> str:
    """Copy src/kubeward aside; every kubeward subprocess imports it (PYTHONPATH). Returns its digest."""
    global SNAPSHOT
    dst = WORK / "kubeward-src"
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(ROOT / "src" / "kubeward", dst / "kubeward", ignore=shutil.ignore_patterns("__pycache__"))
    h = hashlib.sha256()
    for f in sorted((dst / "kubeward").rglob("*.py")):
        h.update(str(f.relative_to(dst)).encode() + b"\0" + f.read_bytes())
    SNAPSHOT = dst
    check = subprocess.run([sys.executable, "-c", "import kubeward; print(kubeward.__file__)"], cwd=ROOT,
                           env=_env(), capture_output=True, text=True, check=True).stdout.strip()
    if not check.startswith(str(dst)):
        raise RuntimeError(f"kubeward subprocesses would import {check}, not the snapshot in {dst}")
    return h.hexdigest()[:12]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    if SNAPSHOT is not None:
        env["PYTHONPATH"] = str(SNAPSHOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def kubeward(args: list[str], config: Path, timeout: float = 900) -> tuple[float, int, dict[str, Any], str]:
    argv = [sys.executable, "-m", "kubeward", *args, "-c", str(config), "-o", "json"]
    t0, c0 = time.monotonic(), child_cpu()
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=_env())
    seconds = time.monotonic() - t0
    LAST_CPU[0] = child_cpu() - c0
    try:
        data = json.loads(p.stdout)
    except json.JSONDecodeError:
        data = {}
    return seconds, p.returncode, data, p.stderr.strip()[-600:]


LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \S+ kubeward\.phases (.*)$")


def phase_seconds(log_path: str | None) -> dict[str, float]:
    """Seconds per phase of one `up`, from the timestamps of its run log (the last run in the file)."""
    if not log_path or not Path(log_path).exists():
        return {}
    events: list[tuple[float, str]] = []
    for line in Path(log_path).read_text(errors="replace").splitlines():
        m = LOG_LINE.match(line)
        if not m:
            continue
        t = time.mktime(time.strptime(m[1][:19], "%Y-%m-%d %H:%M:%S")) + int(m[1][20:]) / 1000
        if m[2].startswith("phase connect "):
            events = []
        events.append((t, m[2]))
    starts = [(t, msg.split()[1]) for t, msg in events if msg.startswith("phase ")]
    if not starts:
        return {}
    end = events[-1][0]
    out = {}
    for i, (t, name) in enumerate(starts):
        nxt = starts[i + 1][0] if i + 1 < len(starts) else end
        out[name] = round(nxt - t, 3)
    return out


LAST_CPU = [0.0]


def child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def load1() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def kw_sample(what: str, size: int, rep: int, lab: Lab, args: list[str]) -> Sample:
    seconds, rc, data, err = kubeward(args, lab.cluster_yml)
    hosts = data.get("hosts", {})
    if args[0] == "up":
        changed = sum(h.get("changed", 0) for h in hosts.values()) if hosts else None
        errors = [f"{n}: {h['error']}" for n, h in hosts.items() if h.get("error")]
        ok = rc == 0 and bool(data.get("ok"))
        error = "; ".join(errors[:2]) or ("" if ok else err or f"exit {rc}")
        return Sample(
            "kubeward",
            what,
            size,
            rep,
            lab.name,
            round(seconds, 3),
            ok,
            data.get("seconds"),
            changed,
            {k: v for k, v in data.get("round_trips", {}).items()},
            error,
            phase_seconds(data.get("log")),
            load1(),
            round(LAST_CPU[0], 2),
        )
    # preflight: exit 1 means some check failed; the timing is still the whole check
    results = data.get("results", [])
    fails = sorted({f"{r.get('check')}: {r.get('observed')}" for r in results if r.get("status") == "fail"})
    ok = rc == 0
    return Sample(
        "kubeward",
        what,
        size,
        rep,
        lab.name,
        round(seconds, 3),
        ok,
        data.get("seconds"),
        None,
        {},
        "; ".join(fails[:2]) or ("" if ok else err or f"exit {rc}"),
        load1=load1(),
        cpu_seconds=round(LAST_CPU[0], 2),
    )


def new_lab() -> Lab:
    while True:
        lab = Lab(f"bn{secrets.token_hex(3)}")
        if not lab.exists() and not lab.dir.exists():  # never reuse (and so never take down) another's lab
            return lab


def with_lab(size: int, say: Say, body: Callable[[Lab], None]) -> None:
    lab = new_lab()
    try:
        t0 = time.monotonic()
        lab.up(size, 1)
        say(f"  lab {lab.name}: {size} nodes up in {time.monotonic() - t0:.1f} s")
        body(lab)
    finally:
        if lab.exists() or lab.dir.exists():
            lab.down()


def one_round(res: Results, size: int, rnd: int, noops: int, skip_ansible: bool, say: Say) -> None:
    """Fresh labs K, A and F of ``size`` nodes: each first converge once, then ``noops`` no-op runs."""
    tag = f"[{size} nodes, labs {rnd + 1}]"
    snaps: dict[str, dict[str, str]] = {}
    node_index = min(1, size - 1)  # a worker when there is one

    def add(s: Sample) -> None:
        res.samples.append(s)
        extra = f", inner {s.inner_seconds:.2f} s" if s.inner_seconds is not None else ""
        ch = f", {s.changed} changes" if s.changed is not None else ""
        ph = (
            (" [" + ", ".join(f"{k} {v:.2f}" for k, v in s.phase_seconds.items()) + "]")
            if s.phase_seconds
            else ""
        )
        cpu = f", cpu {s.cpu_seconds:.1f} s" if s.cpu_seconds is not None else ""
        say(
            f"  {tag} {s.tool} {s.what}: {s.seconds:.2f} s{extra}{cpu}{ch}, load {s.load1:.1f}{ph}"
            f"{'' if s.ok else ' FAILED: ' + s.error}"
        )

    # K: kubeward, same phases as the Ansible peer
    def k(lab: Lab) -> None:
        add(kw_sample("first", size, rnd, lab, ["up", "--only", COMPARE_PHASES]))
        for _ in range(noops):
            add(kw_sample("noop", size, rnd, lab, ["up", "--only", COMPARE_PHASES]))
        snaps["kubeward"] = state_check.snapshot(lab, lab.load().nodes[node_index].name)

    # A: Ansible
    def a(lab: Lab) -> None:
        t0 = time.monotonic()
        ansible_peer.install_prereqs(lab, ansible_peer.ensure_debs(say))
        wd = ansible_peer.prepare(lab, WORK / lab.name)
        say(f"  {tag} python3-apt on {size} nodes, inventory: {time.monotonic() - t0:.1f} s (untimed)")
        for what in ["first"] + ["noop"] * noops:
            r = ansible_peer.run(wd, strategy=res.ansible_strategy)
            err = "" if r.ok else f"exit {r.rc}: " + r.tail[-400:].replace("\n", " | ")
            add(
                Sample(
                    "ansible",
                    what,
                    size,
                    rnd,
                    lab.name,
                    round(r.seconds, 3),
                    r.ok,
                    None,
                    r.changed,
                    {},
                    err,
                    load1=load1(),
                    cpu_seconds=round(r.cpu_seconds, 2),
                )
            )
        snaps["ansible"] = state_check.snapshot(lab, lab.load().nodes[node_index].name)
        if all(x.ok for x in res.samples if x.lab == lab.name):
            shutil.rmtree(wd.path, ignore_errors=True)  # logs kept only when something failed

    # F: kubeward's whole `up`, its no-op round-trips, and preflight
    def f(lab: Lab) -> None:
        add(kw_sample("full-first", size, rnd, lab, ["up"]))
        for _ in range(noops):
            add(kw_sample("full-noop", size, rnd, lab, ["up"]))
            add(kw_sample("preflight", size, rnd, lab, ["preflight"]))
        snaps["kubeward-full"] = state_check.snapshot(lab, lab.load().nodes[node_index].name)

    with_lab(size, say, k)
    if not skip_ansible:
        with_lab(size, say, a)
    with_lab(size, say, f)
    entry: dict[str, Any] = {"size": size, "rep": rnd}
    if "ansible" in snaps:
        entry["kubeward_vs_ansible"] = state_check.compare(snaps["kubeward"], snaps["ansible"])
    entry["up_only_vs_full_up"] = state_check.compare(snaps["kubeward"], snaps["kubeward-full"])
    entry["checked"] = sorted(snaps["kubeward"])
    res.state.append(entry)
    for k_, v in entry.items():
        if isinstance(v, list) and k_ != "checked" and v:
            say(f"  {tag} STATE MISMATCH ({k_}): {'; '.join(v)}")


def first_reps_for(size: int, reps: int, spec: list[int] | None, sizes: list[int]) -> int:
    """How many fresh lab rounds (each timing a first converge) a size gets."""
    if spec is None:
        n = reps if size < 10 else 2 if size < 30 else 1
    elif len(spec) == 1:
        n = spec[0]
    else:
        n = spec[sizes.index(size)]
    return max(1, min(n, reps))


def split(total: int, parts: int) -> list[int]:
    """``total`` no-op runs over ``parts`` rounds, as evenly as possible (earlier rounds get more)."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


# ----- the pure benches of others ---------------------------------------------------------------------
PURE = {"pki": "bench.pki_bench", "firewall": "bench.firewall_bench"}


def run_pure(say: Say) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, module in PURE.items():
        if importlib.util.find_spec(module) is None:
            out[name] = {"skipped": f"{module.replace('.', '/')}.py does not exist (yet)"}
            say(f"{name} bench: skipped, {module} does not exist")
            continue
        path = OUT_DIR / f"{name}.json"
        argv = [sys.executable, "-m", module, "--nodes", "10,100,1000", "--out", str(path)]
        say(f"{name} bench: {' '.join(argv[1:])}")
        t0 = time.monotonic()
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=900, cwd=ROOT)
        except subprocess.TimeoutExpired:
            out[name] = {"skipped": f"{module} did not finish in 900 s"}
            continue
        entry: dict[str, Any] = {
            "argv": argv[2:],
            "rc": p.returncode,
            "seconds": round(time.monotonic() - t0, 1),
        }
        if p.returncode != 0:
            entry["skipped"] = f"{module} exited {p.returncode}: {(p.stderr or p.stdout).strip()[-400:]}"
        elif path.exists():
            try:
                entry["data"] = json.loads(path.read_text())
            except json.JSONDecodeError as exc:
                entry["skipped"] = f"{path} is not JSON: {exc}"
        else:
            entry["skipped"] = f"{module} wrote no {path}"
        entry["stdout"] = p.stdout.strip()[-3000:]
        out[name] = entry
    return out


# ----- main ------------------------------------------------------------------------------------------
def _sizes(text: str) -> list[int]:
    sizes = [int(s) for s in text.split(",") if s.strip()]
    if not sizes or any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError("--sizes takes positive integers separated by commas, e.g. 3,10,30")
    return sizes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=_sizes, default=[3, 10, 30], help="lab sizes in nodes (default 3,10,30)")
    ap.add_argument("--reps", type=int, default=3, help="repetitions per size (default 3)")
    ap.add_argument(
        "--first-reps",
        type=_sizes,
        default=None,
        metavar="N[,N...]",
        help="fresh-lab rounds per size, each timing one first converge; the --reps no-op runs are "
        "spread over them (one number, or one per size; default: --reps below 10 nodes, 2 "
        "below 30, 1 from 30: keeps 3,10,30 x 3 under ~25 min on 2 cores)",
    )
    ap.add_argument("--skip-ansible", action="store_true", help="kubeward only")
    ap.add_argument("--skip-pure", action="store_true", help="do not run the PKI and firewall benches")
    ap.add_argument("--ansible-strategy", choices=["linear", "free"], default="linear")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md", help="Markdown report")
    ap.add_argument("--json", type=Path, default=OUT_DIR / "bench.json", help="raw results")
    ap.add_argument("--render", type=Path, metavar="JSON",
                    help="only write --out again from the raw results of an earlier run")
    args = ap.parse_args(argv)
    if args.render:
        raw = json.loads(args.render.read_text())
        raw["first_reps"] = {int(k): v for k, v in raw["first_reps"].items()}
        args.out.write_text(render(raw))
        print(f"wrote {args.out}")
        return 0
    if os.geteuid() != 0:
        print("the bench needs root (it boots labs)", file=sys.stderr)
        return 2
    if args.first_reps is not None and len(args.first_reps) not in (1, len(args.sizes)):
        ap.error("--first-reps takes one number or one per size")
    rounds = {n: first_reps_for(n, args.reps, args.first_reps, args.sizes) for n in args.sizes}

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")  # so the finally blocks take labs down

    signal.signal(signal.SIGTERM, on_term)

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    started = time.monotonic()
    image = build_image(say)
    info = machine_info()
    info["image"] = image.key
    info["kubeward_source_sha"] = snapshot_source()
    say(f"kubeward under test: {info['kubeward_commit']}, source snapshot {info['kubeward_source_sha']} in {SNAPSHOT}")
    from kubeward.lab.lab import list_labs

    info["other_labs_running"] = list_labs()
    version = None
    if not args.skip_ansible:
        version = ansible_peer.ensure_venv(say)
        ansible_peer.ensure_debs(say)
    res = Results(info, args.sizes, args.reps, rounds, version, args.ansible_strategy)
    fewer = {n: r for n, r in rounds.items() if r < args.reps}
    if fewer:
        res.notes.append(
            "to stay within ~25 minutes, the first converge (which needs fresh labs) was timed "
            + ", ".join(f"{r}× at {n} nodes" for n, r in fewer.items())
            + f" instead of {args.reps}×; the {args.reps} no-op runs per size were spread over those labs"
        )
    try:
        for size in args.sizes:
            say(f"== {size} nodes")
            for rnd, noops in enumerate(split(args.reps, rounds[size])):
                one_round(res, size, rnd, noops, args.skip_ansible, say)
        if not args.skip_pure:
            res.pure = run_pure(say)
    finally:
        res.total_seconds = round(time.monotonic() - started, 1)
        res.machine["loadavg_end"] = Path("/proc/loadavg").read_text().split()[:3]
        res.machine["kubeward_commit_at_end"] = machine_info()["kubeward_commit"]
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(asdict(res), indent=1) + "\n")
        say(f"wrote {args.json}")
    md = render(asdict(res))
    args.out.write_text(md)
    print(md)
    say(f"wrote {args.out} in {res.total_seconds / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
