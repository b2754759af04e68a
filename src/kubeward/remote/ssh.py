"""The only SSH code in kubeward (asyncssh).

A :class:`Session` holds one connection per host, reused for the whole run, and bounds how many
hosts are worked on at once. Host keys are always verified (pins in cluster.yml, then kubeward's own
known_hosts); an unknown key stops the connection with its fingerprint and how to trust it, a changed
key stops it naming both fingerprints. Connects are retried with backoff only for transient faults
(timeout, reset); a command that ran and failed is never retried. Commands run through ``sudo -n``
unless the login user is root. Every command is one SSH round-trip, counted per host.

Scripts travel on stdin, never on a command line: ``/proc/PID/cmdline`` of every process on a host
is readable by every local user, and scripts carry private keys, tokens and kubeconfigs. The command
sshd runs is always the same short bootstrap, ``sudo -n -- sh -c 'eval "$(head -c N)"'`` (``sh -c``
as root, the bare ``eval`` in the login shell without sudo), and the channel's stdin carries the N
bytes of the script followed by the command's own ``input``. ``head -c N`` (GNU coreutils) reads
exactly N bytes, so the script is read whole into the shell's memory before any of it runs and
``eval`` runs it there, in no new process. Whatever the script then runs (``cat``, ``apt-get``,
``ssh``, ``read``) inherits a stdin that holds only the ``input`` (an upload's bytes) or is at its
end: no command can swallow the rest of the script, which a shell reading its script from stdin
(``sh -s``) would allow. The bootstrap holds no content, so sudo's log no longer records scripts
either. Scripts that run scripts (sudo inside a prefetch) use :func:`kubeward.ops.shell.render_nested`.

Client keys: the key file in ``key_path``, loaded before connecting so a missing, unreadable or
invalid file is a connect failure that says so. A passphrase-protected key is used through ssh-agent
(``SSH_AUTH_SOCK``, after ``ssh-add KEY``): kubeward never asks for, reads or stores a passphrase.

Errors (all :class:`kubeward.errors.RemoteError`)::

    RemoteError
     +-- ConnectError         the host could not be reached or logged into (kind says why)
     |    +-- HostKeyError    the host's key is unknown, changed, or not the pinned one
     +-- CommandError         a command ran and failed or timed out (host, command, status, stderr)
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import re
import shlex
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncssh

from kubeward.errors import RemoteError
from kubeward.remote.known_hosts import (
    HostKey,
    KnownHost,
    TrustDecision,
    decide,
    host_pattern,
    read_known_hosts,
    write_known_hosts,
)

log = logging.getLogger("kubeward.remote")
T = TypeVar("T")

DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_COMMAND_TIMEOUT = 300.0
DEFAULT_CONCURRENCY = 64
#: AES-GCM first: AES-NI makes it several times faster than asyncssh's ChaCha20-Poly1305 (tunnels)
ENCRYPTION_PREFERENCE = ("aes256-gcm@openssh.com", "aes128-gcm@openssh.com", "chacha20-poly1305@openssh.com",
                         "aes256-ctr", "aes192-ctr", "aes128-ctr")


@dataclass(frozen=True)
class Target:
    """How to reach one host over SSH (pure data, built from cluster.yml)."""

    name: str
    address: str
    port: int
    user: str
    key_path: Path
    host_key: str | None = None  # pinned OpenSSH public key line
    bastion: Target | None = None

    @property
    def pattern(self) -> str:
        return host_pattern(self.address, self.port)


#: ConnectError kinds whose cause is on this machine (the key file, ssh-agent), not on the host
LOCAL_KINDS = frozenset({"no key", "key unreadable", "bad key", "key needs a passphrase", "ssh-agent", "error"})


class ConnectError(RemoteError):
    def __init__(self, host: str, kind: str, detail: str, hint: str = "") -> None:
        self.host, self.kind, self.detail, self.hint = host, kind, detail, hint
        msg = f"{host}: cannot connect ({kind}): {detail}"
        super().__init__(msg + (f"; {hint}" if hint else ""))

    @property
    def local(self) -> bool:
        """The cause is on this machine (key file, ssh-agent): no host could be reached this way."""
        return self.kind in LOCAL_KINDS


class HostKeyError(ConnectError):
    def __init__(self, host: str, target: Target, decision: TrustDecision, config_hint: str) -> None:
        self.decision = decision
        new = decision.presented.fingerprint
        if decision.verdict == "unknown":
            detail = f"host key of {target.pattern} is unknown: {decision.presented.type} {new}"
            hint = (f"if that fingerprint is right, trust it with `kubeward trust -c {config_hint} {host}` "
                    f"(or pass --trust-new-hosts), or pin it as hosts[].ssh.host_key in cluster.yml")
            kind = "unknown host key"
        elif decision.verdict == "changed":
            old = decision.expected.fingerprint if decision.expected else "?"
            detail = (f"HOST KEY CHANGED for {target.pattern}: kubeward trusted {old}, the host now presents "
                      f"{new}. This may be a man-in-the-middle attack, or the host was reinstalled")
            hint = (f"if the change is legitimate, verify {new} out of band, then run "
                    f"`kubeward trust -c {config_hint} --replace {host}`")
            kind = "host key changed"
        else:
            old = decision.expected.fingerprint if decision.expected else "?"
            detail = (f"host key of {target.pattern} does not match the key pinned in cluster.yml: pinned {old}, "
                      f"presented {new}")
            hint = "if the host was legitimately re-keyed, update hosts[].ssh.host_key in cluster.yml"
            kind = "host key mismatch"
        super().__init__(host, kind, detail, hint)


class CommandError(RemoteError):
    def __init__(self, host: str, command: str, exit_status: int | None, stdout: str, stderr: str,
                 reason: str = "") -> None:
        self.host, self.command, self.exit_status = host, command, exit_status
        self.stdout, self.stderr = stdout, stderr
        shown = command if len(command) <= 200 else command[:200] + "..."
        why = reason or f"exit status {exit_status}"
        self.reason = why
        tail = (stderr.strip() or stdout.strip())[-1000:]
        super().__init__(f"{host}: command failed ({why}): {shown}" + (f"\n  {tail}" if tail else ""))


@dataclass(frozen=True)
class CommandResult:
    host: str
    command: str
    exit_status: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.exit_status == 0


@dataclass
class Trust:
    """Host-key trust for a run: kubeward's known_hosts file plus the ``--trust-new-hosts`` choice."""

    path: Path
    trust_new: bool = False
    config_hint: str = "cluster.yml"
    _entries: list[KnownHost] | None = field(default=None, repr=False)
    _lock: asyncio.Lock | None = field(default=None, repr=False)

    def entries(self) -> list[KnownHost]:
        if self._entries is None:
            self._entries = read_known_hosts(self.path)
        return self._entries

    def decide(self, target: Target, presented: HostKey) -> TrustDecision:
        pin = HostKey.parse(target.host_key) if target.host_key else None
        return decide(presented, target.pattern, pin, self.entries())

    def recorded(self, target: Target) -> list[KnownHost]:
        return [e for e in self.entries() if e.pattern == target.pattern]

    def remember(self, target: Target, key: HostKey) -> None:
        entries = self.entries()
        if not any(e.pattern == target.pattern and e.key == key for e in entries):
            self._entries = [*entries, KnownHost(target.pattern, key, f"kubeward:{target.name}")]
            write_known_hosts(self.path, self._entries)

    def forget(self, target: Target) -> list[KnownHost]:
        """Drop every recorded key of a host (an explicit, operator-confirmed step)."""
        gone = self.recorded(target)
        if gone:
            self._entries = [e for e in self.entries() if e.pattern != target.pattern]
            write_known_hosts(self.path, self._entries)
        return gone


