"""The etcd phase's decisions without hosts: facts parsing, the cluster view, what a host's apply
round-trip does (no change when converged, restart only on a changed file, the package start held
back), and the policy-rc.d guard run for real in a temporary directory."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from pathlib import Path

import pytest
from tests.unit.test_etcd_config import CLUSTER

from kubeward.components.etcd import DATA, HEALTH, MEMBERS, etcd_component
from kubeward.components.plan import render_apply
from kubeward.config import ClusterConfig, parse_config
from kubeward.etcd import scripts
from kubeward.etcd.config import (
    CONFIG_PATH,
    DROPIN_PATH,
    Bootstrap,
    new_cluster_bootstrap,
    render_config,
    render_dropin,
)
from kubeward.phases.component import parse_component_facts, render_component_facts
from kubeward.phases.etcd import NodeFacts, cluster_view, host_work, node_facts


def cluster() -> ClusterConfig:
    return parse_config(CLUSTER).config


def stat(kind: str, owner: str, group: str, mode: str, content: bytes | None = None) -> str:
    sha = hashlib.sha256(content or b"").hexdigest()
    body = base64.b64encode(content).decode() if content is not None else ""
    return f"{kind}|{owner}|{group}|{mode}\n{sha}\n{body}"


MEMBERS_LIST = {"header": {"cluster_id": 77, "member_id": 1001},
           "members": [{"ID": 1000 + i, "name": f"cp-{i}", "peerURLs": [f"https://10.0.0.{9 + i}:2380"],
                        "clientURLs": [f"https://10.0.0.{9 + i}:2379"]} for i in (1, 2, 3)]}
HEALTH_LIST = [{"endpoint": f"https://10.0.0.{9 + i}:2379", "health": True, "took": "3ms"} for i in (1, 2, 3)]


def facts_text(config: ClusterConfig, host: str, *, converged: bool, bootstrap: Bootstrap | None = None,
               running: bool = True, members: object = MEMBERS_LIST,
               health: object = HEALTH_LIST) -> dict[str, str]:
    h = config.host(host)
    b = bootstrap or new_cluster_bootstrap(config)
    comp = etcd_component(config, h, b)
    ids = [op.id for op in comp.ops()]
    if converged:
        facts = [
            "etcd:x:102:103::/var/lib/etcd:/usr/sbin/nologin",
            stat("directory", "root", "root", "755"),
            stat("directory", "etcd", "etcd", "700"),
            stat("regular file", "root", "etcd", "640", render_config(config, h, b).encode()),
            stat("regular file", "root", "root", "644", render_dropin().encode()),
            "etcd-server installed\netcd-client installed",
            f"enabled\n{'active' if running else 'inactive'}",
        ]
    else:
        facts = ["", "absent", "absent", "absent", "absent", "", "\n"]
    out = dict(zip(ids, facts, strict=True))
    out[DATA] = "data" if converged else "none"
    out[MEMBERS] = json.dumps(members) if converged and running else ""
    out[HEALTH] = json.dumps(health) if converged and running else ""
    return out


def parsed(config: ClusterConfig, host: str, **kw: object) -> NodeFacts:
    comp = etcd_component(config, config.host(host), new_cluster_bootstrap(config))
    return node_facts(host, facts_text(config, host, **kw), comp)  # type: ignore[arg-type]


def test_component_facts_through_a_real_shell(tmp_path: Path) -> None:
    """Every operation's fact comes back under its own id, wherever it sits in the script."""
    from kubeward.components.spec import Component
    from kubeward.ops.ops import Directory, File

    (tmp_path / "a b.conf").write_text("x\n")
    comp = Component("demo", "kubeward-demo-absent", files=(File(str(tmp_path / "a b.conf"), b"x\n"),),
                     directories=(Directory(str(tmp_path)),), extra_facts={"probe": "echo hello; printf no-newline"})
    r = subprocess.run(["sh", "-c", render_component_facts([comp])], capture_output=True, text=True)
    facts = parse_component_facts(r.stdout, [comp])
    assert facts["probe"] == "hello\nno-newline"
    assert facts[f"file:{tmp_path}/a b.conf"].startswith("regular file|")
    assert facts[f"dir:{tmp_path}"].startswith("directory|")
    with pytest.raises(ValueError, match="missing operations"):
        parse_component_facts(r.stdout.split("@@kw fact dir")[0], [comp])


def test_facts_script_reads_members_and_health_with_the_healthcheck_client() -> None:
    c = cluster()
    s = render_component_facts([etcd_component(c, c.host("cp-1"), new_cluster_bootstrap(c))])
    assert "member list -w json" in s and "endpoint health --cluster -w json" in s
    assert "--cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt" in s
    assert "https://127.0.0.1:2379" in s and "[ -d /var/lib/etcd/member ]" in s


