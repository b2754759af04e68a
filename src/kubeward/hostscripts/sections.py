"""Sections: the single structured-output format of host scripts (pure).

A marker is a line ``@@kw SCOPE KEY``. :func:`render_marker` prints one on a line of its own even
after output that did not end in a newline (it prints a newline first); :func:`parse_sections`
drops that one extra newline again. Markers of other scopes are ordinary text to a parser, so a
section may hold a whole nested document.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping

MARK = "@@kw"
END = "end"

_SCOPE = re.compile(r"[a-z][a-z0-9-]*")


def _check(scope: str, key: str) -> None:
    if not _SCOPE.fullmatch(scope):
        raise ValueError(f"bad section scope {scope!r}")
    if not key or any(c.isspace() for c in key):
        raise ValueError(f"bad section key {key!r} (non-empty, no whitespace)")


def render_marker(scope: str, key: str) -> str:
    """Shell printing the marker line of section ``key`` in ``scope``."""
    _check(scope, key)
    return f"printf '\\n{MARK} {scope} %s\\n' {shlex.quote(key)}"


def render_sections(scope: str, bodies: Mapping[str, str], *, merge_stderr: bool = False,
                    tolerate_failure: bool = True) -> str:
    """One script printing each body's output as a section, then the scope's end marker.

    Each body runs in a subshell; ``merge_stderr`` adds its stderr to the section (facts want error
    messages as evidence), ``tolerate_failure`` keeps a failing body from stopping the others.
    """
    parts = []
    for key, body in bodies.items():
        redirect = " 2>&1" if merge_stderr else ""
        tail = " || true" if tolerate_failure else ""
        parts.append(f"{render_marker(scope, key)}\n( {body}\n){redirect}{tail}")
    parts.append(render_marker(scope, END))
    return "\n".join(parts) + "\n"


def marker_line(scope: str, key: str) -> str:
    """The marker line as it appears in output (for scripts that echo progress themselves)."""
    _check(scope, key)
    return f"{MARK} {scope} {key}"


def parse_sections(text: str, scope: str) -> dict[str, str]:
    """``key -> text`` for every section of ``scope`` in ``text``: exactly what the section printed
    (the newline each marker prints before itself is dropped again). Text after the END marker and
    before the first marker is ignored; a key printed twice keeps its last section."""
    prefix = f"{MARK} {scope} "
    out: dict[str, list[str]] = {}
    cur: list[str] | None = None
    for line in text.splitlines(keepends=True):
        if line.startswith(prefix):
            key = line[len(prefix):].strip()
            if key == END:
                cur = None
            else:
                cur = out[key] = []
        elif cur is not None:
            cur.append(line)
    return {k: "".join(v).removesuffix("\n") for k, v in out.items()}


def marker_keys(text: str, scope: str) -> list[str]:
    """The keys of ``scope``'s markers in order of appearance (progress markers)."""
    prefix = f"{MARK} {scope} "
    return [line[len(prefix):].strip() for line in text.splitlines() if line.startswith(prefix)]


def strip_markers(text: str) -> str:
    """Output for people: every marker line removed."""
    return "\n".join(line for line in text.splitlines() if not line.startswith(MARK + " "))