class _Client(asyncssh.SSHClient):
    def __init__(self, trust: Trust, target: Target) -> None:
        self.trust, self.target = trust, target
        self.decision: TrustDecision | None = None

    def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        presented = HostKey.parse(key.export_public_key("openssh").decode())
        decision = self.trust.decide(self.target, presented)
        self.decision = decision
        if decision.verdict == "unknown" and self.trust.trust_new:
            log.warning("%s: trusting new host key %s (--trust-new-hosts)", self.target.name, presented.fingerprint)
            self.trust.remember(self.target, presented)
            return True
        return decision.ok


def read_client_key(key_path: Path, label: str) -> asyncssh.SSHKeyPair | bytes | None:
    """The private key in ``key_path``; for a passphrase-protected key, its public key blob instead
    (from the file's unencrypted header or KEY.pub; None when neither says) so that the caller can
    find it in ssh-agent. Raises ConnectError for a missing, unreadable or invalid key file."""
    hint = "fix hosts[].ssh.key_path in cluster.yml: it names the private key file (not the .pub)"
    try:
        data = key_path.read_bytes()
    except FileNotFoundError as exc:
        raise ConnectError(label, "no key", f"SSH key {key_path} does not exist", hint) from exc
    except OSError as exc:
        raise ConnectError(label, "key unreadable", f"SSH key {key_path}: {exc.strerror or exc}", hint) from exc
    try:
        return asyncssh.load_keypairs([asyncssh.import_private_key(data)])[0]
    except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError, ValueError) as exc:
        if "assphrase" not in str(exc) and not _encrypted_openssh_key(data):
            raise ConnectError(label, "bad key", f"SSH key {key_path} is not a usable private key ({exc})",
                               hint) from exc
    return _openssh_public_blob(data) or _public_file_blob(key_path)


