"""YAML text -> plain Python data plus, for every key path, where its key and value are written.

PyYAML composes the node tree (SafeLoader, so no object construction); this module builds the data
itself so it can record 1-based line:column for each path, refuse duplicate keys and non-standard
tags, and resolve plain scalars the YAML 1.2 way: only ``true``/``false`` are booleans (``on``,
``no`` and ``yes`` stay strings), only decimal digits are integers (``22:22`` and ``1.30`` stay
strings), ``null``/``~``/nothing is null. Anchors, aliases and ``<<`` merge keys work.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final

import yaml

#: a path into the data: mapping keys and sequence indices, e.g. ("hosts", 2, "private_address")
KeyPath = tuple[str | int, ...]

_TAG = "tag:yaml.org,2002:"
_PLAIN: Final = "kubeward:plain"
_MAX_DEPTH: Final = 48
_MAX_NODES: Final = 100_000
_INT = re.compile(r"[-+]?[0-9]+")
_SURROGATE = re.compile("[\ud800-\udfff]")
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_TRUE = frozenset({"true", "True", "TRUE"})
_FALSE = frozenset({"false", "False", "FALSE"})


@dataclass(frozen=True)
class Location:
    """A 1-based line and column in the file."""

    line: int
    col: int


@dataclass
class SourceMap:
    """Where each key path's value (and, for mapping entries, its key) starts in the file."""

    values: dict[KeyPath, Location] = field(default_factory=dict)
    keys: dict[KeyPath, Location] = field(default_factory=dict)

    def locate(self, path: KeyPath, *, at_key: bool = False) -> Location:
        """Location of path, or of its nearest written ancestor; (1, 1) as the last resort."""
        if at_key and path in self.keys:
            return self.keys[path]
        for n in range(len(path), -1, -1):
            found = self.values.get(path[:n])
            if found is not None:
                return found
        return Location(1, 1)


@dataclass(frozen=True)
class SourceProblem:
    """Something wrong with the YAML itself, before any model is applied."""

    location: Location
    path: KeyPath
    message: str


@dataclass
class SourceDocument:
    """The data of one YAML document, where its parts are, and what was wrong with it."""

    data: Any
    source_map: SourceMap
    problems: list[SourceProblem]


class _Loader(yaml.SafeLoader):
    """SafeLoader that marks untagged plain scalars instead of resolving them YAML-1.1 style."""

    def resolve(self, kind: type[yaml.Node], value: Any, implicit: Any) -> str:
        if kind is yaml.ScalarNode and implicit and implicit[0]:
            return _PLAIN
        return str(super().resolve(kind, value, implicit))  # type: ignore[no-untyped-call]


class _TooBig(Exception):
    pass


def _loc(node: yaml.Node) -> Location:
    return Location(node.start_mark.line + 1, node.start_mark.column + 1)


def compose_source(text: str) -> SourceDocument:
    """Parse YAML text into plain data with locations; YAML syntax errors raise yaml.YAMLError.

    Raises RecursionError only on input nested beyond what PyYAML's own recursion can compose;
    the caller turns both into located config issues.
    """
    root = yaml.compose(text, Loader=_Loader)
    builder = _Builder()
    if root is None:
        return SourceDocument(None, builder.source_map, builder.problems)
    try:
        data = builder.build(root, ())
    except _TooBig:
        problem = SourceProblem(
            _loc(root),
            (),
            f"the document expands to more than {_MAX_NODES} values (aliases?); it is not a cluster.yml",
        )
        return SourceDocument(None, SourceMap(), [problem])
    return SourceDocument(data, builder.source_map, builder.problems)


