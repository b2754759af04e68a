"""First converge of a fresh 3-node Kubernetes lab (1 control plane, 2 workers, the local v1.20.2
build) to a ready API server, then a no-op `up`, with round-trips per host and the memory (PSS) of
the control-plane components.

    python -m bench.control_plane_bench [--nodes 3] [--control-planes 1]

`kubeward up` returns only once kube-apiserver answers /readyz (its health gate), so the first
converge time is the time to a healthy API. Prints a Markdown table; the lab is removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kubeward.artifacts.build import find_entry
from kubeward.lab.lab import Lab, render_kubernetes_yml

COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "haproxy", "etcd")


def up(config: Path) -> tuple[float, dict]:  # type: ignore[type-arg]
    started = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "kubeward", "up", "-c", str(config), "-o", "json"],
                       capture_output=True, text=True, timeout=1800)
    seconds = time.monotonic() - started
    report = json.loads(r.stdout)
    if r.returncode != 0:
        raise SystemExit(f"up failed: {json.dumps(report, indent=1)[-3000:]}")
    return seconds, report


def pss_mib(lab: Lab, node: str, process: str) -> float | None:
    script = (f"for p in $(pgrep -x {process[:15]}); do awk '/^Pss:/ {{s+=$2}} END {{print s}}' "
              f"/proc/$p/smaps_rollup; done")
    out = lab.exec(node, ["sh", "-c", script]).stdout.split()
    return sum(int(x) for x in out) / 1024 if out else None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--control-planes", type=int, default=1)
    args = ap.parse_args()
    entry = find_entry("1.20.2")
    if entry is None:
        raise SystemExit("no local Kubernetes v1.20.2 build: run `make kube-bin` first")
    lab = Lab(f"cpb{int(time.time()) % 100000}")
    try:
        lab.up(args.nodes, args.control_planes)
        tmp = Path(tempfile.mkdtemp(prefix="kubeward-cp-bench-"))
        text = lab.cluster_yml.read_text().replace("key_path: id_ed25519", f"key_path: {lab.key_path}")
        text = text.replace("state_dir: state", f"state_dir: {tmp / 'state'}")
        config = tmp / "cluster.yml"
        config.write_text(text + render_kubernetes_yml("1.20.2", entry))
        first, _ = up(config)
        noop, report = up(config)
        cp = next(n.name for n in lab.load().nodes if n.role == "control-plane")
        memory = {c: pss_mib(lab, cp, c) for c in COMPONENTS}
        print("| nodes (control planes) | first converge to a ready API | no-op up | round-trips per host (no-op) |")
        print("|---|---:|---:|---:|")
        print(f"| {args.nodes} ({args.control_planes}) | {first:.1f} s | {noop:.1f} s | "
              f"{max(report['round_trips'].values())} |")
        print()
        print("| component on the control plane | PSS |")
        print("|---|---:|")
        for c, m in memory.items():
            print(f"| {c} | {'-' if m is None else f'{m:.0f} MiB'} |")
    finally:
        lab.down()


if __name__ == "__main__":
    main()
