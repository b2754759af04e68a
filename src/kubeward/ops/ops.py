"""The operations kubeward applies to hosts (pure: facts in, changes out).

Files (content, owner, mode; written atomically), directories, groups and users (fixed uid/gid),
authorized keys, Debian packages, systemd units, sysctl, hostname, /etc/hosts lines, kernel modules.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import re
import shlex
from dataclasses import dataclass, field

from kubeward.ops.base import Change, Outcome, Refusal, Unchanged

MAX_INLINE = 256 * 1024  # files up to this size are read back in full (for diffs)


def q(s: str) -> str:
    return shlex.quote(s)


def key_body(line: str) -> str:
    """``type base64`` of an authorized_keys line, skipping any options before the key type."""
    parts = line.split()
    for i, p in enumerate(parts):
        if p.startswith(("ssh-", "ecdsa-", "sk-")) and i + 1 < len(parts):
            return f"{p} {parts[i + 1]}"
    return line.strip()


def write_file_script(path: str, content: bytes, owner: str, group: str, mode: int, validate: str = "") -> str:
    """Atomic write: temporary file beside the target, owner and mode set, optional validation, rename."""
    b64 = base64.b64encode(content).decode()
    d = q(path.rsplit("/", 1)[0] or "/")
    check = " && " + validate.replace("{}", '"$tmp"') if validate else ""
    return (
        f"mkdir -p {d} && tmp=$(mktemp {d}/.kubeward.XXXXXX) && "
        f"printf %s {b64} | base64 -d > \"$tmp\" && chown {q(owner)}:{q(group)} \"$tmp\" && "
        f"chmod {mode:04o} \"$tmp\"{check} && mv -f \"$tmp\" {q(path)} || {{ rm -f \"$tmp\"; exit 1; }}"
    )


def _stat_fact(path: str, read: bool) -> str:
    p = q(path)
    body = f"if [ $(stat -c %s {p}) -le {MAX_INLINE} ]; then base64 -w0 {p}; echo; else echo big; fi" if read else "echo"
    return (f"if [ -e {p} ]; then stat -c '%F|%U|%G|%a' {p}; sha256sum {p} | cut -d' ' -f1; {body}; "
            "else echo absent; fi")


@dataclass(frozen=True)
class StatFact:
    kind: str
    owner: str
    group: str
    mode: int
    sha256: str
    content: bytes | None


def parse_stat_fact(fact: str) -> StatFact | None:
    lines = fact.splitlines()
    if not lines or lines[0].strip() == "absent":
        return None
    kind, owner, group, mode = lines[0].split("|")
    sha = lines[1].strip() if len(lines) > 1 else ""
    content = None
    if len(lines) > 2 and lines[2] not in ("big", ""):
        content = base64.b64decode(lines[2])
    elif len(lines) > 2 and lines[2] == "":
        content = b""
    return StatFact(kind, owner, group, int(mode, 8), sha, content)


def unified_diff(path: str, old: bytes | None, new: bytes) -> str:
    try:
        a = (old or b"").decode().splitlines(keepends=True)
        b = new.decode().splitlines(keepends=True)
    except UnicodeDecodeError:
        return f"(binary file {path} changes)\n"
    return "".join(difflib.unified_diff(a, b, f"{path} (now)", f"{path} (wanted)"))


@dataclass(frozen=True)
class File:
    path: str
    content: bytes
    owner: str = "root"
    group: str = "root"
    mode: int = 0o644
    secret: bool = False  # never show or log its content
    validate: str = ""  # command run on the temporary file ({}), e.g. "visudo -cf {}"
    notify: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return f"file:{self.path}"

    def fact_script(self) -> str:
        return _stat_fact(self.path, read=not self.secret)

    def evaluate(self, fact: str) -> list[Outcome]:
        st = parse_stat_fact(fact)
        want_sha = hashlib.sha256(self.content).hexdigest()
        write = write_file_script(self.path, self.content, self.owner, self.group, self.mode, self.validate)
        if st is None:
            diff = "" if self.secret else unified_diff(self.path, None, self.content)
            return [Change(self.id, f"create {self.path} ({self.owner}:{self.group} {self.mode:04o})",
                           write, diff, self.notify)]
        if st.kind != "regular file" and st.kind != "regular empty file":
            return [Change(self.id, f"replace {st.kind} {self.path} with a file", f"rm -rf {q(self.path)} && {write}",
                           "", self.notify)]
        if st.sha256 != want_sha:
            diff = "" if self.secret else unified_diff(self.path, st.content, self.content)
            return [Change(self.id, f"update {self.path}", write, diff, self.notify)]
        meta = []
        if (st.owner, st.group) != (self.owner, self.group):
            meta.append(f"chown {q(self.owner)}:{q(self.group)} {q(self.path)}")
        if st.mode != self.mode:
            meta.append(f"chmod {self.mode:04o} {q(self.path)}")
        if meta:
            what = f"{st.owner}:{st.group} {st.mode:04o} -> {self.owner}:{self.group} {self.mode:04o}"
            return [Change(self.id, f"fix owner/mode of {self.path} ({what})", " && ".join(meta), "", self.notify)]
        return [Unchanged(self.id, "content, owner and mode as wanted")]


@dataclass(frozen=True)
class AbsentFile:
    """A file that must not exist (kubeward placed it once and no longer wants it)."""

    path: str
    why: str = ""

    @property
    def id(self) -> str:
        return f"absent:{self.path}"

    def fact_script(self) -> str:
        return f"[ -e {q(self.path)} ] && echo present || echo absent"

    def evaluate(self, fact: str) -> list[Outcome]:
        if fact.strip() == "absent":
            return [Unchanged(self.id, "absent")]
        why = f" ({self.why})" if self.why else ""
        return [Change(self.id, f"remove {self.path}{why}", f"rm -f {q(self.path)}")]


@dataclass(frozen=True)
class Directory:
    path: str
    owner: str = "root"
    group: str = "root"
    mode: int = 0o755

    @property
    def id(self) -> str:
        return f"dir:{self.path}"

    def fact_script(self) -> str:
        return _stat_fact(self.path, read=False)

    def evaluate(self, fact: str) -> list[Outcome]:
        st = parse_stat_fact(fact)
        fix = f"chown {q(self.owner)}:{q(self.group)} {q(self.path)} && chmod {self.mode:04o} {q(self.path)}"
        if st is None:
            return [Change(self.id, f"create directory {self.path}", f"mkdir -p {q(self.path)} && {fix}")]
        if st.kind != "directory":
            return [Refusal(self.id, f"{self.path} is a {st.kind}, not a directory")]
        if (st.owner, st.group, st.mode) != (self.owner, self.group, self.mode):
            return [Change(self.id, f"fix owner/mode of {self.path}", fix)]
        return [Unchanged(self.id, "exists with owner and mode as wanted")]


@dataclass(frozen=True)
class Group:
    name: str
    gid: int

    @property
    def id(self) -> str:
        return f"group:{self.name}"

    def fact_script(self) -> str:
        return f"getent group {q(self.name)}; echo @; getent group {self.gid}"

    def evaluate(self, fact: str) -> list[Outcome]:
        by_name, _, by_gid = fact.partition("@")
        by_name, by_gid = by_name.strip(), by_gid.strip()
        if by_name:
            gid = int(by_name.split(":")[2])
            if gid == self.gid:
                return [Unchanged(self.id, f"exists with gid {gid}")]
            return [Refusal(self.id, f"group {self.name} has gid {gid}, wanted {self.gid}: "
                           "kubeward does not renumber existing groups; fix it by hand")]
        if by_gid:
            other = by_gid.split(":")[0]
            return [Refusal(self.id, f"gid {self.gid} is taken by group {other}")]
        return [Change(self.id, f"create group {self.name} (gid {self.gid})",
                       f"groupadd --gid {self.gid} {q(self.name)}")]


def sudoers_path(user: str) -> str:
    """The sudoers drop-in kubeward writes for ``user`` (the cluster admin)."""
    return f"/etc/sudoers.d/kubeward-{user}"


@dataclass(frozen=True)
class User:
    name: str
    uid: int
    gid: int
    groups: tuple[str, ...] = ()
    shell: str = "/bin/bash"

    @property
    def id(self) -> str:
        return f"user:{self.name}"

    @property
    def home(self) -> str:
        return f"/home/{self.name}"

    def fact_script(self) -> str:
        return (f"getent passwd {q(self.name)}; echo @; id -nG {q(self.name)} 2>/dev/null; echo @; "
                f"getent passwd {self.uid}; echo @; getent shadow {q(self.name)} | cut -d: -f2 | cut -c1")

    def evaluate(self, fact: str) -> list[Outcome]:
        # sections are separated by lines holding a lone "@" (a GECOS field may contain "@")
        parts = [p.strip() for p in re.split(r"^@$", fact, flags=re.M)] + ["", "", "", ""]
        pw, groups, by_uid, pwfield = parts[0], parts[1].split(), parts[2], parts[3]
        sup = ",".join(self.groups)
        if not pw:
            if by_uid:
                return [Refusal(self.id, f"uid {self.uid} is taken by user {by_uid.split(':')[0]}")]
            cmd = (f"useradd --uid {self.uid} --gid {self.gid} --create-home --home-dir {q(self.home)} "
                   f"--shell {q(self.shell)}" + (f" --groups {q(sup)}" if sup else "") + f" {q(self.name)}"
                   f" && usermod -p '*' {q(self.name)}")
            return [Change(self.id, f"create user {self.name} (uid {self.uid}, gid {self.gid}"
                           + (f", groups {sup})" if sup else ")"), cmd)]
        f = pw.split(":")
        uid, gid, shell = int(f[2]), int(f[3]), f[6]
        if (uid, gid) != (self.uid, self.gid):
            return [Refusal(self.id, f"user {self.name} has uid={uid} gid={gid}, wanted uid={self.uid} "
                           f"gid={self.gid}: kubeward does not renumber existing users; fix it by hand")]
        out: list[Outcome] = []
        missing = [g for g in self.groups if g not in groups]
        if missing:
            out.append(Change(self.id, f"add {self.name} to {', '.join(missing)}",
                              f"usermod -aG {q(','.join(missing))} {q(self.name)}"))
        if shell != self.shell:
            out.append(Change(self.id, f"set {self.name}'s shell to {self.shell}", f"usermod -s {q(self.shell)} {q(self.name)}"))
        if pwfield == "!":
            # a locked password makes sshd refuse even key logins unless PAM is used; keys only, no password
            out.append(Change(self.id, f"unlock {self.name} for key logins (no password)", f"usermod -p '*' {q(self.name)}"))
        return out or [Unchanged(self.id, f"exists with uid {uid}, gid {gid}, groups {', '.join(groups)}")]


@dataclass(frozen=True)
class SystemUser:
    """A system account with its own group, no login shell (as Debian packages create them)."""

    name: str
    home: str

    @property
    def id(self) -> str:
        return f"system-user:{self.name}"

    def fact_script(self) -> str:
        return f"getent passwd {q(self.name)}"

    def evaluate(self, fact: str) -> list[Outcome]:
        if fact.strip():
            return [Unchanged(self.id, "exists")]
        return [Change(self.id, f"create system user {self.name}",
                       f"adduser --system --group --quiet --home {q(self.home)} --no-create-home "
                       f"--shell /usr/sbin/nologin {q(self.name)}")]


@dataclass(frozen=True)
class AuthorizedKey:
    """kubeward owns a user's ~/.ssh/authorized_keys: exactly its one key (dir 0700, file 0600, the user's).

    Any other line is removed, and the change names each removed key, so the plan shows whose access
    goes away.
    """

    user: str
    group: str
    home: str
    key: str

    @property
    def id(self) -> str:
        return f"authorized_key:{self.user}"

    @property
    def path(self) -> str:
        return f"{self.home}/.ssh/authorized_keys"

    def fact_script(self) -> str:
        return _stat_fact(self.path, read=True) + f"; echo @; stat -c '%U|%G|%a' {q(self.home)}/.ssh 2>/dev/null"


    def evaluate(self, fact: str) -> list[Outcome]:
        file_fact, _, dir_fact = fact.partition("@")
        st = parse_stat_fact(file_fact.strip())
        old = (st.content or b"").decode(errors="replace") if st else ""
        lines = [line for line in old.splitlines() if line.strip() and not line.lstrip().startswith("#")]
        present = any(key_body(line) == key_body(self.key) for line in lines)
        others = [line for line in lines if key_body(line) != key_body(self.key)]
        out: list[Outcome] = []
        d = f"{self.home}/.ssh"
        if dir_fact.strip() != f"{self.user}|{self.group}|700":
            out.append(Change(self.id, f"create {d} (0700, {self.user})",
                              f"mkdir -p {q(d)} && chown {q(self.user)}:{q(self.group)} {q(d)} && chmod 0700 {q(d)}"))
        # our key alone, without options, may keep its own comment (and # lines): nothing to converge
        plain = all(line.split()[0] == self.key.split()[0] for line in lines)
        new = old if present and not others and plain else self.key.strip() + "\n"
        f = File(self.path, new.encode(), self.user, self.group, 0o600)
        for o in f.evaluate(file_fact.strip()):
            if isinstance(o, Change):
                what = []
                if not present:
                    what.append(f"add the admin key to {self.path}")
                if others:
                    shown = "; ".join(_describe_key_line(line) for line in others)
                    what.append(f"remove {len(others)} other key{'s' if len(others) != 1 else ''} from "
                                f"{self.path}: {shown}")
                summary = ", ".join(what) if what else o.summary
                out.append(Change(self.id, summary, o.script, o.diff))
        return out or [Unchanged(self.id, "only the admin key; file 0600 and directory 0700 owned by the user")]


def _describe_key_line(line: str) -> str:
    """An authorized_keys line for people: its type, the end of its base64 and its comment."""
    fields = line.split()
    for i, word in enumerate(fields):
        if word.startswith(("ssh-", "ecdsa-", "sk-")) and i + 1 < len(fields):
            comment = " ".join(fields[i + 2:])
            return f"{word} ...{fields[i + 1][-12:]}" + (f" {comment}" if comment else "")
    return line[:60]


@dataclass(frozen=True)
class Packages:
    names: tuple[str, ...]

    @property
    def id(self) -> str:
        return "packages:" + ",".join(self.names)

    def fact_script(self) -> str:
        return f"dpkg-query -W -f='${{Package}} ${{db:Status-Status}}\\n' {' '.join(q(n) for n in self.names)} 2>/dev/null"

    def evaluate(self, fact: str) -> list[Outcome]:
        installed = {p.split()[0] for p in fact.splitlines() if p.endswith(" installed")}
        missing = [n for n in self.names if n not in installed]
        if not missing:
            return [Unchanged(self.id, "all installed")]
        names = " ".join(q(n) for n in missing)
        return [Change(self.id, f"install {', '.join(missing)}",
                       f"apt-get update -qq && apt-get install -y -qq --no-install-recommends {names} >/dev/null")]


RUNNING = ("active", "activating", "reloading")
ENABLED = ("enabled", "alias", "static", "indirect")


@dataclass(frozen=True)
class ServiceState:
    enabled: str
    active: str

    @property
    def running(self) -> bool:
        return self.active in RUNNING


def parse_service_state(fact: str) -> ServiceState:
    """The fact of :class:`Service`: ``is-enabled`` then ``is-active``, one word per line; anything
    else (an error message) means the unit is missing."""
    words = [w.strip() for w in fact.splitlines() if w.strip()]
    enabled = words[0] if words and " " not in words[0] else "missing"
    active = words[-1] if len(words) > 1 and " " not in words[-1] else "unknown"
    return ServiceState(enabled, active)


@dataclass(frozen=True)
class Service:
    unit: str
    enabled: bool = True
    running: bool = True

    @property
    def id(self) -> str:
        return f"service:{self.unit}"

    def fact_script(self) -> str:
        u = q(self.unit)
        return (f'e=$(systemctl is-enabled {u} 2>/dev/null); echo "${{e:-missing}}"; '
                f'a=$(systemctl is-active {u} 2>/dev/null); echo "${{a:-unknown}}"')

    def evaluate(self, fact: str) -> list[Outcome]:
        state = parse_service_state(fact)
        enabled, active = state.enabled, state.active
        out: list[Outcome] = []
        if self.enabled and enabled not in ENABLED:
            out.append(Change(self.id, f"enable {self.unit}", f"systemctl enable {q(self.unit)} 2>/dev/null"))
        if not self.enabled and enabled == "enabled":
            out.append(Change(self.id, f"disable {self.unit}", f"systemctl disable {q(self.unit)} 2>/dev/null"))
        if self.running and active != "active":
            out.append(Change(self.id, f"start {self.unit} (now {active or 'unknown'})", f"systemctl start {q(self.unit)}"))
        if not self.running and active == "active":
            out.append(Change(self.id, f"stop {self.unit}", f"systemctl stop {q(self.unit)}"))
        return out or [Unchanged(self.id, f"{enabled}, {active}")]


@dataclass(frozen=True)
class Sysctl:
    values: tuple[tuple[str, str], ...]
    path: str = "/etc/sysctl.d/90-kubeward.conf"

    @property
    def id(self) -> str:
        return f"sysctl:{self.path}"

    def _file(self) -> File:
        body = "# managed by kubeward\n" + "".join(f"{k} = {v}\n" for k, v in self.values)
        return File(self.path, body.encode())

    def fact_script(self) -> str:
        keys = " ".join(q(k) for k, _ in self.values)
        return f"{self._file().fact_script()}; echo @; for k in {keys}; do echo \"$k=$(sysctl -n $k 2>/dev/null)\"; done"

    def evaluate(self, fact: str) -> list[Outcome]:
        file_fact, _, live = fact.partition("@")
        out = [o for o in self._file().evaluate(file_fact.strip()) if isinstance(o, Change)]
        current = dict(line.split("=", 1) for line in live.strip().splitlines() if "=" in line)
        wrong = [(k, v) for k, v in self.values if current.get(k, "").split() != v.split()]
        if wrong:
            out.append(Change(self.id, "set " + ", ".join(f"{k}={v} (now {current.get(k) or '?'})" for k, v in wrong),
                              " && ".join(f"sysctl -q -w {q(k)}={q(v)}" for k, v in wrong)))
        return list(out) or [Unchanged(self.id, "persisted and live values as wanted")]


@dataclass(frozen=True)
class Hostname:
    name: str

    @property
    def id(self) -> str:
        return "hostname"

    def fact_script(self) -> str:
        return "hostname; cat /etc/hostname 2>/dev/null"

    def evaluate(self, fact: str) -> list[Outcome]:
        lines = fact.split() + ["", ""]
        if lines[0] == self.name and lines[1] == self.name:
            return [Unchanged(self.id, self.name)]
        n = q(self.name)
        return [Change(self.id, f"set hostname to {self.name} (now {lines[0] or '?'})",
                       f"echo {n} > /etc/hostname && (hostnamectl set-hostname {n} 2>/dev/null || hostname {n})")]


@dataclass(frozen=True)
class HostsLine:
    """Ensure /etc/hosts maps ``address`` to ``names`` (replacing any other line for that address)."""

    address: str
    names: tuple[str, ...]
    path: str = "/etc/hosts"

    @property
    def id(self) -> str:
        return f"hosts:{self.address}"

    def fact_script(self) -> str:
        return _stat_fact(self.path, read=True)

    def render(self, old: str) -> str:
        want = f"{self.address}\t{' '.join(self.names)}"
        lines = old.splitlines()
        out, done = [], False
        for line in lines:
            fields = line.split("#", 1)[0].split()
            if fields and fields[0] == self.address:
                if not done:
                    out.append(want)
                    done = True
                continue
            out.append(line)
        if not done:
            # after the 127.0.0.1 line, as Debian writes it
            idx = next((i + 1 for i, line in enumerate(out) if line.split()[:1] == ["127.0.0.1"]), 0)
            out.insert(idx, want)
        return "\n".join(out) + "\n"

    def evaluate(self, fact: str) -> list[Outcome]:
        st = parse_stat_fact(fact)
        old = (st.content or b"").decode(errors="replace") if st else ""
        new = self.render(old)
        if new == old:
            return [Unchanged(self.id, f"{self.address} maps to {' '.join(self.names)}")]
        return [Change(self.id, f"map {self.address} to {' '.join(self.names)} in {self.path}",
                       write_file_script(self.path, new.encode(), "root", "root", 0o644),
                       unified_diff(self.path, old.encode(), new.encode()))]


@dataclass(frozen=True)
class KernelModules:
    names: tuple[str, ...]
    path: str = "/etc/modules-load.d/kubeward.conf"
    _file: File = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_file", File(self.path, ("".join(f"{n}\n" for n in self.names)).encode()))

    @property
    def id(self) -> str:
        return f"modules:{','.join(self.names)}"

    def fact_script(self) -> str:
        return f"{self._file.fact_script()}; echo @; for m in {' '.join(q(n) for n in self.names)}; do " \
               "[ -d /sys/module/$m ] && echo $m; done"

    def evaluate(self, fact: str) -> list[Outcome]:
        file_fact, _, loaded = fact.partition("@")
        out: list[Outcome] = [o for o in self._file.evaluate(file_fact.strip()) if isinstance(o, Change)]
        missing = [n for n in self.names if n not in loaded.split()]
        if missing:
            out.append(Change(self.id, f"load {', '.join(missing)}", " && ".join(f"modprobe {q(m)}" for m in missing)))
        return out or [Unchanged(self.id, "loaded and persisted")]
