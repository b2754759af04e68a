"""The Ansible peer: a bench-only virtualenv with ansible-core, an inventory made from a lab's
cluster.yml, and timed runs of bench/peers/ansible/site.yml.

Ansible lives in ``bench/.venv-ansible`` (created here when missing, never in the project's
``.venv``). Each run gets a fresh SSH ControlPath directory, so no run starts with warm SSH masters
left by the previous one (kubeward also opens new connections every run); the masters a run leaves
are closed afterwards with ``ssh -O exit``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from kubeward.config import load_config
from kubeward.lab.lab import Lab
from kubeward.ops.sshd import DROPIN, render_dropin
from kubeward.phases.provision import BASE_PACKAGES

BENCH = Path(__file__).resolve().parent
PEER = BENCH / "peers" / "ansible"
VENV = BENCH / ".venv-ansible"
#: ansible-core for the peer; pip picks the newest release that supports this Python
ANSIBLE_REQUIREMENT = "ansible-core>=2.16"

RECAP = re.compile(
    r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
    r"\s+failed=(?P<failed>\d+)",
    re.M,
)


def playbook_bin() -> Path:
    return VENV / "bin" / "ansible-playbook"


def ensure_venv(say=lambda s: None) -> str:
    """Create bench/.venv-ansible with ansible-core when missing; return ansible-playbook's version."""
    if not playbook_bin().exists():
        say(f"creating {VENV} with {ANSIBLE_REQUIREMENT} (bench only, not .venv)")
        py = shutil.which("python3") or sys.executable
        subprocess.run([py, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "--upgrade", "pip"], check=True)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", ANSIBLE_REQUIREMENT], check=True)
    out = subprocess.run(
        [str(playbook_bin()), "--version"], capture_output=True, text=True, check=True
    ).stdout
    return out.splitlines()[0].strip()


#: what Ansible's `apt` module needs on a node: python3-apt (Debian cloud images often lack it, and
#: the lab's APT repository does not serve it). Downloaded once with `apt-get download` on this
#: (Debian 12) machine and installed on the Ansible lab's nodes before any timed run, like python3.
PREREQ_DEBS = ("python3-apt", "python-apt-common", "distro-info-data")
DEB_CACHE = BENCH / ".cache" / "debs"


def ensure_debs(say=lambda s: None) -> list[Path]:
    DEB_CACHE.mkdir(parents=True, exist_ok=True)
    os.chmod(DEB_CACHE, 0o755)  # apt-get download drops privileges to _apt when it can
    have = {p.name.split("_")[0]: p for p in DEB_CACHE.glob("*.deb")}
    missing = [d for d in PREREQ_DEBS if d not in have]
    if missing:
        say(f"downloading {', '.join(missing)} (Ansible's apt module needs python3-apt on the nodes)")
        subprocess.run(
            ["apt-get", "download", "-q", *missing], cwd=DEB_CACHE, check=True, capture_output=True
        )
        have = {p.name.split("_")[0]: p for p in DEB_CACHE.glob("*.deb")}
    return [have[d] for d in PREREQ_DEBS]


def install_prereqs(lab: Lab, debs: list[Path]) -> None:
    """Install python3-apt on every node of the Ansible lab (untimed), through the lab's own access."""
    import base64
    from concurrent.futures import ThreadPoolExecutor

    payload = "\n".join(f"{p.name} {base64.b64encode(p.read_bytes()).decode()}" for p in debs) + "\n"
    script = (
        'set -e; d=$(mktemp -d); while read -r name data; do [ -n "$name" ] || continue; '
        'printf %s "$data" | base64 -d > "$d/$name"; done; '
        'DEBIAN_FRONTEND=noninteractive dpkg -i "$d"/*.deb >/dev/null; rm -rf "$d"'
    )

    def one(node: str) -> str | None:
        r = lab.exec(node, ["sh", "-c", script], input=payload)
        return None if r.returncode == 0 else f"{node}: {r.stderr.strip()[-300:]}"

    with ThreadPoolExecutor(max_workers=8) as pool:
        errors = [e for e in pool.map(one, [n.name for n in lab.load().nodes]) if e]
    if errors:
        raise RuntimeError("installing python3-apt failed: " + "; ".join(errors))


def offered_kex(lab: Lab, node: str) -> list[str]:
    """What the node's OpenSSH offers (`ssh -Q kex`), as kubeward's harden-ssh phase reads it."""
    r = lab.exec(node, ["ssh", "-Q", "kex"])
    if r.returncode != 0:
        raise RuntimeError(f"ssh -Q kex on {node}: {r.stderr.strip()}")
    return r.stdout.split()


