"""Two phases that make hosts Kubernetes nodes (only with ``kubernetes.enabled``).

``containerd`` (before ``artifacts``, so the images are imported, not just staged): containerd, runc
and the CNI plugins from Debian, configured for this node (cgroup driver, OOM-score restriction:
facts of the node, see :mod:`kubeward.components.node`).

``nodes`` (after ``control-plane``):

1. read every node's facts (component files, node traits, whether the kubelet already holds a
   client certificate of its own);
2. for each node that has none: a fresh bootstrap token (15 minutes) as a kube-system Secret, and a
   bootstrap kubeconfig (0600) with it on that node only;
3. kubelet and kube-proxy: files, units, start, health;
4. once every node is registered: each node's pod CIDR is the one the controller-manager allocated
   (``Node.spec.podCIDR``: one owner, stable as nodes come and go), the CNI conflist and the
   pod-network script (routes to every other node's pod CIDR, one masquerade rule) on every node;
   a node added or removed changes every node's script, which is re-run (a Node of a host gone
   from cluster.yml was drained and deleted by the departures phase before);
5. the tokens of nodes that joined are deleted (and their bootstrap kubeconfigs removed);
6. pending ``kubernetes.io/kubelet-serving`` CSRs are approved or denied by the strict policy
   (:mod:`kubeward.kube.csr_policy`), waiting until every node has a serving certificate;
7. the phase ends once every node is Ready.

Under ``plan`` nothing is created: the token and CSR steps are shown as changes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from lightkube import AsyncClient

from kubeward.components.node import (
    KUBELET_BOOTSTRAP_KUBECONFIG,
    KUBELET_UNIT,
    POD_NETWORK_UNIT,
    TRAITS_FACT,
    NodeContext,
    NodeTraits,
    containerd_component,
    kube_proxy_component,
    kubelet_component,
    parse_node_traits,
    pod_network_component,
    pod_routes,
)
from kubeward.components.plan import HostWork, plan_work
from kubeward.components.spec import Component
from kubeward.components.version import Version
from kubeward.config import ClusterConfig
from kubeward.kube import client as api
from kubeward.kube.client import api_client
from kubeward.kube.csr_policy import NODE_PREFIX, SERVING_SIGNER, Decision, HostIdentity, decide_pending, host_identity
from kubeward.ops.base import Change, HostOutcome, Unchanged
from kubeward.phases.base import RunContext
from kubeward.phases.component import ComponentPhase
from kubeward.pki.kubeconfig import ClientCertData, render_kubeconfig, render_kubelet_bootstrap_kubeconfig
from kubeward.pki.nodes import KUBELET_PKI_DIR
from kubeward.pki.store import PkiStore
from kubeward.pki.tokens import NODE_BOOTSTRAP_TTL, BootstrapToken, new_bootstrap_token

log = logging.getLogger("kubeward.phases")

TRAITS = "node-traits"
JOINED = "kubelet-joined"
JOINED_FACT = f"[ -s {KUBELET_PKI_DIR}/kubelet-client-current.pem ] && echo yes || echo no"
#: whether the kubelet already holds a serving certificate: only kubelets without one are waited for
#: (approved CSRs are deleted by the controller-manager an hour later, so their absence means nothing)
SERVING = "kubelet-serving"
SERVING_FACT = f"[ -s {KUBELET_PKI_DIR}/kubelet-server-current.pem ] && echo yes || echo no"
LOCAL_API = "https://127.0.0.1:6443"
#: how long `up` waits for kubelets to register with a pod CIDR, and for serving CSRs
REGISTER_TIMEOUT = 180.0
CSR_TIMEOUT = 90.0
READY_TIMEOUT = 120.0


def node_context(config: ClusterConfig, host: str, traits: NodeTraits) -> NodeContext:
    h = config.host(host)
    assert config.kubernetes.version is not None
    return NodeContext(Version.parse(config.kubernetes.version), h.name, str(h.address), str(h.private_address),
                       str(config.network.pod_cidr), str(config.network.service_cidr), traits)


def inventory(config: ClusterConfig) -> dict[str, HostIdentity]:
    """Every host's name and addresses from cluster.yml: what a serving certificate may name."""
    return {h.name: host_identity(h.name, [str(h.address), str(h.private_address)]) for h in config.hosts}


class _TraitsPhase(ComponentPhase):
    """Components rendered from node traits that are facts themselves: facts are read with default
    traits (file facts depend on paths only), then the components are rendered again."""

    def __init__(self) -> None:
        self.traits: dict[str, NodeTraits] = {}

    def enabled(self, ctx: RunContext) -> bool:
        return bool(ctx.config.kubernetes.enabled and ctx.config.kubernetes.version)

    def ctx_for(self, ctx: RunContext, host: str) -> NodeContext:
        return node_context(ctx.config, host, self.traits.get(host, NodeTraits()))

    def learn_traits(self, facts: dict[str, dict[str, str]]) -> None:
        for h, f in facts.items():
            self.traits[h] = parse_node_traits(f.get(TRAITS, ""))


