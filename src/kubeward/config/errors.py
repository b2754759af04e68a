"""The located issues a cluster.yml can have, and the error that carries them.

KubewardError
 +-- ConfigError      one or more ConfigIssue, each with file:line:col, the key path and what is expected
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from kubeward.errors import KubewardError

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a cluster.yml, at a 1-based line and column.

    ``path_str`` is the key path in ``hosts[2].private_address`` form ("" for the whole file);
    ``message`` says what is wrong and what is expected.
    """

    file: str
    line: int
    col: int
    path_str: str
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}: "
        kind = "warning: " if self.severity == "warning" else ""
        subject = f"{self.path_str} " if self.path_str else ""
        return f"{where}{kind}{subject}{self.message}"

    def to_dict(self) -> dict[str, object]:
        """The JSON shape `kubeward validate --output json` prints."""
        return {
            "file": self.file,
            "line": self.line,
            "column": self.col,
            "path": self.path_str,
            "message": self.message,
            "severity": self.severity,
        }


class ConfigError(KubewardError):
    """cluster.yml is missing, unreadable or invalid; ``issues`` lists every problem found.

    Errors come first, then any warnings found on the way; ``str()`` is one line per issue.
    """

    exit_code = 2

    def __init__(self, issues: Iterable[ConfigIssue]) -> None:
        ordered = sorted(issues, key=lambda i: (i.severity != "error", i.file, i.line, i.col))
        if not any(i.severity == "error" for i in ordered):
            raise ValueError("ConfigError needs at least one issue of severity 'error'")
        self.issues: tuple[ConfigIssue, ...] = tuple(ordered)
        super().__init__("\n".join(str(i) for i in self.issues))

    @property
    def errors(self) -> tuple[ConfigIssue, ...]:
        return tuple(i for i in self.issues if i.severity == "error")

    @property
    def warnings(self) -> tuple[ConfigIssue, ...]:
        return tuple(i for i in self.issues if i.severity == "warning")


def format_path(path: tuple[str | int, ...]) -> str:
    """``("hosts", 2, "private_address")`` -> ``hosts[2].private_address``; odd keys are quoted."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part and all(c.isalnum() or c in "_-" for c in part) and part.isascii():
            out += f".{part}" if out else part
        else:
            out += "[" + repr(part) + "]"
    return out
