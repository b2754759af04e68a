"""bench/RESULTS.md from the raw results of ``python -m bench`` (pure: a dict in, Markdown out).

Medians with min-max over the repetitions; "x faster" is Ansible's median over kubeward's.
"""

from __future__ import annotations

import json
import statistics
from typing import Any

TARGETS = {
    "noop_ratio": 5.0,  # no-op up at least 5x faster than Ansible at 10 and 30 nodes
    "noop_30_s": 3.0,  # no-op up under 3 s at 30 nodes
    "first_ratio": 3.0,  # first converge at least 3x faster than Ansible
    "growth": 2.0,  # 3 -> 30 nodes grows less than 2x
    "pki_1000_s": 10.0,
    "firewall_1000_s": 1.0,
}


def _vals(
    samples: list[dict[str, Any]], tool: str, what: str, size: int, key: str = "seconds"
) -> list[float]:
    return [
        s[key]
        for s in samples
        if s["tool"] == tool and s["what"] == what and s["size"] == size and s.get(key) is not None
    ]


def _med(v: list[float]) -> float | None:
    return statistics.median(v) if v else None


def _cell(v: list[float], failed: int = 0) -> str:
    if not v:
        return "-"
    m = statistics.median(v)
    text = f"{m:.2f}" if len(v) == 1 else f"{m:.2f} ({min(v):.2f}–{max(v):.2f})"
    return text + (f" ⚠{failed} failed" if failed else "")


def _failed(samples: list[dict[str, Any]], tool: str, what: str, size: int) -> int:
    return sum(
        1 for s in samples if s["tool"] == tool and s["what"] == what and s["size"] == size and not s["ok"]
    )


def _ratio(a: float | None, k: float | None) -> float | None:
    return a / k if a and k else None


def _fmt(x: float | None, unit: str = "", digits: int = 1) -> str:
    return "-" if x is None else f"{x:.{digits}f}{unit}"


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**met**" if ok else "**missed**")


