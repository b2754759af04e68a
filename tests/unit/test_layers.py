"""Layers point one way: the CLI calls the library, phases call ops and the remote module, and the
pure packages import neither phases, the CLI nor the SSH code (style.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "kubeward"

#: package -> kubeward packages it must not import
FORBIDDEN = {
    "config": ("phases", "cli", "remote", "audit", "ops"),
    "catalog": ("phases", "cli", "remote", "audit", "ops"),
    "firewall": ("phases", "cli", "remote", "audit"),
    "pki": ("phases", "cli", "remote", "audit"),
    "components": ("phases", "cli", "remote", "audit"),
    "hostscripts": ("phases", "cli", "remote", "audit", "ops", "components"),
    "ops": ("phases", "cli", "remote", "audit"),
    "audit": ("phases", "cli"),
    "etcd": ("phases", "cli"),
    "remote": ("phases", "cli", "audit"),
    "artifacts": ("phases", "cli"),
    "reset": ("phases", "cli", "remote", "audit"),
}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_point_one_way(package: str) -> None:
    bad = []
    for path in sorted((SRC / package).rglob("*.py")):
        for mod in imports(path):
            parts = mod.split(".")
            if parts[0] == "kubeward" and len(parts) > 1 and parts[1] in FORBIDDEN[package]:
                bad.append(f"{path.relative_to(SRC)} imports {mod}")
    assert not bad, bad