def _encrypted_openssh_key(data: bytes) -> bool:
    # asyncssh cannot decrypt OpenSSH's bcrypt-protected keys without bcrypt, and says so differently
    return b"BEGIN OPENSSH PRIVATE KEY" in data and _openssh_cipher(data) not in (None, b"none")


def _openssh_body(data: bytes) -> bytes | None:
    import base64
    import binascii

    text = data.decode("ascii", errors="replace")
    m = re.search(r"-----BEGIN OPENSSH PRIVATE KEY-----(.*?)-----END OPENSSH PRIVATE KEY-----", text, re.S)
    if not m:
        return None
    try:
        body = base64.b64decode("".join(m.group(1).split()))
    except (binascii.Error, ValueError):
        return None
    magic = b"openssh-key-v1\0"
    return body[len(magic):] if body.startswith(magic) else None


def _ssh_strings(body: bytes, count: int) -> list[bytes] | None:
    """The first ``count`` SSH wire strings of ``body`` (the uint32 key count is read as one)."""
    out, pos = [], 0
    for i in range(count):
        if i == 3:  # number of keys: a bare uint32
            pos += 4
        if pos + 4 > len(body):
            return None
        n = int.from_bytes(body[pos:pos + 4], "big")
        out.append(body[pos + 4:pos + 4 + n])
        pos += 4 + n
    return out


def _openssh_cipher(data: bytes) -> bytes | None:
    body = _openssh_body(data)
    fields = _ssh_strings(body, 1) if body is not None else None
    return fields[0] if fields else None


def _openssh_public_blob(data: bytes) -> bytes | None:
    body = _openssh_body(data)
    fields = _ssh_strings(body, 4) if body is not None else None
    return fields[3] if fields else None


def _public_file_blob(key_path: Path) -> bytes | None:
    try:
        return asyncssh.read_public_key(f"{key_path}.pub").public_data
    except (OSError, ValueError):
        return None


def render_bootstrap(user: str, script_bytes: int, sudo: bool) -> str:
    """The command line sshd runs for every script: read ``script_bytes`` of script from stdin and
    ``eval`` it (as root through ``sudo -n`` unless the login user is root, or in the login shell)."""
    boot = f'eval "$(head -c {int(script_bytes)})"'
    if not sudo:
        return boot
    if user == "root":
        return f"sh -c {shlex.quote(boot)}"
    return f"sudo -n -- sh -c {shlex.quote(boot)}"


