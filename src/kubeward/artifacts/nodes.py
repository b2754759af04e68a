"""What a node gets, what it has, and what to change: pure (the artifacts phase does the I/O).

A node gets only the binaries its role needs, in a versioned directory with a stable link::

    /opt/kubeward/kubernetes/v1.20.2/bin/<binary>     root:root 0755, SHA-256 from the manifest
    /opt/kubeward/kubernetes/current -> v1.20.2
    /usr/local/bin/<binary> -> /opt/kubeward/kubernetes/current/bin/<binary>
    /opt/kubeward/kubernetes/images/<name>.tar        staged, then imported into containerd (k8s.io)

Facts are one shell script printing one line per thing (``file PATH SHA|-``, ``staged PATH SHA|-``,
``previous PATH SHA|-`` (from its stamp only: never hashed),
``link PATH TARGET|-``, ``present PATH``, ``unit BINARY STATE EXE|-``, ``mark VALUE``, ``ctr yes|no|down``,
``image REF``); ``parse_node_facts`` reads them back and ``plan_node_changes`` compares them with
``render_node_plan``.

On a node that runs Kubernetes services, a binary already in place is never overwritten here: its new
build is *staged* beside it (``<binary>.kubeward-staged``, verified like any upload) and the ``current``
link is left alone, so nothing a restart could pick up changes; the roll-out
(:mod:`kubeward.artifacts.rollout`, phase ``rollout``) installs them one node at a time. A build the
node still keeps as ``<binary>.kubeward-previous`` (a rollback) is staged by a hard link, not uploaded.
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
#: binary -> the systemd unit that runs it (kubectl runs no service)
BINARY_UNITS: dict[str, str] = {
    "kube-apiserver": "kube-apiserver.service",
    "kube-controller-manager": "kube-controller-manager.service",
    "kube-scheduler": "kube-scheduler.service",
    "kubelet": "kubelet.service",
    "kube-proxy": "kube-proxy.service",
}
#: a new build of a binary that a running service may execute waits here for the roll-out
STAGED_SUFFIX = ".kubeward-staged"
#: the binary a roll-out replaced, kept for a rollback (a hard link: no copy)
PREVIOUS_SUFFIX = ".kubeward-previous"
#: written on a node before the roll-out cordons it ("cordoned", or "was-cordoned" when the operator
#: had cordoned it already), removed once it is uncordoned: a later run finds an unfinished node
ROLLOUT_DIR = "/var/lib/kubeward/rollout"
ROLLOUT_MARK = f"{ROLLOUT_DIR}/node"
#: `systemctl is-active` states of a service that runs (or is about to)
RUNNING_STATES = ("active", "activating", "reloading")


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

    @property
    def current_link(self) -> str:
        return f"{INSTALL_ROOT}/current"


def previous_file(f: NodeFile) -> str:
    return f.remote + PREVIOUS_SUFFIX


def staged_file(f: NodeFile) -> NodeFile:
    """Where the new build of ``f`` waits for the roll-out (same directory: the install is a rename)."""
    return NodeFile(f.remote + STAGED_SUFFIX, f.local, f.sha256, f.size, f.mode)


def binary_name(f: NodeFile) -> str:
    return f.remote.rsplit("/", 1)[-1]


@dataclass
class NodeFacts:
    sums: dict[str, str | None] = field(default_factory=dict)
    links: dict[str, str | None] = field(default_factory=dict)
    present: list[str] = field(default_factory=list)  # kubeward binaries found anywhere under INSTALL_ROOT
    containerd: str = "no"  # yes | no | down
    images: set[str] = field(default_factory=set)
    staged: dict[str, str | None] = field(default_factory=dict)  # staged path -> SHA-256
    previous: dict[str, str | None] = field(default_factory=dict)  # previous path -> SHA-256 (its stamp's)
    #: binary -> (`systemctl is-active` state, the running process's executable or "-")
    units: dict[str, tuple[str, str]] = field(default_factory=dict)
    mark: str | None = None  # ROLLOUT_MARK's content: an unfinished roll-out left this node cordoned

    @property
    def running(self) -> bool:
        """Whether any Kubernetes service runs here (then binaries are staged, not replaced)."""
        return any(state in RUNNING_STATES for state, _ in self.units.values())


@dataclass(frozen=True)
class NodeChanges:
    uploads: tuple[NodeFile, ...] = ()
    links: tuple[tuple[str, str], ...] = ()
    removals: tuple[str, ...] = ()
    imports: tuple[NodeImage, ...] = ()
    notes: tuple[str, ...] = ()
    #: uploads to staged paths: new builds the roll-out installs node by node
    staged: tuple[NodeFile, ...] = ()
    #: the version the `current` link should point at, left to the roll-out (services run here)
    deferred_link: str | None = None
    #: staged by a hard link from the previous build the node kept (a rollback: nothing to upload)
    restaged: tuple[NodeFile, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.uploads or self.links or self.removals or self.imports or self.staged or self.restaged)

    @property
    def transfers(self) -> tuple[NodeFile, ...]:
        """Every file streamed to the node, to its final or its staged path."""
        return self.uploads + self.staged


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
    # a stamp written right after a verified upload saves hashing ~400 MB on every no-op run;
    # it only counts while size, mtime and inode are unchanged (the idea of git's index)
    # (``previous`` files only by their stamp: a rollback is worth no hashing on every run)
    lines = ["kw_sum() { if [ -f \"$2\" ]; then st=$(stat -c '%s %Y %i' \"$2\"); "
             "if read -r a b c h < \"$3\" 2>/dev/null && [ \"$a $b $c\" = \"$st\" ]; then echo \"$1 $2 $h\"; "
             "elif [ \"$1\" = previous ]; then echo \"$1 $2 -\"; "
             "else echo \"$1 $2 $(sha256sum < \"$2\" | cut -d' ' -f1)\"; fi; else echo \"$1 $2 -\"; fi; }"]
    for f in plan.files:
        lines.append(f"kw_sum file {shlex.quote(f.remote)} {shlex.quote(stamp_path(f.remote))}")
    for f in plan.binaries:
        staged = staged_file(f).remote
        lines.append(f"kw_sum staged {shlex.quote(staged)} {shlex.quote(stamp_path(staged))}")
        previous = previous_file(f)
        lines.append(f"kw_sum previous {shlex.quote(previous)} {shlex.quote(stamp_path(previous))}")
    for path, _ in plan.links:
        q = shlex.quote(path)
        lines.append(f"echo \"link {path} $(readlink {q} || echo -)\"")
    names = " ".join(ALL_BINARIES)
    lines.append(f"for d in {INSTALL_ROOT}/v*/bin; do for b in {names}; do "
                 f"[ -e \"$d/$b\" ] && echo \"present $d/$b\"; done; done; "
                 f"for b in {names}; do case $(readlink {LINK_DIR}/$b) in {INSTALL_ROOT}/*) "
                 f"echo \"present {LINK_DIR}/$b\";; esac; done; true")
    # which services run, and from which executable (a replaced binary reads "PATH (deleted)")
    units = " ".join(f"{binary_name(f)}:{BINARY_UNITS[binary_name(f)]}" for f in plan.binaries
                     if binary_name(f) in BINARY_UNITS)
    lines.append(f"for bu in {units}; do b=${{bu%%:*}}; u=${{bu#*:}}; s=$(systemctl is-active \"$u\" 2>/dev/null); "
                 "p=$(systemctl show -p MainPID --value \"$u\" 2>/dev/null); e=-; "
                 "[ \"${p:-0}\" != 0 ] && e=$(readlink \"/proc/$p/exe\" 2>/dev/null || echo -); "
                 "echo \"unit $b ${s:-unknown} $e\"; done")
    lines.append(f"[ -f {ROLLOUT_MARK} ] && echo \"mark $(head -c 64 {ROLLOUT_MARK})\"; true")
    lines.append("if ! command -v ctr >/dev/null; then echo 'ctr no'; "
                 "elif imgs=$(ctr -n k8s.io images ls -q 2>/dev/null); then echo 'ctr yes'; "
                 "printf '%s\\n' \"$imgs\" | sed -n 's/^./image &/p'; else echo 'ctr down'; fi")
    return "\n".join(lines) + "\n"


def parse_node_facts(text: str) -> NodeFacts:
    facts = NodeFacts()
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        if kind in ("file", "staged", "previous"):
            path, _, value = rest.partition(" ")
            {"file": facts.sums, "staged": facts.staged, "previous": facts.previous}[kind][path] = (
                None if value in ("-", "") else value)
        elif kind == "link":
            path, _, value = rest.partition(" ")
            facts.links[path] = None if value in ("-", "") else value
        elif kind == "present":
            facts.present.append(rest)
        elif kind == "unit":
            binary, _, rest = rest.partition(" ")
            state, _, exe = rest.partition(" ")
            facts.units[binary] = (state, exe or "-")
        elif kind == "mark":
            facts.mark = rest.strip() or None
        elif kind == "ctr":
            facts.containerd = rest
        elif kind == "image":
            facts.images.add(rest)
    return facts


def plan_node_changes(plan: NodePlan, facts: NodeFacts) -> NodeChanges:
    uploads: list[NodeFile] = []
    staged: list[NodeFile] = []
    restaged: list[NodeFile] = []
    binaries = {f.remote for f in plan.binaries}
    for f in plan.files:
        have = facts.sums.get(f.remote)
        if have == f.sha256:
            continue
        if f.remote in binaries and have is not None and facts.running:
            # a service here may execute it: staged for the roll-out, which installs it in turn
            if facts.staged.get(staged_file(f).remote) == f.sha256:
                continue
            if facts.previous.get(previous_file(f)) == f.sha256:
                restaged.append(staged_file(f))
            else:
                staged.append(staged_file(f))
        else:
            uploads.append(f)
    links = tuple((p, t) for p, t in plan.links if facts.links.get(p) != t)
    deferred = None
    have_current = facts.links.get(plan.current_link)
    if facts.running and have_current is not None and have_current != f"v{plan.version}":
        # switching versions is the roll-out's install step on this node
        links = tuple((p, t) for p, t in links if p != plan.current_link)
        deferred = plan.version
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
    return NodeChanges(tuple(uploads), links, removals, imports, tuple(notes), tuple(staged), deferred,
                       tuple(restaged))


def stamp_path(remote: str) -> str:
    return f"{STAMP_DIR}/{remote.strip('/').replace('/', '_')}"


def render_finish_script(changes: NodeChanges) -> str:
    """Stamps of the uploaded files, links, removals and image imports, after the uploads (run as
    root, one round-trip)."""
    lines = ["set -e"]
    if changes.transfers or changes.restaged:
        lines.append(f"mkdir -p -m 0700 {STAMP_DIR}")
    for f in changes.transfers:
        lines.append(f"printf '%s %s\\n' \"$(stat -c '%s %Y %i' {shlex.quote(f.remote)})\" {f.sha256} "
                     f"> {shlex.quote(stamp_path(f.remote))}")
    for f in changes.restaged:
        previous = f.remote.removesuffix(STAGED_SUFFIX) + PREVIOUS_SUFFIX
        lines.append(f"ln -f {shlex.quote(previous)} {shlex.quote(f.remote)}")
        lines.append(f"cp {shlex.quote(stamp_path(previous))} {shlex.quote(stamp_path(f.remote))}")
    for path, target in changes.links:
        q = shlex.quote(path)
        lines.append(f"mkdir -p {shlex.quote(path.rsplit('/', 1)[0])}; "
                     f"ln -sfn {shlex.quote(target)} {q}.kubeward-new && mv -Tf {q}.kubeward-new {q}")
    for path in changes.removals:
        lines.append(f"rm -f {shlex.quote(path)}")
    for img in changes.imports:
        lines.append(f"ctr -n k8s.io images import {shlex.quote(img.file.remote)} >/dev/null")
    return "\n".join(lines) + "\n"
