"""Audit reports (pure): a self-contained HTML page with the summary, the findings and an SVG picture
of the cluster's communication paths, allowed flows in grey and anything unexpectedly open in red."""

from __future__ import annotations

import html
import math
import time

from kubeward.audit.model import SEVERITIES, AuditReport
from kubeward.audit.paths import path_status
from kubeward.catalog.matrix import MatrixRow

COLORS = {"critical": "#7b1fa2", "high": "#c62828", "medium": "#ef6c00", "low": "#f9a825", "info": "#546e7a"}


def _flows(matrix: list[MatrixRow]) -> list[tuple[str, str, str]]:
    """Allowed flows between roles for the picture: (from, to, label)."""
    out = []
    for row in matrix:
        if row.ports is None or row.closed or row.local_only:
            continue
        label = f"{row.port_text}/{row.protocol} {row.component}"
        for src in row.sources:
            if src == "admin":
                out.append(("operator", "all", label))
            elif src == "nodes":
                out.append(("nodes", "cp" if row.roles == ("control-plane",) else "all", label))
            elif src == "control-planes":
                out.append(("cp", "cp", label))
            elif src in ("world", "nodeport-sources"):
                out.append(("world", "all", label))
    return out


def render_svg(report: AuditReport, matrix: list[MatrixRow]) -> str:
    nodes = report.nodes
    w, h = 980, 560
    cx, cy, r = 600, 290, 200
    pos = {}
    for i, n in enumerate(nodes):
        # offset by half a step so that no node sits on the operator's line to another node
        a = 2 * math.pi * (i + 0.5) / max(1, len(nodes)) - math.pi / 2
        pos[n["name"]] = (cx + r * math.cos(a), cy + r * math.sin(a))
    bad_nodes: dict[str, list[str]] = {}
    for f in report.findings:
        if f.severity in ("critical", "high") and f.port is not None:
            bad_nodes.setdefault(f.node, []).append(f"{f.port}/{f.protocol or 'tcp'}")
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" '
             'font-family="sans-serif" font-size="12" role="img" aria-label="communication paths">',
             '<defs><marker id="arr" markerWidth="8" markerHeight="8" refX="7" refY="4" orient="auto">'
             '<path d="M0,0 L8,4 L0,8 z" fill="#90a4ae"/></marker>'
             '<marker id="bad" markerWidth="8" markerHeight="8" refX="7" refY="4" orient="auto">'
             '<path d="M0,0 L8,4 L0,8 z" fill="#c62828"/></marker></defs>']
    ox, oy = 90, 290
    parts.append(f'<rect x="{ox - 70}" y="{oy - 30}" width="140" height="60" rx="8" fill="#e3f2fd" stroke="#1565c0"/>'
                 f'<text x="{ox}" y="{oy - 5}" text-anchor="middle" font-weight="bold">operator</text>'
                 f'<text x="{ox}" y="{oy + 12}" text-anchor="middle">{html.escape(report.observations.operator_address)}</text>')
    # peer mesh among nodes (private network) drawn once, then operator's allowed SSH
    names = list(pos)
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            (x1, y1), (x2, y2) = pos[first], pos[second]
            parts.append(f'<line x1="{x1:.0f}" y1="{y1:.0f}" x2="{x2:.0f}" y2="{y2:.0f}" stroke="#cfd8dc" '
                         'stroke-dasharray="4 3"/>')
    for name, (x, y) in pos.items():
        parts.append(f'<line x1="{ox + 70}" y1="{oy}" x2="{x - 80:.0f}" y2="{y:.0f}" stroke="#90a4ae" '
                     'marker-end="url(#arr)"/>')
        if name in bad_nodes:
            parts.append(f'<line x1="{ox + 70}" y1="{oy + 6}" x2="{x - 80:.0f}" y2="{y + 6:.0f}" stroke="#c62828" '
                         'stroke-width="2.5" marker-end="url(#bad)"/>')
    for n in nodes:
        x, y = pos[n["name"]]
        cp = n["role"] == "control-plane"
        stroke = "#c62828" if n["name"] in bad_nodes else ("#2e7d32" if cp else "#455a64")
        fill = "#ffebee" if n["name"] in bad_nodes else ("#e8f5e9" if cp else "#eceff1")
        parts.append(f'<rect x="{x - 80:.0f}" y="{y - 28:.0f}" width="160" height="56" rx="8" fill="{fill}" '
                     f'stroke="{stroke}" stroke-width="2"/>'
                     f'<text x="{x:.0f}" y="{y - 10:.0f}" text-anchor="middle" font-weight="bold">'
                     f'{html.escape(n["name"])}</text>'
                     f'<text x="{x:.0f}" y="{y + 5:.0f}" text-anchor="middle">{html.escape(n["role"])}</text>'
                     f'<text x="{x:.0f}" y="{y + 19:.0f}" text-anchor="middle" fill="#607d8b">'
                     f'{html.escape(n["address"])} / {html.escape(n["private_address"])}</text>')
        if n["name"] in bad_nodes:
            ports = ", ".join(sorted(set(bad_nodes[n["name"]])))[:40]
            parts.append(f'<text x="{x:.0f}" y="{y + 44:.0f}" text-anchor="middle" fill="#c62828" '
                         f'font-weight="bold">unexpected: {html.escape(ports)}</text>')
    # legend of allowed flows
    flows = sorted(set(_flows(matrix)))
    ly = 40
    parts.append(f'<text x="20" y="{ly - 15}" font-weight="bold">allowed flows (port matrix)</text>')
    for src, dst, label in flows[:14]:
        who = {"operator": "admin CIDRs", "nodes": "all nodes", "cp": "control planes", "world": "anyone"}[src]
        to = {"all": "every node", "cp": "control planes"}[dst]
        parts.append(f'<text x="20" y="{ly}" fill="#37474f">{html.escape(who)} → {html.escape(to)}: '
                     f'{html.escape(label)}</text>')
        ly += 15
    parts.append(f'<text x="20" y="{h - 15}" fill="#c62828">red: a port open where the matrix says closed</text>')
    parts.append("</svg>")
    return "\n".join(parts)