class Containerd(_TraitsPhase):
    name = "containerd"
    title = "Run containerd"

    def components(self, ctx: RunContext, host: str) -> list[Component]:
        if not self.enabled(ctx):
            return []
        c = containerd_component(self.ctx_for(ctx, host))
        c.extra_facts[TRAITS] = TRAITS_FACT
        return [c]

    async def run_all(self, ctx: RunContext, hosts: Sequence[str]) -> dict[str, HostOutcome]:
        if not self.enabled(ctx):
            return {h: HostOutcome(h, unchanged=[Unchanged("containerd", "kubernetes.enabled is off")]) for h in hosts}
        out = {h: HostOutcome(h) for h in hosts}
        facts = await self.read_all(ctx, hosts, out)
        self.learn_traits(facts)
        works = {h: [plan_work(c, f) for c in self.components(ctx, h)] for h, f in facts.items()}
        for h, w in works.items():
            self.record(out[h], w)
        if any(o.error for o in out.values()) or not ctx.apply:
            return out
        await asyncio.gather(*(self.apply_work(ctx, h, w, out[h], "apply containerd") for h, w in works.items()))
        due = {h: w.component for h, ws in works.items() for w in ws if w.needs_restart and not out[h].error}
        await self.restart(ctx, due, out)
        return out


