"""Small value types and the pure parsers behind cluster.yml's fields.

Every ``parse_*`` takes the plain value YAML produced (str, int, bool, None, list, dict) and returns
the typed value or raises ValueError whose text says what was expected and what was given. No
pydantic and no I/O here, so the same parsers serve the model, the CLI and later phases.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import struct
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Network
from pathlib import Path, PurePosixPath

_MAX_SHOWN = 60


def show(value: object) -> str:
    """How a YAML value reads in a message: strings quoted, null/true/false as YAML spells them."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        text = str(value) if value.bit_length() < 200 else "a very large integer"
        return text
    if isinstance(value, str):
        text = value if len(value) <= _MAX_SHOWN else value[: _MAX_SHOWN - 3] + "..."
        return repr(text)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def _need_str(value: object, expected: str) -> str:
    if not isinstance(value, str):
        hint = " (quote it)" if isinstance(value, bool | int) or value is None else ""
        raise ValueError(f"expected {expected}, got {show(value)}{hint}")
    return value


def _need_int(value: object, lo: int, hi: int, what: str = "an integer") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected {what} from {lo} to {hi}, got {show(value)}")
    if not lo <= value <= hi:
        raise ValueError(f"expected {what} from {lo} to {hi}, got {show(value)}")
    return value


def parse_int_in(value: object, lo: int, hi: int) -> int:
    """An integer (not a boolean, not a string of digits) in [lo, hi]."""
    return _need_int(value, lo, hi)


def parse_port(value: object) -> int:
    """A TCP/UDP port number, 1..65535."""
    return _need_int(value, 1, 65535, "a port number")


def parse_bool(value: object) -> bool:
    """Exactly YAML's true or false; 'yes', 'on' and 1 are refused so intent is never guessed."""
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {show(value)}")
    return value


# --- names -------------------------------------------------------------------------------------

_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_DNS_LABEL_ANYCASE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


def parse_dns_label(value: object) -> str:
    """An RFC 1123 label in lower case: 1-63 of a-z, 0-9 and '-', not starting or ending with '-'."""
    text = _need_str(value, "a name of lower-case letters, digits and '-' like node-1")
    if not _DNS_LABEL.fullmatch(text):
        why = "upper-case letters are not allowed; " if text.lower() != text else ""
        raise ValueError(
            f"expected a name of 1-63 lower-case letters, digits and '-' that starts and ends with a "
            f"letter or digit, like node-1; {why}got {show(text)}"
        )
    return text


def _is_dns_name(text: str) -> bool:
    if not text or len(text) > 253:
        return False
    labels = text.rstrip(".").split(".")
    if not all(_DNS_LABEL_ANYCASE.fullmatch(label) for label in labels):
        return False
    # a last label of digits only is a mistyped IPv4 address, never a DNS name
    return not labels[-1].isdigit()


def parse_address(value: object) -> str:
    """An IPv4 address, IPv6 address or DNS name, returned as written (IPs normalised)."""
    text = _need_str(value, "an IP address or DNS name like 203.0.113.10 or node-1.example.com")
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    if _is_dns_name(text):
        return text.lower()
    if re.fullmatch(r"[0-9.]+", text):
        raise ValueError(
            f"expected an IP address like 203.0.113.10, got {show(text)} (not a valid IPv4 address)"
        )
    raise ValueError(
        f"expected an IP address or DNS name like 203.0.113.10 or node-1.example.com, got {show(text)}"
    )


def parse_ipv4_address(value: object) -> IPv4Address:
    """A single IPv4 address such as 10.0.0.5."""
    if isinstance(value, IPv4Address):
        return value
    text = _need_str(value, "an IPv4 address like 10.0.0.5")
    try:
        return IPv4Address(text)
    except ValueError:
        pass
    if "/" in text:
        raise ValueError(f"expected an IPv4 address like 10.0.0.5 without a /prefix, got {show(text)}")
    raise ValueError(f"expected an IPv4 address like 10.0.0.5, got {show(text)}")


def _host_bits_hint(text: str) -> str:
    """For a CIDR with host bits set, the network meant and the one-address form, in its own family."""
    try:
        net = ipaddress.ip_network(text, strict=False)
        addr = ipaddress.ip_address(text.split("/", 1)[0])
    except ValueError:
        return ""
    try:
        ipaddress.ip_network(text)
        return ""  # a valid network: whatever is wrong, it is not host bits
    except ValueError:
        pass
    return f" (host bits are set: did you mean {net}, or {addr}/{net.max_prefixlen} for one address?)"


