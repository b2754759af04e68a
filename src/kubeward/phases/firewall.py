"""The firewall phase: kubeward's nftables table on every node, applied so it cannot lock anyone out.

Per host, one round-trip reads the state: the persisted ruleset, a hash of the live table (listed
without counter values) and the hash recorded after the last apply, the boot unit, and whether an
unfinished run left a rollback armed or a saved table (resolved first: see
:mod:`kubeward.phases.guarded`). When the compiled ruleset differs, or the live table drifted from
what was applied, a guarded change:

1. save the live table aside, upload the new ruleset and check it with ``nft -c``;
2. arm a systemd timer that restores the saved table after ``firewall.rollback_seconds`` unless
   kubeward disarms it;
3. replace kubeward's table atomically with ``nft -f`` (other tables, e.g. kube-proxy's, are never
   touched: the file only creates and deletes ``table inet kubeward``);
4. open a *new* SSH connection to the node; only if that works, disarm the rollback, persist the
   ruleset and enable the unit that loads it at boot.

If the new connection fails, the previous table is restored at once through the existing connection
(established connections are accepted first by the new ruleset too), and the timer would restore it
anyway if that connection were gone.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from kubeward.firewall.compile import render_ruleset
from kubeward.firewall.guard import GUARD
from kubeward.firewall.paths import DIR, LISTED, NEW, PREV, RULESET, UNIT, UNIT_PATH, sha  # noqa: F401 - re-exported
from kubeward.hostscripts.sections import parse_sections, render_sections
from kubeward.ops.base import Change, HostOutcome, Unchanged
from kubeward.ops.guard import Step, parse_guard_fact, render_guard_fact_script
from kubeward.ops.ops import unified_diff
from kubeward.phases.base import PerHostPhase, RunContext
from kubeward.phases.guarded import GuardError, InvalidChange, Prove, apply_guarded, fresh_login, resolve_leftover
from kubeward.remote.ssh import Session

UNIT_TEXT = f"""[Unit]
Description=kubeward host firewall (nftables table inet kubeward)
Documentation=https://github.com/kubeward/kubeward
DefaultDependencies=no
Wants=network-pre.target
Before=network-pre.target shutdown.target
After=local-fs.target
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/sbin/nft -f {RULESET}

[Install]
WantedBy=multi-user.target
"""
LIST = "nft -s list table inet kubeward 2>/dev/null"

#: the phase's facts, as ``firewall`` sections: the guard's state, then one line each for the persisted
#: ruleset's sha, the live table's, the one recorded at apply, the boot unit's state and its file's sha
FACTS = render_sections("firewall", {"guard": render_guard_fact_script(GUARD), "state": f"""[ -f {RULESET} ] && sha256sum < {RULESET} | cut -d' ' -f1 || echo none
({LIST} || echo absent) | sha256sum | cut -d' ' -f1
cat {LISTED} 2>/dev/null || echo none
systemctl is-enabled {UNIT} 2>/dev/null || echo disabled
[ -f {UNIT_PATH} ] && sha256sum < {UNIT_PATH} | cut -d' ' -f1 || echo none
"""})


def render_apply_step(ruleset: str) -> Step:
    return Step(stage=f"mkdir -p {DIR} && chmod 0700 {DIR}\nprintf %s {shlex.quote(ruleset)} > {NEW}",
                check=f"nft -c -f {NEW}", undo=f"rm -f {NEW}", apply=f"nft -f {NEW}")


def render_persist_script() -> str:
    """After the proof: keep the ruleset, record the live table's hash, load it at boot."""
    unit = shlex.quote(UNIT_TEXT)
    return f"""mv -f {NEW} {RULESET} && chmod 0600 {RULESET}
{LIST} | sha256sum | cut -d' ' -f1 > {LISTED}
if [ "$(cat {UNIT_PATH} 2>/dev/null)" != {unit} ]; then
  printf '%s\\n' {unit} > {UNIT_PATH} && systemctl daemon-reload
fi
systemctl enable --quiet {UNIT}"""


class Firewall(PerHostPhase):
    name = "firewall"
    title = "Apply the host firewall"

    async def run_all(self, ctx: RunContext, hosts: Sequence[str]) -> dict[str, HostOutcome]:
        if not ctx.config.firewall.enabled:
            return {h: HostOutcome(h, unchanged=[Unchanged("firewall", "firewall.enabled is false")]) for h in hosts}
        return await super().run_all(ctx, hosts)

    def facts_script(self, ctx: RunContext, host: str) -> str | None:
        return FACTS if ctx.config.firewall.enabled else None

    async def run(self, ctx: RunContext, host: str) -> HostOutcome:
        ruleset = render_ruleset(ctx.config, ctx.config.host(host))
        text = await ctx.read_facts(host, self.name, FACTS, label="read firewall state")
        part = parse_sections(text, "firewall")
        guard = parse_guard_fact(part.get("guard", ""), GUARD)
        facts = part.get("state", "").split()
        persisted, live, recorded, enabled, unit_sha = (facts + ["none"] * 5)[:5]
        prove = _prover(ctx.session, host)
        found: list[Change] = []
        if guard.leftover:
            try:
                found.append(await resolve_leftover(ctx, host, GUARD, guard, prove))
            except GuardError as exc:
                return HostOutcome(host, error=exc.message)
        done = len(found) if ctx.apply else 0
        reasons = []
        if persisted != sha(ruleset):
            reasons.append("the compiled ruleset changed" if persisted != "none" else "no kubeward firewall yet")
        elif live != recorded:
            reasons.append("the live table drifted from what kubeward applied" if live != sha("absent\n")
                           else "the kubeward table is missing from the kernel")
        if not reasons and (enabled != "enabled" or unit_sha != sha(UNIT_TEXT + "\n")):
            reasons.append("the boot unit is missing or disabled")
        if not reasons:
            return HostOutcome(host, found, [Unchanged("firewall", "table inet kubeward live as compiled")],
                               applied=done)
        diff = ""
        if not ctx.apply and persisted not in ("none", sha(ruleset)):
            # the plan shows what changes (a node added: one more address in the `nodes` set)
            old = await ctx.session.run(host, f"cat {RULESET}", label="read the persisted ruleset", reads_only=True)
            diff = unified_diff(RULESET, old.stdout.encode(), ruleset.encode())
        out = HostOutcome(host, [*found, Change("firewall", f"apply table inet kubeward ({'; '.join(reasons)})", "",
                                                diff)], applied=done)
        if not ctx.apply:
            return out
        try:
            await apply_guarded(ctx, host, GUARD, render_apply_step(ruleset), prove, commit=render_persist_script())
        except InvalidChange as exc:
            out.error = f"nft rejected the ruleset, nothing was changed: {exc.reason}"
            return out
        except GuardError as exc:
            out.error = exc.message
            return out
        out.applied += 1
        return out


def _prover(s: Session, host: str) -> Prove:
    async def prove() -> str | None:
        problem, _ = await fresh_login(s, host, "true", sudo=False, what="applying the firewall")
        return problem

    return prove
