"""What a node gets, what it has, and what to change: pure (the artifacts phase does the I/O).

A node gets only the binaries its role needs, in a versioned directory with a stable link::

    /opt/kubeward/kubernetes/v1.20.2/bin/<binary>     root:root 0755, SHA-256 from the manifest
    /opt/kubeward/kubernetes/current -> v1.20.2
    /usr/local/bin/<binary> -> /opt/kubeward/kubernetes/current/bin/<binary>
    /opt/kubeward/kubernetes/images/<name>.tar        staged, then imported into containerd (k8s.io)

Facts are one shell script printing one line per thing (``file PATH SHA|-``, ``link PATH TARGET|-``,
``present PATH``, ``ctr yes|no|down``, ``image REF``); ``parse_node_facts`` reads them back and
``plan_node_changes`` compares them with ``render_node_plan``.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from kubeward.artifacts.manifest import Manifest

INSTALL_ROOT = "/opt/kubeward/kubernetes"
LINK_DIR = "/usr/local/bin"
IMAGE_DIR = f"{INSTALL_ROOT}/images"
#: per file: "size mtime inode sha256" recorded right after a verified upload
STAMP_DIR = "/var/lib/kubeward/artifact-sums"

WORKER_BINARIES = ("kubelet", "kube-proxy")
CONTROL_PLANE_BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
#: role -> binaries it gets (a table, not branches)
ROLE_BINARIES: dict[str, tuple[str, ...]] = {
    "worker": WORKER_BINARIES,
    "control-plane": WORKER_BINARIES + CONTROL_PLANE_BINARIES,
}
ALL_BINARIES = WORKER_BINARIES + CONTROL_PLANE_BINARIES


@dataclass(frozen=True)
class NodeFile:
    remote: str
    local: str  # path relative to the artifact directory
    sha256: str
    size: int
    mode: int = 0o755


@dataclass(frozen=True)
class NodeImage:
    ref: str
    file: NodeFile


@dataclass(frozen=True)
class NodePlan:
    version: str
    binaries: tuple[NodeFile, ...]
    links: tuple[tuple[str, str], ...]  # (path, target)
    images: tuple[NodeImage, ...]

    @property
    def files(self) -> tuple[NodeFile, ...]:
        return self.binaries + tuple(i.file for i in self.images)


@dataclass
class NodeFacts:
    sums: dict[str, str | None] = field(default_factory=dict)
    links: dict[str, str | None] = field(default_factory=dict)
    present: list[str] = field(default_factory=list)  # kubeward binaries found anywhere under INSTALL_ROOT
    containerd: str = "no"  # yes | no | down
    images: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class NodeChanges:
    uploads: tuple[NodeFile, ...] = ()
    links: tuple[tuple[str, str], ...] = ()
    removals: tuple[str, ...] = ()
    imports: tuple[NodeImage, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.uploads or self.links or self.removals or self.imports)


def version_dir(version: str) -> str:
    return f"{INSTALL_ROOT}/v{version}"


def render_node_plan(manifest: Manifest, role: str) -> NodePlan:
    bin_dir = f"{version_dir(manifest.version)}/bin"
    binaries = []
    for b in ROLE_BINARIES[role]:
        rel = manifest.binary_path(b)
        entry = manifest.file(rel)
        if entry is None:
            raise ValueError(f"the artifact manifest lists no {rel}")
        binaries.append(NodeFile(f"{bin_dir}/{b}", rel, entry.sha256, entry.size))
    links = [(f"{INSTALL_ROOT}/current", f"v{manifest.version}")]
    links += [(f"{LINK_DIR}/{b}", f"{INSTALL_ROOT}/current/bin/{b}") for b in ROLE_BINARIES[role]]
    images = []
    for img in manifest.images:
        entry = manifest.file(img.file)
        if entry is not None:
            name = img.file.rsplit("/", 1)[-1]
            images.append(NodeImage(img.ref, NodeFile(f"{IMAGE_DIR}/{name}", img.file, entry.sha256, entry.size,
                                                      0o644)))
    return NodePlan(manifest.version, tuple(binaries), tuple(links), tuple(images))


def render_node_facts_script(plan: NodePlan) -> str:
    lines = []
    for f in plan.files:
        q, st = shlex.quote(f.remote), shlex.quote(stamp_path(f.remote))
        # a stamp written right after a verified upload saves hashing ~400 MB on every no-op run;
        # it only counts while size, mtime and inode are unchanged (the idea of git's index)
        lines.append(
            f"if [ -f {q} ]; then st=$(stat -c '%s %Y %i' {q}); "
            f"if read -r a b c h < {st} 2>/dev/null && [ \"$a $b $c\" = \"$st\" ]; then echo \"file {f.remote} $h\"; "
            f"else echo \"file {f.remote} $(sha256sum < {q} | cut -d' ' -f1)\"; fi; "
            f"else echo 'file {f.remote} -'; fi")
    for path, _ in plan.links:
        q = shlex.quote(path)
        lines.append(f"echo \"link {path} $(readlink {q} || echo -)\"")
    names = " ".join(ALL_BINARIES)
    lines.append(f"for d in {INSTALL_ROOT}/v*/bin; do for b in {names}; do "
                 f"[ -e \"$d/$b\" ] && echo \"present $d/$b\"; done; done; "
                 f"for b in {names}; do case $(readlink {LINK_DIR}/$b) in {INSTALL_ROOT}/*) "
                 f"echo \"present {LINK_DIR}/$b\";; esac; done; true")
    lines.append("if ! command -v ctr >/dev/null; then echo 'ctr no'; "
                 "elif imgs=$(ctr -n k8s.io images ls -q 2>/dev/null); then echo 'ctr yes'; "
                 "printf '%s\\n' \"$imgs\" | sed -n 's/^./image &/p'; else echo 'ctr down'; fi")
    return "\n".join(lines) + "\n"


def parse_node_facts(text: str) -> NodeFacts:
    facts = NodeFacts()
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "file":
            path, _, value = rest.partition(" ")
            facts.sums[path] = None if value in ("-", "") else value
        elif kind == "link":
            path, _, value = rest.partition(" ")
            facts.links[path] = None if value in ("-", "") else value
        elif kind == "present":
            facts.present.append(rest)
        elif kind == "ctr":
            facts.containerd = rest
        elif kind == "image":
            facts.images.add(rest)
    return facts


def plan_node_changes(plan: NodePlan, facts: NodeFacts) -> NodeChanges:
    uploads = tuple(f for f in plan.files if facts.sums.get(f.remote) != f.sha256)
    links = tuple((p, t) for p, t in plan.links if facts.links.get(p) != t)
    wanted = {f.remote for f in plan.binaries} | {p for p, _ in plan.links}
    current_bin = f"{version_dir(plan.version)}/bin/"
    # only binaries of this version that the role must not have, and links to kubeward's tree it no
    # longer wants; other versions' directories stay for a rollback
    removals = tuple(sorted(p for p in facts.present if p not in wanted
                            and (p.startswith(current_bin) or p.startswith(LINK_DIR + "/"))))
    notes: list[str] = []
    imports: tuple[NodeImage, ...] = ()
    if plan.images:
        if facts.containerd == "yes":
            imports = tuple(i for i in plan.images if i.ref not in facts.images)
        else:
            why = "is not installed" if facts.containerd == "no" else "is not running"
            notes.append(f"containerd {why}: images staged in {IMAGE_DIR}, not imported")
    return NodeChanges(uploads, links, removals, imports, tuple(notes))


def stamp_path(remote: str) -> str:
    return f"{STAMP_DIR}/{remote.strip('/').replace('/', '_')}"


def render_finish_script(changes: NodeChanges) -> str:
    """Stamps of the uploaded files, links, removals and image imports, after the uploads (run as
    root, one round-trip)."""
    lines = ["set -e"]
    if changes.uploads:
        lines.append(f"mkdir -p -m 0700 {STAMP_DIR}")
    for f in changes.uploads:
        lines.append(f"printf '%s %s\\n' \"$(stat -c '%s %Y %i' {shlex.quote(f.remote)})\" {f.sha256} "
                     f"> {shlex.quote(stamp_path(f.remote))}")
    for path, target in changes.links:
        q = shlex.quote(path)
        lines.append(f"mkdir -p {shlex.quote(path.rsplit('/', 1)[0])}; "
                     f"ln -sfn {shlex.quote(target)} {q}.kubeward-new && mv -Tf {q}.kubeward-new {q}")
    for path in changes.removals:
        lines.append(f"rm -f {shlex.quote(path)}")
    for img in changes.imports:
        lines.append(f"ctr -n k8s.io images import {shlex.quote(img.file.remote)} >/dev/null")
    return "\n".join(lines) + "\n"
