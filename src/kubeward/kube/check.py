"""`kubeward check`: an end-to-end smoke test of a running cluster.

In a namespace of its own (``kubeward-check-XXXXXX``, deleted afterwards even on failure) it starts
one busybox pod on every node (the image the artifacts phase imports; busybox's ``nc`` serves a
line naming the node: its ``wget`` segfaults in pods), then checks:

* every node of cluster.yml is Ready;
* every pod runs, and reaches the pod on the next node by pod IP (pod-to-pod across nodes);
* a ClusterIP Service answers from a pod on another node;
* a NodePort Service answers from a peer node (always an allowed source) and, from this machine,
  answers when this machine's address is in ``network.nodeport_sources`` and times out when not;
* ``kubectl logs`` and ``kubectl exec`` work through the API server, which verifies kubelets'
  serving certificates (``--kubelet-certificate-authority``).

:func:`render_objects` and :func:`evaluate_nodeport` are pure; :func:`run_check` does the I/O (the
API through :mod:`kubeward.kube.client`, exec and logs through kubectl on a tunnel, NodePort probes
over TCP and through SSH).
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import secrets
import shlex
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from lightkube import AsyncClient
from lightkube.models.core_v1 import Container, PodSpec, ServicePort, ServiceSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Pod, Service

from kubeward.artifacts.images import BUSYBOX_IMAGE
from kubeward.config import ClusterConfig, LoadedConfig
from kubeward.kube import client as api
from kubeward.remote.forward import Forward, Tunnel
from kubeward.remote.ssh import Session

Status = Literal["pass", "fail", "skip"]
PORT = 8080
LABEL = "kubeward.io/check"


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: Status
    detail: str


@dataclass
class CheckReport:
    namespace: str
    results: list[CheckResult] = field(default_factory=list)
    cleaned: bool = False

    @property
    def ok(self) -> bool:
        return all(r.status != "fail" for r in self.results) and self.cleaned

    def add(self, name: str, ok: bool | None, detail: str) -> None:
        self.results.append(CheckResult(name, "skip" if ok is None else "pass" if ok else "fail", detail))

    def to_json(self) -> dict[str, object]:
        return {"ok": self.ok, "namespace": self.namespace, "cleaned": self.cleaned,
                "checks": [asdict(r) for r in self.results]}


# ----- pure ----------------------------------------------------------------------------------------


def pod_name(node: str) -> str:
    return f"probe-{node}"[:63]


def render_objects(namespace: str, nodes: list[str]) -> list[object]:
    """The namespace, one pod pinned to each node (serving ``kubeward-check <node>`` on 8080), a
    ClusterIP and a NodePort Service for the first node's pod."""
    meta = {"app.kubernetes.io/managed-by": "kubeward"}
    objs: list[object] = [Namespace(metadata=ObjectMeta(name=namespace, labels=meta))]
    for n in nodes:
        serve = f"while true; do echo kubeward-check {n} | nc -l -p {PORT}; done"
        objs.append(Pod(
            metadata=ObjectMeta(name=pod_name(n), namespace=namespace, labels={**meta, LABEL: pod_name(n)}),
            # the probes need no API access: no service-account token in them
            spec=PodSpec(nodeName=n, terminationGracePeriodSeconds=1, automountServiceAccountToken=False,
                         containers=[Container(
                name="probe", image=BUSYBOX_IMAGE.ref, imagePullPolicy="Never",
                command=["sh", "-c", f"echo kubeward-check started on {n}; {serve}"])])))
    target = {LABEL: pod_name(nodes[0])}
    objs.append(Service(metadata=ObjectMeta(name="clusterip", namespace=namespace, labels=meta),
                        spec=ServiceSpec(selector=target, ports=[ServicePort(port=80, targetPort=PORT)])))
    objs.append(Service(metadata=ObjectMeta(name="nodeport", namespace=namespace, labels=meta),
                        spec=ServiceSpec(type="NodePort", selector=target, ports=[ServicePort(port=80, targetPort=PORT)])))
    return objs


def operator_allowed(config: ClusterConfig, operator: str) -> bool | None:
    """Whether ``network.nodeport_sources`` admits this machine (None: its address is unknown)."""
    try:
        ip = ipaddress.ip_address(operator)
    except ValueError:
        return None
    return any(ip in net for net in config.network.nodeport_sources if net.version == ip.version)


