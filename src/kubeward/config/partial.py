"""The cross-field checks on a cluster.yml that has per-key errors too (pure).

``validate`` promises every problem in one run. When some keys are invalid, the model cannot be
built, so this module repairs a copy of the data as little as it can: an invalid key that has a
default is dropped (the default stands in), an invalid list item is dropped. The checks then run
on what is left, their findings are mapped back to the paths and indices as written, and findings
about anything that was repaired (or that a repair could change, like a count of hosts) are left
out, so nothing is reported about a stand-in.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from kubeward.config.model import ClusterConfig, model_at
from kubeward.config.source import KeyPath
from kubeward.config.validate import Finding, check_config

_ROUNDS = 6
#: required sections no cross-field check reads: a valid stand-in lets the checks run
_STAND_INS: dict[KeyPath, Any] = {
    ("admin",): {
        "name": "standin",
        "uid": 1000,
        "ssh_public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFyHcpvoFU9dFloJmk8OQ/+icBDjiqm8gFKciq1gR8X9",
    },
}
_INDEXED = re.compile(r"\b(hosts|extra_ports)\[(\d+)\]")


class _Repair:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = copy.deepcopy(data)
        self.origins: dict[int, list[int]] = {}  # id(list) -> original index of each current item
        self.repaired: list[KeyPath] = []  # original paths

    def original(self, path: KeyPath) -> KeyPath:
        """A path in the repaired data as the file writes it (list indices before removals)."""
        out: list[str | int] = []
        node: Any = self.data
        for seg in path:
            if isinstance(seg, int) and isinstance(node, list):
                origin = self.origins.get(id(node))
                out.append(origin[seg] if origin is not None and seg < len(origin) else seg)
                node = node[seg] if seg < len(node) else None
            else:
                out.append(seg)
                node = node.get(seg) if isinstance(node, dict) else None
        return tuple(out)

    def fix(self, loc: KeyPath) -> KeyPath | None:
        """Drop the smallest thing that makes the error at loc go away: its path, or None if nothing can."""
        for n in range(len(loc), 0, -1):
            parent_path, seg = loc[: n - 1], loc[n - 1]
            parent = self._at(parent_path)
            if isinstance(seg, int) and isinstance(parent, list) and seg < len(parent):
                self.repaired.append(self.original((*parent_path, seg)))
                origin = self.origins.setdefault(id(parent), list(range(len(parent))))
                del parent[seg]
                del origin[seg]
                return (*parent_path, seg)
            if isinstance(seg, str) and isinstance(parent, dict) and seg in parent and self._optional(parent_path, seg):
                self.repaired.append(self.original((*parent_path, seg)))
                del parent[seg]
                return (*parent_path, seg)
            if (*parent_path, seg) in _STAND_INS and isinstance(parent, dict):
                self.repaired.append((*parent_path, seg))
                parent[seg] = copy.deepcopy(_STAND_INS[(*parent_path, seg)])
                return (*parent_path, seg)
        return None

    def _at(self, path: KeyPath) -> Any:
        node: Any = self.data
        for seg in path:
            if isinstance(seg, int) and isinstance(node, list) and seg < len(node):
                node = node[seg]
            elif isinstance(seg, str) and isinstance(node, dict):
                node = node.get(seg)
            else:
                return None
        return node

    @staticmethod
    def _optional(parent_path: KeyPath, key: str) -> bool:
        model = model_at(parent_path)
        if model is None or key not in model.model_fields:
            return True  # an unknown key, or one inside a free-form mapping (labels)
        return not model.model_fields[key].is_required()


def _loc(err: ErrorDetails) -> KeyPath:
    return tuple(seg for seg in err["loc"] if seg != "[key]")


def _order(path: KeyPath) -> tuple[tuple[int, int, str], ...]:
    return tuple((0, s, "") if isinstance(s, int) else (1, 0, s) for s in path)


def _related(a: KeyPath, b: KeyPath) -> bool:
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def checks_despite(data: dict[str, Any], errors: list[ErrorDetails], context: dict[str, Any]) -> list[Finding]:
    """The cross-field findings that hold for data whose model validation failed with errors."""
    repair = _Repair(data)
    config: ClusterConfig | None = None
    for _ in range(_ROUNDS):
        # from the end of the file backwards, so no removal shifts an index still to be handled
        locs = sorted({_loc(e) for e in errors}, key=_order, reverse=True)
        done: list[KeyPath] = []
        for loc in locs:
            if any(loc[: len(d)] == d for d in done):
                continue  # inside something already dropped
            removed = repair.fix(loc)
            if removed is None:
                return []
            done.append(removed)
        try:
            config = ClusterConfig.model_validate(repair.data, context=context)
            break
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
    if config is None:
        return []
    out: list[Finding] = []
    lists = {"hosts": repair._at(("hosts",)), "extra_ports": repair._at(("firewall", "extra_ports"))}

    def renumber(match: re.Match[str]) -> str:
        items = lists.get(match.group(1))
        origin = repair.origins.get(id(items)) if isinstance(items, list) else None
        i = int(match.group(2))
        return f"{match.group(1)}[{origin[i] if origin is not None and i < len(origin) else i}]"

    for finding in check_config(config):
        path = repair.original(finding.path)
        if any(_related(path, r) for r in repair.repaired):
            continue
        out.append(Finding(path, _INDEXED.sub(renumber, finding.message), finding.severity))
    return out
