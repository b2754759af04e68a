"""Three control planes behind every node's local API proxy. The lab starts with two; the third is
added to cluster.yml and joins with `up` while a client polls the API through a worker's local proxy
(the plan before changes on the others only what follows a new control plane; afterwards etcd has
three healthy members and every proxy three backends). With one control plane stopped, a worker
still reaches a ready API server through 127.0.0.1:6443, and `kubeward kubectl` still works
(through another control plane). A renewed API server certificate rolls out one control plane at a
time under the same poller; `pki status` reads every node's certificates. Last: `kubeward node
remove` of a control plane under the same poller (no failure longer than a few seconds), etcd left
with two members, the proxies without its backend, and a second removal that would break etcd's
quorum refused with the reason."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from kubeward.lab.lab import Lab, render_kubernetes_yml
from tests.lab.conftest import lab_config, new_lab_name, up_json, without_hosts

#: the phases in which a new control plane changes the other hosts (firewall sets, etcd membership,
#: the API servers' --etcd-servers, the node-local API proxies' backends)
FOLLOWS_NEW_CONTROL_PLANE = {"firewall", "pki", "etcd", "control-plane", "nodes"}
#: how `up` carries out a planned route to a new node's pod CIDR
POD_ROUTE_DONE = [("nodes", "update /usr/local/lib/kubeward/pod-network.sh"),
                  ("nodes", "restart kubeward-pod-network.service (its configuration changed; all hosts at once)")]
#: the worker's kubelet client certificate from its TLS bootstrap (certificate and key in one file)
READYZ = ("curl -s --max-time 5 --cacert /etc/kubernetes/pki/ca.crt "
          "--cert /var/lib/kubelet/pki/kubelet-client-current.pem https://127.0.0.1:6443/readyz")


@pytest.fixture(scope="module")
def ha_lab(kube_build: Path) -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.skip("lab tests need root")
    lb = Lab(new_lab_name("ha"))
    try:
        lb.up(4, 3)
        yield lb
    finally:
        if lb.exists() or lb.dir.exists():
            lb.down()


@pytest.fixture(scope="module")
def config(ha_lab: Lab, kube_build: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lab's cluster.yml without its third control plane, converged; cluster-all.yml beside it
    lists all four hosts (the first test adds the third control plane and makes this file that)."""
    path = lab_config(ha_lab, tmp_path_factory.mktemp("ha"))
    text = path.read_text() + render_kubernetes_yml("1.20.2", kube_build)
    path.with_name("cluster-all.yml").write_text(text)
    cp3 = [n.name for n in ha_lab.load().nodes if n.role == "control-plane"][-1]
    path.write_text(without_hosts(text, [cp3]))
    rc, report = up_json(path)
    assert rc == 0, json.dumps(report, indent=1)[-4000:]
    return path


