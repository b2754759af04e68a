"""A fresh 3-node Kubernetes lab (1 control plane, 2 workers, the local v1.20.2 build) to every node
Ready with a pod running on each: `kubeward up` from nothing (it returns once kubelets joined, serving
CSRs are decided and the pod network is in place), then `kubeward check` (a busybox pod on every
node, pod-to-pod, services, logs/exec, clean-up); then the memory (PSS) of kubelet, containerd and
kube-proxy on every node.

    python -m bench.nodes_bench [--nodes 3] [--control-planes 1]

Prints a Markdown table; the lab is removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.control_plane_bench import pss_mib, up
from kubeward.artifacts.build import find_entry
from kubeward.lab.lab import Lab, render_kubernetes_yml

COMPONENTS = ("kubelet", "containerd", "kube-proxy")


def check(config: Path) -> tuple[float, dict]:  # type: ignore[type-arg]
    started = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "kubeward", "check", "-c", str(config), "-o", "json"],
                       capture_output=True, text=True, timeout=900)
    seconds = time.monotonic() - started
    doc = json.loads(r.stdout)
    if r.returncode != 0:
        raise SystemExit(f"check failed: {json.dumps(doc, indent=1)}")
    return seconds, doc


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--control-planes", type=int, default=1)
    args = ap.parse_args()
    entry = find_entry("1.20.2")
    if entry is None:
        raise SystemExit("no local Kubernetes v1.20.2 build: make kube-bin")
    lab = Lab(f"bn{int(time.time()) % 100000}")
    try:
        lab.up(args.nodes, args.control_planes)
        with tempfile.TemporaryDirectory() as tmp:
            text = lab.cluster_yml.read_text().replace("key_path: id_ed25519", f"key_path: {lab.key_path}")
            text = text.replace("state_dir: state", f"state_dir: {tmp}/state")
            config = Path(tmp) / "cluster.yml"
            config.write_text(text + render_kubernetes_yml("1.20.2", entry))
            t_up, _ = up(config)
            t_check, doc = check(config)
            first_pod = {c["name"]: c["status"] for c in doc["checks"]}
            t_noop, _ = up(config)
            st = lab.load()
            print("| nodes (control planes) | first `up` (nodes joined, Ready path) | `kubeward check` (a pod on "
                  "every node, all checks, clean-up) | total to Ready with a pod on each | no-op up |")
            print("|---|---:|---:|---:|---:|")
            print(f"| {args.nodes} ({args.control_planes}) | {t_up:.1f} s | {t_check:.1f} s | "
                  f"{t_up + t_check:.1f} s | {t_noop:.1f} s |")
            print()
            print("| node | " + " | ".join(COMPONENTS) + " |")
            print("|---|" + "---:|" * len(COMPONENTS))
            for n in st.nodes:
                cells = []
                for c in COMPONENTS:
                    v = pss_mib(lab, n.name, c)
                    cells.append(f"{v:.0f} MiB" if v is not None else "-")
                print(f"| {n.name} ({n.role}) | " + " | ".join(cells) + " |")
            print()
            print("checks:", ", ".join(f"{k}={v}" for k, v in first_pod.items()))
    finally:
        lab.down()


if __name__ == "__main__":
    main()
