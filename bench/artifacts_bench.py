"""Uploading the Kubernetes binaries to fresh lab nodes: kubeward's artifacts phase against plain
`scp` of the same files to the same nodes (all nodes at once, in aggregate).

    python -m bench.artifacts_bench [--nodes 10] [--out bench/out/artifacts.json]

Needs root and a local build (`make kube-bin`). Brings a lab of --nodes nodes (1 control plane) up,
runs `kubeward up --only connect,artifacts` (timed), then a second time (the no-op), then wipes
the files and copies the same per-role files with one `scp` per node, all in parallel (timed), and
finally takes the lab down. scp only copies: it checks nothing and makes no links, so the figure is
the transfer floor kubeward is compared with.
"""

from __future__ import annotations

import argparse
import json
import secrets
import subprocess
import sys
import time
from pathlib import Path

from kubeward.artifacts.build import find_entry
from kubeward.artifacts.manifest import read_manifest
from kubeward.artifacts.nodes import INSTALL_ROOT, ROLE_BINARIES
from kubeward.lab.lab import Lab, render_kubernetes_yml


def _up(config: Path) -> float:
    t = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "kubeward", "up", "-c", str(config), "--only", "connect,artifacts",
                        "-o", "json"], capture_output=True, text=True, timeout=1800)
    seconds = time.monotonic() - t
    if r.returncode != 0:
        raise SystemExit(f"up failed: {r.stdout[-2000:]}{r.stderr[-2000:]}")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=10)
    ap.add_argument("--out", default="bench/out/artifacts.json")
    a = ap.parse_args()
    entry = find_entry("1.20.2")
    if entry is None:
        raise SystemExit("no local build: run `make kube-bin` first")
    m = read_manifest(entry)
    lab = Lab("ab" + secrets.token_hex(3))
    try:
        lab.up(a.nodes, 1)
        state = lab.load()
        config = lab.dir / "bench-cluster.yml"
        config.write_text(lab.cluster_yml.read_text() + render_kubernetes_yml("1.20.2", entry))
        total = sum(
            (m.file(m.binary_path(b)) or m.files[0]).size for n in state.nodes for b in ROLE_BINARIES[n.role]
        )
        first = _up(config)
        noop = _up(config)
        known = lab.dir / "known_hosts.bench"
        known.write_text("".join(f"{n.public_address} {n.host_key}\n" for n in state.nodes))
        procs = []
        t = time.monotonic()
        for n in state.nodes:
            files = [str(entry / m.binary_path(b)) for b in ROLE_BINARIES[n.role]]
            procs.append(subprocess.Popen(
                ["scp", "-q", "-i", str(lab.key_path), "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={known}",
                 *files, f"debian@{n.public_address}:/tmp/"]))
        codes = [p.wait() for p in procs]
        scp = time.monotonic() - t
        assert codes == [0] * len(codes), codes
        result = {
            "nodes": a.nodes, "bytes": total, "kubeward_first_s": round(first, 2), "kubeward_noop_s": round(noop, 2),
            "scp_s": round(scp, 2), "kubeward_over_scp": round(first / scp, 2),
            "install_root": INSTALL_ROOT,
        }
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2))
    finally:
        lab.down()


if __name__ == "__main__":
    main()