class PlanViolation(RemoteError):
    """A command that is not marked read-only was attempted while the session only reads (``plan``)."""

    def __init__(self, host: str, what: str) -> None:
        self.host = host
        super().__init__(f"{host}: refused to run '{what}' during a plan: kubeward only reads hosts in a plan "
                         "(this is a bug in kubeward: the phase should not have tried)")


class Session:
    """Connections to a set of hosts for one run. Use as ``async with Session(...) as s:``.

    While ``read_only`` is set (``kubeward plan``), only commands passed with ``reads_only=True``
    run; anything else raises :class:`PlanViolation`, so no phase can change a host under a plan
    even if it forgets to check.
    """

    def __init__(
        self,
        targets: Iterable[Target],
        trust: Trust,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        command_timeout: float = DEFAULT_COMMAND_TIMEOUT,
        connect_retries: int = 2,
    ) -> None:
        self.targets = {t.name: t for t in targets}
        self.trust = trust
        self.concurrency = max(1, concurrency)
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self.connect_retries = connect_retries
        self.round_trips: Counter[str] = Counter()
        self.read_only = False
        self._conns: dict[str, asyncssh.SSHClientConnection] = {}
        self._bastions: dict[str, asyncssh.SSHClientConnection] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._sem: asyncio.Semaphore | None = None

        self._keys: dict[Path, list[asyncssh.SSHKeyPair]] = {}
        self._agent: asyncssh.SSHAgentClient | None = None

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        for conn in [*self._conns.values(), *self._bastions.values()]:
            conn.close()
        for conn in [*self._conns.values(), *self._bastions.values()]:
            try:
                await asyncio.wait_for(conn.wait_closed(), 2)
            except (TimeoutError, OSError, asyncssh.Error):
                pass
        self._conns.clear()
        self._bastions.clear()
        if self._agent is not None:
            self._agent.close()
            await self._agent.wait_closed()
            self._agent = None

    @property
    def semaphore(self) -> asyncio.Semaphore:
        if self._sem is None:
            self._sem = asyncio.Semaphore(self.concurrency)
        return self._sem

    # ----- connecting ------------------------------------------------------------------------------
    async def connect(self, name: str) -> asyncssh.SSHClientConnection:
        conn = self._conns.get(name)
        if conn is not None and not conn.is_closed():
            return conn
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            conn = self._conns.get(name)
            if conn is not None and not conn.is_closed():
                return conn
            target = self.targets[name]
            tunnel = None
            if target.bastion is not None:
                tunnel = await self._bastion(target.bastion, name)
            conn = await self._open(target, name, tunnel)
            self._conns[name] = conn
            return conn

    async def _bastion(self, b: Target, via_for: str) -> asyncssh.SSHClientConnection:
        key = f"{b.user}@{b.pattern}"
        conn = self._bastions.get(key)
        if conn is not None and not conn.is_closed():
            return conn
        lock = self._locks.setdefault("bastion:" + key, asyncio.Lock())
        async with lock:
            conn = self._bastions.get(key)
            if conn is None or conn.is_closed():
                conn = await self._open(b, f"{via_for} (bastion {b.address})", None)
                self._bastions[key] = conn
            return conn

    async def _client_keys(self, target: Target, label: str) -> list[asyncssh.SSHKeyPair]:
        """The key pair(s) to log in with: the key file, or its copy in ssh-agent when the file is
        passphrase-protected; every failure is a ConnectError that names the key and what to do."""
        keys = self._keys.get(target.key_path)
        if keys is not None:
            return keys
        loaded = read_client_key(target.key_path, label)
        if isinstance(loaded, asyncssh.SSHKeyPair):
            keys = [loaded]
        else:
            keys = await self._agent_keys(target.key_path, loaded, label)
        self._keys[target.key_path] = keys
        return keys

    async def _agent_keys(self, key_path: Path, public: bytes | None, label: str) -> list[asyncssh.SSHKeyPair]:
        sock = os.environ.get("SSH_AUTH_SOCK", "")
        if not sock:
            raise ConnectError(label, "key needs a passphrase", f"SSH key {key_path} is passphrase-protected and "
                               "kubeward does not read passphrases", f"load it into ssh-agent (`eval $(ssh-agent)`; "
                               f"`ssh-add {key_path}`) and run again with SSH_AUTH_SOCK set")
        try:
            if self._agent is None:
                self._agent = await asyncssh.connect_agent(sock)
            held = await self._agent.get_keys()
        except (OSError, asyncssh.Error, ValueError) as exc:
            raise ConnectError(label, "ssh-agent", f"SSH key {key_path} is passphrase-protected and ssh-agent at "
                               f"{sock} did not answer: {exc}", "is SSH_AUTH_SOCK right? (`ssh-add -l`)") from exc
        if public is not None:
            held = [k for k in held if k.public_data == public]
        if not held:
            raise ConnectError(label, "key needs a passphrase", f"SSH key {key_path} is passphrase-protected and "
                               f"ssh-agent ({sock}) does not hold it", f"run `ssh-add {key_path}`, then run again")
        return list(held)

    async def _open(self, target: Target, label: str, tunnel: Any) -> asyncssh.SSHClientConnection:
        client_keys = await self._client_keys(target, label)
        attempt = 0
        while True:
            attempt += 1
            client: list[_Client] = []

            def factory(client: list[_Client] = client) -> _Client:
                c = _Client(self.trust, target)
                client.append(c)
                return c

            started = time.monotonic()
            try:
                conn, _ = await asyncssh.create_connection(
                    factory, target.address, target.port, tunnel=tunnel, username=target.user,
                    client_keys=client_keys, known_hosts=([], [], []), agent_path=None,
                    config=None, preferred_auth=["publickey"], connect_timeout=self.connect_timeout,
                    encryption_algs=list(ENCRYPTION_PREFERENCE),
                    login_timeout=max(self.connect_timeout * 2, 10), keepalive_interval=5,
                    keepalive_count_max=3,
                )
                self.round_trips[label] += 1
                log.debug("%s: connected in %.3f s", label, time.monotonic() - started)
                return conn
            except asyncssh.HostKeyNotVerifiable as exc:
                decision = client[0].decision if client else None
                if decision is None:
                    raise ConnectError(label, "host key", str(exc)) from exc
                raise HostKeyError(label, target, decision, self.trust.config_hint) from exc
            except asyncssh.PermissionDenied as exc:
                raise ConnectError(label, "authentication failed",
                                   f"{target.user}@{target.address} rejected key {target.key_path}",
                                   "check hosts[].ssh.user and key_path, and the user's authorized_keys") from exc
            except (TimeoutError, ConnectionResetError, asyncssh.ConnectionLost) as exc:
                kind = "timeout" if isinstance(exc, asyncio.TimeoutError | TimeoutError) else "connection reset"
                if attempt > self.connect_retries:
                    raise ConnectError(label, kind, f"{target.address}:{target.port} after {attempt} attempts "
                                       f"({self.connect_timeout:g} s connect timeout)",
                                       "is the host up and reachable? (--connect-timeout to wait longer)") from exc
                await asyncio.sleep(0.25 * 2 ** (attempt - 1))
            except ConnectionRefusedError as exc:
                raise ConnectError(label, "refused", f"nothing listens on {target.address}:{target.port}",
                                   "is sshd running, and is hosts[].ssh.port right?") from exc
            except OSError as exc:
                kind = {errno.EHOSTUNREACH: "unreachable", errno.ENETUNREACH: "unreachable"}.get(
                    exc.errno or 0, "network error")
                raise ConnectError(label, kind, f"{target.address}:{target.port}: {exc.strerror or exc}") from exc
            except asyncssh.Error as exc:
                raise ConnectError(label, "ssh error", f"{exc.reason}") from exc
            except (ValueError, TypeError) as exc:  # asyncssh's refusals of options or keys
                raise ConnectError(label, "error", f"{type(exc).__name__}: {exc}") from exc

    def connected(self, name: str) -> bool:
        """Whether the host's connection is still open (after a command, False means it was lost)."""
        conn = self._conns.get(name)
        return conn is not None and not conn.is_closed()

    def forget(self, name: str) -> None:
        """Drop a host's cached connection (after it died), so the next use connects anew."""
        conn = self._conns.pop(name, None)
        if conn is not None:
            conn.close()

    async def connect_first(self, names: Sequence[str], what: str = "no host reachable") -> str:
        """The first of ``names`` (in order) that connects; ConnectError naming every failure if none."""
        errors: list[str] = []
        for name in names:
            try:
                await self.connect(name)
                return name
            except RemoteError as exc:
                errors.append(str(exc))
        raise ConnectError(", ".join(names) or "-", "none reachable", f"{what}: " + "; ".join(errors))

    async def connect_all(self, names: Sequence[str] | None = None) -> dict[str, RemoteError | None]:
        """Connect to every host concurrently; returns each host's error, or None."""

        async def one(name: str) -> None:
            await self.connect(name)

        results = await self.each(one, names)
        out: dict[str, RemoteError | None] = {}
        for n, r in results.items():
            if r is None or isinstance(r, RemoteError):
                out[n] = r
            else:  # a failure is never reported as a connection (connect raises only RemoteError)
                log.debug("%s: unexpected connect error", n, exc_info=r)
                out[n] = ConnectError(n, "error", f"{type(r).__name__}: {r}")
        return out

    # ----- running ---------------------------------------------------------------------------------
    async def run(
        self,
        name: str,
        command: str,
        *,
        sudo: bool = True,
        input: str | bytes | None = None,
        input_file: Path | None = None,
        timeout: float | None = None,
        check: bool = True,
        label: str | None = None,
        reads_only: bool = False,
    ) -> CommandResult:
        """Run a shell script on a host (one round-trip); ``check`` raises CommandError on failure.

        The script goes on stdin ahead of ``input`` or of the file ``input_file`` (streamed, for
        large uploads; see the module docstring); ``label`` stands for
        the command in errors and logs: pass one when the command carries secrets (file contents are
        sent inside scripts).
        """
        target = self.targets[name]
        shown = label or command
        if self.read_only and not reads_only:
            raise PlanViolation(name, label or "a command")
        conn = await self.connect(name)
        script = command.encode()
        wrapped = render_bootstrap(target.user, len(script), sudo)
        extra = input.encode() if isinstance(input, str) else (input or b"")
        data = script + extra
        started = time.monotonic()
        self.round_trips[name] += 1
        limit = timeout or self.command_timeout
        try:
            # asyncssh's own timeout starts once the channel is open; opening one on a dead link
            # would wait for keepalives, so the whole exchange is bounded too
            exchange = (conn.run(wrapped, input=data, encoding=None, check=False, timeout=limit)
                        if input_file is None else _stream_file(conn, wrapped, data, input_file, limit))
            proc = await asyncio.wait_for(exchange, limit + 2)
        except asyncssh.TimeoutError as exc:
            raise CommandError(name, shown, None, _text(exc.stdout), _text(exc.stderr),
                               f"timed out after {limit:g} s") from exc
        except TimeoutError as exc:
            self._conns.pop(name, None)
            raise CommandError(name, shown, None, "", "", f"timed out after {limit:g} s (no answer)") from exc
        except (asyncssh.ConnectionLost, asyncssh.DisconnectError, asyncssh.ChannelOpenError, OSError) as exc:
            self._conns.pop(name, None)
            raise CommandError(name, shown, None, "", "", f"connection lost: {exc}") from exc
        seconds = time.monotonic() - started
        status = proc.exit_status if proc.exit_status is not None else 255
        result = CommandResult(name, shown, status, _text(proc.stdout), _text(proc.stderr), seconds)
        log.debug("%s: %s -> %s in %.3f s", name, shown[:120], status, seconds)
        if check and status != 0:
            if sudo and target.user != "root" and "sudo:" in result.stderr and "password" in result.stderr:
                raise CommandError(name, shown, status, result.stdout, result.stderr,
                                   f"{target.user} has no passwordless sudo")
            raise CommandError(name, shown, status, result.stdout, result.stderr)
        return result

    async def upload(
        self, name: str, path: str, data: bytes, *, owner: str = "root", group: str = "root", mode: int = 0o644,
    ) -> None:
        """Write ``path`` atomically (temporary file in the same directory, then rename) with owner and
        mode set before the rename, in one round-trip."""
        d = shlex.quote(str(Path(path).parent))
        q = shlex.quote(path)
        script = (
            f"set -e; umask 077; tmp=$(mktemp {d}/.kubeward.XXXXXX); trap 'rm -f \"$tmp\"' EXIT; "
            f"cat > \"$tmp\"; chown {shlex.quote(owner)}:{shlex.quote(group)} \"$tmp\"; "
            f"chmod {mode:04o} \"$tmp\"; mv -f \"$tmp\" {q}; trap - EXIT"
        )
        await self.run(name, script, input=data, label=f"upload {path}")

    async def upload_file(
        self, name: str, local: Path, path: str, *, sha256: str, owner: str = "root", group: str = "root",
        mode: int = 0o644, timeout: float = 900,
    ) -> None:
        """Stream a local file to ``path`` (never whole in memory): into a temporary file beside
        it, SHA-256 checked on the host against ``sha256``, owner and mode set, then renamed; the
        directory is created (0755) if missing. One round-trip; a mismatch leaves nothing behind."""
        d = shlex.quote(str(Path(path).parent))
        q = shlex.quote(path)
        script = (
            f"set -e; mkdir -p {d}; umask 077; tmp=$(mktemp {d}/.kubeward.XXXXXX); trap 'rm -f \"$tmp\"' EXIT; "
            f"cat > \"$tmp\"; got=$(sha256sum < \"$tmp\" | cut -d' ' -f1); "
            f"if [ \"$got\" != {shlex.quote(sha256)} ]; then "
            f"echo \"{path}: received SHA-256 $got, expected {sha256}\" >&2; exit 3; fi; "
            f"chown {shlex.quote(owner)}:{shlex.quote(group)} \"$tmp\"; "
            f"chmod {mode:04o} \"$tmp\"; mv -f \"$tmp\" {q}; trap - EXIT"
        )
        await self.run(name, script, input_file=local, timeout=timeout, label=f"upload {path}")

    async def each(
        self, fn: Callable[[str], Awaitable[T]], names: Sequence[str] | None = None
    ) -> dict[str, T | BaseException]:
        """Run ``fn(host)`` for every host, at most ``concurrency`` at once; exceptions are returned."""
        hosts = list(names) if names is not None else list(self.targets)

        async def guarded(name: str) -> T:
            async with self.semaphore:
                return await fn(name)

        results = await asyncio.gather(*(guarded(n) for n in hosts), return_exceptions=True)
        out: dict[str, T | BaseException] = {}
        for name, res in zip(hosts, results, strict=True):
            if isinstance(res, BaseException) and not isinstance(res, Exception):
                raise res  # KeyboardInterrupt, CancelledError
            out[name] = res
        return out


async def _stream_file(conn: asyncssh.SSHClientConnection, command: str, head: bytes, path: Path,
                       limit: float) -> asyncssh.SSHCompletedProcess:
    """Run ``command`` with ``head`` (the script) and then the file at ``path`` on its stdin, read
    and sent in chunks with flow control, so a 100 MB binary is never held in memory."""
    process = await conn.create_process(command, encoding=None)
    try:
        # the remote side may stop reading (its script failed): its exit status says why
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            process.stdin.write(head)
            with open(path, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 18), b""):
                    process.stdin.write(chunk)
                    await process.stdin.drain()
            process.stdin.write_eof()
        return await process.wait(check=False, timeout=limit)
    finally:
        process.close()


def _text(data: object) -> str:
    if data is None:
        return ""
    if isinstance(data, bytes):
        return data.decode(errors="replace")
    return str(data)