def _family_examples(text: str) -> tuple[str, str]:
    """A CIDR and an address to show as examples, in the family the user wrote."""
    return ("2001:db8::/64", "2001:db8::7") if ":" in text else ("203.0.113.0/24", "203.0.113.7")


def parse_ipv4_network(value: object) -> IPv4Network:
    """An IPv4 network in CIDR form with no host bits set, such as 10.0.0.0/24."""
    if isinstance(value, IPv4Network):
        return value
    text = _need_str(value, "an IPv4 CIDR like 10.0.0.0/24")
    if "/" not in text:
        raise ValueError(f"expected an IPv4 CIDR like 10.0.0.0/24 (with a /prefix), got {show(text)}")
    try:
        return IPv4Network(text)
    except ValueError:
        pass
    try:
        six = ipaddress.ip_network(text, strict=False).version == 6
    except ValueError:
        six = False
    if six:
        raise ValueError(f"expected an IPv4 CIDR like 10.0.0.0/24, got the IPv6 network {show(text)}; "
                         "this key takes IPv4 only")
    raise ValueError(f"expected an IPv4 CIDR like 10.0.0.0/24, got {show(text)}{_host_bits_hint(text)}")


def parse_source_network(value: object) -> IPv4Network | IPv6Network:
    """A source network: an IPv4/IPv6 CIDR, or a bare address meaning that one address (/32, /128)."""
    if isinstance(value, IPv4Network | IPv6Network):
        return value
    text = _need_str(value, "a CIDR like 203.0.113.0/24")
    try:
        return ipaddress.ip_network(text)
    except ValueError:
        pass
    cidr, addr = _family_examples(text)
    raise ValueError(
        f"expected a CIDR like {cidr} or a single address like {addr}, got {show(text)}{_host_bits_hint(text)}"
    )


_POSIX_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")

#: accounts Debian creates itself; an admin of that name would collide with them
DEBIAN_SYSTEM_USERS = frozenset(
    {
        "root",
        "daemon",
        "bin",
        "sys",
        "sync",
        "games",
        "man",
        "lp",
        "mail",
        "news",
        "uucp",
        "proxy",
        "www-data",
        "backup",
        "list",
        "irc",
        "gnats",
        "nobody",
        "_apt",
        "systemd-network",
        "systemd-resolve",
        "systemd-timesync",
        "messagebus",
        "sshd",
        "etcd",
        "kube",
    }
)


def parse_posix_name(value: object) -> str:
    """A user or group name: lower-case letter or '_' first, then letters, digits, '_' or '-', max 32."""
    text = _need_str(value, "a user or group name like kubeadmin")
    if not _POSIX_NAME.fullmatch(text):
        raise ValueError(
            "expected a user or group name of at most 32 lower-case letters, digits, '_' or '-', "
            f"starting with a letter or '_', like kubeadmin, got {show(text)}"
        )
    return text


def parse_admin_name(value: object) -> str:
    """A POSIX user name that is not one of Debian's system accounts."""
    text = parse_posix_name(value)
    if text in DEBIAN_SYSTEM_USERS:
        raise ValueError(f"{show(text)} is a Debian system account; choose another admin name like kubeadmin")
    return text


_DEBIAN_PACKAGE = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")


def parse_debian_package(value: object) -> str:
    """A Debian package name (policy 5.6.1): lower-case letters, digits, '+', '-', '.', two or more."""
    text = _need_str(value, "a Debian package name like htop")
    if not _DEBIAN_PACKAGE.fullmatch(text):
        raise ValueError(
            "expected a Debian package name of at least two lower-case letters, digits, '+', '-' or '.', "
            f"starting with a letter or digit, like htop, got {show(text)}"
        )
    return text


_IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")


def parse_interface_name(value: object) -> str:
    """A Linux network interface name: 1-15 characters, no '/', ':' or whitespace."""
    text = _need_str(value, "a network interface name like eth1")
    if not _IFNAME.fullmatch(text) or text in {".", ".."}:
        raise ValueError(
            f"expected a network interface name of 1-15 letters, digits, '_', '-' or '.', like eth1, "
            f"got {show(text)}"
        )
    return text


