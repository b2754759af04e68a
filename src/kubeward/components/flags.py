"""Command-line flags by version, as data (pure).

A component's flags are a table of :class:`Flag` rows: a name, a value (a constant or a function of
the component's context, ``None`` to leave the flag out), and the versions it applies to. One
renderer walks any table (as kubeadm's ``getAPIServerCommand`` builds a map and merges the user's
``extra_args`` last); tests are rows of (version, cluster.yml) -> arguments. Version differences
live in the rows, never in ``if version < ...`` inside a builder.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from kubeward.components.version import Span, Version

T = TypeVar("T")

Value = str | Callable[[T], str | None]


@dataclass(frozen=True)
class Flag(Generic[T]):
    name: str  # without the leading dashes
    value: Value[T]
    span: Span = Span()
    why: str = ""  # the reason it is set (CIS id, security posture), shown in docs and golden files

    def render(self, ctx: T) -> str | None:
        return self.value if isinstance(self.value, str) else self.value(ctx)


@dataclass(frozen=True)
class Removed:
    """A flag the component no longer accepts from ``until`` on (an extra arg using it is an error)."""

    name: str
    until: Version
    instead: str = ""


@dataclass(frozen=True)
class FlagTable(Generic[T]):
    component: str
    rows: tuple[Flag[T], ...]
    removed: tuple[Removed, ...] = ()

    def __post_init__(self) -> None:
        seen: dict[str, list[Span]] = {}
        for r in self.rows:
            if r.name.startswith("-"):
                raise ValueError(f"{self.component}: flag {r.name!r} must be written without dashes")
            seen.setdefault(r.name, []).append(r.span)
        for name, spans in seen.items():
            for i, a in enumerate(spans):
                for b in spans[i + 1:]:
                    if _overlap(a, b):
                        raise ValueError(f"{self.component}: rows for --{name} overlap ({a.describe()}, "
                                         f"{b.describe()})")


def _overlap(a: Span, b: Span) -> bool:
    lo = max([x for x in (a.since, b.since) if x is not None], default=None)
    hi_candidates = [x for x in (a.until, b.until) if x is not None]
    hi = min(hi_candidates) if hi_candidates else None
    return lo is None or hi is None or lo < hi


def render_args(table: FlagTable[T], version: Version, ctx: T,
                extra_args: Mapping[str, str] | None = None) -> dict[str, str]:
    """``name -> value`` for ``version``, in table order, the user's ``extra_args`` merged last
    (overriding a row of the same name, or appended)."""
    out: dict[str, str] = {}
    for row in table.rows:
        if not row.span.covers(version):
            continue
        value = row.render(ctx)
        if value is not None:
            out[row.name] = value
    for name, value in (extra_args or {}).items():
        out[name.lstrip("-")] = value
    return out


def render_argv(args: Mapping[str, str]) -> list[str]:
    """``--name=value`` words (values are argv words: no shell ever reads them)."""
    return [f"--{k}={v}" for k, v in args.items()]


@dataclass(frozen=True)
class FlagProblem:
    name: str
    message: str


def check_extra_args(table: FlagTable[T], version: Version, extra_args: Mapping[str, str]) -> list[FlagProblem]:
    """Problems with a user's extra args for ``version``: flags removed by then, and flags whose
    table row exists only in other versions."""
    problems: list[FlagProblem] = []
    removed = {r.name: r for r in table.removed}
    spans: dict[str, list[Span]] = {}
    for row in table.rows:
        spans.setdefault(row.name, []).append(row.span)
    for raw in extra_args:
        name = raw.lstrip("-")
        gone = removed.get(name)
        if gone is not None and version >= gone.until:
            instead = f"; {gone.instead}" if gone.instead else ""
            problems.append(FlagProblem(name, f"--{name} was removed from {table.component} in "
                                              f"{gone.until.minor_str} (this cluster runs {version}){instead}"))
        elif name in spans and not any(s.covers(version) for s in spans[name]):
            where = ", ".join(s.describe() for s in spans[name])
            problems.append(FlagProblem(name, f"--{name} of {table.component} exists only {where} "
                                              f"(this cluster runs {version})"))
    return problems


def unit_exec(binary: str, argv: Sequence[str]) -> str:
    """A systemd ``ExecStart=`` value: one argument per line, each quoted for systemd's own parser."""
    words = [binary, *argv]
    return " \\\n    ".join(_systemd_quote(w) for w in words)


def _systemd_quote(word: str) -> str:
    if word and all(c.isalnum() or c in "-_./=:,@+%" for c in word):
        return word.replace("%", "%%")
    escaped = word.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$")
    return f'"{escaped}"'
