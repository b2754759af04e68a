"""Benchmark of the pure PKI core: issuing a whole cluster's certificates, and checking them again.

Run::

    .venv/bin/python -m bench.pki_bench [--nodes 10,100,1000] [--reps 3] [--key-type ecdsa-p256]
                                        [--out bench/out/pki.json]

For each size it builds a cluster.yml in memory (3 control planes, or 1 below 3 nodes; the rest
workers), then times, ``--reps`` times each and reports the median:

* issue: ``plan_refresh(config, {}, now)``: every CA, leaf and the sa key pair generated and
  signed, rendered to PEM (no disk I/O: the store is not involved);
* check: ``plan_refresh(config, files, now)`` on those files: every certificate parsed, compared
  with its row, its key matched, its signature verified, and reused.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import get_args

import cryptography

from kubeward.config import ClusterConfig, parse_config
from kubeward.pki import KeyType, plan_refresh

NOW = datetime(2030, 1, 1, tzinfo=UTC)
ADMIN_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFyHcpvoFU9dFloJmk8OQ/+icBDjiqm8gFKciq1gR8X9 bench"


@dataclass
class Result:
    nodes: int
    control_planes: int
    certs: int  # CAs and leaves
    files: int
    pem_bytes: int
    issue_s: list[float]
    check_s: list[float]

    @property
    def issue_median(self) -> float:
        return statistics.median(self.issue_s)

    @property
    def check_median(self) -> float:
        return statistics.median(self.check_s)


def cluster_yaml(nodes: int, key_type: str) -> str:
    cps = 3 if nodes >= 3 else 1
    hosts = []
    for i in range(nodes):
        role = "control-plane" if i < cps else "worker"
        name = f"cp-{i + 1}" if i < cps else f"worker-{i - cps + 1}"
        private = f"10.0.{(i + 10) // 250}.{(i + 10) % 250 + 1}"
        public = f"198.18.{i // 250}.{i % 250 + 1}"
        hosts.append(f"  - {{name: {name}, address: {public}, private_address: {private}, role: {role}}}")
    return "\n".join([
        "name: bench",
        "ssh: {user: debian, key_path: keys/id_ed25519}",
        "hosts:",
        *hosts,
        "admin:",
        "  name: kubeadmin",
        "  uid: 1500",
        f"  ssh_public_key: {ADMIN_KEY}",
        "network: {private_subnet: 10.0.0.0/16, pod_cidr: 10.128.0.0/12, admin_cidrs: [192.0.2.0/24]}",
        f"pki: {{key_type: {key_type}}}",
        "",
    ])


def run_size(config: ClusterConfig, reps: int) -> Result:
    issue_s, check_s = [], []
    files: dict[str, bytes] = {}
    refresh = None
    for _ in range(reps):
        t = time.perf_counter()
        refresh = plan_refresh(config, {}, NOW)
        issue_s.append(time.perf_counter() - t)
        files = {w.path: w.data for w in refresh.writes}
    for _ in range(reps):
        t = time.perf_counter()
        again = plan_refresh(config, files, NOW)
        check_s.append(time.perf_counter() - t)
        if again.writes:
            raise SystemExit(f"bench bug: a second pass re-issued {len(again.writes)} files")
    assert refresh is not None
    certs = sum(e.kind != "key-pair" for e in refresh.report.entries)
    return Result(len(config.hosts), len(config.control_planes), certs, len(files),
                  sum(len(b) for b in files.values()), issue_s, check_s)


def _openssl_version() -> str:
    try:
        done = subprocess.run(["openssl", "version"], capture_output=True, text=True, check=False)
    except OSError:
        return "unknown"
    return done.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.pki_bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", default="10,100,1000", help="comma-separated cluster sizes")
    ap.add_argument("--reps", type=int, default=3, help="repetitions per size; the median is reported")
    ap.add_argument("--key-type", default="ecdsa-p256", choices=get_args(KeyType))
    ap.add_argument("--out", type=Path, default=Path("bench/out/pki.json"))
    args = ap.parse_args(argv)
    sizes = [int(x) for x in args.nodes.split(",") if x.strip()]

    results = []
    header = (f"{'nodes':>6} {'certs':>6} {'issue s':>9} {'ms/cert':>8} {'check s':>9} {'ms/cert':>8}"
              f"  (median of {args.reps}, key {args.key_type})")
    print(header)
    for n in sizes:
        config = parse_config(cluster_yaml(n, args.key_type)).config
        r = run_size(config, args.reps)
        results.append(r)
        print(f"{r.nodes:>6} {r.certs:>6} {r.issue_median:>9.3f} {1000 * r.issue_median / r.certs:>8.3f} "
              f"{r.check_median:>9.3f} {1000 * r.check_median / r.certs:>8.3f}", flush=True)

    doc = {
        "benchmark": "pki",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "key_type": args.key_type,
        "reps": args.reps,
        "machine": {
            "python": sys.version.split()[0],
            "cryptography": cryptography.__version__,
            "openssl": _openssl_version(),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
            "platform": platform.platform(),
        },
        "results": [
            {**asdict(r), "issue_median_s": r.issue_median, "check_median_s": r.check_median,
             "issue_ms_per_cert": 1000 * r.issue_median / r.certs,
             "check_ms_per_cert": 1000 * r.check_median / r.certs}
            for r in results
        ],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
