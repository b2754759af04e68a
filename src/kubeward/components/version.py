"""Kubernetes-style versions (``1.20.2``, ``v1.33.0``) and ranges over them (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

_VERSION = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?")


@total_ordering
@dataclass(frozen=True)
class Version:
    major: int
    minor: int
    patch: int = 0

    @classmethod
    def parse(cls, text: str) -> Version:
        m = _VERSION.fullmatch(text.strip())
        if not m:
            raise ValueError(f"not a version: {text!r} (expected MAJOR.MINOR or MAJOR.MINOR.PATCH, e.g. 1.20.2)")
        return cls(int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return (self.major, self.minor, self.patch) < (other.major, other.minor, other.patch)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    @property
    def minor_str(self) -> str:
        return f"{self.major}.{self.minor}"


def v(text: str) -> Version:
    """Shorthand for tables: ``v("1.24")``."""
    return Version.parse(text)


@dataclass(frozen=True)
class Span:
    """Versions from ``since`` (inclusive) up to ``until`` (exclusive: the first version without)."""

    since: Version | None = None
    until: Version | None = None

    def covers(self, version: Version) -> bool:
        return (self.since is None or version >= self.since) and (self.until is None or version < self.until)

    def describe(self) -> str:
        if self.since and self.until:
            return f"from {self.since.minor_str} until {self.until.minor_str}"
        if self.since:
            return f"from {self.since.minor_str}"
        if self.until:
            return f"before {self.until.minor_str}"
        return "in every version"
