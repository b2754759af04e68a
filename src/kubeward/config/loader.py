"""cluster.yml -> LoadedConfig, or ConfigError listing every problem at file:line:col.

``parse_config`` is pure (text in); ``load_config`` reads the one file and calls it. Whatever the
input, the only exception either raises is ConfigError.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from kubeward.config.errors import ConfigError, ConfigIssue, Severity, format_path
from kubeward.config.local_files import check_local_files
from kubeward.config.model import ClusterConfig, model_at
from kubeward.config.partial import checks_despite
from kubeward.config.source import KeyPath, Location, SourceMap, compose_source
from kubeward.config.validate import check_config
from kubeward.config.values import show

#: no cluster.yml is anywhere near this; refusing early keeps a wrong -c from eating memory
MAX_FILE_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class LoadedConfig:
    """A valid cluster.yml: the model, where it came from, and the warnings it raised."""

    config: ClusterConfig
    filename: str
    warnings: tuple[ConfigIssue, ...] = ()
    source_map: SourceMap = field(default_factory=SourceMap, repr=False, compare=False)

    @property
    def base_dir(self) -> Path:
        """Directory relative paths in the file are resolved against."""
        return self.config.base_dir

    @property
    def state_dir(self) -> Path:
        return self.config.state_dir

    def resolve_path(self, path: str | Path) -> Path:
        return self.config.resolve_path(path)

    def issue(self, path: KeyPath, message: str, severity: Severity = "error") -> ConfigIssue:
        """A located issue about a key path, for later phases that find a problem in the config."""
        loc = self.source_map.locate(path)
        return ConfigIssue(self.filename, loc.line, loc.col, format_path(path), message, severity)


def load_config(path: str | Path) -> LoadedConfig:
    """Read and validate the cluster.yml at path; relative paths inside resolve against its directory."""
    file = Path(path)
    name = str(path)

    def fail(message: str, line: int = 1, col: int = 1) -> ConfigError:
        return ConfigError([ConfigIssue(name, line, col, "", message)])

    try:
        if file.is_dir():
            raise fail("is a directory; pass the cluster.yml file inside it with -c")
        # st_size is 0 for /dev/zero, pipes and /proc files: read at most one byte past the limit
        with file.open("rb") as stream:
            raw = stream.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            raise fail(f"is more than {MAX_FILE_BYTES} bytes; a cluster.yml is a few kilobytes, "
                       "is this the right file?")
    except FileNotFoundError:
        raise fail(
            "does not exist; create it (examples/cluster.yml shows every part) or pass -c PATH"
        ) from None
    except PermissionError:
        raise fail("cannot be read: permission denied; check its owner and mode") from None
    except OSError as exc:
        raise fail(f"cannot be read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise fail(
            f"is not UTF-8 text (byte 0x{raw[exc.start]:02x}); cluster.yml must be UTF-8 YAML", line, col
        ) from None
    loaded = parse_config(text, name, base_dir=file.absolute().parent)
    found = [
        loaded.issue(_written(loaded.source_map, f.path), f.message, f.severity)
        for f in check_local_files(loaded.config)
    ]
    if any(i.severity == "error" for i in found):
        raise ConfigError(_dedupe([*found, *loaded.warnings]))
    if found:
        return replace(loaded, warnings=tuple(_dedupe([*loaded.warnings, *found])))
    return loaded


def parse_config(text: str, filename: str = "cluster.yml", *, base_dir: Path | None = None) -> LoadedConfig:
    """Validate cluster.yml text; relative paths resolve against base_dir (default: filename's directory)."""
    try:
        return _parse(text, filename, base_dir if base_dir is not None else Path(filename).parent)
    except ConfigError:
        raise
    except Exception as exc:  # the promise is ConfigError only; this is a kubeward bug if it happens
        issue = ConfigIssue(
            filename,
            1,
            1,
            "",
            f"internal error while validating ({type(exc).__name__}: {exc}); please report it with the file",
        )
        raise ConfigError([issue]) from exc


def _parse(text: str, filename: str, base_dir: Path) -> LoadedConfig:
    def at(loc: Location, path: KeyPath, message: str, severity: Severity = "error") -> ConfigIssue:
        return ConfigIssue(filename, loc.line, loc.col, format_path(path), message, severity)

    try:
        doc = compose_source(text)
    except yaml.MarkedYAMLError as exc:
        raise ConfigError([_syntax_issue(filename, exc)]) from None
    except yaml.reader.ReaderError as exc:
        line, col = _line_col(text, exc.position)
        char = f"U+{exc.character:04X}" if isinstance(exc.character, int) else repr(exc.character)
        message = (
            f"contains the character {char}, which YAML does not allow; cluster.yml must be plain UTF-8 text"
        )
        raise ConfigError([ConfigIssue(filename, line, col, "", message)]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([ConfigIssue(filename, 1, 1, "", f"is not valid YAML: {exc}")]) from None
    except RecursionError:
        raise ConfigError(
            [ConfigIssue(filename, 1, 1, "", "is nested too deeply to be a cluster.yml")]
        ) from None

    issues = [at(p.location, p.path, p.message) for p in doc.problems]
    if doc.data is None and not issues:
        issues.append(ConfigIssue(filename, 1, 1, "", "is empty; it needs at least hosts, admin and network"))
    if not isinstance(doc.data, dict):
        if doc.data is not None:
            issues.append(
                at(
                    doc.source_map.locate(()),
                    (),
                    f"must be a mapping of keys like hosts, admin and network, got {show(doc.data)}",
                )
            )
        raise ConfigError(issues)

    context = {"base_dir": base_dir}
    try:
        config = ClusterConfig.model_validate(doc.data, context=context)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        for err in _relevant(doc.data, errors):
            where, shown, message, at_key = _explain(err)
            issues.append(at(doc.source_map.locate(where, at_key=at_key), shown, message))
        # every problem in one run: the cross-field checks still run on what parsed
        for finding in checks_despite(doc.data, errors, context):
            issues.append(
                at(doc.source_map.locate(finding.path), finding.path, finding.message, finding.severity)
            )
        raise ConfigError(_dedupe(issues)) from None

    for finding in check_config(config):
        issues.append(
            at(doc.source_map.locate(finding.path), finding.path, finding.message, finding.severity)
        )
    if any(i.severity == "error" for i in issues):
        raise ConfigError(_dedupe(issues))
    return LoadedConfig(config, filename, tuple(_dedupe(issues)), doc.source_map)


def _written(source_map: SourceMap, path: KeyPath) -> KeyPath:
    """A host's ssh key path, or the top-level ssh default it inherited when the host does not write it."""
    if path[:1] == ("hosts",) and len(path) > 3 and path[2] == "ssh" and path not in source_map.values:
        default = ("ssh", *path[3:])
        if default in source_map.values:
            return default
    return path


def _dedupe(issues: list[ConfigIssue]) -> list[ConfigIssue]:
    return list(dict.fromkeys(issues))


def _line_col(text: str, position: int) -> tuple[int, int]:
    position = max(0, min(position, len(text)))
    line = text.count("\n", 0, position) + 1
    col = position - (text.rfind("\n", 0, position) + 1) + 1
    return line, col


def _syntax_issue(filename: str, exc: yaml.MarkedYAMLError) -> ConfigIssue:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = exc.problem or exc.context or "cannot be parsed"
    context = ""
    if exc.context and exc.context_mark is not None and exc.problem:
        context = f" ({exc.context} at line {exc.context_mark.line + 1})"
    hint = ""
    if "expected a single document" in (exc.context or ""):
        return ConfigIssue(
            filename,
            line,
            col,
            "",
            "holds a second YAML document here; cluster.yml must be exactly one document",
        )
    if "\t" in problem or "'\\t'" in problem:
        hint = "; indent with spaces, YAML does not allow tabs"
    elif "expected <block end>" in problem:
        hint = "; check the indentation of this line against the lines above"
    elif "mapping values are not allowed" in problem:
        hint = "; a value containing ': ' must be quoted, or a key is mis-indented"
    return ConfigIssue(filename, line, col, "", f"YAML syntax error: {problem}{context}{hint}")


# --- pydantic errors -> messages -----------------------------------------------------------------


def _explain(err: ErrorDetails) -> tuple[KeyPath, KeyPath, str, bool]:
    """(path to locate, path to show, message, locate the key rather than the value) for one error."""
    path = _data_path(err["loc"])
    kind, ctx, given = err["type"], err.get("ctx") or {}, err.get("input")
    at_key = bool(err["loc"]) and err["loc"][-1] == "[key]"
    if kind == "extra_forbidden" and path:
        parent, key = path[:-1], path[-1]
        allowed = _allowed_keys(parent)
        guess = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
        did_you_mean = f"did you mean {guess[0]!r}? " if guess else ""
        return (
            path,
            parent,
            f"unknown key {str(key)!r} ({did_you_mean}allowed: {', '.join(allowed)})",
            True,
        )
    if kind == "missing":
        what = _field_description(path)
        hint = ""
        if path[:1] == ("hosts",) and len(path) >= 3 and path[2] == "ssh":
            hint = "; set it here or once for all hosts under the top-level ssh:"
        if what[:1].isupper() and not what[1:2].isupper():
            what = what[0].lower() + what[1:]
        return path, path, f"is required but missing{': ' + what if what else ''}{hint}", False
    if kind == "value_error" and "error" in ctx:
        return path, path, str(ctx["error"]), at_key
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        guess = (
            difflib.get_close_matches(str(given), choices, n=1, cutoff=0.5) if isinstance(given, str) else []
        )
        suggestion = f" (did you mean {guess[0]!r}?)" if guess else ""
        return path, path, f"expected one of {', '.join(choices)}, got {show(given)}{suggestion}", False
    if kind == "string_type":
        quote = " (quote it)" if isinstance(given, bool | int) or given is None else ""
        return path, path, f"expected a string, got {show(given)}{quote}", False
    if kind in {"model_type", "model_attributes_type", "dict_type", "dataclass_type"}:
        keys = _allowed_keys(path)
        example = f" with keys like {', '.join(keys[:4])}" if keys else " of key: value pairs"
        return path, path, f"expected a mapping{example}, got {show(given)}", False
    if kind in {"tuple_type", "list_type", "iterable_type"}:
        return path, path, f"expected a list (YAML '- item' lines or [a, b]), got {show(given)}", False
    if kind == "too_short":
        need = ctx.get("min_length", 1)
        return (
            path,
            path,
            f"expected at least {need} item{'s' if need != 1 else ''}, got {show(given)} which has fewer",
            False,
        )
    if kind == "too_long":
        return path, path, f"expected at most {ctx.get('max_length')} items", False
    return path, path, f"{err['msg']}, got {show(given)}", False


def _data_path(loc: tuple[int | str, ...]) -> KeyPath:
    """The pydantic loc as a key path; '[key]' marks an error in a mapping key, not a value."""
    return tuple(seg for seg in loc if seg != "[key]")


def _relevant(data: dict[str, Any], errors: list[ErrorDetails]) -> list[ErrorDetails]:
    """Drop errors that only echo another one.

    pydantic adds "too short" to a list whose items failed, and a host misses an ssh key when the
    top-level ssh default for it was invalid (and already reported at ssh.<key>).
    """
    item_failed = {err["loc"][:n] for err in errors for n in range(len(err["loc"]))}
    defaults = data.get("ssh") if isinstance(data.get("ssh"), dict) else {}
    out = []
    for err in errors:
        loc = err["loc"]
        if err["type"] == "too_short" and loc in item_failed:
            continue
        if err["type"] == "missing" and len(loc) >= 4 and loc[0] == "hosts" and loc[2] == "ssh":
            rest = loc[3:]
            default: Any = defaults
            for seg in rest:
                default = default.get(seg) if isinstance(default, dict) else None
            if default is not None:
                continue
        out.append(err)
    return out or errors


def _allowed_keys(path: KeyPath) -> list[str]:
    model = model_at(path)
    return list(model.model_fields) if model is not None else []


def _field_description(path: KeyPath) -> str:
    if not path or not isinstance(path[-1], str):
        return ""
    model = model_at(path[:-1])
    if model is None or path[-1] not in model.model_fields:
        return ""
    return (model.model_fields[path[-1]].description or "").rstrip(".")
