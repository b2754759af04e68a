"""Facts and idempotent operations (pure).

An operation knows the shell that reads its *fact* on a host and, given that fact's output, which
:class:`Change` (if any) brings the host to the desired state, each with the shell that applies it.
A host's facts for all its operations are read in one round-trip (:func:`render_facts_script`), the
changes are computed here without I/O, and all of them are applied in one more round-trip
(:func:`render_apply_script`), followed by the handlers they notify (reload sshd, restart a unit).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from kubeward.ops.shell import render_comment


@dataclass(frozen=True)
class Change:
    op: str  # id of the operation, e.g. "file:/etc/hosts"
    summary: str  # what will change, in words
    script: str  # shell (run as root, under `set -e`) that applies it
    diff: str = ""  # unified diff for file contents ("" when secret or not a file)
    notify: tuple[str, ...] = ()  # handler ids to run after all changes, e.g. "reload:ssh"


@dataclass(frozen=True)
class Unchanged:
    op: str
    reason: str


Outcome = Change | Unchanged


class Op(Protocol):
    """One idempotent operation. ``fact_script`` prints what ``evaluate`` needs."""

    @property
    def id(self) -> str: ...

    def fact_script(self) -> str: ...

    def evaluate(self, fact: str) -> list[Outcome]: ...


@dataclass(frozen=True)
class Handler:
    id: str
    script: str


def handler(id: str) -> Handler:
    """Handlers by id: ``reload:UNIT``, ``restart:UNIT``, ``daemon-reload``."""
    kind, _, unit = id.partition(":")
    if kind == "reload":
        return Handler(id, f"systemctl reload {unit}")
    if kind == "restart":
        return Handler(id, f"systemctl restart {unit}")
    if kind == "try-restart":  # only if it runs: certificates may land before their service exists
        return Handler(id, f"if systemctl cat {unit} >/dev/null 2>&1; then systemctl try-restart {unit}; fi")
    if kind == "daemon-reload":
        return Handler(id, "systemctl daemon-reload")
    raise ValueError(f"unknown handler {id!r}")


def render_facts_script(ops: Sequence[Op]) -> str:
    parts = []
    for i, op in enumerate(ops):
        # the newline before each marker keeps a fact that does not end in one from swallowing it
        parts.append(f"printf '\\n@@fact {i}\\n'\n( {op.fact_script()}\n) 2>&1 || true")
    parts.append("printf '\\n@@fact end\\n'")
    return "\n".join(parts) + "\n"


def parse_facts_output(text: str, count: int) -> list[str]:
    sections: dict[int, list[str]] = {}
    current: int | None = None
    for line in text.splitlines():
        m = re.fullmatch(r"@@fact (\d+|end)", line)
        if m:
            # drop the empty line the marker's own leading newline left behind
            if current is not None and sections[current] and sections[current][-1] == "":
                sections[current].pop()
            current = None if m.group(1) == "end" else int(m.group(1))
            if current is not None:
                sections[current] = []
        elif current is not None:
            sections[current].append(line)
    missing = [i for i in range(count) if i not in sections]
    if missing:
        raise ValueError(f"facts output is missing operations {missing}")
    return ["\n".join(sections[i]) for i in range(count)]


def evaluate_all(ops: Sequence[Op], facts: Sequence[str]) -> list[Outcome]:
    out: list[Outcome] = []
    for op, fact in zip(ops, facts, strict=True):
        out.extend(op.evaluate(fact))
    return out


def render_apply_script(changes: Sequence[Change], extra_handlers: Sequence[str] = ()) -> str:
    """One script applying every change in order, then each notified handler once.

    ``@@done N`` markers let the caller tell how far a failed script got.
    """
    lines = ["set -e", "export DEBIAN_FRONTEND=noninteractive LC_ALL=C"]
    for i, c in enumerate(changes):
        lines += [render_comment(c.summary), c.script, f"echo '@@done {i}'"]
    seen: list[str] = []
    for c in changes:
        for h in c.notify:
            if h not in seen:
                seen.append(h)
    for h in [*seen, *[x for x in extra_handlers if x not in seen]]:
        lines += [handler(h).script, f"echo '@@handler {h}'"]
    return "\n".join(lines) + "\n"


def strip_markers(output: str) -> str:
    """A script's output without the apply script's progress markers (never shown to users)."""
    return re.sub(r"^@@(?:done \d+|handler \S+)\n?", "", output, flags=re.M)


def applied_count(output: str) -> int:
    done = [int(m.group(1)) for m in re.finditer(r"^@@done (\d+)$", output, re.M)]
    return max(done) + 1 if done else 0


@dataclass
class HostOutcome:
    """What one phase did (or would do) on one host."""

    host: str
    changes: list[Change] = field(default_factory=list)
    unchanged: list[Unchanged] = field(default_factory=list)
    error: str | None = None
    applied: int = 0  # how many changes were applied before an error
