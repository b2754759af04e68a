"""What the audit costs as the cluster grows: sampled peer sources against the full mesh.

Run as root::

    .venv/bin/python -m bench.audit_bench [--sizes 10,30] [--reps 3] [--out bench/out/audit.json]

For each size, one fresh lab (``ba`` + 6 hex digits, 1 control plane, the rest workers, no
Kubernetes) is converged once with ``kubeward up``; then, alternating, ``--reps`` no-op
``kubeward up`` runs (the audit phase's seconds from the run log) and ``--reps`` with
``--audit-full``, then ``kubeward audit --no-sweep`` both ways (its own ``seconds`` and the number of
peer probes). The lab is taken down in ``finally``. Numbers only; no assertion on time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench.__main__ import OUT_DIR, kubeward, load1, new_lab, phase_seconds
from kubeward.lab.image import build_image


def _peer_probes(data: dict[str, Any]) -> int:
    return sum(1 for p in data.get("probes", {}).get("ports", []) if p.get("vantage") == "peer")


def one_size(size: int, reps: int, say: Any) -> dict[str, Any]:
    lab = new_lab()
    out: dict[str, Any] = {"size": size, "up_audit": {"sample": [], "full": []},
                           "audit": {"sample": [], "full": []}, "peer_probes": {}, "sources": {}, "load1": []}
    try:
        t0 = time.monotonic()
        lab.up(size, 1)
        say(f"lab {lab.name}: {size} nodes up in {time.monotonic() - t0:.1f} s")
        seconds, rc, data, err = kubeward(["up"], lab.cluster_yml)
        say(f"  first up: {seconds:.1f} s rc={rc} {err[-200:] if rc else ''}")
        for _ in range(reps):
            for mode, extra in (("sample", []), ("full", ["--audit-full"])):
                seconds, rc, data, err = kubeward(["up", *extra], lab.cluster_yml)
                audit = phase_seconds(data.get("log")).get("audit")
                out["up_audit"][mode].append(audit)
                out["load1"].append(load1())
                say(f"  no-op up ({mode}): {seconds:.2f} s, audit phase {audit} s, rc={rc}, load {load1():.1f}")
        for _ in range(reps):
            for mode, extra in (("sample", []), ("full", ["--full"])):
                seconds, rc, data, err = kubeward(["audit", "--no-sweep", *extra], lab.cluster_yml)
                out["audit"][mode].append(data.get("seconds"))
                out["peer_probes"][mode] = _peer_probes(data)
                plan = data.get("probes", {}).get("peer_sampling") or {}
                out["sources"][mode] = plan.get("sources", [])
                out.setdefault("probe_seconds", {}).setdefault(mode, []).append(data.get("probes", {}).get("seconds"))
                say(f"  audit --no-sweep ({mode}): {data.get('seconds')} s, {_peer_probes(data)} peer probes "
                    f"from {len(plan.get('sources', []))} sources, rc={rc}, per probe "
                    f"{data.get('probes', {}).get('seconds')}, load {load1():.1f}")
    finally:
        if lab.exists() or lab.dir.exists():
            lab.down()
    return out


def _med(values: list[float | None]) -> float | None:
    v = [x for x in values if x is not None]
    return round(statistics.median(v), 3) if v else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10,30")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", type=Path, default=OUT_DIR / "audit.json")
    args = ap.parse_args(argv)

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    build_image(progress=say)
    results = [one_size(int(s), args.reps, say) for s in args.sizes.split(",")]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print("| nodes | no-op `up` audit phase: sampled / full | `audit --no-sweep`: sampled / full | peer probes: "
          "sampled / full |\n|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['size']} | {_med(r['up_audit']['sample'])} s / {_med(r['up_audit']['full'])} s "
              f"| {_med(r['audit']['sample'])} s / {_med(r['audit']['full'])} s "
              f"| {r['peer_probes'].get('sample')} / {r['peer_probes'].get('full')} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
