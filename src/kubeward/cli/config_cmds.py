"""`kubeward validate` and `kubeward schema` (owned by the config work)."""

from __future__ import annotations

import click


def register(cli: click.Group) -> None:
    pass
