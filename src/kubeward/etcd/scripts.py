"""The shell kubeward runs on control planes for etcd (pure: strings in, strings out).

Every etcdctl call goes to the member on the same node (https://127.0.0.1:CLIENT_PORT) with the
health-check client certificate the pki phase put there, through the ``kw_etcdctl`` function.
"""

from __future__ import annotations

import shlex

from kubeward.etcd.config import CA_FILE, HEALTHCHECK_CERT, HEALTHCHECK_KEY, UNIT
from kubeward.hostscripts.service import wait_until

#: seconds a start or restart may take until the member answers a health check
HEALTH_TIMEOUT = 120
POLICY_RC_D = "/usr/sbin/policy-rc.d"


def q(s: str) -> str:
    return shlex.quote(s)


def etcdctl_function(client_port: int) -> str:
    """Defines ``kw_etcdctl`` (etcdctl v3 against the local member, with the health-check client)."""
    return (f"kw_etcdctl() {{ ETCDCTL_API=3 etcdctl --endpoints=https://127.0.0.1:{client_port} "
            f"--cacert={CA_FILE} --cert={HEALTHCHECK_CERT} --key={HEALTHCHECK_KEY} \"$@\"; }}")


def without_autostart(script: str) -> str:
    """Run ``script`` (a package installation) with invoke-rc.d/deb-systemd-invoke starts denied.

    etcd-server's postinst would ``systemctl start etcd``; etcd's unit is Type=notify and a member
    of a forming cluster is only ready once a quorum runs, so that start would block until the other
    control planes come up. kubeward starts every member itself, with ``--no-block``, afterwards.
    An existing policy-rc.d is put back.
    """
    p = POLICY_RC_D
    return f"""kw_saved=""
if [ -e {p} ]; then kw_saved={p}.kubeward-saved; mv -f {p} "$kw_saved"; fi
printf '#!/bin/sh\\n# kubeward: no service starts during package installation\\nexit 101\\n' > {p}
chmod 0755 {p}
kw_rc=0
( {script} ) || kw_rc=$?
rm -f {p}
if [ -n "$kw_saved" ]; then mv -f "$kw_saved" {p}; fi
[ "$kw_rc" -eq 0 ]"""


def health_probe(client_port: int) -> str:
    """Exit 0 once the local member answers ``endpoint health`` (a quorum read)."""
    return f"{etcdctl_function(client_port)}\nkw_etcdctl --dial-timeout=1s --command-timeout=3s endpoint health"


def started_probe(client_port: int) -> str:
    """Exit 0 once the local member serves ``endpoint status`` (which a learner answers too)."""
    return f"{etcdctl_function(client_port)}\nkw_etcdctl --dial-timeout=1s --command-timeout=3s endpoint status"


def wait_healthy_script(client_port: int, timeout: int = HEALTH_TIMEOUT) -> str:
    """Poll the health probe until it passes, or fail with the unit's state and last log lines."""
    return wait_until(UNIT, health_probe(client_port), timeout, "healthy", done="@@healthy")


def wait_started_script(client_port: int, timeout: int = HEALTH_TIMEOUT) -> str:
    """Poll ``endpoint status`` until the local member serves."""
    return wait_until(UNIT, started_probe(client_port), timeout, "serving", done="@@started")


def member_add_script(client_port: int, name: str, peer_url: str) -> str:
    return (f"{etcdctl_function(client_port)}\n"
            f"kw_etcdctl --command-timeout=15s member add {q(name)} --learner --peer-urls={q(peer_url)} -w json")


def promote_script(client_port: int, member_id: int, timeout: int = HEALTH_TIMEOUT) -> str:
    """Promote a learner, retrying while etcd says it has not caught up with the leader yet."""
    return f"""{etcdctl_function(client_port)}
kw_end=$(( $(date +%s) + {int(timeout)} ))
until kw_out=$(kw_etcdctl --command-timeout=10s member promote {member_id:x} 2>&1); do
  case "$kw_out" in *"not a learner"*) echo @@promoted; exit 0;; esac
  if [ "$(date +%s)" -ge "$kw_end" ]; then echo "promote {member_id:x}: $kw_out" >&2; exit 1; fi
  sleep 1
done
echo @@promoted"""


def member_remove_script(client_port: int, member_id: int, timeout: float = 60) -> str:
    """Remove a member, retrying while etcd refuses because a member has only just (re)joined
    ("unhealthy cluster": its strict reconfiguration check wants every member connected a while)."""
    return f"""{etcdctl_function(client_port)}
kw_end=$(( $(date +%s) + {int(timeout)} ))
until kw_out=$(kw_etcdctl --command-timeout=15s member remove {member_id:x} 2>&1); do
  case "$kw_out" in
    *"member not found"*) break;;
    *"unhealthy cluster"*) if [ "$(date +%s)" -ge "$kw_end" ]; then echo "$kw_out" >&2; exit 1; fi; sleep 1;;
    *) echo "$kw_out" >&2; exit 1;;
  esac
done
echo @@removed"""


def move_aside_script(data_dir: str, stamp: str, recreate: bool = True) -> str:
    """Move a data directory that has content to DATA_DIR.kubeward-STAMP (never deleted)."""
    d = q(data_dir)
    aside = q(f"{data_dir}.kubeward-{stamp}")
    again = f"\nmkdir -p {d} && chown etcd:etcd {d} && chmod 0700 {d}" if recreate else ""
    return (f"if [ -d {d} ] && [ -n \"$(ls -A {d} 2>/dev/null)\" ]; then mv {d} {aside} && echo @@moved {aside}; fi"
            + again)


def decommission_script(data_dir: str, stamp: str) -> str:
    """On a host that left etcd: stop and disable etcd, keep its data aside, drop kubeward's files."""
    from kubeward.etcd.config import CONFIG_PATH, DROPIN_PATH

    return f"""systemctl disable --now {UNIT} >/dev/null 2>&1 || true
{move_aside_script(data_dir, stamp, recreate=False)}
rm -f {DROPIN_PATH} {CONFIG_PATH}
systemctl daemon-reload
echo @@decommissioned"""


def restore_script(*, snapshot: str, data_dir: str, stamp: str, name: str,
                   initial_cluster: str, token: str, peer_url: str) -> str:
    """Replace the (stopped) member's data with a snapshot; the old data stays at DATA_DIR.kubeward-STAMP."""
    d = q(data_dir)
    aside = q(f"{data_dir}.kubeward-{stamp}")
    return f"""set -e
systemctl stop {UNIT}
if [ -e {d} ]; then mv {d} {aside}; fi
if ! kw_out=$(ETCDCTL_API=3 etcdctl snapshot restore {q(snapshot)} --name {q(name)} \\
    --initial-cluster {q(initial_cluster)} --initial-cluster-token {q(token)} \\
    --initial-advertise-peer-urls {q(peer_url)} --data-dir {d} 2>&1); then
  echo "$kw_out" | tail -5 >&2
  exit 1
fi
chown -R etcd:etcd {d}
chmod 0700 {d}
rm -f {q(snapshot)}
echo @@restored"""


def rollback_restore_script(data_dir: str, stamp: str) -> str:
    """Put the data moved aside by :func:`restore_script` back (after a failed restore)."""
    d = q(data_dir)
    aside = q(f"{data_dir}.kubeward-{stamp}")
    return f"""systemctl stop {UNIT} || true
if [ -e {aside} ]; then rm -rf {d} && mv {aside} {d}; fi
systemctl start --no-block {UNIT}
echo @@rolledback"""
