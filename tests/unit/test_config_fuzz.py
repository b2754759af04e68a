"""Whatever the text, parse_config returns a LoadedConfig or raises ConfigError with located issues."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubeward.config import ConfigError, ConfigIssue, LoadedConfig, parse_config

GOOD = (Path(__file__).parent / "data" / "good.yml").read_text()
GOOD_DATA: dict[str, Any] = yaml.safe_load(GOOD)
# the good file plus every optional section, so mutations reach them too
GOOD_DATA.update(
    {
        "addons": {"ingress_nginx": {"enabled": True, "node_selector": {"tier": "web"}}},
        "firewall": {
            "rollback_seconds": 30,
            "extra_ports": [{"name": "web", "port": "8000-8079", "protocol": "tcp", "sources": ["world"]}],
        },
        "etcd": {"source": "apt", "data_dir": "/var/lib/etcd-main", "peer_port": 2380},
        "pki": {"key_type": "rsa-2048", "extra_sans": ["k8s.example.com"]},
        "packages": ["htop"],
    }
)
GOOD_DATA["hosts"][0]["ssh"] = {"port": 22, "bastion": {"address": "jump.example.com"}}

SETTINGS = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

INTERESTING = [
    "10.0.0.0/24",
    "10.0.0.5",
    "0.0.0.0/0",
    "2001:db8::/32",
    "on",
    "no",
    "yes",
    "22:22",
    "1.30",
    "-",
    "30001-30099",
    "65536",
    "ssh-ed25519 AAAA",
    "ssh-rsa AAAAB3Nza",
    "~",
    "",
    "null",
    "control-plane",
    "worker",
    "routes",
    "tcp",
    "world",
    "nodes",
    "../x",
    "/var/lib/etcd",
    "a" * 300,
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.integers(min_value=0, max_value=70000)
    | st.text(max_size=20)
    | st.sampled_from(INTERESTING)
)
junk = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def _slots(node: Any) -> Iterator[tuple[Any, Any]]:
    """Every (container, key-or-index) in a document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield node, key
            yield from _slots(value)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield node, i
            yield from _slots(value)


@st.composite
def mutated_documents(draw: st.DrawFn) -> str:
    data = copy.deepcopy(GOOD_DATA)
    for _ in range(draw(st.integers(1, 4))):
        slots = list(_slots(data))
        if not slots:
            break
        container, key = draw(st.sampled_from(slots))
        op = draw(st.sampled_from(["delete", "replace", "rename", "insert"]))
        if op == "delete":
            del container[key]
        elif op == "replace":
            container[key] = draw(junk)
        elif op == "rename" and isinstance(container, dict):
            container[str(key)[:-1] + draw(st.text(max_size=2))] = container.pop(key)
        elif isinstance(container, dict):
            container[draw(st.text(max_size=10))] = draw(junk)
        else:
            container.insert(key, draw(junk))
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


YAML_CHARS = st.sampled_from(
    list(":-[]{}&*!|>'\"#%@`,?~\t\n ") + ["\n  ", ": ", "- ", "<<: ", "!!int ", "&a ", "*a"]
)


@st.composite
def mutated_text(draw: st.DrawFn) -> str:
    text = GOOD
    for _ in range(draw(st.integers(1, 3))):
        pos = draw(st.integers(0, len(text)))
        if draw(st.booleans()):
            text = text[:pos] + text[pos + draw(st.integers(1, 40)) :]
        else:
            insert = draw(st.lists(YAML_CHARS | st.text(max_size=3), max_size=5))
            text = text[:pos] + "".join(insert) + text[pos:]
    return text


def _check_located(text: str, issues: tuple[ConfigIssue, ...]) -> None:
    last_line = len(text.splitlines()) + 1
    for issue in issues:
        assert 1 <= issue.line <= last_line, issue
        assert issue.col >= 1, issue
        assert issue.file == "cluster.yml"
        assert "internal error" not in issue.message, issue
        assert str(issue).startswith(f"cluster.yml:{issue.line}:{issue.col}: ")


def _parse_and_check(text: str) -> None:
    try:
        loaded = parse_config(text)
    except ConfigError as exc:
        assert exc.errors, "a ConfigError always has at least one error"
        _check_located(text, exc.issues)
    else:
        assert isinstance(loaded, LoadedConfig)
        _check_located(text, loaded.warnings)


def test_unmutated_document_is_valid() -> None:
    parse_config(yaml.safe_dump(GOOD_DATA, sort_keys=False))


@SETTINGS
@given(mutated_documents())
def test_mutated_documents(text: str) -> None:
    _parse_and_check(text)


@SETTINGS
@given(mutated_text())
def test_mutated_text(text: str) -> None:
    _parse_and_check(text)


@settings(max_examples=100, deadline=None, database=None)
@given(st.text(max_size=200))
def test_arbitrary_text(text: str) -> None:
    _parse_and_check(text)
