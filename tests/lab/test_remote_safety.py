"""Issue 13: no cluster.yml value reaches a shell, and no secret is ever on a node's command line.

Runs before test_up*.py (which share the converged lab): the PKI rollout here uses a state
directory of its own, and the converge that follows replaces everything it wrote.
"""

from __future__ import annotations

import asyncio
import base64
import shutil
import subprocess
from pathlib import Path

from kubeward.audit.model import LocalObservation, Observations, SshAuthProbe
from kubeward.audit.probe import probe_ssh_auth
from kubeward.cli.common import trust_for
from kubeward.config import load_config
from kubeward.lab.lab import Lab, LabState
from kubeward.remote.ssh import Session
from kubeward.remote.targets import targets_for
from tests.lab.conftest import kubeward, lab_config, up_json


def _with_bastion(config: Path, target: str, bastion_address: str, bastion_key: Path) -> None:
    """Reach ``target`` through ``bastion_address`` (another lab node) with ``bastion_key``."""
    text = config.read_text()
    anchor = f"  - name: {target}\n"
    head, _, rest = text.partition(anchor)
    assert rest, text
    ssh_at = rest.index("    ssh:\n") + len("    ssh:\n")
    # a double-quoted YAML scalar: the path's $, `, space and % reach kubeward as written
    yaml_path = str(bastion_key).replace("\\", "\\\\").replace('"', '\\"')
    bastion = (f"      bastion:\n        address: {bastion_address}\n        user: debian\n"
               f"        key_path: \"{yaml_path}\"\n")
    config.write_text(head + anchor + rest[:ssh_at] + bastion + rest[ssh_at:])


def test_a_bastion_key_path_with_shell_metacharacters_is_never_run(lab: Lab, lab_state: LabState,
                                                                  tmp_path: Path) -> None:
    config = lab_config(lab, tmp_path)
    marker = tmp_path / "pwned"
    marker2 = tmp_path / "pwned2"
    # `$(...)`, backticks, a space and `%` (an OpenSSH token) in one literal directory path
    key = tmp_path / "keys dir" / f"$(touch {marker}) `touch {marker2}` 100%h" / "id_ed25519"
    key.parent.mkdir(parents=True)
    shutil.copy(lab.key_path, key)
    key.chmod(0o600)
    bastion, target = lab_state.nodes[0], lab_state.nodes[1]
    _with_bastion(config, target.name, bastion.public_address, key)

    r = kubeward("ssh", "-c", str(config), target.name, "--", "hostname")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == target.name

    # the path `kubeward audit` and `up` take: the SSH authentication probe through the same bastion
    loaded = load_config(config)

    async def go() -> Observations:
        obs = Observations()
        obs.local[target.name] = LocalObservation()
        async with Session(targets_for(loaded.config), trust_for(loaded, config)) as session:
            await probe_ssh_auth(loaded.config, session, obs)
        return obs

    obs = asyncio.run(go())
    assert [p.target for p in obs.ssh_auth] == [target.name]
    probe: SshAuthProbe = obs.ssh_auth[0]
    # the node answered the probe, through the bastion
    assert "publickey" in probe.methods, probe
    assert not marker.exists() and not marker2.exists()


_POLLER = r"""
import os, sys
seen = set()
stop = sys.argv[1]
while not os.path.exists(stop):
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    seen.add(f.read())
            except OSError:
                pass
for c in seen:
    print(c.hex())
"""


def _needles(pem: bytes) -> list[bytes]:
    """What would betray a key on a command line: its PEM body lines, and runs of its base64."""
    body = [line for line in pem.splitlines() if line and not line.startswith(b"-----")]
    b64 = base64.b64encode(pem)
    return [*body, *(b64[i:i + 48] for i in range(0, len(b64) - 48, 48))]


def test_no_private_key_is_on_a_node_command_line_during_a_pki_rollout(lab: Lab, lab_state: LabState,
                                                                      tmp_path: Path) -> None:
    node = next(n for n in lab_state.nodes if n.role == "control-plane")
    user = "kwpoll" + node.name[-3:].replace("-", "")
    stop = f"/tmp/{user}.stop"
    assert lab.exec(node.name, ["useradd", "-M", "-s", "/bin/sh", user]).returncode == 0
    poller = None
    try:
        lab.exec(node.name, ["rm", "-f", stop])
        lab.exec(node.name, ["sh", "-c", f"cat > /tmp/{user}.py"], input=_POLLER)
        poller = subprocess.Popen(
            lab.exec_argv(node.name, ["runuser", "-u", user, "--", "python3", f"/tmp/{user}.py", stop]),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        config = lab_config(lab, tmp_path)  # a fresh state dir: a whole new PKI goes out
        rc, report = up_json(config, "--only", "pki")
        assert rc == 0, report
        lab.exec(node.name, ["touch", stop])
        out, err = poller.communicate(timeout=120)
        assert poller.returncode == 0, err
    finally:
        if poller is not None and poller.poll() is None:
            poller.kill()
            poller.wait()
        lab.exec(node.name, ["sh", "-c", f"pkill -u {user}; rm -f {stop} /tmp/{user}.py; userdel {user}"])
    cmdlines = [bytes.fromhex(line) for line in out.decode().split()]
    # the poller watched the run: it saw kubeward's SSH sessions on this node
    assert any(c.startswith(b"sshd: debian") for c in cmdlines), cmdlines
    keys = sorted((tmp_path / "state").rglob("*.key"))
    assert keys
    needles = [n for k in keys for n in _needles(k.read_bytes())]
    leaks = [c[:120] for c in cmdlines if b"PRIVATE KEY" in c or any(n in c for n in needles)]
    assert not leaks
