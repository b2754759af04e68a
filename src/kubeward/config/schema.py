"""The JSON Schema of cluster.yml, for editors (yaml-language-server) and other tools."""

from __future__ import annotations

from typing import Any

from kubeward.config.model import ClusterConfig

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def render_schema() -> dict[str, Any]:
    """The JSON Schema of cluster.yml, with a description and default on every key."""
    schema = ClusterConfig.model_json_schema(mode="validation")
    defs = schema.get("$defs", {})
    # The model requires hosts[].ssh with user and key_path *after* the top-level ssh defaults are
    # merged in; in the file they may come from those defaults, so the file's schema must not.
    host, ssh = defs.get("HostConfig", {}), defs.get("SshConfig", {})
    host["required"] = [k for k in host.get("required", []) if k != "ssh"]
    ssh["required"] = [k for k in ssh.get("required", []) if k not in {"user", "key_path"}]
    for model in (host, ssh):
        if not model["required"]:
            del model["required"]
    return {"$schema": SCHEMA_DIALECT, **schema}
