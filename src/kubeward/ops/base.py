"""Facts and idempotent operations (pure).

An operation knows the shell that reads its *fact* on a host and, given that fact's output, which
:class:`Change` (if any) brings the host to the desired state, each with the shell that applies it.
An operation may instead refuse (:class:`Refusal`: the host is in a state kubeward must not change
by itself) or add a :class:`Note`. A host's facts for all its operations are read in one round-trip
(:func:`render_facts_script`, one ``fact`` section per operation id), the
changes are computed here without I/O, and all of them are applied in one more round-trip
(:func:`render_apply_script`), followed by the handlers they notify (reload sshd, restart a unit).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import quote

from kubeward.hostscripts.sections import marker_keys, marker_line, parse_sections, render_sections
from kubeward.hostscripts.sections import strip_markers as _strip_markers
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


@dataclass(frozen=True)
class Refusal:
    """The host is not in a state kubeward may change by itself: nothing of its phase is applied."""

    op: str
    reason: str  # what is wrong and what to do


@dataclass(frozen=True)
class Note:
    """Something to show the operator that is neither a change nor a refusal."""

    op: str
    text: str


Outcome = Change | Unchanged | Refusal | Note


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
    u = shlex.quote(unit)
    if kind == "reload":
        return Handler(id, f"systemctl reload {u}")
    if kind == "restart":
        return Handler(id, f"systemctl restart {u}")
    if kind == "try-restart":  # only if it runs: certificates may land before their service exists
        return Handler(id, f"if systemctl cat {u} >/dev/null 2>&1; then systemctl try-restart {u}; fi")
    if kind == "daemon-reload":
        return Handler(id, "systemctl daemon-reload")
    raise ValueError(f"unknown handler {id!r}")


FACT = "fact"
DONE = "done"


def fact_key(op_id: str) -> str:
    """An operation's id as a section key (ids may hold paths with spaces)."""
    return quote(op_id, safe=":/,.-_@+=")


def render_facts_script(ops: Sequence[Op]) -> str:
    """Every operation's fact as a ``fact`` section keyed by its id (stderr included as evidence)."""
    ids = [op.id for op in ops]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ValueError(f"operations with the same id read the same fact: {dupes}")
    return render_sections(FACT, {fact_key(op.id): op.fact_script() for op in ops}, merge_stderr=True)


def parse_facts_output(text: str, ops: Sequence[Op]) -> dict[str, str]:
    """``op id -> fact`` for ``ops``; a missing section is an error (the script did not finish)."""
    sections = parse_sections(text, FACT)
    missing = [op.id for op in ops if fact_key(op.id) not in sections]
    if missing:
        raise ValueError(f"facts output is missing operations {missing}")
    return {op.id: sections[fact_key(op.id)] for op in ops}


def evaluate_all(ops: Sequence[Op], facts: Mapping[str, str]) -> list[Outcome]:
    out: list[Outcome] = []
    for op in ops:
        out.extend(op.evaluate(facts[op.id]))
    return out


def changes_of(outcomes: Sequence[Outcome]) -> list[Change]:
    return [o for o in outcomes if isinstance(o, Change)]


def render_apply_script(changes: Sequence[Change], extra_handlers: Sequence[str] = ()) -> str:
    """One script applying every change in order, then each notified handler once.

    A ``done`` marker after each change lets the caller tell how far a failed script got.
    """
    lines = ["set -e", "export DEBIAN_FRONTEND=noninteractive LC_ALL=C"]
    for i, c in enumerate(changes):
        lines += [render_comment(c.summary), c.script, f"echo {shlex.quote(marker_line(DONE, str(i)))}"]
    seen: list[str] = []
    for c in changes:
        for h in c.notify:
            if h not in seen:
                seen.append(h)
    for h in [*seen, *[x for x in extra_handlers if x not in seen]]:
        lines += [handler(h).script, f"echo {shlex.quote(marker_line('handler', h))}"]
    return "\n".join(lines) + "\n"


def strip_markers(output: str) -> str:
    """A script's output without its section markers (never shown to users)."""
    return _strip_markers(output)


def applied_count(output: str) -> int:
    done = [int(k) for k in marker_keys(output, DONE) if k.isdigit()]
    return max(done) + 1 if done else 0


@dataclass
class HostOutcome:
    """What one phase did (or would do) on one host."""

    host: str
    changes: list[Change] = field(default_factory=list)
    unchanged: list[Unchanged] = field(default_factory=list)
    error: str | None = None
    applied: int = 0  # how many changes were applied before an error
    refusals: list[Refusal] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)

    def add(self, outcomes: Sequence[Outcome]) -> None:
        """File outcomes by kind; refusals also become the host's error."""
        for o in outcomes:
            if isinstance(o, Change):
                self.changes.append(o)
            elif isinstance(o, Unchanged):
                self.unchanged.append(o)
            elif isinstance(o, Refusal):
                self.refusals.append(o)
            else:
                self.notes.append(o)
        if self.refusals:
            self.error = "; ".join(r.reason for r in self.refusals)
