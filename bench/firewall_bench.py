"""Benchmark of the firewall compiler: time to render one node's nftables table as the cluster grows.

Run::

    .venv/bin/python -m bench.firewall_bench [--nodes 10,100,1000] [--reps 5] [--out bench/out/firewall.json]

For each size N it builds a cluster.yml of N hosts (3 control planes, or 1 below 3 hosts), parses it
once (not timed), then times ``render_ruleset`` for one worker ``--reps`` times and reports the
median, with the ruleset's size, its rule count (lines inside chains) and its set elements. With
``--nft-check`` (root, nft installed) it also times ``nft -c -f`` on the file, which checks it
against the kernel without applying it. Pure apart from that and writing the JSON file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from kubeward.config import ClusterConfig, parse_config
from kubeward.firewall import render_ruleset

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFyHcpvoFU9dFloJmk8OQ/+icBDjiqm8gFKciq1gR8X9"


@dataclass
class Result:
    nodes: int
    reps: int
    render_median_ms: float
    render_min_ms: float
    render_max_ms: float
    parse_ms: float
    ruleset_bytes: int
    rules: int
    set_elements: int
    nft_check_ms: float | None


def cluster_yaml(nodes: int) -> str:
    """A valid cluster.yml with ``nodes`` hosts on 10.0.0.0/16."""
    cps = 3 if nodes >= 3 else 1
    hosts = [
        {
            "name": f"node-{i}",
            "address": f"node-{i}.example.com",
            "private_address": f"10.0.{i // 250}.{i % 250 + 2}",
            "role": "control-plane" if i < cps else "worker",
        }
        for i in range(nodes)
    ]
    doc: dict[str, Any] = {
        "name": "bench",
        "ssh": {"user": "debian", "key_path": "id_ed25519"},
        "hosts": hosts,
        "admin": {"name": "kubeadmin", "uid": 1500, "ssh_public_key": KEY},
        "network": {
            "private_subnet": "10.0.0.0/16",
            "admin_cidrs": ["198.51.100.0/24"],
            "pod_cidr": "10.128.0.0/10",
            "trusted_subnets": ["172.16.0.0/12"],
        },
        "addons": {"ingress_nginx": {"enabled": True}},
        "firewall": {"extra_ports": [{"name": "node-exporter", "port": 9100, "sources": ["control-planes"]}]},
    }
    return yaml.safe_dump(doc)


def count_rules(text: str) -> int:
    in_chain, n = False, 0
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("chain "):
            in_chain = True
        elif in_chain and s == "}":
            in_chain = False
        elif in_chain and s and not s.startswith("type "):
            n += 1
    return n


def _nft_check_ms(text: str) -> float | None:
    nft = shutil.which("nft") or "/usr/sbin/nft"
    if os.geteuid() != 0 or not Path(nft).exists():
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".nft") as f:
        f.write(text)
        f.flush()
        start = time.perf_counter()
        subprocess.run([nft, "-c", "-f", f.name], check=True, capture_output=True, timeout=120)
        return (time.perf_counter() - start) * 1000


def bench_one(nodes: int, reps: int, nft_check: bool) -> Result:
    text = cluster_yaml(nodes)
    start = time.perf_counter()
    config: ClusterConfig = parse_config(text).config
    parse_ms = (time.perf_counter() - start) * 1000
    host = config.workers[-1] if config.workers else config.hosts[0]
    times, ruleset = [], ""
    for _ in range(reps):
        start = time.perf_counter()
        ruleset = render_ruleset(config, host)
        times.append((time.perf_counter() - start) * 1000)
    elements = len(config.hosts) + len(config.control_planes)  # sets nodes and control_planes
    return Result(
        nodes=nodes,
        reps=reps,
        render_median_ms=round(statistics.median(times), 3),
        render_min_ms=round(min(times), 3),
        render_max_ms=round(max(times), 3),
        parse_ms=round(parse_ms, 1),
        ruleset_bytes=len(ruleset.encode()),
        rules=count_rules(ruleset),
        set_elements=elements,
        nft_check_ms=round(ms, 1) if nft_check and (ms := _nft_check_ms(ruleset)) is not None else None,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.firewall_bench",
                                     description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--nodes", default="10,100,1000", help="comma-separated cluster sizes")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--nft-check", action="store_true", help="also time nft -c -f (root)")
    parser.add_argument("--out", type=Path, default=Path("bench/out/firewall.json"))
    args = parser.parse_args(argv)
    results = [bench_one(int(n), args.reps, args.nft_check) for n in args.nodes.split(",")]
    for r in results:
        check = f", nft -c {r.nft_check_ms} ms" if r.nft_check_ms is not None else ""
        print(f"{r.nodes:>5} nodes: render median {r.render_median_ms} ms (min {r.render_min_ms}, "
              f"max {r.render_max_ms}), {r.rules} rules, {r.set_elements} set elements, "
              f"{r.ruleset_bytes} bytes; parse {r.parse_ms} ms{check}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "benchmark": "render_ruleset for one worker",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "results": [asdict(r) for r in results],
    }
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