_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")


def parse_label_key(value: object) -> str:
    """A Kubernetes label key: [dns-subdomain/]name, name at most 63 characters."""
    text = _need_str(value, "a label key like node.example.com/tier")
    prefix, _, name = text.rpartition("/")
    ok = bool(_LABEL_NAME.fullmatch(name)) and (not prefix or (_is_dns_name(prefix) and prefix.lower() == prefix))
    if not ok:
        raise ValueError(
            "expected a Kubernetes label key like tier or example.com/tier (name of at most 63 letters, "
            f"digits, '-', '_' or '.', optional DNS prefix), got {show(text)}"
        )
    return text


def parse_label_value(value: object) -> str:
    """A Kubernetes label value: empty, or at most 63 letters, digits, '-', '_' or '.'."""
    text = _need_str(value, "a label value like frontend")
    if text and not _LABEL_NAME.fullmatch(text):
        raise ValueError(
            "expected a Kubernetes label value of at most 63 letters, digits, '-', '_' or '.', starting "
            f"and ending with a letter or digit, like frontend, got {show(text)}"
        )
    return text


def parse_san(value: object) -> str:
    """A subject alternative name: an IP address or a DNS name, optionally '*.' wildcarded."""
    text = _need_str(value, "a DNS name or IP address like api.example.com")
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    name = text[2:] if text.startswith("*.") else text
    if not _is_dns_name(name):
        raise ValueError(
            f"expected a DNS name or IP address like api.example.com or 203.0.113.10, got {show(text)}"
        )
    return text.lower()


def _control_char(text: str) -> str | None:
    """The first character of text that is not printable (control, separator, lone surrogate), shown."""
    for ch in text:
        if not ch.isprintable() and ch != " ":
            return f"U+{ord(ch):04X}"
    return None


def parse_local_path(value: object) -> Path:
    """A path on the operator's machine (relative ones are resolved later against cluster.yml's directory)."""
    if isinstance(value, Path):
        value = str(value)
    text = _need_str(value, "a file path like keys/id_ed25519")
    if not text.strip():
        raise ValueError(f"expected a file path like keys/id_ed25519, got {show(text)}")
    bad = _control_char(text)
    if bad is not None:
        raise ValueError(f"contains the control character {bad}; write the path without it, got {show(text)}")
    return Path(text)


#: symlinks of a merged-/usr Debian: a path through one of them is the same directory as its target
_ALIASES = {
    "/bin": "/usr/bin", "/sbin": "/usr/sbin", "/lib": "/usr/lib", "/lib32": "/usr/lib32",
    "/lib64": "/usr/lib64", "/libx32": "/usr/libx32", "/var/run": "/run", "/var/lock": "/run/lock",
    "/usr/tmp": "/var/tmp",
}

#: trees nothing of kubeward's may live in: virtual or volatile file systems, the boot partition,
#: the package manager's territory (all of /usr but /usr/local/*/..., kept separately below)
SYSTEM_TREES = ("/proc", "/sys", "/dev", "/run", "/tmp", "/var/tmp", "/boot", "/usr", "/lost+found",
                "/var/lib/dpkg", "/var/lib/apt", "/var/cache", "/var/log", "/var/backups", "/var/mail",
                "/var/spool", "/etc/ssh", "/etc/apt", "/etc/systemd", "/etc/sudoers.d", "/etc/pam.d",
                "/etc/security", "/etc/default", "/etc/network", "/snap")

#: directories that hold the system's or other programs' data: they may contain a directory of
#: kubeward's, but must never be one (kubeward would chown and chmod them)
SYSTEM_DIRS = frozenset({
    "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/media",
    "/mnt", "/opt", "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/var",
    "/var/lib", "/var/local", "/var/opt", "/var/www", "/var/lib/systemd", "/var/lib/private",
    "/var/lib/misc", "/var/lib/ucf", "/var/lib/sudo", "/var/lib/containerd", "/var/lib/kubelet",
    "/var/lib/cni", "/var/lib/docker", "/var/lib/nftables", "/usr/local", "/etc/kubernetes",
    "/etc/etcd", "/etc/kubeward", "/etc/cni", "/etc/containerd",
})

#: /usr/local itself and its standard directories belong to the administrator, not to kubeward
_USR_LOCAL_DIRS = ("bin", "sbin", "lib", "lib64", "libexec", "etc", "share", "src", "include", "games", "man")