# ----- I/O -----------------------------------------------------------------------------------------


def local_address_towards(address: str) -> str:
    """This machine's source address towards ``address`` (a UDP connect sends nothing)."""
    import socket

    try:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.connect((address, 9))
            return str(s.getsockname()[0])
    except OSError:
        return ""


async def _kubectl(kubectl: str, kubeconfig: Path, *args: str, timeout: float = 30) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(kubectl, *args, env={**os.environ, "KUBECONFIG": str(kubeconfig)},
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        return 124, "timed out"
    return proc.returncode or 0, out.decode(errors="replace").strip()


async def _tcp_line(host: str, port: int, timeout: float = 5) -> str:
    """The first line a TCP server sends, or '' on a timeout/refusal."""
    try:
        r, w = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        try:
            line = await asyncio.wait_for(r.readline(), timeout)
        finally:
            w.close()
        return line.decode(errors="replace").strip()
    except (TimeoutError, OSError):
        return ""


async def _until_answered(probe: Callable[[], Awaitable[str]], tries: int = 4, pause: float = 2) -> tuple[str, int]:
    """Run ``probe`` until it returns the probe pods' banner, at most ``tries`` times; the last answer and
    how many tries it took."""
    got = ""
    for attempt in range(1, tries + 1):
        got = await probe()
        if got.startswith("kubeward-check") or attempt == tries:
            return got, attempt
        await asyncio.sleep(pause)
    return got, tries


async def run_check(loaded: LoadedConfig, session: Session, kubectl: str, node: str,
                    write_kubeconfig: Callable[[int], Path], progress: Callable[[str], None]) -> CheckReport:
    """Everything of the module docstring, through the API server of control plane ``node``."""
    config = loaded.config
    ns = f"kubeward-check-{secrets.token_hex(3)}"
    report = CheckReport(ns)
    names = [h.name for h in config.hosts]
    host = config.host(node)
    fwd = Forward("api", str(host.private_address), config.network.api_port)
    tun = Tunnel(session, node, [fwd], lambda m: progress(f"tunnel: {m}"))
    await tun.start()
    kubeconfig = write_kubeconfig(fwd.local_port)
    try:
        async with api.api_client(session, config, loaded.state_dir, node, "cluster-admin") as client:
            nodes = {n.name: n for n in await api.read_nodes(client)}
            not_ready = [n for n in names if not (n in nodes and nodes[n].ready)]
            report.add("nodes-ready", not not_ready, f"{len(names) - len(not_ready)}/{len(names)} Ready"
                       + (f"; not Ready: {', '.join(not_ready)}" if not_ready else ""))
            try:
                await _exercise(config, session, client, kubectl, kubeconfig, ns, names, report, progress)
            finally:
                progress(f"deleting namespace {ns}")
                await api.delete_namespace(client, ns)
                deadline = time.monotonic() + 300
                while time.monotonic() < deadline and await api.namespace_exists(client, ns):
                    await asyncio.sleep(1)
                report.cleaned = not await api.namespace_exists(client, ns)
                report.add("cleanup", report.cleaned, f"namespace {ns} " + ("deleted" if report.cleaned else
                                                                             "still terminating"))
    finally:
        kubeconfig.unlink(missing_ok=True)
        await tun.close()
    return report


async def _exercise(config: ClusterConfig, session: Session, client: AsyncClient, kubectl: str, kubeconfig: Path,
                    ns: str, names: list[str], report: CheckReport, progress: Callable[[str], None]) -> None:
    progress(f"creating a busybox pod on each of {len(names)} nodes in {ns}")
    objs = render_objects(ns, names)
    await api.create_objects(client, objs[:1])
    # the namespace's default ServiceAccount appears a moment after the namespace; pods wait for it
    deadline = time.monotonic() + 60
    while not await api.service_account_exists(client, ns, "default") and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    await api.create_objects(client, objs[1:])
    deadline = time.monotonic() + 180
    pods: dict[str, api.PodState] = {}
    while time.monotonic() < deadline:
        pods = {p.node: p for p in await api.read_pods(client, ns)}
        if all(pods.get(n) and pods[n].phase == "Running" and pods[n].ip for n in names):
            break
        await asyncio.sleep(1)
    running = [n for n in names if pods.get(n) and pods[n].phase == "Running"]
    report.add("pod-on-every-node", len(running) == len(names),
               f"{len(running)}/{len(names)} running" + "".join(f"; {n}: {pods[n].phase if n in pods else 'absent'}"
                                                                for n in names if n not in running))
    if len(running) < 2 and len(names) > 1:
        return
    # pod -> pod on the next node, by pod IP
    failures = []
    for i, n in enumerate(running):
        peer = running[(i + 1) % len(running)]
        rc, out = await _kubectl(kubectl, kubeconfig, "exec", "-n", ns, pod_name(n), "--", "sh", "-c",
                                 f"echo | nc -w 3 {shlex.quote(pods[peer].ip)} {PORT}")
        if f"kubeward-check {peer}" not in out:
            failures.append(f"{n} -> {peer} ({pods[peer].ip}): {out[-120:] or rc}")
    report.add("pod-to-pod", not failures, "; ".join(failures) or
               f"{len(running)} pods reached the pod on the next node by pod IP")
    _, node_port = await api.read_service(client, ns, "nodeport")
    svc_ip, _ = await api.read_service(client, ns, "clusterip")
    src = running[1 % len(running)]
    rc, out = await _kubectl(kubectl, kubeconfig, "exec", "-n", ns, pod_name(src), "--", "sh", "-c",
                             f"echo | nc -w 3 {svc_ip} 80")
    report.add("clusterip-service", f"kubeward-check {names[0]}" in out,
               f"{svc_ip}:80 from the pod on {src}: {out[-120:] or rc}")
    # NodePort: from a peer node (nodes are always allowed) and from this machine. kube-proxy programs
    # a new Service's rules asynchronously and the busybox server restarts between connections, so a
    # path that must answer gets a few tries; a path that must not answer is probed once (a timeout).
    target, peer_node = config.host(names[-1]), config.host(names[0])
    probe = (f"python3 -c 'import socket; s=socket.create_connection((\"{target.private_address}\", {node_port}), 5); "
             f"print(s.recv(100).decode().strip())'")

    async def from_peer() -> str:
        try:
            return (await session.run(peer_node.name, probe, label="NodePort from a peer", timeout=20)).stdout.strip()
        except Exception as exc:  # noqa: BLE001 - a failed probe is this check's failure
            return f"error: {str(exc)[-200:]}"

    got, tries = await _until_answered(from_peer)
    report.add("nodeport-from-node", got.startswith("kubeward-check"),
               f"{peer_node.name} -> {target.private_address}:{node_port}: {got[-120:] or 'no answer'}"
               + (f" ({tries} tries)" if tries > 1 else ""))
    operator = local_address_towards(str(target.address))
    allowed = operator_allowed(config, operator)
    if allowed is None:
        report.add("nodeport-from-operator", None, f"this machine's address is unknown ({operator!r})")
    else:
        if allowed:
            line, tries = await _until_answered(lambda: _tcp_line(str(target.address), node_port))
        else:
            line, tries = await _tcp_line(str(target.address), node_port), 1
        answered = line.startswith("kubeward-check")
        report.add("nodeport-allowed-source" if allowed else "nodeport-disallowed-source", answered == allowed,
                   f"{operator} -> {target.address}:{node_port} "
                   f"({'in' if allowed else 'not in'} network.nodeport_sources): "
                   + ("answered" if answered else "no answer (timed out or refused)")
                   + (f" ({tries} tries)" if tries > 1 else ""))
    # logs and exec through the API server (which verifies each kubelet's serving certificate)
    log_fail, exec_fail = [], []
    for n in running:
        rc, out = await _kubectl(kubectl, kubeconfig, "logs", "-n", ns, pod_name(n))
        if f"kubeward-check started on {n}" not in out:
            log_fail.append(f"{n}: {out[-160:]}")
        rc, out = await _kubectl(kubectl, kubeconfig, "exec", "-n", ns, pod_name(n), "--", "echo", f"exec-{n}")
        if out.strip() != f"exec-{n}":
            exec_fail.append(f"{n}: {out[-160:]}")
    report.add("kubectl-logs", not log_fail, "; ".join(log_fail) or f"logs of {len(running)} pods")
    report.add("kubectl-exec", not exec_fail, "; ".join(exec_fail) or f"exec in {len(running)} pods")