PATH_COLORS = {"proven": "#2e7d32", "finding": "#c62828", "configured": "#9e9e9e"}
#: where each actor of the path map sits in its picture
ACTORS = {"operator": (90, 60), "outside": (90, 250), "sshd": (330, 60), "nodes": (330, 160),
          "NodePort": (330, 250), "kube-apiserver": (580, 110), "kubelet": (830, 60), "etcd": (830, 200),
          "pods": (580, 250)}


def render_path_map(report: AuditReport) -> str:
    """A row and an edge per communication path: green only when this run proved it."""
    rows, edges = [], []
    for ps in path_status(report):
        sp = ps.spec
        color = PATH_COLORS[ps.status]
        ports = "-" if not sp.ports else "-".join(str(p) for p in sorted(set(sp.ports)))
        rows.append(f'<tr class="path-{ps.status}"><td><b>{html.escape(sp.name)}</b></td><td>{ports}</td>'
                    f"<td>{html.escape(sp.auth)}</td><td>{html.escape(sp.encryption)}</td>"
                    f"<td>{html.escape(sp.firewall)}</td>"
                    f'<td><span class="b" style="background:{color}">{ps.status}</span></td>'
                    f"<td>{html.escape(ps.evidence)}</td></tr>")
        (x1, y1), (x2, y2) = ACTORS[sp.src], ACTORS[sp.dst]
        dash = "" if ps.status != "configured" else ' stroke-dasharray="6 4"'
        if (x1, y1) == (x2, y2):  # a path within one kind of actor: a loop
            edges.append(f'<path d="M{x1 - 20},{y1 + 18} C{x1 - 60},{y1 + 70} {x1 + 60},{y1 + 70} {x1 + 20},{y1 + 18}" '
                         f'fill="none" stroke="{color}" stroke-width="2"{dash}><title>{html.escape(sp.name)}: '
                         f"{ps.status}</title></path>")
        else:
            edges.append(f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{color}" stroke-width="2"{dash}>'
                         f"<title>{html.escape(sp.name)}: {ps.status}</title></line>")
            edges.append(f'<text x="{(x1 + x2) / 2}" y="{(y1 + y2) / 2 - 4}" text-anchor="middle" font-size="11" '
                         f'fill="{color}">{ports}</text>')
    boxes = "".join(f'<rect x="{x - 62}" y="{y - 16}" width="124" height="32" rx="6" fill="#eceff1" stroke="#546e7a"/>'
                    f'<text x="{x}" y="{y + 4}" text-anchor="middle">{html.escape(a)}</text>'
                    for a, (x, y) in ACTORS.items())
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 940 320" width="940" height="320" '
           'font-family="sans-serif" font-size="12" role="img" aria-label="path map">' + "".join(edges) + boxes
           + "</svg>")
    legend = ("<p>green: proven by a probe of this run (evidence names the vantage, and an earlier run's probe "
              "reused for an unchanged cluster); red: a finding on the path; "
              "grey, dashed: configured by kubeward but not proven by this run.</p>")
    return (f'<h2>Every communication path</h2>{legend}<div id="path-map">{svg}</div>'
            '<table id="paths"><thead><tr><th>path</th><th>port</th><th>authentication</th><th>encryption</th>'
            f"<th>firewall limit</th><th>status</th><th>proof (vantage)</th></tr></thead><tbody>{''.join(rows)}"
            "</tbody></table>")


