"""Golden files: ``assert_golden(name, text)`` compares with tests/unit/golden/NAME.

Set KUBEWARD_UPDATE_GOLDEN=1 to (re)write them; review the diff before committing.
"""

from __future__ import annotations

import os
from pathlib import Path

GOLDEN = Path(__file__).parent / "golden"


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("KUBEWARD_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return
    assert path.exists(), f"no golden file {path}; run with KUBEWARD_UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(), f"{name} differs from its golden file (KUBEWARD_UPDATE_GOLDEN=1 to accept)"
