"""Host shell for services (pure: strings in, strings out): wait until a probe passes."""

from __future__ import annotations

import shlex


def wait_until(unit: str, probe: str, timeout: int, what: str = "healthy", done: str = "") -> str:
    """Poll ``probe`` (shell, exit 0 = ready) every half second; after ``timeout`` seconds fail with
    the unit's state and its last log lines. ``done`` is echoed on success."""
    u = shlex.quote(unit)
    ok = f"\necho {shlex.quote(done)}" if done else ""
    return f"""kw_end=$(( $(date +%s) + {int(timeout)} ))
until ( {probe} ) >/dev/null 2>&1; do
  if [ "$(date +%s)" -ge "$kw_end" ]; then
    echo "{unit} on $(hostname) is not {what} after {int(timeout)} s ($(systemctl is-active {u}))" >&2
    journalctl -u {u} -n 12 --no-pager -o cat 2>/dev/null | cut -c1-300 >&2
    exit 1
  fi
  sleep 0.5
done{ok}"""