_REMOTE_PATH_CHARS = re.compile(r"[A-Za-z0-9._+@:,=~/-]+")


def normalize_posix_path(text: str) -> str:
    """An absolute POSIX path with '//' collapsed, '.' and a trailing '/' dropped, and merged-/usr
    symlinks (/bin, /lib, /var/run, ...) replaced by what they point to; '..' must be gone already."""
    parts = [p for p in text.split("/") if p not in ("", ".")]
    path = "/" + "/".join(parts)
    for alias, target in _ALIASES.items():
        if path == alias or path.startswith(alias + "/"):
            return target + path[len(alias):]
    return path


def system_path_problem(path: str) -> str | None:
    """Why a normalized absolute path cannot be a directory kubeward owns, or None if it can."""
    if path in SYSTEM_DIRS or path in SYSTEM_TREES or path in {f"/usr/local/{d}" for d in _USR_LOCAL_DIRS}:
        return "is a system directory that holds other data"
    parts = path.strip("/").split("/")
    if parts[0] == "home" and len(parts) == 2:
        return "is a user's home directory"
    if path.startswith("/usr/local/"):
        return None
    for tree in SYSTEM_TREES:
        if path.startswith(tree + "/"):
            return f"is inside {tree}, which belongs to the system"
    return None


def parse_remote_dir(value: object) -> PurePosixPath:
    """An absolute directory on the hosts that kubeward will own, such as /var/lib/etcd.

    kubeward creates it and sets its owner and mode, so it must be a dedicated directory: never a
    system directory (``/etc``, ``/var/lib``, a home ...) or one inside a virtual, volatile or
    package-managed tree, however it is spelled (``//``, trailing ``/``, ``.``, ``/lib`` for ``/usr/lib``).
    """
    if isinstance(value, PurePosixPath):
        value = str(value)
    example = "a dedicated absolute directory like /var/lib/etcd"
    text = _need_str(value, example)
    bad = _control_char(text)
    if bad is not None:
        raise ValueError(f"contains the control character {bad}; expected {example}")
    if not text.startswith("/"):
        raise ValueError(f"expected {example}; {show(text)} is relative, and the hosts have no directory to "
                         "resolve it against: write it from /")
    if not _REMOTE_PATH_CHARS.fullmatch(text):
        raise ValueError(f"expected {example} of letters, digits and . _ - + @ : , = ~ /, got {show(text)}")
    if ".." in text.split("/"):
        raise ValueError(f"expected {example}; write it without '..', got {show(text)}")
    path = normalize_posix_path(text)
    problem = system_path_problem(path)
    if problem is not None:
        shown = show(text) if path == text else f"{show(text)} ({path})"
        raise ValueError(f"{shown} {problem}; kubeward would make it its own (owner and mode): use a "
                         f"directory of its own, like {example.split(' like ')[1]}")
    return PurePosixPath(path)


# --- ports ---------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class PortRange:
    """An inclusive range of ports ``lo..hi``, 1 <= lo <= hi <= 65535; one port is ``lo == hi``."""

    lo: int
    hi: int

    def __post_init__(self) -> None:
        if not 1 <= self.lo <= self.hi <= 65535:
            raise ValueError(f"a port range needs 1 <= lo <= hi <= 65535, got {self.lo}-{self.hi}")

    def __str__(self) -> str:
        return str(self.lo) if self.lo == self.hi else f"{self.lo}-{self.hi}"

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and self.lo <= port <= self.hi

    def overlaps(self, other: PortRange) -> bool:
        return self.lo <= other.hi and other.lo <= self.hi

    @property
    def size(self) -> int:
        return self.hi - self.lo + 1


_RANGE = re.compile(r"^\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?$")


def parse_port_range(value: object) -> PortRange:
    """A port (int or "443") or an inclusive range "30001-30099"."""
    expected = "a port like 8443 or a range like 30001-30099"
    if isinstance(value, PortRange):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        if 1 <= value <= 65535:
            return PortRange(value, value)
        raise ValueError(f"expected {expected} (ports are 1-65535), got {show(value)}")
    text = _need_str(value, expected)
    match = _RANGE.fullmatch(text)
    if not match:
        raise ValueError(f"expected {expected}, got {show(text)}")
    lo = int(match.group(1))
    hi = int(match.group(2)) if match.group(2) else lo
    if not 1 <= lo <= hi <= 65535:
        raise ValueError(f"expected {expected} with 1 <= first <= last <= 65535, got {show(text)}")
    return PortRange(lo, hi)


