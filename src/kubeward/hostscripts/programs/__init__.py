"""Python programs kubeward runs on hosts, kept as files of their own (stdlib only, Python 3.9+ as on
Debian 11 and later) so they can be read, linted and golden-tested like any code."""

from __future__ import annotations

from functools import cache
from importlib.resources import files


@cache
def read_program(name: str) -> str:
    """The source of program ``name`` (a file ``NAME.py`` beside this module)."""
    return (files(__package__) / f"{name}.py").read_text(encoding="utf-8")