# ----- pure benches (their JSON format is theirs: found by shape) ---------------------------------------
def _rows(data: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if isinstance(data, dict):
        if any(k in data for k in ("nodes", "n", "size", "n_nodes")) and any(
            isinstance(v, int | float) for v in data.values()
        ):
            out.append(data)
        for v in data.values():
            out.extend(_rows(v))
    elif isinstance(data, list):
        for v in data:
            out.extend(_rows(v))
    return out


def _nodes(row: dict[str, Any]) -> Any:
    for k in ("nodes", "n", "size", "n_nodes"):
        if k in row:
            return row[k]
    return None


def _seconds(row: dict[str, Any]) -> list[tuple[str, float]]:
    """The row's headline times in seconds: its medians (else every plain time), *_ms converted."""
    keys = [
        k
        for k, v in row.items()
        if isinstance(v, int | float)
        and not isinstance(v, bool)
        and (k.endswith(("_s", "_ms")) or "second" in k)
        and "per_" not in k
    ]
    med = [k for k in keys if "median" in k]
    keys = med or [k for k in keys if "min" not in k and "max" not in k]
    return [(k, float(row[k]) / (1000 if k.endswith("_ms") else 1)) for k in keys]


def pure_figure(entry: dict[str, Any], nodes: int = 1000) -> tuple[float | None, str]:
    """The slowest headline time at ``nodes`` (the target is judged on it), and what was found."""
    if not entry or "data" not in entry:
        return None, (entry or {}).get("skipped", "not run")
    found: list[tuple[str, float]] = []
    for row in _rows(entry["data"]):
        if _nodes(row) == nodes:
            found += _seconds(row)
    if not found:
        return None, f"no {nodes}-node figure found in its JSON"
    worst = max(v for _, v in found)
    return worst, ", ".join(f"`{k}` {v:.3g} s" for k, v in found)


def _num(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _pure_section(pure: dict[str, Any]) -> list[str]:
    lines = ["## PKI and firewall (pure, no lab)", ""]
    for name, entry in pure.items():
        if "data" not in entry:
            lines.append(f"- **{name}**: skipped: {entry.get('skipped', 'not run')}")
            continue
        rows = _rows(entry["data"])
        lines.append(f"- **{name}**: `python -m {' '.join(entry['argv'])}` ({entry['seconds']} s)")
        shown = [r for r in rows if _seconds(r)][:12]
        if shown:
            keys = list(
                dict.fromkeys(k for r in shown for k, v in r.items() if not isinstance(v, dict | list))
            )[:8]
            lines += ["", "  | " + " | ".join(keys) + " |", "  |" + "---|" * len(keys)]
            for r in shown:
                lines.append("  | " + " | ".join(_num(r.get(k, "")) for k in keys) + " |")
            lines.append("")
        else:
            lines += ["", "  ```json", "  " + json.dumps(entry["data"])[:1500], "  ```", ""]
    if not pure:
        lines.append("- not run (`--skip-pure`)")
    return lines + [""]


# ----- the report ----------------------------------------------------------------------------------------
def render(res: dict[str, Any]) -> str:
    m = res["machine"]
    S = res["samples"]
    sizes = res["sizes"]
    ansible = res.get("ansible")
    L: list[str] = []
    L += [
        "# Benchmarks: kubeward against Ansible, and how kubeward's cost grows",
        "",
        "Produced by `python -m bench` (`make bench`); raw data in `bench/out/bench.json`. "
        "Numbers are wall-clock seconds, **median (min–max)** over the repetitions.",
        "",
        f"- machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory_gib']} GiB, kernel {m['kernel']}, "
        f"Python {m['python']}, {m['openssh_client']}",
        f"- date: {m['date']}; kubeward {m['kubeward_commit']} (source snapshot "
        f"{m.get('kubeward_source_sha', '?')}, run by every kubeward command; the work tree was at "
        f"{m.get('kubeward_commit_at_end', '?')} when the bench ended); lab image {m.get('image', '?')}; "
        f"{ansible or 'Ansible not run'}",
        f"- load average at start {' '.join(m['loadavg_start'])}, at end {' '.join(m.get('loadavg_end', []))}; "
        f"other labs running meanwhile: {', '.join(m.get('other_labs_running') or []) or 'none'}",
        f"- sizes {', '.join(map(str, sizes))} nodes; {res['reps']} no-op runs per size; first converges timed (one "
        "per fresh lab): "
        + ", ".join(f"{n} nodes {v}×" for n, v in res["first_reps"].items())
        + f"; whole run {res['total_seconds'] / 60:.1f} min",
    ]
    L += [f"- note: {n}" for n in res.get("notes", [])]
    L += [
        "",
        "Each round uses three fresh labs of the size, one at a time: **K** runs "
        "`kubeward up --only provision,harden-ssh` (first converge, then no-op runs), **A** runs the Ansible peer "
        "(`bench/peers/ansible/site.yml`, the same work) likewise, **F** runs the whole `kubeward up` (first "
        "converge, then no-op runs, each followed by `kubeward preflight`). Both tools are timed from process "
        "start to exit.",
        "",
        "## kubeward vs Ansible: provisioning baseline + sshd hardening",
        "",
        "| nodes | kubeward first converge | Ansible first converge | x faster | kubeward no-op | Ansible no-op "
        "| x faster |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    ratios: dict[int, dict[str, float | None]] = {}
    for n in sizes:
        kf, af = _vals(S, "kubeward", "first", n), _vals(S, "ansible", "first", n)
        kn, an = _vals(S, "kubeward", "noop", n), _vals(S, "ansible", "noop", n)
        rf, rn = _ratio(_med(af), _med(kf)), _ratio(_med(an), _med(kn))
        ratios[n] = {"first": rf, "noop": rn}
        L.append(
            f"| {n} | {_cell(kf, _failed(S, 'kubeward', 'first', n))} | {_cell(af, _failed(S, 'ansible', 'first', n))} "
            f"| {_fmt(rf, '×')} | {_cell(kn, _failed(S, 'kubeward', 'noop', n))} "
            f"| {_cell(an, _failed(S, 'ansible', 'noop', n))} | {_fmt(rn, '×')} |"
        )
    L += [
        "",
        "CPU seconds on this machine (user + sys of the tool's process tree: kubeward's one process; "
        "ansible-playbook with its workers and SSH clients, not counting its ControlPersist masters), "
        "less sensitive to the machine's load than wall clock (the lab nodes' own work is not in it):",
        "",
        "| nodes | kubeward first | Ansible first | ratio | kubeward no-op | Ansible no-op | ratio |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in sizes:
        c = {(t, w): _vals(S, t, w, n, "cpu_seconds") for t in ("kubeward", "ansible") for w in ("first", "noop")}
        L.append(
            f"| {n} | {_cell(c['kubeward', 'first'])} | {_cell(c['ansible', 'first'])} "
            f"| {_fmt(_ratio(_med(c['ansible', 'first']), _med(c['kubeward', 'first'])), '×')} "
            f"| {_cell(c['kubeward', 'noop'])} | {_cell(c['ansible', 'noop'])} "
            f"| {_fmt(_ratio(_med(c['ansible', 'noop']), _med(c['kubeward', 'noop'])), '×')} |"
        )
    L += [
        "",
        "## kubeward's whole `up`, and `preflight`",
        "",
        "| nodes | `up` first converge | `up` no-op | of which in-process | `preflight` | SSH round-trips per host, "
        "no-op `up` | round-trips, no-op `--only provision,harden-ssh` |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in sizes:
        trips = [
            v for s in S if s["what"] == "full-noop" and s["size"] == n for v in s["round_trips"].values()
        ]
        trips_k = [
            v
            for s in S
            if s["what"] == "noop" and s["tool"] == "kubeward" and s["size"] == n
            for v in s["round_trips"].values()
        ]

        def tr(v: list[int]) -> str:
            return (
                "-"
                if not v
                else (f"{statistics.median(v):g}" + (f" (max {max(v)})" if max(v) != min(v) else ""))
            )

        L.append(
            f"| {n} | {_cell(_vals(S, 'kubeward', 'full-first', n), _failed(S, 'kubeward', 'full-first', n))} "
            f"| {_cell(_vals(S, 'kubeward', 'full-noop', n), _failed(S, 'kubeward', 'full-noop', n))} "
            f"| {_cell(_vals(S, 'kubeward', 'full-noop', n, 'inner_seconds'))} "
            f"| {_cell(_vals(S, 'kubeward', 'preflight', n), _failed(S, 'kubeward', 'preflight', n))} "
            f"| {tr(trips)} | {tr(trips_k)} |"
        )
    # per phase
    phases = list(
        dict.fromkeys(
            k
            for s in sorted(S, key=lambda s: -len(s.get("phase_seconds", {})))
            for k in s.get("phase_seconds", {})
        )
    )
    if phases:
        L += [
            "",
            "Where the time goes (median seconds per phase, from kubeward's run log; the rest of the wall "
            "clock is interpreter start-up, loading cluster.yml and closing connections):",
            "",
            "| nodes | run | " + " | ".join(phases) + " |",
            "|---:|---|" + "---:|" * len(phases),
        ]
        for n in sizes:
            for what, label in (
                ("first", "`--only provision,harden-ssh`, first"),
                ("noop", "`--only provision,harden-ssh`, no-op"),
                ("full-first", "`up`, first"),
                ("full-noop", "`up`, no-op"),
            ):
                runs = [s for s in S if s["tool"] == "kubeward" and s["what"] == what and s["size"] == n]
                if not runs:
                    continue
                cells = []
                for ph in phases:
                    v = [s["phase_seconds"][ph] for s in runs if ph in s.get("phase_seconds", {})]
                    cells.append(f"{statistics.median(v):.2f}" if v else "")
                L.append(f"| {n} | {label} | " + " | ".join(cells) + " |")
    loads = {n: [s["load1"] for s in S if s["size"] == n and s.get("load1")] for n in sizes}
    if any(loads.values()):
        L += [
            "",
            "Machine load (1-minute load average when each command ended; other engineers' work shares the "
            "machine): "
            + "; ".join(
                f"{n} nodes: median {statistics.median(v):.1f}, max {max(v):.1f}"
                for n, v in loads.items()
                if v
            )
            + ".",
        ]
    failures = sorted(
        {f"{s['tool']} {s['what']} ({s['size']} nodes): {s['error'][:300]}" for s in S if not s["ok"]}
    )
    if failures:
        L += ["", "Runs that did not succeed (their times are still in the tables, marked ⚠):", ""]
        L += [f"- {f}" for f in failures]
    # growth
    lo, hi = min(sizes), max(sizes)
    growth: dict[str, float | None] = {}
    L += [
        "",
        f"## Growth from {lo} to {hi} nodes (median at {hi} / median at {lo})",
        "",
        f"Wall clock on this machine grows with the node count partly because the {hi} lab nodes run on the "
        f"same {m['nproc']} CPUs as the tool: their own work (dpkg, sshd, sudo, the probes) is serialised on "
        "them. The CPU columns count only the tool's own processes, i.e. what it costs to drive more nodes.",
        "",
        "| measure | kubeward wall clock | Ansible wall clock | kubeward CPU | Ansible CPU |",
        "|---|---:|---:|---:|---:|",
    ]

    def grow(tool: str, what: str, key: str = "seconds") -> float | None:
        return _ratio(_med(_vals(S, tool, what, hi, key)), _med(_vals(S, tool, what, lo, key)))

    for label, tool_what in (
        ("first converge (provision + harden-ssh)", "first"),
        ("no-op (provision + harden-ssh)", "noop"),
        ("whole `up`, first converge", "full-first"),
        ("whole `up`, no-op", "full-noop"),
        ("`preflight`", "preflight"),
    ):
        g = grow("kubeward", tool_what)
        growth[tool_what] = g
        growth[tool_what + ":cpu"] = grow("kubeward", tool_what, "cpu_seconds")
        both = tool_what in ("first", "noop")
        L.append(
            f"| {label} | {_fmt(g, '×', 2)} | {_fmt(grow('ansible', tool_what), '×', 2) if both else ''} "
            f"| {_fmt(growth[tool_what + ':cpu'], '×', 2)} "
            f"| {_fmt(grow('ansible', tool_what, 'cpu_seconds'), '×', 2) if both else ''} |"
        )
    # state
    L += ["", "## Same end state?", ""]
    st = res.get("state", [])
    if st:
        checked = st[0].get("checked", [])
        L.append(
            "Compared on one node of each lab (node name and the lab's admin key normalised): "
            + ", ".join(checked)
            + "."
        )
        L.append("")
        for e in st:
            for k in ("kubeward_vs_ansible", "up_only_vs_full_up"):
                if k not in e:
                    continue
                what = (
                    "kubeward vs Ansible"
                    if k == "kubeward_vs_ansible"
                    else "`up --only provision,harden-ssh` vs whole `up`"
                )
                mism = e[k]
                L.append(
                    f"- {e['size']} nodes, labs round {e['rep'] + 1}, {what}: "
                    + ("identical" if not mism else "**differs**: " + "; ".join(mism))
                )
    # pure
    L.append("")
    L += _pure_section(res.get("pure", {}))
    # targets
    pki, pki_how = pure_figure(res.get("pure", {}).get("pki", {}))
    fw, fw_how = pure_figure(res.get("pure", {}).get("firewall", {}))
    big = [n for n in sizes if n >= 10]
    noop_ok = (
        None
        if not ansible or not big
        else all((ratios[n]["noop"] or 0) >= TARGETS["noop_ratio"] for n in big)
    )
    first_ok = (
        None
        if not ansible or not big
        else all((ratios[n]["first"] or 0) >= TARGETS["first_ratio"] for n in big)
    )
    n30 = 30 if 30 in sizes else hi
    full30 = _med(_vals(S, "kubeward", "full-noop", n30))
    k30 = _med(_vals(S, "kubeward", "noop", n30))
    g_noop, g_first = growth.get("full-noop"), growth.get("first")
    L += ["## Against the targets", "", "| target | measured | |", "|---|---|---|"]
    L.append(
        f"| no-op `up` ≥ 5× faster than Ansible at {', '.join(map(str, big))} nodes "
        "(`up --only provision,harden-ssh` against the playbook, wall clock) | "
        + ", ".join(f"{n}: {_fmt(ratios[n]['noop'], '×')}" for n in big)
        + f" | {_verdict(noop_ok)} |"
    )
    ph30: dict[str, list[float]] = {}
    for smp in S:
        if smp["what"] == "full-noop" and smp["size"] == n30:
            for k, v in smp.get("phase_seconds", {}).items():
                ph30.setdefault(k, []).append(v)
    top = sorted(((statistics.median(v), k) for k, v in ph30.items()), reverse=True)[:3]
    where = ", ".join(f"{k} {v:.1f} s" for v, k in top)
    L.append(
        f"| no-op `up` < 3 s at {n30} nodes | whole `up` {_fmt(full30, ' s', 2)}"
        + (f" (most in {where})" if where else "")
        + f"; `--only provision,harden-ssh` {_fmt(k30, ' s', 2)} | "
        f"{_verdict(None if full30 is None else full30 < TARGETS['noop_30_s'])} whole `up`; "
        f"{_verdict(None if k30 is None else k30 < TARGETS['noop_30_s'])} `--only` |"
    )
    L.append(
        f"| first converge ≥ 3× faster than Ansible (at {', '.join(map(str, big))} nodes) | "
        + ", ".join(f"{n}: {_fmt(ratios[n]['first'], '×')}" for n in big)
        + f" (at {lo}: {_fmt(ratios[lo]['first'], '×')}) | {_verdict(first_ok)} |"
    )
    L.append(
        f"| growth {lo} → {hi} nodes < 2×, wall clock (nodes share this machine's CPUs) | no-op `up` "
        f"{_fmt(g_noop, '×', 2)}, first converge {_fmt(g_first, '×', 2)} | "
        f"{_verdict(None if g_noop is None or g_first is None else max(g_noop, g_first) < TARGETS['growth'])} |"
    )
    c_noop, c_first = growth.get("full-noop:cpu"), growth.get("first:cpu")
    L.append(
        f"| growth {lo} → {hi} nodes < 2×, kubeward's own CPU | no-op `up` {_fmt(c_noop, '×', 2)}, "
        f"first converge {_fmt(c_first, '×', 2)} | "
        f"{_verdict(None if c_noop is None or c_first is None else max(c_noop, c_first) < TARGETS['growth'])} |"
    )
    L.append(
        f"| PKI for 1000 nodes < 10 s | slowest {_fmt(pki, ' s', 2)} ({pki_how}) | "
        f"{_verdict(None if pki is None else pki < TARGETS['pki_1000_s'])} |"
    )
    L.append(
        f"| firewall for 1000 nodes < 1 s | slowest {_fmt(fw, ' s', 3)} ({fw_how}) | "
        f"{_verdict(None if fw is None else fw < TARGETS['firewall_1000_s'])} |"
    )
    # method notes
    L += [
        "",
        "## How the comparison is kept fair",
        "",
        "- Same work: the playbook sets the hostname and its `127.0.1.1` line, the admin group and user "
        "(uid/gid 2000, in `sudo`, password field `*`), `~/.ssh` 0700 and `authorized_keys` 0600 with the "
        "admin key, the sudoers drop-in validated by `visudo`, the packages kubeward installs (from the lab's "
        "APT repository, `apt-get update` only when one is missing, as kubeward does), and the byte-identical "
        "sshd drop-in (rendered by `kubeward.ops.sshd.render_dropin` from the node's `ssh -Q kex`) validated "
        "with `sshd -t`, with a handler reloading ssh. The end states are compared above.",
        "- Ansible's speed-ups: `gather_facts: false`, `pipelining = True`, forks = node count, SSH "
        "`ControlPersist`, a fixed `interpreter_python` (no discovery), host keys checked against a "
        f"`known_hosts` built from the lab's pinned keys, strategy `{res.get('ansible_strategy', 'linear')}` "
        "(each task on every host before the next, as kubeward's phases do).",
        "- Both start cold: every Ansible run gets a new ControlPath directory (masters from the previous run "
        "are closed), as kubeward opens new connections on every run.",
        "- Not timed: lab start, and installing `python3-apt` on the Ansible lab's nodes (Ansible's `apt` "
        "module needs it; the lab image lacks it; kubeward needs nothing but `sh` on the node).",
        "- kubeward does more than the playbook in `harden-ssh`: it arms a rollback timer before reloading "
        "sshd, logs in anew to check `sshd -T`, then disarms it; Ansible validates the drop-in alone "
        "(`sshd -t -f`), kubeward the whole configuration.",
        "",
    ]
    L += ["## Paragraph for the README", "", readme_paragraph(res, ratios, growth, full30, sizes), ""]
    return "\n".join(L)


def readme_paragraph(
    res: dict[str, Any],
    ratios: dict[int, dict[str, float | None]],
    growth: dict[str, float | None],
    full30: float | None,
    sizes: list[int],
) -> str:
    m = res["machine"]
    S = res["samples"]
    hi, lo = max(sizes), min(sizes)
    kf, af = _med(_vals(S, "kubeward", "first", hi)), _med(_vals(S, "ansible", "first", hi))
    kn, an = _med(_vals(S, "kubeward", "noop", hi)), _med(_vals(S, "ansible", "noop", hi))
    trips = [v for s in S if s["what"] == "full-noop" and s["size"] == hi for v in s["round_trips"].values()]
    parts = [
        f"**Speed** (`make bench`, {m['nproc']} CPUs, {m['memory_gib']:.0f} GiB; details in "
        "[bench/RESULTS.md](bench/RESULTS.md)): "
    ]
    if af is not None and kf is not None:
        parts.append(
            f"on {hi} lab nodes, provisioning and SSH hardening from scratch take kubeward "
            f"{kf:.1f} s against {af:.1f} s for an equivalent, tuned Ansible playbook "
            f"({ratios[hi]['first'] or 0:.1f}× faster), and a run that finds nothing to change "
            f"{kn:.1f} s against {an:.1f} s ({ratios[hi]['noop'] or 0:.1f}×)"
        )
        same = [e for e in res.get("state", []) if "kubeward_vs_ansible" in e]
        if same and not any(e["kubeward_vs_ansible"] for e in same):
            parts.append("; both leave byte-identical files, the same users and the same packages")
        parts.append(". ")
    if full30 is not None:
        phases = ", ".join(
            dict.fromkeys(k for s in S if s["what"] == "full-noop" for k in s.get("phase_seconds", {}))
        )
        parts.append(
            f"A whole `kubeward up` that finds nothing to change ({phases}) takes {full30:.1f} s on {hi} nodes"
        )
        if trips:
            parts.append(f" in {statistics.median(trips):g} SSH round-trips per host")
        g = growth.get("full-noop")
        parts.append(f", {g:.1f}× its time on {lo} nodes." if g and hi != lo else ".")
    return "".join(parts)