# --- OpenSSH public keys -------------------------------------------------------------------------

#: key types OpenSSH accepts in authorized_keys and known_hosts
OPENSSH_KEY_TYPES = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-rsa",
    "ssh-dss",
)


@dataclass(frozen=True)
class OpenSshPublicKey:
    """One OpenSSH public key line: ``type base64 [comment]``."""

    key_type: str
    blob: bytes
    comment: str = ""

    def __repr__(self) -> str:
        return f"OpenSshPublicKey({str(self)!r})"

    def __str__(self) -> str:
        b64 = base64.b64encode(self.blob).decode("ascii")
        return f"{self.key_type} {b64} {self.comment}".rstrip()


def parse_openssh_public_key(value: object) -> OpenSshPublicKey:
    """Parse ``ssh-ed25519 AAAA... comment``: a known type and base64 whose blob names the same type."""
    expected = "an OpenSSH public key line like 'ssh-ed25519 AAAAC3Nza... user@host'"
    if isinstance(value, OpenSshPublicKey):
        value = str(value)
    text = _need_str(value, expected)
    # one line is one key: a newline (or CR, NUL, any control character) would let the rest of the
    # text become a second line of authorized_keys or known_hosts. One final newline, as a YAML
    # block scalar leaves it, is not part of the key.
    line = text[:-1] if text.endswith("\n") else text
    bad = _control_char(line.replace("\t", " "))
    if bad is not None:
        what = "a line break" if bad in ("U+000A", "U+000D") else f"the control character {bad}"
        raise ValueError(
            f"contains {what}; expected exactly one OpenSSH public key on one line "
            "(type, base64 and an optional comment), like 'ssh-ed25519 AAAAC3Nza... user@host'"
        )
    fields = line.strip().split(None, 2)
    if len(fields) < 2:
        raise ValueError(f"expected {expected}, got {show(text)}")
    key_type, b64 = fields[0], fields[1]
    comment = fields[2].strip() if len(fields) == 3 else ""
    if key_type not in OPENSSH_KEY_TYPES:
        raise ValueError(
            f"expected {expected}; {show(key_type)} is not a key type "
            f"(known: {', '.join(OPENSSH_KEY_TYPES)}; options before the key are not allowed)"
        )
    try:
        blob = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"the {key_type} key's base64 part does not decode: got {show(b64)}") from None
    named = _blob_type(blob)
    if named != key_type:
        raise ValueError(
            f"the key says {key_type} but its base64 part holds "
            f"{'a ' + repr(named) + ' key' if named else 'no valid key'}; "
            "copy the whole line from the .pub file"
        )
    if key_type == "ssh-ed25519" and len(blob) != 4 + 11 + 4 + 32:
        raise ValueError("the ssh-ed25519 key's base64 part has the wrong length; copy the whole .pub line")
    for word in comment.split():
        if word in OPENSSH_KEY_TYPES or word.startswith("AAAA"):
            raise ValueError(
                f"holds more than one key: its comment contains {show(word)}; give exactly one key line "
                "(type, base64 and an optional comment)"
            )
    return OpenSshPublicKey(key_type, blob, comment)


def _blob_type(blob: bytes) -> str | None:
    if len(blob) < 4:
        return None
    (length,) = struct.unpack(">I", blob[:4])
    if length > 64 or len(blob) < 4 + length:
        return None
    try:
        return blob[4 : 4 + length].decode("ascii")
    except UnicodeDecodeError:
        return None


def parse_ed25519_public_key(value: object) -> OpenSshPublicKey:
    """An OpenSSH ssh-ed25519 public key; kubeward's hardened sshd accepts no other client key type."""
    key = parse_openssh_public_key(value)
    if key.key_type != "ssh-ed25519":
        raise ValueError(
            f"is an {key.key_type} key, but kubeward's hardened sshd accepts only ssh-ed25519 keys "
            "(PubkeyAcceptedKeyTypes ssh-ed25519); make one with 'ssh-keygen -t ed25519' and paste "
            "the .pub line"
        )
    return key
