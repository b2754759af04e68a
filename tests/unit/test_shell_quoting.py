"""Issue 13: no cluster.yml value is ever interpreted by a shell, on the operator or on a node.

Every string field the validator accepts gets shell metacharacters (``$(...)``, backticks, ``;``,
quotes, a space, ``%``, a newline, a backslash), each next to the word ``kwPWN``. Then every script
and command line kubeward builds for that config is rendered, and a small POSIX-shell lexer marks
which characters a shell would read as *syntax* (unquoted, inside double quotes, an unquoted
here-document) and which as literal data (single quotes, backslash escapes, comments, quoted
here-documents). ``kwPWN`` may only ever stand in literal data: a value pasted in bare, or breaking
out of its quotes, a comment or a here-document, puts it in syntax. The checker is itself tested
against the ways that goes wrong, and every script also passes ``sh -n``.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.unit.host_scripts import every_script

from kubeward.config import ClusterConfig, parse_config
from kubeward.config.errors import ConfigError
from kubeward.remote.openssh import openssh_argv
from kubeward.remote.targets import targets_for

WORD = "kwPWN"
#: each metacharacter next to WORD: wherever a shell would act on one, WORD is in syntax too
PAYLOAD = WORD + WORD.join(["$(touch kwPWN)", "`touch kwPWN`", ";", "'", '"', " ", "%", "\n", "\\", "&", "|",
                            "*", "#", "\nEOF\n", ">"]) + WORD


# ----- the checker ---------------------------------------------------------------------------------

def literal_mask(script: str) -> list[bool]:
    """For each character of a POSIX shell script: True when the shell reads it as literal data."""
    n = len(script)
    lit = [False] * n
    stack: list[list[Any]] = [["code", 0]]  # kind ("code", "dq", "bq"), paren depth
    heredocs: list[tuple[str, bool, bool]] = []  # delimiter, quoted, strip tabs
    i = 0
    while i < n:
        c = script[i]
        kind = stack[-1][0]
        if kind == "dq":
            if c == "\\" and i + 1 < n:
                i += 2
            elif c == '"':
                stack.pop()
                i += 1
            elif script.startswith("$(", i):
                stack.append(["code", 0])
                i += 2
            elif c == "`":
                stack.append(["bq", 0])
                i += 1
            else:
                i += 1
            continue
        # code (top level, inside $( ), inside backticks)
        if c == "\\" and i + 1 < n:
            lit[i + 1] = script[i + 1] != "\n"
            i += 2
        elif c == "'":
            end = script.find("'", i + 1)
            if end < 0:  # unterminated: a syntax error, and nothing after it is data
                return lit
            for k in range(i + 1, end):
                lit[k] = True
            i = end + 1
        elif c == '"':
            stack.append(["dq", 0])
            i += 1
        elif script.startswith("$(", i):
            stack.append(["code", 0])
            i += 2
        elif c == "`":
            if kind == "bq":
                stack.pop()
            else:
                stack.append(["bq", 0])
            i += 1
        elif c == "(":
            stack[-1][1] += 1
            i += 1
        elif c == ")":
            if stack[-1][1] == 0 and len(stack) > 1:
                stack.pop()
            else:
                stack[-1][1] = max(0, stack[-1][1] - 1)
            i += 1
        elif c == "#" and (i == 0 or script[i - 1] in " \t\n;&|(){}"):
            end = script.find("\n", i)
            end = n if end < 0 else end
            for k in range(i + 1, end):
                lit[k] = True
            i = end
        elif script.startswith("<<", i) and not script.startswith("<<<", i):
            j = i + 2
            strip = j < n and script[j] == "-"
            j += strip
            while j < n and script[j] in " \t":
                j += 1
            k = j
            while k < n and script[k] not in " \t\n;&|<>()":
                k += 1
            word = script[j:k]
            quoted = any(ch in word for ch in "'\"\\")
            heredocs.append((word.replace("'", "").replace('"', "").replace("\\", ""), quoted, strip))
            i = k
        elif c == "\n" and heredocs:
            i += 1
            for delim, quoted, strip in heredocs:
                while i < n:
                    end = script.find("\n", i)
                    end = n if end < 0 else end
                    line = script[i:end]
                    if (line.lstrip("\t") if strip else line) == delim:
                        i = end + 1
                        break
                    for k in range(i, end):
                        lit[k] = quoted
                    i = end + 1
            heredocs = []
        else:
            i += 1
    return lit


def exposed(script: str) -> list[str]:
    """Where WORD stands in shell syntax: the lines around it, for the failure message."""
    mask = literal_mask(script)
    out = []
    start = script.find(WORD)
    while start >= 0:
        if not all(mask[start:start + len(WORD)]):
            out.append(script[max(0, start - 60):start + 60])
        start = script.find(WORD, start + 1)
    return out


def test_the_checker_catches_each_way_a_value_escapes() -> None:
    q = shlex.quote(PAYLOAD)
    safe = [f"echo {q}", f"x=$(cat {q})", f'y="$(ls {q})"', f"printf %s {q} | base64 -d",
            f"cat <<'E'\n{PAYLOAD.replace(chr(10) + 'EOF', '')}\nE\necho ok", f"a && {q} || b\n# {WORD} note"]
    for s in safe:
        assert exposed(s) == [], s
    unsafe = [
        f"echo {PAYLOAD}",  # pasted bare
        f'echo "{PAYLOAD}"',  # double quotes do not stop $( )
        f"echo '{PAYLOAD}'",  # single quotes without escaping the ' inside
        f"# {PAYLOAD}\ntrue",  # a comment ends at the value's newline
        f"cat <<'EOF'\n{PAYLOAD}\nEOF\n",  # the value ends the here-document early
        f"ssh -i {PAYLOAD.split(' ')[0]} x",  # half of it
        f'x="$(echo {q}) {WORD}"',
    ]
    for s in unsafe:
        assert exposed(s), s


# ----- a config with the payload in every free string field ------------------------------------------

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFyHcpvoFU9dFloJmk8OQ/+icBDjiqm8gFKciq1gR8X9"


#: paths refuse control characters (a newline among them: see test_paths_refuse_newlines)
PATH_PAYLOAD = PAYLOAD.replace("\n", " ")


def raw_config(tmp: Path) -> dict[str, Any]:
    path = f"keys {PATH_PAYLOAD}/id"
    return {
        "name": "test",
        "state_dir": f"state {PATH_PAYLOAD}",
        "ssh": {"user": "debian", "key_path": path,
                "bastion": {"address": "192.0.2.1", "user": "jump", "key_path": f"bastion {PATH_PAYLOAD}",
                            "host_key": f"{KEY} {PAYLOAD.replace(chr(10), ' ')}"}},
        "hosts": [
            {"name": "cp-1", "address": "192.0.2.10", "private_address": "10.0.0.10", "role": "control-plane",
             "ssh": {"host_key": f"{KEY} host {PAYLOAD.replace(chr(10), ' ')}"}},
            {"name": "cp-2", "address": "192.0.2.11", "private_address": "10.0.0.11", "role": "control-plane"},
            {"name": "worker-1", "address": "192.0.2.12", "private_address": "10.0.0.12", "role": "worker"},
        ],
        "admin": {"name": "kubeadmin", "uid": 1500,
                  "ssh_public_key": f"{KEY} admin {PAYLOAD.replace(chr(10), ' ')}"},
        "network": {"private_subnet": "10.0.0.0/24", "admin_cidrs": ["198.51.100.0/24"]},
        "firewall": {"extra_ports": [{"name": "https", "port": 8443, "sources": ["world"],
                                      "description": PAYLOAD}]},
        "etcd": {"data_dir": "/var/lib/etcd-kw"},  # refuses metacharacters (REFUSED)
    }


@pytest.mark.parametrize("where", [("state_dir",), ("ssh", "key_path"), ("ssh", "bastion", "key_path")])
def test_paths_refuse_newlines(tmp_path: Path, where: tuple[str, ...]) -> None:
    raw = raw_config(tmp_path)
    node: Any = raw
    for k in where[:-1]:
        node = node[k]
    node[where[-1]] = node[where[-1]] + "\nsecond line"
    with pytest.raises(ConfigError, match="control character"):
        load(tmp_path, raw)


def load(tmp: Path, raw: dict[str, Any]) -> ClusterConfig:
    return parse_config(yaml.safe_dump(raw), base_dir=tmp).config


#: fields whose validator refuses shell metacharacters outright (documented, and checked here)
REFUSED = [
    ("name",), ("ssh", "user"), ("hosts", 0, "name"), ("hosts", 0, "address"), ("hosts", 0, "private_interface"),
    ("admin", "name"), ("admin", "groups", 0), ("hosts", 0, "labels", "k"), ("pki", "extra_sans", 0),
    ("packages", 0), ("ssh", "bastion", "address"), ("firewall", "extra_ports", 0, "name"), ("etcd", "data_dir"),
]


@pytest.mark.parametrize("where", REFUSED, ids=lambda w: ".".join(map(str, w)))
@pytest.mark.parametrize("meta", ["$(touch x)", "`touch x`", ";x", "'", '"', "a b", "%", "a\nb", "\\"])
def test_the_validator_refuses_metacharacters_in_names_addresses_and_labels(
        tmp_path: Path, where: tuple[Any, ...], meta: str) -> None:
    raw = raw_config(tmp_path)
    node: Any = raw
    for k in where[:-1]:
        if isinstance(k, str) and k not in node:
            node[k] = {} if k == "labels" or not isinstance(where[where.index(k) + 1], int) else [""]
        node = node[k]
    if isinstance(node, list):
        node.append("")
    node[where[-1]] = "ok" + meta
    with pytest.raises(ConfigError):
        load(tmp_path, raw)


def test_no_config_value_is_shell_syntax_in_any_node_script(tmp_path: Path) -> None:
    config = load(tmp_path, raw_config(tmp_path))
    assert PATH_PAYLOAD in str(config.state_dir)
    found = every_script(config, tmp_path, payload=PAYLOAD)
    assert any(WORD in s for s in found.values())  # the values do reach the scripts
    bad = {name: exposed(s) for name, s in found.items() if exposed(s)}
    assert not bad, bad
    for name, s in found.items():
        r = subprocess.run(["sh", "-n"], input=s, capture_output=True, text=True)
        assert r.returncode == 0, (name, r.stderr)


def _percent_literal(value: str) -> str:
    """What OpenSSH makes of an option that expands % tokens (%h and %p filled in)."""
    out, i = [], 0
    while i < len(value):
        if value[i] == "%":
            nxt = value[i + 1:i + 2]
            assert nxt in ("%", "h", "p"), f"OpenSSH refuses or expands %{nxt} in {value!r}"
            out.append({"%": "%", "h": "192.0.2.10", "p": "22"}[nxt])
            i += 2
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def option(opts: list[str], name: str) -> str:
    """The value OpenSSH reads from ``-o Name=VALUE``: split like a shell word, then % expanded."""
    value = next(o for o in opts if o.startswith(name + "=")).removeprefix(name + "=")
    words = shlex.split(value)
    assert len(words) == 1, value
    return _percent_literal(words[0])


def test_the_openssh_argv_keeps_every_path_literal(tmp_path: Path) -> None:
    config = load(tmp_path, raw_config(tmp_path))
    target = targets_for(config, ["cp-1"])[0]
    assert target.bastion is not None
    known = tmp_path / f"kh {PAYLOAD}"
    argv = openssh_argv(target, known, ["true"], tty=False)
    opts = [argv[i + 1] for i, a in enumerate(argv) if a == "-o"]
    assert option(opts, "IdentityFile") == str(target.key_path)
    assert option(opts, "UserKnownHostsFile") == str(known)
    proxy = _percent_literal(next(o for o in opts if o.startswith("ProxyCommand=")).removeprefix("ProxyCommand="))
    # OpenSSH runs it as `/bin/sh -c "exec PROXY"`: no syntax from the values, and the words are the argv
    assert exposed(proxy) == [], proxy
    words = shlex.split(proxy)
    inner = [words[i + 1] for i, a in enumerate(words) if a == "-o"]
    assert option(inner, "IdentityFile") == str(target.bastion.key_path)
    assert option(inner, "UserKnownHostsFile") == str(known)
    assert words[words.index("-l") + 1] == "jump" and words[words.index("-W") + 1] == "192.0.2.10:22"
    assert words[-2:] == ["--", "192.0.2.1"]
    assert argv[-4:] == ["debian", "--", "192.0.2.10", "true"]
