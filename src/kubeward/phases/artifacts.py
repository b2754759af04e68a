"""The artifacts phase: each node gets the Kubernetes binaries its role needs and the images.

Runs only with ``kubernetes.enabled``. ``prepare`` resolves the configured source into one verified
artifact directory on the operator (downloading a release once); per host, the facts (SHA-256 of
what is there, links, containerd's images) come from the shared prefetch, the differences from
``kubeward.artifacts.nodes`` (pure), and only differing files are streamed, each checked on the
host against the manifest before its rename. Links, removals and image imports follow in one
more round-trip.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from kubeward.artifacts.manifest import Manifest
from kubeward.artifacts.nodes import (
    NodeChanges,
    NodePlan,
    parse_node_facts,
    plan_node_changes,
    render_finish_script,
    render_node_facts_script,
    render_node_plan,
)
from kubeward.errors import KubewardError
from kubeward.ops.base import Change, HostOutcome, Note, Unchanged
from kubeward.phases.base import PerHostPhase, RunContext
from kubeward.remote.ssh import CommandError

log = logging.getLogger("kubeward.phases")


def render_outcome(host: str, plan: NodePlan, changes: NodeChanges) -> HostOutcome:
    """The changes as the summary shows them. Pure."""
    out = HostOutcome(host)
    for f in changes.uploads:
        out.changes.append(Change(f"artifact:{f.remote}", f"upload {f.remote} ({f.size / 1e6:.1f} MB, "
                                  f"sha256 {f.sha256[:12]}...)", ""))
    for path, target in changes.links:
        out.changes.append(Change(f"link:{path}", f"link {path} -> {target}", ""))
    for path in changes.removals:
        out.changes.append(Change(f"remove:{path}", f"remove {path} (not for this node's role)", ""))
    for img in changes.imports:
        out.changes.append(Change(f"image:{img.ref}", f"import image {img.ref} into containerd (k8s.io)", ""))
    uploaded = {f.remote for f in changes.uploads}
    out.unchanged += [Unchanged(f"artifact:{f.remote}", "SHA-256 matches") for f in plan.files
                      if f.remote not in uploaded]
    return out


class Artifacts(PerHostPhase):
    name = "artifacts"
    title = "Install Kubernetes binaries and images"

    def __init__(self) -> None:
        self.root: Path | None = None
        self.manifest: Manifest | None = None

    async def prepare(self, ctx: RunContext) -> None:
        self.root = self.manifest = None
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

    async def run(self, ctx: RunContext, host: str) -> HostOutcome:
        plan = self.plan(ctx, host)
        if plan is None or self.root is None:
            return HostOutcome(host, unchanged=[Unchanged("artifacts", "kubernetes.enabled is false")])
        text = await ctx.read_facts(host, self.name, render_node_facts_script(plan), label="read artifact facts")
        changes = plan_node_changes(plan, parse_node_facts(text))
        outcome = render_outcome(host, plan, changes)
        outcome.notes += [Note("artifacts:images", note) for note in changes.notes]
        if not ctx.apply or changes.empty:
            return outcome
        ctx.changed_hosts.add(host)
        try:
            for f in changes.uploads:
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
