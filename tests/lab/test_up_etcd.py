"""etcd on the converged session lab (3 control planes, 1 worker): reads and writes on every
member over mutual TLS, refused without a client certificate or with one of the wrong CA, bound
where the port matrix says, surviving a stopped member and taking it back, `kubeward etcd status`,
snapshot save and restore, membership changes, and a second `up` that restarts nothing.

Assumes the etcd phase is registered in PHASES (so `converged` ran it); the `etcd` fixture runs
`up --only etcd`, which is a no-op then. (Named test_up_*.py so it runs after test_up.py.)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kubeward.lab.lab import Lab, LabState
from tests.lab.conftest import up_json

PKI = "/etc/kubernetes/pki"
ETCDCTL = (f"ETCDCTL_API=3 etcdctl --endpoints=https://127.0.0.1:2379 --cacert={PKI}/etcd/ca.crt "
           f"--dial-timeout=3s --command-timeout=5s")
HEALTHCHECK = f"--cert={PKI}/etcd/healthcheck-client.crt --key={PKI}/etcd/healthcheck-client.key"
WRONG_CA = f"--cert={PKI}/apiserver-kubelet-client.crt --key={PKI}/apiserver-kubelet-client.key"

#: a TLS client on the node: prints ANSWER and the first bytes, or REFUSED and why
PROBE = """
import socket, ssl, sys
host, port, cert = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cafile="/etc/kubernetes/pki/etcd/ca.crt")
if cert:
    ctx.load_cert_chain(cert + ".crt", cert + ".key")
try:
    s = ctx.wrap_socket(socket.create_connection((host, port), 5), server_hostname="127.0.0.1")
    s.sendall(b"GET /version HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nConnection: close\\r\\n\\r\\n")
    print("ANSWER", s.recv(64))
except (ssl.SSLError, OSError) as e:
    print("REFUSED", e)
