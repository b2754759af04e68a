"""Configuration-file fields by version, as data (pure).

The counterpart of :mod:`kubeward.components.flags` for versioned configuration files
(KubeletConfiguration, KubeProxyConfiguration): each :class:`Field` row is a dotted path, a value (a
constant or a function of the component's context, ``None`` to leave the field out) and the versions
it applies to. :func:`render_fields` walks a table into a nested mapping that a YAML/JSON library
serialises; no version check lives in a template.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from kubeward.components.flags import _overlap
from kubeward.components.version import Span, Version

T = TypeVar("T")


@dataclass(frozen=True)
class Field(Generic[T]):
    path: str  # dotted: "authentication.anonymous.enabled"
    value: object  # a constant, or a Callable[[T], object | None]
    span: Span = Span()
    why: str = ""

    def render(self, ctx: T) -> object:
        if callable(self.value):
            fn: Callable[[T], object] = self.value
            return fn(ctx)
        return self.value


@dataclass(frozen=True)
class FieldTable(Generic[T]):
    kind: str
    api_version: str
    rows: tuple[Field[T], ...]

    def __post_init__(self) -> None:
        seen: dict[str, list[Span]] = {}
        for r in self.rows:
            seen.setdefault(r.path, []).append(r.span)
        for path, spans in seen.items():
            for i, a in enumerate(spans):
                for b in spans[i + 1:]:
                    if _overlap(a, b):
                        raise ValueError(f"{self.kind}: rows for {path} overlap ({a.describe()}, {b.describe()})")

    def row_for(self, path: str, version: Version) -> Field[T] | None:
        return next((r for r in self.rows if r.path == path and r.span.covers(version)), None)


def render_fields(table: FieldTable[T], version: Version, ctx: T) -> dict[str, Any]:
    """``{"apiVersion", "kind", ...fields}`` for ``version``, nested by the dotted paths, in table order."""
    doc: dict[str, Any] = {"apiVersion": table.api_version, "kind": table.kind}
    for row in table.rows:
        if not row.span.covers(version):
            continue
        value = row.render(ctx)
        if value is None:
            continue
        *parents, leaf = row.path.split(".")
        node = doc
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return doc
