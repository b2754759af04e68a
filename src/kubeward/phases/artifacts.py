"""The artifacts phase: each node gets the Kubernetes binaries its role needs and the images.

Runs only with ``kubernetes.enabled``. ``prepare`` resolves the configured source into one verified
artifact directory on the operator (downloading a release once); per host, the facts (SHA-256 of
what is there, links, containerd's images) come from the shared prefetch, the differences from
``kubeward.artifacts.nodes`` (pure), and only differing files are streamed, each checked on the
host against the manifest before its rename. Links, removals and image imports follow in one
more round-trip.

On nodes that run Kubernetes services, a binary in place is not replaced: its new build is staged
beside it and the ``rollout`` phase installs it node by node (drained, health-gated). A change of
``kubernetes.version`` is checked against the version skew policy first, before anything is uploaded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path

from kubeward.artifacts.manifest import Manifest
from kubeward.artifacts.nodes import (
    STAGED_SUFFIX,
    NodeChanges,
    NodeFacts,
    NodePlan,
    parse_node_facts,
    plan_node_changes,
    render_finish_script,
    render_node_facts_script,
    render_node_plan,
)
from kubeward.errors import KubewardError, RemoteError
from kubeward.ops.base import Change, HostOutcome, Note, Unchanged
from kubeward.phases.base import PerHostPhase, RunContext
from kubeward.phases.rollout import render_skew_error, version_verdict
from kubeward.remote.ssh import CommandError

log = logging.getLogger("kubeward.phases")


def render_outcome(host: str, plan: NodePlan, changes: NodeChanges) -> HostOutcome:
    """The changes as the summary shows them. Pure."""
    out = HostOutcome(host)
    for f in changes.uploads:
        out.changes.append(Change(f"artifact:{f.remote}", f"upload {f.remote} ({f.size / 1e6:.1f} MB, "
                                  f"sha256 {f.sha256[:12]}...)", ""))
    for f in changes.staged:
        out.changes.append(Change(f"artifact:{f.remote}", f"stage {f.remote} ({f.size / 1e6:.1f} MB, "
                                  f"sha256 {f.sha256[:12]}...): a new build, installed by the roll-out", ""))
    for f in changes.restaged:
        out.changes.append(Change(f"artifact:{f.remote}", f"stage {f.remote} (sha256 {f.sha256[:12]}...) from the "
                                  "previous build kept on the node (no upload): installed by the roll-out", ""))
    if changes.deferred_link:
        out.notes.append(Note("artifacts:version", f"v{changes.deferred_link} is installed beside the running "
                                                   "version; the roll-out switches to it node by node"))
    for path, target in changes.links:
        out.changes.append(Change(f"link:{path}", f"link {path} -> {target}", ""))
    for path in changes.removals:
        out.changes.append(Change(f"remove:{path}", f"remove {path} (not for this node's role)", ""))
    for img in changes.imports:
        out.changes.append(Change(f"image:{img.ref}", f"import image {img.ref} into containerd (k8s.io)", ""))
    uploaded = {f.remote for f in changes.uploads} | {f.remote.removesuffix(STAGED_SUFFIX)
                                                      for f in changes.staged + changes.restaged}
    out.unchanged += [Unchanged(f"artifact:{f.remote}", "SHA-256 matches") for f in plan.files
                      if f.remote not in uploaded]
    return out


class Artifacts(PerHostPhase):
    name = "artifacts"
    title = "Install Kubernetes binaries and images"

    def __init__(self) -> None:
        self.root: Path | None = None
        self.manifest: Manifest | None = None
        self.facts: dict[str, NodeFacts] = {}

    async def prepare(self, ctx: RunContext) -> None:
        self.root = self.manifest = None
        self.facts = {}
        if not ctx.config.kubernetes.enabled:
            return
        from kubeward.artifacts.source import resolve_artifacts

        notes = ctx.notes.setdefault("(operator)", [])

        def progress(msg: str) -> None:
            log.info("artifacts: %s", msg)
            notes.append(f"artifacts: {msg}")

        self.root, self.manifest = await asyncio.to_thread(resolve_artifacts, ctx.config, "amd64", progress)

    def plan(self, ctx: RunContext, host: str) -> NodePlan | None:
        if self.manifest is None:
            return None
        return render_node_plan(self.manifest, ctx.config.host(host).role)

    def facts_script(self, ctx: RunContext, host: str) -> str | None:
        plan = self.plan(ctx, host)
        return None if plan is None else render_node_facts_script(plan)

    async def read_node_facts(self, ctx: RunContext, host: str, plan: NodePlan) -> NodeFacts:
        text = await ctx.read_facts(host, self.name, render_node_facts_script(plan), label="read artifact facts")
        return parse_node_facts(text)

    async def run_all(self, ctx: RunContext, hosts: Sequence[str]) -> dict[str, HostOutcome]:
        """Every node's facts first: a version change the skew policy refuses uploads nothing."""
        plans = {h: p for h in hosts if (p := self.plan(ctx, h)) is not None}
        if not plans or self.root is None:
            return await super().run_all(ctx, hosts)
        self.facts = {}
        failed: dict[str, HostOutcome] = {}
        for h, r in (await ctx.session.each(lambda h: self.read_node_facts(ctx, h, plans[h]), hosts)).items():
            if isinstance(r, NodeFacts):
                self.facts[h] = r
            elif isinstance(r, RemoteError):
                failed[h] = HostOutcome(h, error=str(r))
            else:
                raise r
        if failed:
            return {h: failed.get(h) or HostOutcome(h) for h in hosts}
        verdict = version_verdict(ctx, plans, self.facts)
        if not verdict.ok:
            return {h: HostOutcome(h, error=render_skew_error(verdict)) for h in hosts}
        return await super().run_all(ctx, hosts)

    async def run(self, ctx: RunContext, host: str) -> HostOutcome:
        plan = self.plan(ctx, host)
        if plan is None or self.root is None:
            return HostOutcome(host, unchanged=[Unchanged("artifacts", "kubernetes.enabled is false")])
        facts = self.facts.get(host) or await self.read_node_facts(ctx, host, plan)
        changes = plan_node_changes(plan, facts)
        outcome = render_outcome(host, plan, changes)
        outcome.notes += [Note("artifacts:images", note) for note in changes.notes]
        if not ctx.apply or changes.empty:
            return outcome
        ctx.changed_hosts.add(host)
        try:
            for f in changes.transfers:
                log.info("%s: artifacts: upload %s", host, f.remote)
                await ctx.session.upload_file(host, self.root / f.local, f.remote, sha256=f.sha256, mode=f.mode)
                outcome.applied += 1
            # stamps of the uploads, links, removals, imports: one more round-trip
            await ctx.session.run(host, render_finish_script(changes), label="link, remove and import artifacts")
            outcome.applied = len(outcome.changes)
        except CommandError as exc:
            outcome.error = (f"artifacts stopped after {outcome.applied} of {len(outcome.changes)} change(s): "
                             f"{(exc.stderr.strip() or exc.stdout.strip() or exc.reason)[-500:]}")
        except KubewardError as exc:
            outcome.error = str(exc)
        return outcome