def test_converged_member_changes_nothing_and_keeps_its_bootstrap() -> None:
    c = cluster()
    f = parsed(c, "cp-2", converged=True)
    assert f.has_data and f.active == "active" and f.cluster_id == 77
    assert [m.name for m in f.members or []] == ["cp-1", "cp-2", "cp-3"]
    assert f.health == {f"https://10.0.0.{9 + i}:2379": True for i in (1, 2, 3)}
    assert f.bootstrap_in_file == new_cluster_bootstrap(c)
    work = host_work(c, c.host("cp-2"), f, f.bootstrap_in_file or new_cluster_bootstrap(c), start=True)
    assert work.changes == [] and not work.start and not work.needs_restart and not work.wait
    assert len(work.unchanged) == 7


def test_a_member_that_joined_later_keeps_existing_so_nothing_restarts() -> None:
    c = cluster()
    joined = Bootstrap("existing", "cp-1=https://10.0.0.10:2380,cp-3=https://10.0.0.12:2380", "kubeward-prod-eu")
    f = parsed(c, "cp-3", converged=True, bootstrap=joined)
    assert f.bootstrap_in_file == joined
    assert host_work(c, c.host("cp-3"), f, joined, start=True).changes == []


def test_a_changed_config_restarts_a_running_member() -> None:
    c = cluster()
    f = parsed(c, "cp-1", converged=True)
    changed = parse_config(CLUSTER + "pki: {key_type: rsa-2048}\n").config
    work = host_work(changed, changed.host("cp-1"), f, new_cluster_bootstrap(changed), start=True)
    assert [ch.op for ch in work.changes] == [f"file:{CONFIG_PATH}"]
    assert work.needs_restart and not work.start


def test_a_fresh_host_installs_with_starts_held_back_and_starts_without_blocking() -> None:
    c = cluster()
    f = parsed(c, "cp-1", converged=False)
    assert not f.has_data and f.members is None and f.current_config is None
    work = host_work(c, c.host("cp-1"), f, new_cluster_bootstrap(c), start=True)
    ops = [ch.op for ch in work.changes]
    assert ops[0] == "system-user:etcd"
    # the config and drop-in come before the package, so the package's first start would use them
    assert ops.index(f"file:{CONFIG_PATH}") < ops.index("packages:etcd-server,etcd-client")
    assert ops.index(f"file:{DROPIN_PATH}") < ops.index("packages:etcd-server,etcd-client")
    pkg = work.changes[ops.index("packages:etcd-server,etcd-client")]
    assert scripts.POLICY_RC_D in pkg.script and "exit 101" in pkg.script
    script = render_apply(work)
    assert "systemctl daemon-reload" in script and "systemctl start --no-block etcd" in script
    assert script.index("systemctl start --no-block etcd") < script.index("endpoint health")
    assert not work.needs_restart


def test_a_stopped_member_is_started_and_waited_for() -> None:
    c = cluster()
    f = parsed(c, "cp-1", converged=True, running=False)
    work = host_work(c, c.host("cp-1"), f, new_cluster_bootstrap(c), start=True)
    assert work.start and work.wait and work.changes == []


def test_stale_data_is_moved_aside_never_deleted() -> None:
    c = cluster()
    f = parsed(c, "cp-3", converged=True)
    work = host_work(c, c.host("cp-3"), f, new_cluster_bootstrap(c), start=True, learner=True,
                     stale_data=True, stamp="20300101-000000")
    assert work.stop_first
    first = work.changes[0]
    assert first.op == "etcd-data" and "/var/lib/etcd.kubeward-20300101-000000" in first.script
    assert "rm -rf" not in first.script
    assert render_apply(work).index("systemctl stop etcd") < render_apply(work).index("mv ")


def test_cluster_view_takes_a_healthy_nodes_list_and_flags_split_clusters() -> None:
    c = cluster()
    facts = {h: parsed(c, h, converged=True) for h in ("cp-1", "cp-2", "cp-3")}
    view = cluster_view(facts)
    assert view.error is None and view.members is not None and view.healthy == {1001, 1002, 1003}
    sick = [dict(e, health=(e["endpoint"] != "https://10.0.0.12:2379")) for e in HEALTH_LIST]
    facts = {h: parsed(c, h, converged=True, health=sick) for h in ("cp-1", "cp-2", "cp-3")}
    assert cluster_view(facts).healthy == {1001, 1002}
    other = dict(MEMBERS_LIST, header={"cluster_id": 78})
    facts["cp-3"] = parsed(c, "cp-3", converged=True, members=other)
    assert "different etcd clusters" in (cluster_view(facts).error or "")
    assert cluster_view({"cp-1": parsed(c, "cp-1", converged=False)}).members is None


def test_policy_rc_d_guard_denies_starts_and_restores_what_was_there(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    pol = tmp_path / "policy-rc.d"
    monkeypatch.setattr(scripts, "POLICY_RC_D", str(pol))
    inner = f"{pol} etcd start; echo rc=$? > {tmp_path}/seen"
    r = subprocess.run(["sh", "-c", scripts.without_autostart(inner)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "seen").read_text().strip() == "rc=101"
    assert not pol.exists()
    pol.write_text("#!/bin/sh\nexit 0\n")
    r = subprocess.run(["sh", "-c", scripts.without_autostart("false")], capture_output=True, text=True)
    assert r.returncode != 0  # the install's failure is the script's failure ...
    assert pol.read_text() == "#!/bin/sh\nexit 0\n"  # ... and the previous policy is back
