"""Editing cluster.yml the way a person would: one host's entry taken out of ``hosts``, every other
line (comments included) left as it was. :func:`remove_host_entry` is pure; :func:`write_without_host`
checks the result and replaces the file.

Only the plain case is edited: ``hosts`` a block sequence of the top-level mapping, the entry a block
mapping with no anchor (nothing else may refer to it) and not an alias. Anything else raises
:class:`EditError` saying to edit the file by hand; the caller validates the result.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import yaml

from kubeward.config.loader import parse_config
from kubeward.errors import KubewardError


class EditError(KubewardError):
    pass


def _is_filler(line: str) -> bool:
    return not line.strip() or line.lstrip().startswith("#")


def remove_host_entry(text: str, name: str) -> tuple[str, str]:
    """``text`` without host ``name``'s entry, and the lines taken out."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise EditError(f"cluster.yml does not parse: {exc}") from exc
    if not isinstance(root, yaml.MappingNode):
        raise EditError("cluster.yml is not a mapping")
    hosts = next((v for k, v in root.value if isinstance(k, yaml.ScalarNode) and k.value == "hosts"), None)
    if not isinstance(hosts, yaml.SequenceNode) or hosts.flow_style:
        raise EditError("hosts is not a block sequence (`- name: ...` lines): remove the host by hand")
    items = list(hosts.value)
    index = next((i for i, item in enumerate(items) if isinstance(item, yaml.MappingNode) and any(
        isinstance(k, yaml.ScalarNode) and k.value == "name" and isinstance(v, yaml.ScalarNode) and v.value == name
        for k, v in item.value)), None)
    if index is None:
        raise EditError(f"no host named {name} in hosts")
    item = items[index]
    lines = text.splitlines(keepends=True)
    if item.flow_style or re.match(r"\s*-\s*&", lines[item.start_mark.line]):
        raise EditError(f"{name}'s entry is written in flow style or carries an anchor: remove it by hand")
    # the entry's first line holds its `-` (the mapping starts after it, on the same line)
    start = item.start_mark.line
    end = items[index + 1].start_mark.line if index + 1 < len(items) else hosts.end_mark.line
    if index + 1 == len(items) and hosts.end_mark.column != 0:
        end = len(lines)  # the sequence ends the file
    # comments and blank lines right before the next entry belong to what follows
    while end > start + 1 and _is_filler(lines[end - 1]):
        end -= 1
    if not lines[start].lstrip().startswith("-"):
        raise EditError(f"{name}'s entry does not start its own line: remove it by hand")
    removed = "".join(lines[start:end])
    return "".join(lines[:start] + lines[end:]), removed


def write_without_host(path: Path, name: str) -> str:
    """Take host ``name``'s entry out of the cluster.yml at ``path`` (atomically, its mode kept) once
    the result is checked: a valid cluster.yml listing the same hosts but ``name``. Returns the
    lines taken out; raises :class:`EditError` (the file untouched) otherwise."""
    text = path.read_text()
    before = [h.name for h in parse_config(text, str(path)).config.hosts]
    new, removed = remove_host_entry(text, name)
    try:
        after = [h.name for h in parse_config(new, str(path)).config.hosts]
    except KubewardError as exc:
        raise EditError(f"without {name}'s lines cluster.yml would not be valid ({exc}): remove it by hand") from exc
    if after != [h for h in before if h != name]:
        raise EditError(f"taking {name}'s lines out would change the other hosts too: remove it by hand")
    tmp = path.with_name(f".{path.name}.kubeward-edit")
    tmp.write_text(new)
    os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))
    os.replace(tmp, path)
    return removed