class _Builder:
    def __init__(self) -> None:
        self.source_map = SourceMap()
        self.problems: list[SourceProblem] = []
        self._count = 0
        self._active: set[int] = set()

    def _problem(self, node: yaml.Node, path: KeyPath, message: str) -> None:
        self.problems.append(SourceProblem(_loc(node), path, message))

    def build(self, node: yaml.Node, path: KeyPath) -> Any:
        self._count += 1
        if self._count > _MAX_NODES:
            raise _TooBig
        self.source_map.values.setdefault(path, _loc(node))
        if len(path) > _MAX_DEPTH:
            self._problem(
                node, path, f"is nested more than {_MAX_DEPTH} levels deep; cluster.yml is never that deep"
            )
            return None
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, path)
        if id(node) in self._active:
            self._problem(node, path, "is an alias that contains itself; YAML cycles are not allowed")
            return None
        self._active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return self._sequence(node, path)
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
        finally:
            self._active.discard(id(node))
        self._problem(node, path, "is a YAML node of an unknown kind")  # pragma: no cover
        return None

    def _text(self, node: yaml.ScalarNode, path: KeyPath) -> str:
        """The scalar's text; a lone surrogate (a "\\udc80" escape) is a problem, as it is no text."""
        value: str = node.value
        bad = _SURROGATE.search(value)
        if bad is None:
            return value
        self._problem(
            node, path, f"contains U+{ord(bad.group()):04X}, a lone surrogate (from a \\u escape) that is not a "
            "character and cannot be written as UTF-8; remove the escape or write the character itself",
        )
        return _SURROGATE.sub("\ufffd", value)

    def _scalar(self, node: yaml.ScalarNode, path: KeyPath) -> Any:
        value: str = self._text(node, path)
        tag: str = node.tag
        if tag == _PLAIN:
            return _resolve_plain(value)
        if tag == _TAG + "str":
            return value
        if tag == _TAG + "null" and value in _NULLS:
            return None
        if tag == _TAG + "bool" and (value in _TRUE or value in _FALSE):
            return value in _TRUE
        if tag == _TAG + "int" and _INT.fullmatch(value):
            return _to_int(value)
        if tag.startswith(_TAG) and tag[len(_TAG) :] in {"null", "bool", "int"}:
            self._problem(node, path, f"has tag {_short_tag(tag)} but its value {value[:40]!r} is not one")
            return value
        self._problem(node, path, _bad_tag_message(tag))
        return value

    def _sequence(self, node: yaml.SequenceNode, path: KeyPath) -> list[Any]:
        if node.tag != _TAG + "seq":
            self._problem(node, path, _bad_tag_message(node.tag))
        return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]

    def _mapping(self, node: yaml.MappingNode, path: KeyPath) -> dict[str, Any]:
        if node.tag != _TAG + "map":
            self._problem(node, path, _bad_tag_message(node.tag))
        result: dict[str, Any] = {}
        merges: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if _is_merge_key(key_node):
                merges.append(value_node)
                continue
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in (_PLAIN, _TAG + "str"):
                self._problem(
                    key_node, path, "has a key that is not a plain string; keys are names like 'hosts'"
                )
                continue
            key: str = self._text(key_node, (*path, key_node.value))
            sub = (*path, key)
            if key in result:
                first = self.source_map.keys[sub]
                self._problem(
                    key_node, sub, f"is a duplicate key (first set at line {first.line}); remove one of them"
                )
                continue
            self.source_map.keys[sub] = _loc(key_node)
            result[key] = self.build(value_node, sub)
        for source in merges:
            self._merge(source, path, result)
        return result

    def _merge(self, source: yaml.Node, path: KeyPath, result: dict[str, Any]) -> None:
        """``<<: *anchor`` (or a list of them): copy keys the mapping does not set itself."""
        sources = source.value if isinstance(source, yaml.SequenceNode) else [source]
        for item in sources:
            if not isinstance(item, yaml.MappingNode):
                self._problem(
                    item, path, "has a '<<' merge whose value is not a mapping (or list of mappings)"
                )
                continue
            # Build the merged mapping against a scratch map, then keep only the keys that win.
            scratch = _Builder()
            scratch._count, scratch._active = self._count, self._active
            merged = scratch.build(item, path)
            self._count = scratch._count
            self.problems.extend(scratch.problems)
            if not isinstance(merged, dict):
                continue
            for key, value in merged.items():
                if key in result:
                    continue
                result[key] = value
                prefix = (*path, key)
                for table, own in (
                    (scratch.source_map.values, self.source_map.values),
                    (scratch.source_map.keys, self.source_map.keys),
                ):
                    for p, loc in table.items():
                        if p[: len(prefix)] == prefix:
                            own.setdefault(p, loc)


def _is_merge_key(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.value == "<<" and node.tag in (_PLAIN, _TAG + "merge")


def _resolve_plain(value: str) -> Any:
    if value in _NULLS:
        return None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    if _INT.fullmatch(value):
        return _to_int(value)
    return value


def _to_int(value: str) -> int | str:
    try:
        return int(value)
    except ValueError:  # more digits than Python converts; let the model say what it expected
        return value


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_TAG) :] if tag.startswith(_TAG) else tag


def _bad_tag_message(tag: str) -> str:
    return (
        f"has YAML tag {_short_tag(tag)[:60]!r}, which cluster.yml does not use; "
        "remove it (allowed: !!str, !!int, !!bool, !!null, !!map, !!seq)"
    )