"""


def sh(lab: Lab, node: str, script: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return lab.exec(node, ["sh", "-c", script], timeout=timeout)


def etcdctl(lab: Lab, node: str, args: str, cert: str = HEALTHCHECK) -> subprocess.CompletedProcess[str]:
    return sh(lab, node, f"{ETCDCTL} {cert} {args}")


def kubeward_json(*args: str, timeout: float = 300) -> tuple[int, Any]:
    r = subprocess.run([sys.executable, "-m", "kubeward", *args], capture_output=True, text=True, timeout=timeout)
    assert r.stdout, r.stderr
    return r.returncode, json.loads(r.stdout)


def status(config: Path) -> tuple[int, dict[str, Any]]:
    return kubeward_json("etcd", "status", "-c", str(config), "-o", "json", "--connect-timeout", "2")


def cps(state: LabState) -> list[str]:
    return [n.name for n in state.nodes if n.role == "control-plane"]


def unit_identity(lab: Lab, node: str) -> str:
    return sh(lab, node, "systemctl show -p MainPID -p ActiveEnterTimestamp -p NRestarts etcd").stdout


@pytest.fixture(scope="module")
def etcd(converged: Path) -> Path:
    rc, report = up_json(converged, "--only", "etcd")
    assert rc == 0, json.dumps(report, indent=1)
    return converged


def test_a_second_up_changes_nothing_and_restarts_nothing(lab: Lab, lab_state: LabState, etcd: Path) -> None:
    names = cps(lab_state)
    before = {n: unit_identity(lab, n) for n in names}
    assert all("MainPID=0" not in b for b in before.values()), before
    rc, report = up_json(etcd, "--only", "etcd")
    assert rc == 0, json.dumps(report["hosts"], indent=1)[-3000:]
    assert all(h["changed"] == 0 for h in report["hosts"].values()), report["hosts"]
    # connect + one round-trip of facts per control plane; nothing for workers
    assert all(report["round_trips"][n] == 2 for n in names), report["round_trips"]
    assert {n: unit_identity(lab, n) for n in names} == before


def test_etcdctl_with_the_healthcheck_client_reads_and_writes_on_every_member(
        lab: Lab, lab_state: LabState, etcd: Path) -> None:
    nodes = cps(lab_state)
    for i, n in enumerate(nodes):
        r = etcdctl(lab, n, f"put /kubeward-test/from-{n} value-{i}")
        assert r.returncode == 0 and r.stdout.strip() == "OK", r.stderr
    for n in nodes:
        r = etcdctl(lab, n, "get --prefix /kubeward-test/ --print-value-only")
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == [f"value-{i}" for i in range(len(nodes))]
        health = etcdctl(lab, n, "endpoint health --cluster -w json")
        assert health.returncode == 0, health.stderr
        assert sorted(e["health"] for e in json.loads(health.stdout)) == [True] * len(nodes)
    members = json.loads(etcdctl(lab, nodes[0], "member list -w json").stdout)["members"]
    assert sorted(m["name"] for m in members) == sorted(nodes)
    assert not any(m.get("isLearner") for m in members)


def test_no_client_certificate_is_refused_in_the_tls_handshake(lab: Lab, lab_state: LabState, etcd: Path) -> None:
    cp, other = cps(lab_state)[:2]
    peer = lab_state.node(other).private_address
    r = etcdctl(lab, cp, "get /kubeward-test/from-x", cert="")
    assert r.returncode != 0
    for host, port in (("127.0.0.1", 2379), (peer, 2379), (peer, 2380)):
        out = lab.exec(cp, ["python3", "-c", PROBE, host, str(port), ""]).stdout
        assert out.startswith("REFUSED") and "certificate" in out.lower(), (host, port, out)
    ok = lab.exec(cp, ["python3", "-c", PROBE, "127.0.0.1", "2379", f"{PKI}/etcd/healthcheck-client"]).stdout
    assert ok.startswith("ANSWER b'HTTP/1.1 200"), ok


def test_a_certificate_of_the_cluster_ca_is_not_an_etcd_client(lab: Lab, lab_state: LabState, etcd: Path) -> None:
    cp, other = cps(lab_state)[:2]
    peer = lab_state.node(other).private_address
    # signed by the Kubernetes cluster CA, valid for client auth, but not by etcd's CA
    v = sh(lab, cp, f"openssl verify -CAfile {PKI}/ca.crt {PKI}/apiserver-kubelet-client.crt")
    assert v.returncode == 0, v.stdout + v.stderr
    r = etcdctl(lab, cp, "get /kubeward-test/from-x", cert=WRONG_CA)
    assert r.returncode != 0
    for host, port in (("127.0.0.1", 2379), (peer, 2379), (peer, 2380)):
        out = lab.exec(cp, ["python3", "-c", PROBE, host, str(port), f"{PKI}/apiserver-kubelet-client"]).stdout
        assert out.startswith("REFUSED"), (host, port, out)


def test_tls_below_1_2_and_cbc_suites_are_refused(lab: Lab, lab_state: LabState, etcd: Path) -> None:
    cp = cps(lab_state)[0]
    r = sh(lab, cp, "openssl s_client -connect 127.0.0.1:2379 -tls1_1 </dev/null 2>&1")
    assert "alert protocol version" in r.stdout or "no protocols available" in r.stdout, r.stdout[-400:]
    r = sh(lab, cp, "openssl s_client -connect 127.0.0.1:2379 -tls1_2 -cipher ECDHE-ECDSA-AES128-SHA </dev/null 2>&1")
    assert "handshake failure" in r.stdout, r.stdout[-400:]


def test_listeners_are_where_the_port_matrix_says(lab: Lab, lab_state: LabState, etcd: Path) -> None:
    for name in cps(lab_state):
        private = lab_state.node(name).private_address
        out = sh(lab, name, "ss -Htlnp").stdout
        bound: dict[int, set[str]] = {}
        for line in out.splitlines():
            if '"etcd"' not in line:
                continue
            addr, port = line.split()[3].rsplit(":", 1)
            bound.setdefault(int(port), set()).add(addr)
        assert bound == {2379: {private, "127.0.0.1"}, 2380: {private}, 2381: {"127.0.0.1"}}, (name, out)
    worker = next(n.name for n in lab_state.nodes if n.role == "worker")
    assert "etcd" not in sh(lab, worker, "ss -Htlnp").stdout


def test_config_and_unit_on_the_nodes(lab: Lab, lab_state: LabState, etcd: Path) -> None:
    cp = cps(lab_state)[0]
    r = sh(lab, cp, "systemctl show -p ExecStart -p User etcd; stat -c '%U:%G %a' /etc/etcd/kubeward.yaml "
                    "/var/lib/etcd; systemctl is-enabled etcd")
    assert "--config-file /etc/etcd/kubeward.yaml" in r.stdout and "User=etcd" in r.stdout
    assert "root:etcd 640" in r.stdout and "etcd:etcd 700" in r.stdout and "enabled" in r.stdout
    log = sh(lab, cp, "journalctl -u etcd -o cat --no-pager | grep -m1 'starting with client TLS'").stdout
    assert "client-cert-auth = true" in log and "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" in log


def test_status_shows_members_leader_health_size_and_version(lab_state: LabState, etcd: Path) -> None:
    rc, st = status(etcd)
    assert rc == 0, st
    assert st["healthy"] is True and st["unknown_members"] == [] and st["cluster_id"]
    names = cps(lab_state)
    assert sorted(m["host"] for m in st["members"]) == sorted(names)
    assert sum(m["leader"] for m in st["members"]) == 1 and st["leader"] in names
    for m in st["members"]:
        assert m["healthy"] and m["reachable"] and m["name"] == m["host"] and re.fullmatch(r"[0-9a-f]+", m["id"])
        assert m["version"].startswith("3.4.") and m["db_size"] > 0 and not m["learner"]


def test_a_stopped_member_leaves_a_working_cluster_and_rejoins(lab: Lab, lab_state: LabState, etcd: Path) -> None:
    names = cps(lab_state)
    victim, alive = names[-1], names[0]
    lab.stop_node(victim)
    try:
        r = etcdctl(lab, alive, "put /kubeward-test/while-down written")
        assert r.returncode == 0, r.stderr
        rc, st = status(etcd)
        assert rc == 1 and st["healthy"] is False
        by_host = {m["host"]: m for m in st["members"]}
        assert by_host[victim]["reachable"] is False and by_host[victim]["error"]
        assert all(by_host[n]["healthy"] for n in names if n != victim)
        assert st["leader"] in names and st["leader"] != victim
    finally:
        lab.start_node(victim)
    r = sh(lab, victim, f"for i in $(seq 60); do {ETCDCTL} {HEALTHCHECK} endpoint health >/dev/null 2>&1 && break; "
                        "sleep 0.5; done; " + f"{ETCDCTL} {HEALTHCHECK} get /kubeward-test/while-down "
                        "--print-value-only --consistency=s")
    assert r.stdout.strip() == "written", r.stdout + r.stderr
    rc, st = status(etcd)
    assert rc == 0 and all(m["healthy"] for m in st["members"]), st


def test_snapshot_save_and_restore_brings_a_deleted_key_back(lab: Lab, lab_state: LabState, etcd: Path,
                                                            tmp_path: Path) -> None:
    cp = cps(lab_state)[0]
    assert etcdctl(lab, cp, "put /kubeward-test/precious keep-me").returncode == 0
    snap = tmp_path / "etcd.db"
    rc, info = kubeward_json("etcd", "snapshot", "save", "-c", str(etcd), str(snap), "-o", "json")
    assert rc == 0, info
    assert snap.stat().st_size == info["bytes"] and oct(snap.stat().st_mode & 0o777) == "0o600"
    assert etcdctl(lab, cp, "del /kubeward-test/precious").stdout.strip() == "1"
    rc, res = kubeward_json("etcd", "snapshot", "restore", "-c", str(etcd), str(snap), "--yes", "-o", "json")
    assert rc == 0 and res["ok"], res
    for n in cps(lab_state):
        r = etcdctl(lab, n, "get /kubeward-test/precious --print-value-only")
        assert r.stdout.strip() == "keep-me", (n, r.stdout, r.stderr)
        assert sh(lab, n, f"test -d {res['moved_aside']}").returncode == 0
    rc, st = status(etcd)
    assert rc == 0, st


def test_restore_refuses_a_damaged_snapshot_and_asks_first(etcd: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(os.urandom(4096))
    r = subprocess.run([sys.executable, "-m", "kubeward", "etcd", "snapshot", "restore", "-c", str(etcd), str(bad),
                        "--yes"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "not an intact etcd snapshot" in r.stderr
    good = tmp_path / "good.db"
    rc, _ = kubeward_json("etcd", "snapshot", "save", "-c", str(etcd), str(good), "-o", "json")
    assert rc == 0
    r = subprocess.run([sys.executable, "-m", "kubeward", "etcd", "snapshot", "restore", "-c", str(etcd), str(good)],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 1 and "--yes" in r.stderr


def _without(config: Path, host: str) -> Path:
    """A copy of cluster.yml without one host."""
    text = config.read_text()
    out = config.with_name(f"cluster-without-{host}.yml")
    out.write_text(re.sub(rf"\n  - name: {re.escape(host)}\n(?:    .*\n|      .*\n)*", "\n", text, count=1))
    return out


def test_membership_follows_cluster_yml_and_a_second_up_restarts_nothing(
        lab: Lab, lab_state: LabState, etcd: Path) -> None:
    names = cps(lab_state)
    leaving = names[-1]
    smaller = _without(etcd, leaving)
    assert f"name: {leaving}\n" not in smaller.read_text() and f"name: {names[0]}\n" in smaller.read_text()
    # a host gone from cluster.yml leaves only when confirmed (the departures phase, implied by etcd)
    rc, report = up_json(smaller, "--only", "etcd")
    assert rc == 1 and "only when confirmed" in json.dumps(report["hosts"]), json.dumps(report["hosts"], indent=1)
    rc, report = up_json(smaller, "--only", "etcd", "--yes")
    assert rc == 0, json.dumps(report["hosts"], indent=1)[-3000:]
    changes = [c["summary"] for h in report["hosts"].values() for c in h["changes"]]
    assert any(s.startswith(f"remove etcd member {leaving}") for s in changes), changes
    assert any("use an odd number" in n for h in report["hosts"].values() for n in h["notes"])
    members = json.loads(etcdctl(lab, names[0], "member list -w json").stdout)["members"]
    assert sorted(m["name"] for m in members) == sorted(names[:-1])
    # a removed member shuts itself down
    r = sh(lab, leaving, "for i in $(seq 40); do systemctl is-active -q etcd || break; sleep 0.5; done; "
                         "systemctl is-active etcd")
    assert r.stdout.strip() in ("inactive", "failed"), r.stdout

    # back in cluster.yml: added as a learner (its old data moved aside), started, promoted
    rc, report = up_json(etcd, "--only", "etcd")
    assert rc == 0, json.dumps(report["hosts"], indent=1)[-3000:]
    summaries = [c["summary"] for c in report["hosts"][leaving]["changes"]]
    assert any(s.startswith(f"add {leaving} as an etcd learner") for s in summaries), summaries
    assert any("stale etcd data" in s for s in summaries), summaries
    members = json.loads(etcdctl(lab, names[0], "member list -w json").stdout)["members"]
    assert sorted(m["name"] for m in members) == sorted(names)
    assert not any(m.get("isLearner") for m in members)

    # converged: a whole `up` changes nothing in etcd and restarts no member
    before = {n: unit_identity(lab, n) for n in names}
    rc, report = up_json(etcd)
    assert rc == 0, json.dumps(report["hosts"], indent=1)[-3000:]
    etcd_changes = [(h, c["summary"]) for h, v in report["hosts"].items() for c in v["changes"] if c["phase"] == "etcd"]
    assert etcd_changes == []
    assert {n: unit_identity(lab, n) for n in names} == before
    rc, st = status(etcd)
    assert rc == 0, st


def test_etcd_is_reached_through_kubeward_tunnel_only(lab: Lab, lab_state: LabState, etcd: Path) -> None:
    """From the operator's machine etcd does not answer directly; through `kubeward tunnel etcd` it
    does, with kubeward's own client certificate (checked against the etcd CA, name 127.0.0.1)."""
    import socket
    import time

    from kubeward.config import load_config
    from kubeward.etcd.client import ClientCredentials, EtcdClient

    cp = next(n for n in lab_state.nodes if n.role == "control-plane")
    with pytest.raises(OSError):
        socket.create_connection((cp.public_address, 2379), timeout=2).close()
    local = 12379
    proc = subprocess.Popen([sys.executable, "-m", "kubeward", "tunnel", "-c", str(etcd), "--local-port", str(local),
                             "etcd"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", local)) == 0:
                    break
            time.sleep(0.1)
        client = EtcdClient(local, ClientCredentials.for_config(load_config(etcd).config).context())
        client.put(b"kubeward/tunnel-test", b"through-ssh")
        assert client.get(b"kubeward/tunnel-test") == b"through-ssh"
        _, members = client.member_list()
        assert len(members) == len(cps(lab_state))
        client.delete(b"kubeward/tunnel-test")
    finally:
        proc.terminate()
        proc.wait(20)