@dataclass
class Workdir:
    path: Path
    inventory: Path
    known_hosts: Path
    hosts: list[str]


def prepare(lab: Lab, root: Path) -> Workdir:
    """Inventory (JSON, read by Ansible's yaml plugin) and known_hosts from the lab's cluster.yml and
    pinned host keys; the sshd drop-in rendered by kubeward from the first node's `ssh -Q kex`."""
    loaded = load_config(lab.cluster_yml)
    cfg = loaded.config
    state = lab.load()
    root.mkdir(parents=True, exist_ok=True)
    known = root / "known_hosts"
    known.write_text("".join(f"{h.address} {h.ssh.host_key}\n" for h in cfg.hosts))
    kex = offered_kex(lab, state.nodes[0].name)
    ssh = cfg.hosts[0].ssh
    key_path = Path(ssh.key_path)
    if not key_path.is_absolute():
        key_path = (lab.cluster_yml.parent / key_path).resolve()
    lab_vars = {
        "ansible_user": ssh.user,
        "ansible_port": ssh.port,
        "ansible_ssh_private_key_file": str(key_path),
        "ansible_ssh_common_args": f"-o UserKnownHostsFile={known} -o StrictHostKeyChecking=yes",
        "admin_name": cfg.admin.name,
        "admin_uid": cfg.admin.uid,
        "admin_key": str(cfg.admin.ssh_public_key).strip(),
        "base_packages": list(dict.fromkeys([*BASE_PACKAGES, *cfg.packages])),
        "sshd_dropin": render_dropin(kex),
        "sshd_dropin_path": DROPIN,
    }
    if cfg.admin.uid != cfg.admin.gid or tuple(cfg.admin.groups) != ("sudo",):
        raise RuntimeError("the playbook assumes uid == gid and groups [sudo], as the lab's cluster.yml has")
    inv = {
        "all": {
            "children": {
                "lab": {
                    "hosts": {h.name: {"ansible_host": str(h.address)} for h in cfg.hosts},
                    "vars": lab_vars,
                }
            }
        }
    }
    inventory = root / "inventory.json"
    inventory.write_text(json.dumps(inv, indent=1))
    return Workdir(root, inventory, known, [h.name for h in cfg.hosts])


@dataclass
class Run:
    rc: int
    seconds: float
    recap: dict[str, dict[str, int]] = field(default_factory=dict)
    tail: str = ""
    cpu_seconds: float = 0.0  # user+sys of ansible-playbook and the children it reaped (not the SSH masters)

    @property
    def ok(self) -> bool:
        return (
            self.rc == 0
            and bool(self.recap)
            and all(r["failed"] == 0 and r["unreachable"] == 0 for r in self.recap.values())
        )

    @property
    def changed(self) -> int:
        return sum(r["changed"] for r in self.recap.values())


def run(wd: Workdir, *, strategy: str = "linear", timeout: float = 900) -> Run:
    """One timed `ansible-playbook site.yml` (wall clock, including Ansible's own start-up)."""
    ctl = Path(tempfile.mkdtemp(prefix="cp", dir="/tmp"))  # short: ControlPath has a length limit
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(PEER / "ansible.cfg"),
        "ANSIBLE_FORKS": str(max(len(wd.hosts), 5)),
        "ANSIBLE_STRATEGY": strategy,
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(ctl),
        "ANSIBLE_HOME": str(wd.path / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(wd.path / "ansible-tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "PYTHONWARNINGS": "ignore",
    }
    argv = [str(playbook_bin()), "-i", str(wd.inventory), str(PEER / "site.yml")]
    t0, c0 = time.monotonic(), _child_cpu()
    try:
        p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout, cwd=wd.path)
        seconds = time.monotonic() - t0
        cpu = _child_cpu() - c0
        out = p.stdout + p.stderr
        rc = p.returncode
    finally:
        close_masters(ctl)
    recap = {
        m["host"]: {k: int(m[k]) for k in ("ok", "changed", "unreachable", "failed")}
        for m in RECAP.finditer(out)
    }
    (wd.path / f"ansible-{int(time.time() * 1000)}.log").write_text(out)
    return Run(rc, seconds, recap, out[-3000:], cpu)


def _child_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def close_masters(ctl: Path) -> None:
    for sock in ctl.iterdir() if ctl.exists() else []:
        subprocess.run(
            ["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "bench-peer"],
            capture_output=True,
            timeout=10,
            check=False,
        )
    shutil.rmtree(ctl, ignore_errors=True)
