"""Pure parts of the control plane: the encryption key ring and its rotation steps, the RBAC table's
decisions, the HAProxy configuration and the unit files."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from pathlib import Path

from lightkube.models.meta_v1 import ObjectMeta
from lightkube.models.rbac_v1 import RoleRef, Subject
from lightkube.resources.rbac_authorization_v1 import ClusterRoleBinding

from kubeward.components.control_plane import (
    HAPROXY_CONFIG,
    HAPROXY_DROPIN,
    api_proxy_component,
    render_haproxy_config,
    render_unit,
)
from kubeward.components.plan import plan_work, render_reload
from kubeward.components.spec import Component
from kubeward.config import parse_config
from kubeward.kube.rbac import CLUSTER_ROLE_BINDINGS, binding_action, render_binding
from kubeward.ops.ops import Directory, File, Packages
from kubeward.pki.encryption import (
    KeyRing,
    new_key,
    parse_key_ring,
    render_key_ring,
    rotation_add,
    rotation_drop,
    rotation_promote,
    rotation_rewritten,
)
from kubeward.pki.store import ensure_keys, read_keys

GOOD = (Path(__file__).parent / "data" / "good.yml").read_text()
T0, T1 = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)


def test_key_ring_rotation_steps_keep_every_secret_readable() -> None:
    old = new_key(T0, b"\x01" * 32)
    ring = parse_key_ring(render_key_ring(KeyRing((old,))), "x")
    new = new_key(T1, b"\x02" * 32)
    added = rotation_add(ring, new)
    assert [k.name for k in added.keys] == [old.name, new.name] and added.step == "add"  # old still encrypts
    promoted = rotation_promote(added)
    assert [k.name for k in promoted.keys] == [new.name, old.name]  # new encrypts, old still decrypts
    rewritten = rotation_rewritten(promoted)
    assert rewritten.keys == promoted.keys and rewritten.step == "rewrite"
    dropped = rotation_drop(rewritten)
    assert [k.name for k in dropped.keys] == [new.name] and not dropped.step and not dropped.rotating_from
    assert new.secret not in repr(new) and new.secret not in repr(dropped)  # never printed


def test_key_file_is_generated_once_and_private(tmp_path: Path) -> None:
    first = ensure_keys(tmp_path, T0)
    assert (tmp_path / "encryption-keys.json").stat().st_mode & 0o777 == 0o600
    assert ensure_keys(tmp_path, T1) == first == read_keys(tmp_path)
    assert len(first.keys) == 1 and len(base64.b64decode(first.keys[0].secret)) == 32


def test_rbac_rows_are_created_replaced_or_left_alone() -> None:
    row = CLUSTER_ROLE_BINDINGS[0]
    assert binding_action(None, row) == "create"
    assert binding_action(render_binding(row), row) == "none"
    other_subjects = render_binding(row)
    other_subjects.subjects = [Subject(kind="Group", name="someone-else")]
    assert binding_action(other_subjects, row) == "replace"
    other_role = ClusterRoleBinding(metadata=ObjectMeta(name=row.name), roleRef=RoleRef(
        apiGroup="rbac.authorization.k8s.io", kind="ClusterRole", name="view"), subjects=[])
    assert binding_action(other_role, row) == "recreate"
    names = {r.name: r.cluster_role for r in CLUSTER_ROLE_BINDINGS}
    assert names == {"kubeward:cluster-admins": "cluster-admin",
                     "kubeward:apiserver-kubelet-client": "system:kubelet-api-admin",
                     # TLS bootstrap (issue 17; tests/unit/test_node_bootstrap.py checks the subjects)
                     "kubeward:kubelet-bootstrap": "system:node-bootstrapper",
                     "kubeward:node-autoapprove-bootstrap":
                         "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
                     "kubeward:node-autoapprove-certificate-rotation":
                         "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient"}


def test_haproxy_listens_on_loopback_only_and_checks_every_api_server() -> None:
    config = parse_config(GOOD).config
    text = render_haproxy_config(config)
    binds = [line.split()[1] for line in text.splitlines() if line.strip().startswith("bind")]
    assert binds == ["127.0.0.1:6443", "127.0.0.1:8404"]
    servers = [line.split()[2] for line in text.splitlines() if line.strip().startswith("server")]
    assert servers == [f"{cp.private_address}:6443" for cp in config.control_planes]
    assert "mode tcp" in text


def test_units_restart_always_and_bound_the_stop() -> None:
    unit = render_unit("kube-scheduler", "Kubernetes scheduler", {"bind-address": "127.0.0.1"}, stop_timeout=20)
    assert "Restart=always" in unit and "TimeoutStopSec=20" in unit
    assert "ExecStart=/usr/local/bin/kube-scheduler \\\n    --bind-address=127.0.0.1" in unit


def _converged_facts(comp: Component) -> dict[str, str]:
    """The facts of a host where ``comp`` runs exactly as declared."""
    facts: dict[str, str] = {}
    for op in comp.ops():
        if isinstance(op, File):
            sha = hashlib.sha256(op.content).hexdigest()
            facts[op.id] = (f"regular file|{op.owner}|{op.group}|{op.mode:o}\n{sha}\n"
                            f"{base64.b64encode(op.content).decode()}")
        elif isinstance(op, Directory):
            facts[op.id] = f"directory|{op.owner}|{op.group}|{op.mode:o}\n"
        elif isinstance(op, Packages):
            facts[op.id] = "\n".join(f"{n} installed" for n in op.names)
        else:
            facts[op.id] = "enabled\nactive"
    return facts


def test_new_api_proxy_backends_reload_haproxy_and_a_changed_unit_restarts_it() -> None:
    """A control plane added or removed changes every node's proxy configuration: HAProxy reloads
    (its connections stay open), it is not restarted."""
    config = parse_config(GOOD).config
    before = api_proxy_component(config)
    assert plan_work(before, _converged_facts(before)).idle
    smaller = config.model_copy(update={"hosts": tuple(h for h in config.hosts if h.name != config.control_planes[-1].name)})
    work = plan_work(api_proxy_component(smaller), _converged_facts(before))
    assert (work.needs_reload, work.needs_restart) == (True, False)
    assert [c.summary for c in work.shown()] == [f"update {HAPROXY_CONFIG}",
                                                 "reload haproxy.service (its configuration changed; no restart)"]
    assert render_reload(before).startswith("systemctl reload haproxy.service\n")
    facts = _converged_facts(before)
    facts[f"file:{HAPROXY_DROPIN}"] = "absent"
    work = plan_work(before, facts)
    assert (work.needs_reload, work.needs_restart) == (False, True)
