"""The JSON Schema and the reference doc cover every key of the model."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from kubeward.config import render_schema
from kubeward.config.model import all_models

DOC = Path(__file__).parents[2] / "docs" / "cluster-yml.md"


def _properties(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = [("", schema)] + [(name, d) for name, d in schema["$defs"].items()]
    return [(f"{owner}.{key}", prop) for owner, d in out for key, prop in d.get("properties", {}).items()]


def test_every_property_has_a_description() -> None:
    schema = render_schema()
    missing = [name for name, prop in _properties(schema) if not prop.get("description")]
    assert missing == []


def test_schema_does_not_require_what_ssh_defaults_can_give() -> None:
    defs = render_schema()["$defs"]
    assert "ssh" not in defs["HostConfig"].get("required", [])
    assert "required" not in defs["SshConfig"]
    assert defs["NetworkConfig"]["properties"]["nodeport_range"]["default"] == "30001-30099"


def test_doc_mentions_every_key() -> None:
    doc = DOC.read_text()
    models = all_models()
    assert len(models) >= 10
    missing = [
        f"{m.__name__}.{key}"
        for m in models
        for key in m.model_fields
        if not re.search(rf"[`.]{key}[`.]", doc)
    ]
    assert missing == []