def render_html(report: AuditReport, matrix: list[MatrixRow], cluster: str) -> str:
    counts = report.counts()
    badge = "".join(
        f'<span class="b" style="background:{COLORS[s]}">{s}: {counts[s]}</span>' for s in SEVERITIES)
    rows = []
    for f in report.findings:
        rows.append(
            f'<tr><td><span class="b" style="background:{COLORS[f.severity]}">{f.severity}</span></td>'
            f"<td>{html.escape(f.node)}</td><td><code>{html.escape(f.id)}</code></td>"
            f"<td>{'' if f.port is None else f'{f.port}/{f.protocol}'}</td><td>{html.escape(f.vantage or '')}</td>"
            f"<td><b>{html.escape(f.title)}</b><br>{html.escape(f.observed)}</td><td>{html.escape(f.fix)}</td></tr>")
    if not rows:
        rows.append('<tr><td colspan="7">No findings: every probed port, listener, TLS endpoint, sshd setting, '
                    "file and firewall table is as the port matrix says"
                    + ("." if report.complete else " (where the checks could run: see Not proven).")
                    + "</td></tr>")
    matrix_rows = "".join(
        f"<tr><td>{html.escape(r.component)}</td><td>{r.port_text}/{r.protocol}</td><td>{', '.join(r.roles)}</td>"
        f"<td>{r.bind}</td><td>{html.escape(', '.join(map(str, r.sources)))}</td><td>{r.auth}</td></tr>"
        for r in matrix)
    verdict = ("<p class='bad'>Findings at high or above: see below.</p>" if report.failed("high")
               else "<p class='ok'>No finding at high or above.</p>" if report.complete
               else "<p class='bad'>No finding at high or above, but the proof is incomplete: the checks "
                    "listed under <a href='#incomplete'>Not proven</a> could not run.</p>")
    gaps = "".join(f"<tr><td>{html.escape(i.node)}</td><td><code>{html.escape(i.check)}</code></td>"
                   f"<td>{html.escape(i.reason)}</td></tr>" for i in report.incomplete)
    not_proven = ("<h2>Not proven</h2><p class='bad'>These checks could not run: the absence of findings there "
                  "proves nothing.</p><table id=\"incomplete\"><thead><tr><th>node</th><th>check</th>"
                  f"<th>why it could not run</th></tr></thead><tbody>{gaps}</tbody></table>") if gaps else ""
    plan = report.observations.peer_plan
    sampling = ""
    if plan is not None:
        pair_rows = "".join(f"<tr><td>{html.escape(sr)}</td><td>{html.escape(tr)}</td>"
                            f"<td>{html.escape(', '.join(src))}</td></tr>" for (sr, tr), src in sorted(plan.sampled.items()))
        sampling = (f"<h2>Peer scan sources</h2><p id=\"peer-sampling\">{html.escape(plan.describe())}</p>"
                    + (f"<table><thead><tr><th>source role</th><th>target role</th><th>sampled sources</th></tr>"
                       f"</thead><tbody>{pair_rows}</tbody></table>" if pair_rows else ""))
    reuse = (f'<p id="reuse">{html.escape(report.observations.reuse)}</p>' if report.observations.reused_from
             else "")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>kubeward audit: {html.escape(cluster)}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:24px;color:#263238;max-width:1200px}}
table{{border-collapse:collapse;width:100%;margin:12px 0}} td,th{{border:1px solid #cfd8dc;padding:6px;vertical-align:top;text-align:left;font-size:13px}}
th{{background:#eceff1}} .b{{color:#fff;border-radius:4px;padding:2px 6px;margin-right:6px;font-size:12px;white-space:nowrap}}
.ok{{color:#2e7d32;font-weight:bold}} .bad{{color:#c62828;font-weight:bold}} code{{font-size:12px}}
</style></head><body>
<h1>kubeward audit — {html.escape(cluster)}</h1>
<p>{time.strftime('%Y-%m-%d %H:%M:%S %Z')} · {len(report.nodes)} nodes · {report.checks_run} observations ·
{report.seconds:.1f} s · vantage points: outside (from {html.escape(report.observations.operator_address)}),
peer ({'each node to the others' if plan is None or plan.mode == 'full' else 'sampled sources per role pair'},
private network), local (each node)</p>{reuse}
<p>{badge}</p>{verdict}
{not_proven}
<h2>Communication paths</h2>
<div id="diagram">{render_svg(report, matrix)}</div>
{render_path_map(report)}
{sampling}
<h2>Findings</h2>
<table id="findings"><thead><tr><th>severity</th><th>node</th><th>id</th><th>port</th><th>vantage</th>
<th>what was observed</th><th>how to fix</th></tr></thead><tbody>{''.join(rows)}</tbody></table>
<h2>Port matrix</h2>
<table id="matrix"><thead><tr><th>component</th><th>port</th><th>roles</th><th>bind</th><th>who may reach it</th>
<th>authentication</th></tr></thead><tbody>{matrix_rows}</tbody></table>
</body></html>
"""