class Nodes(_TraitsPhase):
    name = "nodes"
    title = "Join kubelets, run kube-proxy and the pod network"

    def __init__(self) -> None:
        super().__init__()
        self.bootstrap: dict[str, str] = {}  # host -> bootstrap kubeconfig (only for hosts joining now)
        self.pod_cidrs: dict[str, str] = {}
        self.ca_pem = b""
        self.proxy_kubeconfig = ""

    async def prepare(self, ctx: RunContext) -> None:
        if not self.enabled(ctx):
            return
        store = PkiStore.for_config(ctx.config)
        self.ca_pem = store.read_bytes("ca.crt")
        self.proxy_kubeconfig = render_kubeconfig(
            cluster_name=ctx.config.name, server=LOCAL_API, ca_pem=self.ca_pem, user="system:kube-proxy",
            credentials=ClientCertData(store.read_bytes("kube-proxy.crt"), store.read_bytes("kube-proxy.key")))

    def components(self, ctx: RunContext, host: str) -> list[Component]:
        if not self.enabled(ctx):
            return []
        nctx = self.ctx_for(ctx, host)
        kubelet = kubelet_component(nctx, self.bootstrap.get(host))
        kubelet.extra_facts.update({TRAITS: TRAITS_FACT, JOINED: JOINED_FACT, SERVING: SERVING_FACT})
        routes = pod_routes(host, self.pod_cidrs, {h.name: str(h.private_address) for h in ctx.config.hosts})
        return [kubelet, kube_proxy_component(nctx, self.proxy_kubeconfig),
                pod_network_component(str(ctx.config.network.pod_cidr), self.pod_cidrs.get(host, "0.0.0.0/32"),
                                      routes)]

    def first_control_plane(self, ctx: RunContext) -> str:
        return ctx.config.control_planes[0].name

    async def run_all(self, ctx: RunContext, hosts: Sequence[str]) -> dict[str, HostOutcome]:
        if not self.enabled(ctx):
            return {h: HostOutcome(h, unchanged=[Unchanged("nodes", "kubernetes.enabled is off")]) for h in hosts}
        out = {h: HostOutcome(h) for h in hosts}
        facts = await self.read_all(ctx, hosts, out)
        if any(o.error for o in out.values()):
            return out
        self.learn_traits(facts)
        joining = [h for h, f in facts.items() if f.get(JOINED, "").strip() != "yes"]
        cp = self.first_control_plane(ctx)
        if not ctx.apply:
            for h in joining:
                out[h].changes.append(Change("bootstrap-token", f"create a bootstrap token for {h} (expires in "
                                             f"{int(NODE_BOOTSTRAP_TTL.total_seconds() // 60)} minutes) and its "
                                             "bootstrap kubeconfig (0600)", ""))
            for h, f in facts.items():
                self.record(out[h], [plan_work(c, f) for c in self.components(ctx, h)[:2]])
            await self._plan_pod_network(ctx, facts, out)
            return out
        try:
            async with api_client(ctx.session, ctx.config, ctx.loaded.state_dir, cp, "cluster-admin") as client:
                await self._converge(ctx, client, facts, joining, out)
        except Exception as exc:  # noqa: BLE001 - an API failure is reported on the control plane's row
            log.exception("nodes phase")
            out[cp].error = out[cp].error or f"nodes: {exc}"
        return out

    async def _plan_pod_network(self, ctx: RunContext, facts: dict[str, dict[str, str]],
                                out: dict[str, HostOutcome]) -> None:
        """Under plan: the pod network of the registered nodes as it would be (a Node gone from
        cluster.yml drops its route, shown as a diff), and the route every node gets to a node that
        joins (its pod CIDR is allocated when it registers). Without an API server yet, nothing."""
        wanted = {h.name for h in ctx.config.hosts}
        try:
            async with api_client(ctx.session, ctx.config, ctx.loaded.state_dir, self.first_control_plane(ctx),
                                  "cluster-admin") as client:
                nodes = await api.read_nodes(client)
        except Exception as exc:  # noqa: BLE001 - a new cluster has no API server: nothing registered yet
            log.info("nodes (plan): no Nodes read: %s", exc)
            return
        self.pod_cidrs = {n.name: n.pod_cidr for n in nodes if n.name in wanted and n.pod_cidr}
        new = sorted(wanted - set(self.pod_cidrs))
        private = {h.name: str(h.private_address) for h in ctx.config.hosts}
        registered = {n.name for n in nodes}
        for h, f in facts.items():
            kubelet = plan_work(self.components(ctx, h)[0], f)
            if h not in registered and f.get(JOINED, "").strip() == "yes" and kubelet.state.running \
                    and not kubelet.needs_restart:
                out[h].changes.append(Change(f"service:{KUBELET_UNIT}", f"restart {KUBELET_UNIT}: it runs but its "
                                             "Node is gone (deleted while it ran); a restart registers it again", ""))
            if h not in self.pod_cidrs:
                out[h].changes.append(Change("pod-network", f"the CNI configuration for {h}'s pod CIDR (allocated when "
                                             f"it registers) and routes to {len(self.pod_cidrs)} node(s)", ""))
                continue
            self.record(out[h], [plan_work(self.components(ctx, h)[2], f)])
            out[h].changes += [Change("pod-network", f"add a route to {n}'s pod CIDR via {private[n]} once it "
                                      f"registers (re-run {POD_NETWORK_UNIT})", "") for n in new if n != h]

    async def _converge(self, ctx: RunContext, client: AsyncClient, facts: dict[str, dict[str, str]], joining: list[str],
                        out: dict[str, HostOutcome]) -> None:
        now = datetime.now(UTC)
        tokens: dict[str, BootstrapToken] = {}
        for h in joining:
            tokens[h] = new_bootstrap_token(now, NODE_BOOTSTRAP_TTL)
            await api.create_bootstrap_token(client, tokens[h], h)
            self.bootstrap[h] = render_kubelet_bootstrap_kubeconfig(ctx.config, self.ca_pem, tokens[h], server=LOCAL_API)
            # a fresh token is always written (whatever an earlier, failed join left there)
            facts[h][f"file:{KUBELET_BOOTSTRAP_KUBECONFIG}"] = "absent"
            out[h].changes.append(Change("bootstrap-token", f"bootstrap token {tokens[h].id} for {h} "
                                         f"(expires {tokens[h].expires:%H:%M:%S} UTC)", ""))
        # kubelet and kube-proxy (the pod network waits for the pod CIDRs)
        works: dict[str, list[HostWork]] = {}
        for h, f in facts.items():
            works[h] = [plan_work(c, f) for c in self.components(ctx, h)[:2]]
            self.record(out[h], works[h])
        if any(o.error for o in out.values()):
            return
        ok = await asyncio.gather(*(self.apply_work(ctx, h, w, out[h], "apply kubelet and kube-proxy")
                                    for h, w in works.items()))
        if not all(ok):
            return
        for name in ("kubelet", "kube-proxy"):
            due = {h: w.component for h, ws in works.items() for w in ws if w.component.name == name and w.needs_restart}
            if not await self.restart(ctx, due, out):
                return
        # a kubelet registers its Node when it starts, not again: one that kept running while its
        # Node was deleted (its host left cluster.yml and came back) is restarted to register anew
        registered = {n.name for n in await api.read_nodes(client)}
        touched = {h for h, ws in works.items() for w in ws if w.component.name == "kubelet" and (w.start or w.needs_restart)}
        lost = {h: w.component for h, ws in works.items() for w in ws if w.component.name == "kubelet"
                and h not in registered and h not in touched and h not in joining and w.state.running}
        for h, c in lost.items():
            out[h].changes.append(Change(f"service:{c.unit}", f"restart {c.unit}: it runs but its Node is gone "
                                         "(deleted while it ran); a restart registers it again", ""))
        if not await self.restart(ctx, lost, out):
            return
        # every node registered, with the pod CIDR the controller-manager gave it
        wanted = {h.name for h in ctx.config.hosts}
        deadline = time.monotonic() + REGISTER_TIMEOUT
        while True:
            nodes = {n.name: n for n in await api.read_nodes(client)}
            self.pod_cidrs = {n: s.pod_cidr for n, s in nodes.items() if n in wanted and s.pod_cidr}
            if set(self.pod_cidrs) >= wanted or time.monotonic() > deadline:
                break
            await asyncio.sleep(1)
        # a Node of a host gone from cluster.yml: the departures phase drains and deletes it (after a
        # confirmation); one still here was not seen then (the API did not answer) or came back. Its
        # route is left out of every node's pod-network script below either way.
        cp = self.first_control_plane(ctx)
        for gone in sorted(set(nodes) - wanted):
            ctx.notes.setdefault(cp, []).append(f"nodes: Node {gone} is not in cluster.yml: the next `kubeward up` "
                                                "drains and deletes it (after a confirmation)")
        for h in sorted(wanted - set(self.pod_cidrs)):
            if h in out:
                out[h].error = f"{h} did not register with a pod CIDR within {REGISTER_TIMEOUT:.0f} s (journalctl -u kubelet)"
        if any(o.error for o in out.values()):
            return
        # the pod network on every node (routes change everywhere when a node comes or goes)
        pod_works = {h: [plan_work(self.components(ctx, h)[2], f)] for h, f in facts.items()}
        for h, w in pod_works.items():
            self.record(out[h], w)
        ok = await asyncio.gather(*(self.apply_work(ctx, h, w, out[h], "apply the pod network")
                                    for h, w in pod_works.items()))
        due = {h: w.component for h, ws in pod_works.items() for w in ws if w.needs_restart}
        if not all(ok) or not await self.restart(ctx, due, out):
            return
        await self._delete_tokens(ctx, client, set(nodes), out)
        serving = {h for h, f in facts.items() if f.get(SERVING, "").strip() == "yes" and h not in joining}
        await self._approve_serving(ctx, client, out, serving)
        # the phase's health gate: every node Ready (the kubelet sees the CNI config within seconds)
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            ready = {n.name for n in await api.read_nodes(client) if n.ready}
            if wanted <= ready or time.monotonic() > deadline:
                break
            await asyncio.sleep(1)
        for h in sorted(wanted - ready):
            if h in out:
                out[h].error = f"{h} is not Ready {READY_TIMEOUT:.0f} s after its pod network was configured " \
                               "(journalctl -u kubelet -u containerd)"

    async def _delete_tokens(self, ctx: RunContext, client: AsyncClient, registered: set[str],
                             out: dict[str, HostOutcome]) -> None:
        """A token is deleted once its node holds a client certificate (it registered with it)."""
        for secret, node in (await api.list_bootstrap_tokens(client)).items():
            if node and node in registered:
                await api.delete_bootstrap_token(client, secret)
                if node in out:
                    out[node].changes.append(Change("bootstrap-token", f"delete {secret} ({node} joined)", ""))
        joined = [h for h in registered if h in out and h in self.bootstrap]
        await asyncio.gather(*(ctx.session.run(h, f"rm -f {KUBELET_BOOTSTRAP_KUBECONFIG}",
                                               label="remove the used bootstrap kubeconfig") for h in joined))

    async def _approve_serving(self, ctx: RunContext, client: AsyncClient, out: dict[str, HostOutcome],
                               serving: set[str]) -> None:
        """Decide pending serving CSRs; wait for the kubelets of this run that hold no serving
        certificate yet (``serving``: those that do) until one of theirs is approved."""
        inv = inventory(ctx.config)
        deadline = time.monotonic() + CSR_TIMEOUT
        served: set[str] = set(serving) | (set(inv) - set(out))
        while True:
            csrs = await api.list_csrs(client)
            for d in decide_pending(csrs, inv):
                await api.decide_csr(client, d.csr, d.approve, d.reason)
                record_decision(out, d)
                if d.approve:
                    served.add(d.node)
            served |= {c.username[len(NODE_PREFIX):] for c in csrs if c.signer == SERVING_SIGNER
                       and c.state == "Approved" and c.username.startswith(NODE_PREFIX)}
            if set(inv) <= served or time.monotonic() > deadline:
                for h in sorted(set(inv) - served):
                    if h in out:
                        ctx.notes.setdefault(h, []).append(
                            "no serving CSR of this kubelet was approved yet: run `kubeward csr list`")
                return
            await asyncio.sleep(2)


def record_decision(out: dict[str, HostOutcome], d: Decision) -> None:
    what = "approve" if d.approve else "deny"
    target = out.get(d.node) or next(iter(out.values()))
    target.changes.append(Change(f"csr:{d.csr}", f"{what} serving CSR {d.csr}: {d.reason}", ""))
    (log.info if d.approve else log.warning)("serving CSR %s %sd: %s", d.csr, what, d.reason)
