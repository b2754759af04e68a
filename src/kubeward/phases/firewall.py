"""The firewall phase: kubeward's nftables table on every node, applied so it cannot lock anyone out.

Per host, one round-trip reads the state: the persisted ruleset, a hash of the live table (listed
without counter values) and the hash recorded after the last apply, and the boot unit. When the
compiled ruleset differs, or the live table drifted from what was applied:

1. upload the new ruleset and check it with ``nft -c``;
2. save the live table aside and arm a systemd timer that restores it after
   ``firewall.rollback_seconds`` unless kubeward disarms it;
3. replace kubeward's table atomically with ``nft -f`` (other tables, e.g. kube-proxy's, are never
   touched: the file only creates and deletes ``table inet kubeward``);
4. open a *new* SSH connection to the node; only if that works, disarm the rollback, persist the
   ruleset and enable the unit that loads it at boot.

If the new connection fails, the previous table is restored at once through the existing connection
(established connections are accepted first by the new ruleset too), and the timer would restore it
anyway if that connection were gone.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Sequence

from kubeward.errors import RemoteError
from kubeward.firewall.compile import render_ruleset
from kubeward.ops.base import Change, HostOutcome, Unchanged
from kubeward.phases.base import PerHostPhase, RunContext
from kubeward.remote.ssh import CommandError, ConnectError, Session

DIR = "/etc/kubeward"
RULESET = f"{DIR}/firewall.nft"
NEW = f"{DIR}/firewall.nft.new"
PREV = f"{DIR}/firewall.prev.nft"
LISTED = f"{DIR}/firewall.listed.sha256"
UNIT = "kubeward-firewall.service"
ROLLBACK = "kubeward-firewall-rollback"
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

FACTS = f"""[ -f {RULESET} ] && sha256sum < {RULESET} | cut -d' ' -f1 || echo none
({LIST} || echo absent) | sha256sum | cut -d' ' -f1
cat {LISTED} 2>/dev/null || echo none
systemctl is-enabled {UNIT} 2>/dev/null || echo disabled
[ -f /etc/systemd/system/{UNIT} ] && sha256sum < /etc/systemd/system/{UNIT} | cut -d' ' -f1 || echo none
"""


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def render_arm_script(ruleset: str, rollback_seconds: int) -> str:
    r = shlex.quote(ruleset)
    return f"""set -e
mkdir -p {DIR} && chmod 0700 {DIR}
printf %s {r} > {NEW}
if ! out=$(nft -c -f {NEW} 2>&1); then echo "@@invalid $out" >&2; exit 3; fi
if nft list table inet kubeward >/dev/null 2>&1; then
  {{ echo 'table inet kubeward {{}}'; echo 'delete table inet kubeward'; nft list table inet kubeward; }} > {PREV}
else
  printf 'table inet kubeward {{}}\\ndelete table inet kubeward\\n' > {PREV}
fi
systemctl stop {ROLLBACK}.timer >/dev/null 2>&1 || true
systemctl reset-failed {ROLLBACK}.service {ROLLBACK}.timer >/dev/null 2>&1 || true
systemd-run --quiet --unit {ROLLBACK} --on-active={int(rollback_seconds)} /usr/sbin/nft -f {PREV}
nft -f {NEW}
echo @@applied
"""


def render_commit_script() -> str:
    unit = shlex.quote(UNIT_TEXT)
    return f"""set -e
systemctl stop {ROLLBACK}.timer >/dev/null 2>&1 || true
systemctl reset-failed {ROLLBACK}.service {ROLLBACK}.timer >/dev/null 2>&1 || true
mv -f {NEW} {RULESET} && chmod 0600 {RULESET} && rm -f {PREV}
{LIST} | sha256sum | cut -d' ' -f1 > {LISTED}
if [ "$(cat /etc/systemd/system/{UNIT} 2>/dev/null)" != {unit} ]; then
  printf '%s\\n' {unit} > /etc/systemd/system/{UNIT} && systemctl daemon-reload
fi
systemctl enable --quiet {UNIT}
"""


def render_rollback_script() -> str:
    return (f"nft -f {PREV}; systemctl stop {ROLLBACK}.timer >/dev/null 2>&1; "
            f"systemctl reset-failed {ROLLBACK}.service {ROLLBACK}.timer >/dev/null 2>&1; rm -f {NEW}; true")


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
        s = ctx.session
        ruleset = render_ruleset(ctx.config, ctx.config.host(host))
        facts = (await ctx.read_facts(host, self.name, FACTS, label="read firewall state")).split()
        persisted, live, recorded, enabled, unit_sha = (facts + ["none"] * 5)[:5]
        reasons = []
        if persisted != sha(ruleset):
            reasons.append("the compiled ruleset changed" if persisted != "none" else "no kubeward firewall yet")
        elif live != recorded:
            reasons.append("the live table drifted from what kubeward applied" if live != sha("absent\n")
                           else "the kubeward table is missing from the kernel")
        if not reasons and (enabled != "enabled" or unit_sha != sha(UNIT_TEXT + "\n")):
            reasons.append("the boot unit is missing or disabled")
        if not reasons:
            return HostOutcome(host, unchanged=[Unchanged("firewall", "table inet kubeward live as compiled")])
        out = HostOutcome(host, [Change("firewall", f"apply table inet kubeward ({'; '.join(reasons)})", "")])
        if not ctx.apply:
            return out
        seconds = ctx.config.firewall.rollback_seconds
        ctx.changed_hosts.add(host)
        try:
            await s.run(host, render_arm_script(ruleset, seconds), label="check and apply the firewall")
        except CommandError as exc:
            why = exc.stderr.split("@@invalid", 1)[-1].strip() if "@@invalid" in exc.stderr else str(exc)
            out.error = f"nft rejected the ruleset, nothing was changed: {why[-400:]}"
            return out
        problem = await _fresh_login(s, host)
        if problem:
            try:
                await s.run(host, render_rollback_script(), label="roll the firewall back", timeout=20)
                out.error = f"{problem}; rolled the previous firewall back"
            except RemoteError:
                out.error = (f"{problem}; the existing connection is gone too: the node restores its previous "
                             f"firewall by itself within {seconds} s")
            return out
        await s.run(host, render_commit_script(), label="persist the firewall")
        out.applied = 1
        return out


async def _fresh_login(s: Session, host: str) -> str | None:
    fresh = Session([s.targets[host]], s.trust, connect_timeout=s.connect_timeout, connect_retries=0)
    try:
        async with fresh:
            await fresh.run(host, "true", sudo=False, label="login check after the firewall change", timeout=15)
    except ConnectError as exc:
        return f"a new SSH connection failed after applying the firewall ({exc.kind}: {exc.detail})"
    except RemoteError as exc:
        return f"a new SSH connection failed after applying the firewall: {exc}"
    except TimeoutError:
        return "a new SSH connection timed out after applying the firewall"
    return None
