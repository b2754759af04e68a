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
    if not _DNS_LABEL.match(text):
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
    if not all(_DNS_LABEL_ANYCASE.match(label) for label in labels):
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
    try:
        net = ipaddress.ip_network(text, strict=False)
        addr = text.split("/", 1)[0]
    except ValueError:
        return ""
    return f" (host bits are set: did you mean {net}, or {addr}/{net.max_prefixlen} for one address?)"


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
    raise ValueError(
        f"expected a CIDR like 203.0.113.0/24 or a single address like 203.0.113.7, got {show(text)}"
        f"{_host_bits_hint(text)}"
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
    if not _POSIX_NAME.match(text):
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
    if not _DEBIAN_PACKAGE.match(text):
        raise ValueError(
            "expected a Debian package name of at least two lower-case letters, digits, '+', '-' or '.', "
            f"starting with a letter or digit, like htop, got {show(text)}"
        )
    return text


_IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")


def parse_interface_name(value: object) -> str:
    """A Linux network interface name: 1-15 characters, no '/', ':' or whitespace."""
    text = _need_str(value, "a network interface name like eth1")
    if not _IFNAME.match(text) or text in {".", ".."}:
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
    ok = bool(_LABEL_NAME.match(name)) and (not prefix or (_is_dns_name(prefix) and prefix.lower() == prefix))
    if not ok:
        raise ValueError(
            "expected a Kubernetes label key like tier or example.com/tier (name of at most 63 letters, "
            f"digits, '-', '_' or '.', optional DNS prefix), got {show(text)}"
        )
    return text


def parse_label_value(value: object) -> str:
    """A Kubernetes label value: empty, or at most 63 letters, digits, '-', '_' or '.'."""
    text = _need_str(value, "a label value like frontend")
    if text and not _LABEL_NAME.match(text):
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


def parse_local_path(value: object) -> Path:
    """A path on the operator's machine (relative ones are resolved later against cluster.yml's directory)."""
    if isinstance(value, Path):
        value = str(value)
    text = _need_str(value, "a file path like keys/id_ed25519")
    if not text.strip() or "\0" in text:
        raise ValueError(f"expected a file path like keys/id_ed25519, got {show(text)}")
    return Path(text)


def parse_remote_dir(value: object) -> PurePosixPath:
    """An absolute directory on the hosts, such as /var/lib/etcd."""
    if isinstance(value, PurePosixPath):
        value = str(value)
    text = _need_str(value, "an absolute path like /var/lib/etcd")
    path = PurePosixPath(text)
    if not path.is_absolute() or "\0" in text or ".." in path.parts or str(path) == "/":
        raise ValueError(f"expected an absolute directory below / like /var/lib/etcd, got {show(text)}")
    return path


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
    match = _RANGE.match(text)
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
    fields = text.strip().split(None, 2)
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
