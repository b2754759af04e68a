"""What the audit costs as the cluster grows: a no-op `up` reusing the last live probes, probing
live from sampled peer sources, and the full mesh.

Run as root::

    .venv/bin/python -m bench.audit_bench [--sizes 10,30] [--reps 2] [--kubernetes] [--out bench/out/audit.json]

For each size, one fresh lab (``bn`` + 6 hex digits, 1 control plane, the rest workers; with
``--kubernetes`` Kubernetes on, from the local build) is converged once with ``kubeward up`` (its audit probes live and records its proof);
then ``--reps`` rounds of three no-op ``kubeward up`` runs: ``reuse`` (the default: the last live
proof's outside, peer and SSH probes reused while every node reports the same state), ``live``
(the record removed first, so the probes run, from sampled peer sources) and ``full``
(``--audit-full``: live, the whole mesh); the audit phase's and the connect phase's (every phase's
facts, the audit's local view among them) seconds from the run log. Then ``kubeward audit
--no-sweep`` sampled and ``--full`` (its own ``seconds``, per-probe seconds, the number of peer
probes). The machine's 1-minute load is noted after every command. kubeward runs from a copy of
src/kubeward taken at the start (``bench.__main__.snapshot_source``). The lab is taken down in
``finally``. Numbers only; no assertion on time.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench.__main__ import OUT_DIR, kubeward, load1, new_lab, phase_seconds, snapshot_source
from kubeward.artifacts.build import find_entry
from kubeward.lab.image import build_image
from kubeward.lab.lab import render_kubernetes_yml

UP_MODES: tuple[tuple[str, list[str], bool], ...] = (("reuse", [], False), ("live", [], True), ("full", ["--audit-full"], False))


def _peer_probes(data: dict[str, Any]) -> int:
    return sum(1 for p in data.get("probes", {}).get("ports", []) if p.get("vantage") == "peer")


def _state_dir(cluster_yml: Path) -> Path:
    m = re.search(r"^state_dir: *(\S+)", cluster_yml.read_text(), re.M)
    path = Path(m.group(1)) if m else Path(".kubeward")
    return path if path.is_absolute() else cluster_yml.parent / path


def _reuse_note(data: dict[str, Any]) -> str:
    for h in data.get("hosts", {}).values():
        for n in h.get("notes", []):
            if n.startswith("audit: live probes"):
                return str(n)
    return ""


def one_size(size: int, reps: int, say: Any, kubernetes: bool = False) -> dict[str, Any]:
    lab = new_lab()
    out: dict[str, Any] = {"size": size, "kubernetes": kubernetes, "up_audit": {m: [] for m, _, _ in UP_MODES},
                           "up_connect": {m: [] for m, _, _ in UP_MODES}, "up_notes": {},
                           "audit": {"sample": [], "full": []}, "peer_probes": {}, "sources": {}, "load1": []}
    try:
        t0 = time.monotonic()
        lab.up(size, 1)
        say(f"lab {lab.name}: {size} nodes up in {time.monotonic() - t0:.1f} s")
        if kubernetes:
            entry = find_entry("1.20.2")
            if entry is None:
                raise SystemExit("no local Kubernetes build: run `make kube-bin` first")
            lab.cluster_yml.write_text(lab.cluster_yml.read_text() + render_kubernetes_yml("1.20.2", entry))
        seconds, rc, data, err = kubeward(["up"], lab.cluster_yml, timeout=3600)
        say(f"  first up: {seconds:.1f} s rc={rc} {err[-200:] if rc else ''}")
        proof = _state_dir(lab.cluster_yml) / "audit-proof.json"
        for _ in range(reps):
            for mode, extra, drop in UP_MODES:
                if drop:
                    proof.unlink(missing_ok=True)
                seconds, rc, data, err = kubeward(["up", *extra], lab.cluster_yml)
                phases = phase_seconds(data.get("log"))
                out["up_audit"][mode].append(phases.get("audit"))
                out["up_connect"][mode].append(phases.get("connect"))
                out["up_notes"][mode] = _reuse_note(data)
                out["load1"].append(load1())
                say(f"  no-op up ({mode}): {seconds:.2f} s, audit phase {phases.get('audit')} s, connect "
                    f"{phases.get('connect')} s, rc={rc}, load {load1():.1f}; {_reuse_note(data)[:90]}")
        for _ in range(reps):
            for mode, extra in (("sample", []), ("full", ["--full"])):
                seconds, rc, data, err = kubeward(["audit", "--no-sweep", *extra], lab.cluster_yml)
                out["audit"][mode].append(data.get("seconds"))
                out["peer_probes"][mode] = _peer_probes(data)
                plan = data.get("probes", {}).get("peer_sampling") or {}
                out["sources"][mode] = plan.get("sources", [])
                out.setdefault("probe_seconds", {}).setdefault(mode, []).append(data.get("probes", {}).get("seconds"))
                out["load1"].append(load1())
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
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--kubernetes", action="store_true", help="Kubernetes on (the local v1.20.2 build)")
    ap.add_argument("--out", type=Path, default=OUT_DIR / "audit.json")
    args = ap.parse_args(argv)

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    build_image(progress=say)
    say(f"kubeward under test: a copy of src/kubeward, digest {snapshot_source()}")
    results = [one_size(int(s), args.reps, say, args.kubernetes) for s in args.sizes.split(",")]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print("| nodes | no-op `up`, audit phase: reused / live (sampled) / live (`--audit-full`) | connect phase "
          "(all facts) | `audit --no-sweep`: sampled / full | peer probes: sampled / full | load |\n"
          "|---:|---:|---:|---:|---:|---:|")
    for r in results:
        up, conn = r["up_audit"], r["up_connect"]
        print(f"| {r['size']} | {_med(up['reuse'])} s / {_med(up['live'])} s / {_med(up['full'])} s "
              f"| {_med(conn['reuse'])} s | {_med(r['audit']['sample'])} s / {_med(r['audit']['full'])} s "
              f"| {r['peer_probes'].get('sample')} / {r['peer_probes'].get('full')} "
              f"| {min(r['load1']):.0f}-{max(r['load1']):.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
