"""Throughput of `kubeward tunnel` against `ssh -L` to the same node, for a 100 MB transfer.

    python -m bench.tunnel_bench [--lab NAME] [--mb 100] [--reps 3] [--out bench/out/tunnel.json]

Uses an existing lab (--lab) or brings a 1-node lab up and down. The node serves a file of --mb MB
with python3's http.server on 127.0.0.1; curl downloads it through each tunnel.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path

from kubeward.lab.lab import Lab
from kubeward.remote.openssh import openssh_argv
from kubeward.remote.ssh import Target

PORT = 8765


def _download(url: str) -> float:
    t = time.monotonic()
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{size_download}", url], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0 and int(r.stdout) > 0, r
    return time.monotonic() - t


def _wait_port(port: int) -> None:
    for _ in range(100):
        if subprocess.run(["bash", "-c", f"</dev/tcp/127.0.0.1/{port}"], capture_output=True).returncode == 0:
            return
        time.sleep(0.1)
    raise RuntimeError(f"port {port} never opened")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lab")
    ap.add_argument("--mb", type=int, default=100)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", default="bench/out/tunnel.json")
    a = ap.parse_args()
    own = a.lab is None
    lab = Lab(a.lab or "tb" + secrets.token_hex(3))
    try:
        if own:
            lab.up(1, 1)
        state = lab.load()
        node = state.nodes[0]
        lab.exec(node.name, ["sh", "-c", f"mkdir -p /srv/tb && head -c {a.mb}M /dev/urandom > /srv/tb/blob && "
                             f"systemd-run --unit kw-tb python3 -m http.server --bind 127.0.0.1 "
                             f"--directory /srv/tb {PORT}"])
        time.sleep(1)
        known = lab.dir / "known_hosts.bench"
        known.write_text(f"{node.public_address} {node.host_key}\n")
        target = Target(node.name, node.public_address, 22, "debian", lab.key_path)
        results: dict[str, list[float]] = {"kubeward tunnel": [], "ssh -L": []}
        for _ in range(a.reps):
            kw = subprocess.Popen([sys.executable, "-m", "kubeward", "tunnel", "-c", str(lab.cluster_yml),
                                   "--local-port", "18765", str(PORT)], stderr=subprocess.DEVNULL)
            try:
                _wait_port(18765)
                results["kubeward tunnel"].append(_download("http://127.0.0.1:18765/blob"))
            finally:
                kw.terminate()
                kw.wait(10)
            argv = openssh_argv(target, known, [], tty=False, extra=("-N", "-L", f"127.0.0.1:18766:127.0.0.1:{PORT}"))
            ssh = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
            try:
                _wait_port(18766)
                results["ssh -L"].append(_download("http://127.0.0.1:18766/blob"))
            finally:
                ssh.terminate()
                ssh.wait(10)
        lab.exec(node.name, ["sh", "-c", "systemctl stop kw-tb; rm -rf /srv/tb"])
    finally:
        if own:
            lab.down()
    med = {k: statistics.median(v) for k, v in results.items()}
    rows = {k: {"median_s": round(m, 3), "MB_per_s": round(a.mb / m, 1), "runs": [round(x, 3) for x in results[k]]}
            for k, m in med.items()}
    ratio = med["ssh -L"] / med["kubeward tunnel"]
    out = {"mb": a.mb, "reps": a.reps, "results": rows, "kubeward_throughput_vs_ssh": round(ratio, 3)}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(out, indent=2))
    for k, r in rows.items():
        print(f"{k:16} {r['median_s']:7.3f} s  {r['MB_per_s']:7.1f} MB/s")
    print(f"kubeward tunnel throughput = {ratio:.2f} x ssh -L")


if __name__ == "__main__":
    main()