def test_a_third_control_plane_joins_while_the_api_stays_available(ha_lab: Lab, config: Path) -> None:
    st = ha_lab.load()
    worker = next(n.name for n in st.nodes if n.role == "worker")
    cp1, cp2, cp3 = [n.name for n in st.nodes if n.role == "control-plane"]
    full = config.with_name("cluster-all.yml")
    assert set(_proxy_backends(ha_lab, worker)) == {cp1, cp2}
    # the plan: cp3's own changes, and on the others only what follows a new control plane
    r = subprocess.run([sys.executable, "-m", "kubeward", "plan", "-c", str(full), "--skip", "audit", "-o", "json"],
                       capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert r.returncode == 0 and r.stdout, r.stderr[-3000:]
    planned = {h: [(c["phase"], c["summary"]) for c in v["changes"]] for h, v in json.loads(r.stdout)["hosts"].items()}
    print("\nplan of the third control plane, on the others: " + json.dumps(
        {h: v for h, v in planned.items() if h != cp3}, indent=1))
    for h, changes in planned.items():
        if h != cp3:
            assert {p for p, _ in changes} <= FOLLOWS_NEW_CONTROL_PLANE, (h, changes)
    assert planned[cp3] and len(planned[cp3]) > len(planned[worker])

    with polling(ha_lab, worker) as polled:
        started = time.monotonic()
        rc, report = up_json(full)
        took = time.monotonic() - started
    worst, failed, polls = longest_failure(polled.log)
    print(f"up adding a control plane: {took:.1f} s; the API through {worker}'s proxy: {failed} of {polls} polls "
          f"failed, longest failure {worst:.2f} s")
    assert rc == 0, {h: (v["error"], v["notes"][-3:]) for h, v in report["hosts"].items()}
    done = {h: [(c["phase"], c["summary"]) for c in v["changes"]] for h, v in report["hosts"].items()}
    # the plan's "add a route to cp3's pod CIDR once it registers" is done as a new pod-network script and its re-run
    route = {h for h, v in planned.items() if any(p == "nodes" and f"{cp3}'s pod CIDR" in s for p, s in v)}
    unplanned = {h: [c for c in done[h] if c not in planned[h] and not (h in route and c in POD_ROUTE_DONE)]
                 for h in done if h != cp3}
    assert not any(unplanned.values()), f"up changed more than the plan listed: {unplanned}"
    assert polls > 20 and worst <= 5.0, (worst, failed)
    config.write_text(full.read_text())  # the module's next tests use the three control planes

    rc, status = kubeward_json("etcd", "status", "-c", str(config))
    assert rc == 0 and status["healthy"] and sorted(m["name"] for m in status["members"]) == [cp1, cp2, cp3], status
    deadline = time.monotonic() + 60
    while set(_proxy_backends(ha_lab, worker).values()) != {"UP"} and time.monotonic() < deadline:
        time.sleep(1)
    assert _proxy_backends(ha_lab, worker) == {cp1: "UP", cp2: "UP", cp3: "UP"}
    address = next(n.private_address for n in st.nodes if n.name == cp3)
    assert ha_lab.exec(worker, ["sh", "-c", READYZ.replace("127.0.0.1", address)]).stdout == "ok"
    nodes = json.loads(subprocess.run([sys.executable, "-m", "kubeward", "kubectl", "-c", str(config), "--", "get",
                                       "node", cp3, "-o", "json"], capture_output=True, text=True, timeout=120).stdout)
    assert any(c["type"] == "Ready" and c["status"] == "True" for c in nodes["status"]["conditions"])


def test_a_stopped_control_plane_leaves_the_api_reachable_through_the_local_proxy(ha_lab: Lab, config: Path) -> None:
    st = ha_lab.load()
    worker = next(n.name for n in st.nodes if n.role == "worker")
    first_cp = next(n.name for n in st.nodes if n.role == "control-plane")
    ok = ha_lab.exec(worker, ["sh", "-c", READYZ])
    assert ok.stdout == "ok", ok
    ha_lab.stop_node(first_cp)
    try:
        # HAProxy's health checks take the stopped one out (wait for it) ...
        deadline, rows = time.monotonic() + 60, {}
        while time.monotonic() < deadline:
            stats = ha_lab.exec(worker, ["sh", "-c", "curl -s 'http://127.0.0.1:8404/stats;csv'"]).stdout
            rows = {line.split(",")[1]: line.split(",")[17] for line in stats.splitlines()
                    if line.startswith("kube-apiservers,") and "BACKEND" not in line}
            if rows.get(first_cp, "").startswith("DOWN"):
                break
            time.sleep(0.5)
        assert rows[first_cp].startswith("DOWN") and sum(s == "UP" for s in rows.values()) == 2, rows
        # etcd elects a new leader when the stopped node held that role: the API servers' etcd
        # checks fail until then (seconds); once ready again, every request through the local proxy
        # reaches a ready API server
        recovered, r = time.monotonic() + 30, ha_lab.exec(worker, ["sh", "-c", READYZ])
        while r.stdout != "ok" and time.monotonic() < recovered:
            time.sleep(0.5)
            r = ha_lab.exec(worker, ["sh", "-c", READYZ])
        print(f"\nready through the proxy {time.monotonic() - recovered + 30:.1f} s after the proxy took "
              f"{first_cp} out")
        for _ in range(10):
            r = ha_lab.exec(worker, ["sh", "-c", READYZ])
            assert r.stdout == "ok", r
        r = subprocess.run([sys.executable, "-m", "kubeward", "kubectl", "-c", str(config), "--", "get", "ns",
                            "-o", "name"], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and "namespace/kube-system" in r.stdout, r
    finally:
        ha_lab.start_node(first_cp)


#: every 0.2 s, a request through the worker's local API proxy: time, HTTP status, seconds. /version
#: is an API request like any other (a draining API server fails /readyz on purpose, and serves the rest)
POLL = ("rm -f /tmp/kwpoll.stop /tmp/kwpoll.log; while [ ! -e /tmp/kwpoll.stop ]; do "
        "echo \"$(date +%s.%N) $(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 4 "
        "--cacert /etc/kubernetes/pki/ca.crt --cert /var/lib/kubelet/pki/kubelet-client-current.pem "
        "https://127.0.0.1:6443/version)\" >> /tmp/kwpoll.log; sleep 0.2; done")


@dataclass
class Polled:
    log: str = ""  # POLL's log, once the block is over


@contextlib.contextmanager
def polling(lab: Lab, node: str) -> Iterator[Polled]:
    """POLL on ``node`` from 2 s before the block until 2 s after it (stopped even when it fails)."""
    polled = Polled()
    poller = subprocess.Popen(lab.exec_argv(node, ["sh", "-c", POLL]), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        time.sleep(2)
        yield polled
        time.sleep(2)
    finally:
        lab.exec(node, ["touch", "/tmp/kwpoll.stop"])
        poller.wait(timeout=30)
    polled.log = lab.exec(node, ["cat", "/tmp/kwpoll.log"]).stdout


def _proxy_backends(lab: Lab, node: str) -> dict[str, str]:
    stats = lab.exec(node, ["sh", "-c", "curl -s 'http://127.0.0.1:8404/stats;csv'"]).stdout
    return {line.split(",")[1]: line.split(",")[17] for line in stats.splitlines()
            if line.startswith("kube-apiservers,") and "BACKEND" not in line}


def _served_serial(lab: Lab, node: str, address: str) -> str:
    r = lab.exec(node, ["sh", "-c", f"openssl s_client -connect {address}:6443 </dev/null 2>/dev/null "
                        "| openssl x509 -noout -serial"])
    return r.stdout.strip().removeprefix("serial=").lower().lstrip("0")


def _seconds(clock: str) -> float:
    h, m, s = clock.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def _pki(config: Path, *args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    r = subprocess.run([sys.executable, "-m", "kubeward", "pki", *args, "-c", str(config), "-o", "json"],
                       capture_output=True, text=True, timeout=900)
    assert r.stdout, r.stderr
    return r.returncode, json.loads(r.stdout)


def test_a_renewed_api_server_certificate_rolls_out_one_control_plane_at_a_time(ha_lab: Lab, config: Path) -> None:
    st = ha_lab.load()
    worker = next(n.name for n in st.nodes if n.role == "worker")
    cps = [n for n in st.nodes if n.role == "control-plane"]
    # the test before stopped and started a control plane: every API server back in the worker's proxy
    deadline = time.monotonic() + 240
    while set(_proxy_backends(ha_lab, worker).values()) != {"UP"} and time.monotonic() < deadline:
        time.sleep(1)
    assert set(_proxy_backends(ha_lab, worker).values()) == {"UP"}, _proxy_backends(ha_lab, worker)

    # pki status reads every node: the files are the state directory's, each kubelet's own two
    # certificates are there with their SANs
    rc, status = _pki(config, "status")
    assert rc == 0, json.dumps(status["hosts"], indent=1)[-3000:]
    kubelet = {(h["host"], k["name"]): k for h in status["hosts"] for k in h["kubelet"]}
    for n in st.nodes:
        serving, client = kubelet[(n.name, "kubelet-serving")], kubelet[(n.name, "kubelet-client")]
        assert serving["state"] == client["state"] == "ok", (serving, client)
        assert {n.name, n.private_address} <= set(serving["sans"]), serving
        assert f"CN=system:node:{n.name}" in serving["subject"].split(",") and "kubelet-signer" in serving["issuer"]
        assert client["sans"] == [] and client["days_left"] > 300

    # renewed locally: every control plane shows it pending
    rc, renewed = _pki(config, "renew", "apiserver")
    assert rc == 0 and renewed["rollout"]["phases"] == ["pki", "control-plane"], renewed
    rc, status = _pki(config, "status")
    pending = {h["host"]: f["state"] for h in status["hosts"] for f in h["files"] if f["name"] == "apiserver"}
    assert rc == 1 and pending == {n.name: "pending rollout" for n in cps}, pending

    # roll it out with a client polling the API through the worker's local proxy all along
    with polling(ha_lab, worker) as polled:
        rc, applied = _pki(config, "renew", "apiserver", "--apply")
    run = applied["rollout"]["run"]
    assert rc == 0 and applied["ok"], json.dumps(run, indent=1)[-4000:]
    assert run["phases"] == ["connect", "pki", "control-plane"], run["phases"]
    state = Path(re.search(r"state_dir: (\S+)", config.read_text()).group(1))  # type: ignore[union-attr]
    serial = f"{x509.load_pem_x509_certificate((state / 'pki' / 'apiserver.crt').read_bytes()).serial_number:x}"

    # every API server serves the new certificate
    for n in cps:
        assert _served_serial(ha_lab, worker, n.private_address) == serial, n.name

    # one at a time: kubeward's restart windows do not overlap, and each old process began stopping
    # only after the one before had been restarted (systemd's clocks: the nodes share this kernel)
    windows = []
    for n in cps:
        notes = [x for x in run["hosts"][n.name]["notes"] if x.startswith("control-plane: restarted kube-apiserver")]
        assert len(notes) == 1, run["hosts"][n.name]
        m = re.search(r"from (\S+) to (\S+) \((\S+) s", notes[0])
        assert m is not None, notes
        windows.append((_seconds(m.group(1)), _seconds(m.group(2)), n.name))
        shown = [c["summary"] for c in run["hosts"][n.name]["changes"]]
        assert any(s.startswith("restart kube-apiserver.service (it reads apiserver.crt") for s in shown), shown
        assert not any("kube-controller-manager" in s or "kube-scheduler" in s or "etcd" in s for s in shown), shown
    if max(w[0] for w in windows) - min(w[0] for w in windows) > 12 * 3600:  # the run crossed midnight
        windows = [(s + 86400 * (s < 12 * 3600), e + 86400 * (e < 12 * 3600), n) for s, e, n in windows]
    windows.sort()
    for (_, end, a), (start, _, b) in zip(windows, windows[1:], strict=False):
        assert end <= start, (a, end, b, start)
    times = {}
    for n in cps:
        out = ha_lab.exec(n.name, ["systemctl", "show", "-p", "ActiveExitTimestampMonotonic",
                                   "-p", "InactiveExitTimestampMonotonic", "kube-apiserver"]).stdout
        times[n.name] = {k: int(v) for k, v in (line.split("=", 1) for line in out.split())}
    order = sorted(times, key=lambda x: times[x]["ActiveExitTimestampMonotonic"])
    assert order == [w[2] for w in windows], (order, windows)
    for prev, nxt in zip(order, order[1:], strict=False):
        assert times[nxt]["ActiveExitTimestampMonotonic"] > times[prev]["InactiveExitTimestampMonotonic"], times

    # the API stayed available: no failure window (from a failed request to the next answered one)
    # longer than a few seconds; on a machine this loaded one slow request may time out (4 s)
    rows = [line.split() for line in polled.log.splitlines() if line.strip()]
    answered = [float(r[0]) for r in rows if len(r) == 3 and r[1] == "200"]
    gap = max(b - a for a, b in zip(answered, answered[1:], strict=False))
    longest, failed, polls = longest_failure(polled.log)
    print(f"\npoller: {polls} requests during the roll-out, {failed} failed, longest failure window {longest:.2f} s, "
          f"longest gap between answered requests {gap:.2f} s; restart windows "
          f"{[(n, round(e - s, 1)) for s, e, n in windows]}")
    assert polls > 50 and rows[-1][1:2] == ["200"] and longest < 6, (longest, polled.log)

    # and everything is in sync again
    rc, status = _pki(config, "status")
    assert rc == 0, [f for h in status["hosts"] for f in h["files"] if f["state"] != "in sync"]


def longest_failure(lines: str) -> tuple[float, int, int]:
    """From POLL's log: (longest time from a failed request to the next answered one, failed, requests)."""
    rows = [(float(r[0]), r[1] if len(r) == 3 else "000") for r in (line.split() for line in lines.splitlines()) if r]
    worst, since, failed = 0.0, None, 0
    for t, code in rows:
        if code != "200":
            failed += 1
            since = t if since is None else since
        elif since is not None:
            worst, since = max(worst, t - since), None
    if since is not None:
        worst = max(worst, rows[-1][0] - since)
    return worst, failed, len(rows)


def kubeward_json(*args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    r = subprocess.run([sys.executable, "-m", "kubeward", *args, "-o", "json"], capture_output=True, text=True,
                       timeout=900, stdin=subprocess.DEVNULL)
    assert r.stdout, r.stderr[-3000:]
    return r.returncode, json.loads(r.stdout)


def test_removing_a_control_plane_keeps_the_api_available_and_a_removal_that_breaks_quorum_is_refused(
        ha_lab: Lab, config: Path) -> None:
    st = ha_lab.load()
    worker = next(n.name for n in st.nodes if n.role == "worker")
    cp1, cp2, cp3 = [n.name for n in st.nodes if n.role == "control-plane"]
    # the test before stopped and started a control plane: every member healthy first
    deadline = time.monotonic() + 180
    while True:
        rc, status = kubeward_json("etcd", "status", "-c", str(config))
        if rc == 0 and status["healthy"] or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert status["healthy"], status
    with polling(ha_lab, worker) as polled:
        started = time.monotonic()
        rc, doc = kubeward_json("node", "remove", "-c", str(config), cp3, "--yes", "--edit-config")
        took = time.monotonic() - started
    worst, failed, polls = longest_failure(polled.log)
    print(f"node remove of a control plane: {took:.1f} s; the API through {worker}'s proxy: {failed} of {polls} "
          f"polls failed, longest failure {worst:.2f} s")
    assert rc == 0 and doc["ok"], json.dumps(doc, indent=1)[-4000:]
    assert doc["departure"]["etcd_member_removed"] and polls > 20
    assert worst <= 5.0, polled.log
    # --edit-config took its entry out of cluster.yml (the last test of the module: nothing else uses it)
    assert doc["config_removed_lines"].startswith(f"  - name: {cp3}\n") and doc["next"] is None
    smaller = config
    assert f"name: {cp3}\n" not in smaller.read_text() and f"name: {cp2}\n" in smaller.read_text()
    rc, status = kubeward_json("etcd", "status", "-c", str(smaller))
    assert rc == 0 and status["healthy"] and sorted(m["name"] for m in status["members"]) == [cp1, cp2], status
    assert status["unknown_members"] == []
    assert set(_proxy_backends(ha_lab, worker)) == {cp1, cp2}, _proxy_backends(ha_lab, worker)
    state = ha_lab.exec(cp3, ["sh", "-c", "for u in etcd kube-apiserver kubelet; do echo $(systemctl is-active $u) "
                                          "$(systemctl is-enabled $u); done"]).stdout.split("\n")[:3]
    assert all(s.startswith("inactive") and s.endswith("disabled") for s in state), state

    # one of the two left stopped: removing the other would leave no quorum, refused with the reason
    ha_lab.exec(cp2, ["systemctl", "stop", "etcd"])
    try:
        rc, doc = kubeward_json("node", "remove", "-c", str(smaller), cp1, "--yes")
        assert rc == 1 and not doc["ok"], doc
        assert doc["error"].startswith(f"refusing to remove {cp1}: etcd has no quorum") and \
            doc["error"].endswith(f"restore {cp2} first"), doc["error"]
        assert ha_lab.exec(cp1, ["systemctl", "is-active", "etcd", "kube-apiserver"]).stdout.split() == ["active"] * 2
    finally:
        ha_lab.exec(cp2, ["systemctl", "start", "etcd"])
