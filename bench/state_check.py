"""Did kubeward and the Ansible peer converge the same state? Read one node of each lab (through
the lab's own nsenter access, not SSH) and compare, after normalising what differs between labs by
construction: the node's name and the lab's admin key."""

from __future__ import annotations

import hashlib
import shlex

from kubeward.config import load_config
from kubeward.lab.lab import Lab
from kubeward.ops.sshd import DROPIN
from kubeward.phases.provision import BASE_PACKAGES

FILES = {
    "sshd drop-in": DROPIN,
    "sudoers drop-in": "/etc/sudoers.d/kubeward-{admin}",
    "authorized_keys": "/home/{admin}/.ssh/authorized_keys",
    "/etc/hosts": "/etc/hosts",
}


def _script(admin: str, packages: list[str]) -> str:
    a = shlex.quote(admin)
    parts = []
    for label, path in FILES.items():
        p = shlex.quote(path.format(admin=admin))
        parts.append(f"echo '@@{label} (content)'; cat {p} 2>&1")
        parts.append(f"echo '@@{label} (owner, mode)'; stat -c '%U:%G %a' {p} 2>&1")
    parts += [
        f"echo '@@~/.ssh (owner, mode)'; stat -c '%U:%G %a' /home/{a}/.ssh 2>&1",
        f"echo '@@id {admin}'; id {a} 2>&1",
        f"echo '@@passwd entry'; getent passwd {a}",
        f"echo '@@password field'; getent shadow {a} | cut -d: -f2",
        "echo '@@127.0.1.1 line'; grep '^127\\.0\\.1\\.1' /etc/hosts",
        "echo '@@hostname'; hostname; cat /etc/hostname",
        "echo '@@packages (dpkg status)'; dpkg-query -W -f='${Package} ${Status}\\n' "
        + " ".join(shlex.quote(p) for p in packages)
        + " 2>&1",
        "echo '@@sshd -T (effective config)'; sshd -T 2>&1 | sort",
        "echo '@@sshd running'; systemctl is-active ssh",
    ]
    return "\n".join(parts) + "\n"


def snapshot(lab: Lab, node: str) -> dict[str, str]:
    """label -> normalised value (long values as their sha256)."""
    cfg = load_config(lab.cluster_yml).config
    packages = list(dict.fromkeys([*BASE_PACKAGES, *cfg.packages]))
    r = lab.exec(node, ["sh", "-c", _script(cfg.admin.name, packages)])
    key = " ".join(str(cfg.admin.ssh_public_key).split()[:2])
    comment = " ".join(str(cfg.admin.ssh_public_key).split()[2:])
    text = r.stdout.replace(key, "<admin-key>").replace(node, "<node>")
    if comment:
        text = text.replace(comment, "<key-comment>")
    out: dict[str, str] = {}
    label = None
    buf: list[str] = []
    for line in text.splitlines():
        if line.startswith("@@"):
            if label is not None:
                out[label] = "\n".join(buf)
            label, buf = line[2:], []
        else:
            buf.append(line)
    if label is not None:
        out[label] = "\n".join(buf)
    for k, v in list(out.items()):
        if k.endswith("(content)") or k.startswith("sshd -T"):
            out[k] = "sha256:" + hashlib.sha256(v.encode()).hexdigest()[:16]
    return out


def compare(a: dict[str, str], b: dict[str, str]) -> list[str]:
    """Labels whose values differ, each with both values."""
    out = []
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k):
            out.append(f"{k}: kubeward {a.get(k)!r} vs ansible {b.get(k)!r}")
    return out
