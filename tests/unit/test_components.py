"""Components as values, the component phase's orchestration, and the runner's plan and clean-up
guarantees (pure: fake phases and a fake session; the real thing runs in tests/lab)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest
from tests.unit.test_etcd_config import CLUSTER

from kubeward.components.etcd import etcd_component
from kubeward.components.flags import Flag, FlagTable, Removed, check_extra_args, render_args, render_argv, unit_exec
from kubeward.components.plan import plan_work, render_apply, render_restart
from kubeward.components.spec import Component, Health
from kubeward.components.version import Span, Version, v
from kubeward.config import parse_config
from kubeward.etcd.config import CONFIG_PATH, new_cluster_bootstrap
from kubeward.hostscripts.sections import parse_sections, render_sections
from kubeward.ops.base import Change, HostOutcome
from kubeward.ops.ops import File
from kubeward.phases.base import PerHostPhase, Phase, RunContext
from kubeward.phases.component import restart_components
from kubeward.phases.runner import run_phases
from kubeward.remote.ssh import CommandResult, PlanViolation, Session, Target, Trust

# ----- versions and flag tables ---------------------------------------------------------------------


def test_versions_order_and_parse() -> None:
    assert Version.parse("v1.20.2") == Version(1, 20, 2) < v("1.24") < v("1.33.1")
    assert str(v("1.33")) == "1.33.0"
    with pytest.raises(ValueError, match="not a version"):
        Version.parse("1.x")
    assert Span(v("1.22"), v("1.24")).covers(v("1.23.9")) and not Span(v("1.22"), v("1.24")).covers(v("1.24.0"))


TABLE: FlagTable[dict[str, str]] = FlagTable("kube-demo", (
    Flag("bind-address", lambda c: c["bind"]),
    Flag("insecure-port", "0", Span(until=v("1.24"))),
    Flag("feature-gates", "SeccompDefault=true", Span(v("1.22"), v("1.27"))),
    Flag("optional", lambda c: c.get("opt")),
), removed=(Removed("insecure-port", v("1.24"), "the insecure port is gone; drop the flag"),))


@pytest.mark.parametrize(("version", "extra", "expected"), [
    ("1.20.2", {}, {"bind-address": "10.0.0.1", "insecure-port": "0"}),
    ("1.23.0", {}, {"bind-address": "10.0.0.1", "insecure-port": "0", "feature-gates": "SeccompDefault=true"}),
    ("1.33.0", {}, {"bind-address": "10.0.0.1"}),
    # the user's extra args come last and win
    ("1.33.0", {"--bind-address": "127.0.0.1", "v": "2"}, {"bind-address": "127.0.0.1", "v": "2"}),
])
def test_flag_table_rows(version: str, extra: dict[str, str], expected: dict[str, str]) -> None:
    assert render_args(TABLE, v(version), {"bind": "10.0.0.1"}, extra) == expected


def test_removed_and_out_of_range_extra_args_are_problems() -> None:
    probs = check_extra_args(TABLE, v("1.33"), {"insecure-port": "0", "feature-gates": "X=true", "v": "2"})
    assert [p.name for p in probs] == ["insecure-port", "feature-gates"]
    assert "removed from kube-demo in 1.24" in probs[0].message and "drop the flag" in probs[0].message
    assert "exists only from 1.22 until 1.27" in probs[1].message
    assert check_extra_args(TABLE, v("1.20"), {"insecure-port": "0"}) == []


def test_overlapping_rows_are_a_table_error() -> None:
    with pytest.raises(ValueError, match="overlap"):
        FlagTable("x", (Flag("a", "1", Span(until=v("1.24"))), Flag("a", "2", Span(v("1.23")))))
    FlagTable("x", (Flag("a", "1", Span(until=v("1.24"))), Flag("a", "2", Span(v("1.24")))))  # adjacent is fine


def test_argv_and_unit_exec_quote_for_systemd() -> None:
    argv = render_argv({"a": "1", "b": "x y", "c": "50%"})
    assert argv == ["--a=1", "--b=x y", "--c=50%"]
    text = unit_exec("/usr/local/bin/kube-demo", argv)
    assert '"--b=x y"' in text and "--c=50%%" in text and text.startswith("/usr/local/bin/kube-demo \\\n")


# ----- sections --------------------------------------------------------------------------------------


def test_sections_nest_by_scope() -> None:
    inner = render_sections("fact", {"a": "echo 1", "b": "printf 2"})
    outer = render_sections("phase", {"p": inner, "q": "echo q"})
    import subprocess

    out = subprocess.run(["sh", "-c", outer], capture_output=True, text=True, check=True).stdout
    phases = parse_sections(out, "phase")
    assert set(phases) == {"p", "q"} and phases["q"] == "q\n"
    assert parse_sections(phases["p"], "fact") == {"a": "1\n", "b": "2"}


def test_section_keys_are_checked() -> None:
    with pytest.raises(ValueError):
        render_sections("fact", {"a b": "true"})
    with pytest.raises(ValueError):
        render_sections("Bad Scope", {"a": "true"})


# ----- a component's work ----------------------------------------------------------------------------


def _config():  # type: ignore[no-untyped-def]
    return parse_config(CLUSTER).config


def _converged_facts(comp: Component, running: bool = True) -> dict[str, str]:
    import base64
    import hashlib

    facts: dict[str, str] = {}
    for op in comp.ops():
        if isinstance(op, File):
            sha = hashlib.sha256(op.content).hexdigest()
            facts[op.id] = (f"regular file|{op.owner}|{op.group}|{op.mode:o}\n{sha}\n"
                            f"{base64.b64encode(op.content).decode()}\n")
        elif op.id.startswith("dir:"):
            d = next(x for x in comp.directories if x.id == op.id)
            facts[op.id] = f"directory|{d.owner}|{d.group}|{d.mode:o}\n-\n"
        elif op.id.startswith("packages:"):
            facts[op.id] = "".join(f"{p} installed\n" for p in comp.packages)
        elif op.id.startswith("system-user:"):
            facts[op.id] = "etcd:x:1:1::/var/lib/etcd:/usr/sbin/nologin\n"
        else:
            facts[op.id] = "enabled\nactive\n" if running else "enabled\ninactive\n"
    return facts


def test_converged_component_has_no_work_and_a_changed_file_restarts() -> None:
    c = _config()
    comp = etcd_component(c, c.host("cp-1"), new_cluster_bootstrap(c))
    facts = _converged_facts(comp)
    work = plan_work(comp, facts)
    assert work.idle and not work.needs_restart and work.shown() == []
    changed = parse_config(CLUSTER + "pki: {key_type: rsa-2048}\n").config
    work = plan_work(etcd_component(changed, changed.host("cp-1"), new_cluster_bootstrap(changed)), facts)
    assert [ch.op for ch in work.changes] == [f"file:{CONFIG_PATH}"]
    assert work.needs_restart and not work.start and not work.daemon_reload
    assert "one host at a time" in work.shown()[-1].summary
    assert "systemctl restart --no-block etcd" in render_restart(work.component)


def test_stopped_component_is_started_then_probed() -> None:
    c = _config()
    comp = etcd_component(c, c.host("cp-1"), new_cluster_bootstrap(c))
    work = plan_work(comp, _converged_facts(comp, running=False))
    script = render_apply(work)
    assert work.start and work.wait
    assert script.index("systemctl start --no-block etcd") < script.index("endpoint health")


# ----- orchestration: plan, clean-up, rolling restarts ---------------------------------------------------


def _ctx(apply: bool, session: Session) -> RunContext:
    return RunContext(parse_config(CLUSTER), session, apply)


def _session() -> Session:
    targets = [Target(n, "192.0.2.1", 22, "debian", Path("/nonexistent")) for n in ("cp-1", "cp-2", "cp-3")]
    return Session(targets, Trust(Path("/nonexistent/known_hosts")))


class Careless(PerHostPhase):
    """A phase that changes hosts without ever looking at ctx.apply."""

    name = "careless"
    title = "Forget to check for plan"

    async def run(self, ctx: RunContext, host: str) -> HostOutcome:
        await ctx.session.run(host, "touch /etc/careless", label="touch /etc/careless")
        return HostOutcome(host, [Change("x", "touched", "")])


def test_a_careless_phase_cannot_change_a_host_under_plan() -> None:
    session = _session()
    report = asyncio.run(run_phases(_ctx(False, session), [Careless()], hosts=["cp-1"]))
    err = report.outcomes["careless"]["cp-1"].error or ""
    assert "refused to run 'touch /etc/careless' during a plan" in err
    assert session.round_trips["cp-1"] == 0  # refused before any connection
    assert not session.read_only  # the runner put the session back


def test_plan_violation_is_raised_for_uploads_too() -> None:
    session = _session()
    session.read_only = True
    with pytest.raises(PlanViolation):
        asyncio.run(session.upload("cp-1", "/etc/x", b"x"))


class Fake(Phase):
    def __init__(self, name: str, fail: bool, log: list[str]) -> None:
        self.name, self.title, self.fail, self.log = name, name, fail, log

    async def run_all(self, ctx: RunContext, hosts: Sequence[str]) -> dict[str, HostOutcome]:
        self.log.append(f"run {self.name}")
        return {h: HostOutcome(h, error="boom" if self.fail else None) for h in hosts}

    async def cleanup(self, ctx: RunContext, hosts: Sequence[str]) -> None:
        self.log.append(f"cleanup {self.name}")


def test_a_failed_phase_cleans_up_the_phases_that_ran_latest_first() -> None:
    log: list[str] = []
    phases = [Fake("a", False, log), Fake("b", False, log), Fake("c", True, log), Fake("d", False, log)]
    report = asyncio.run(run_phases(_ctx(True, _session()), phases, hosts=["cp-1"]))
    assert log == ["run a", "run b", "run c", "cleanup b", "cleanup a"]
    assert report.stopped_after == "c"
    log.clear()
    asyncio.run(run_phases(_ctx(True, _session()), phases[:2], hosts=["cp-1"]))
    assert log == ["run a", "run b"]  # no failure, no clean-up


class Recording(Session):
    def __init__(self, fail_on: str = "") -> None:
        super().__init__([Target(n, "192.0.2.1", 22, "debian", Path("/x")) for n in ("cp-1", "cp-2", "cp-3")],
                         Trust(Path("/x")))
        self.calls: list[tuple[str, str]] = []
        self.fail_on = fail_on
        self.active = 0
        self.max_active = 0

    async def run(self, name: str, command: str, **kw: object) -> CommandResult:  # type: ignore[override]
        from kubeward.remote.ssh import CommandError

        self.active += 1
        self.max_active = max(self.max_active, self.active)
        await asyncio.sleep(0.01)
        self.active -= 1
        self.calls.append((name, str(kw.get("label"))))
        if name == self.fail_on:
            raise CommandError(name, "restart", 1, "", "etcd on cp-2 is not healthy after 120 s (failed)")
        return CommandResult(name, "restart", 0, "", "", 0.0)


def _comp(policy: str) -> Component:
    return Component("demo", "demo", health=Health("true"), restart=policy)  # type: ignore[arg-type]


def test_rolling_restart_is_one_host_at_a_time_and_stops_at_a_failure() -> None:
    s = Recording()
    out = {h: HostOutcome(h) for h in ("cp-1", "cp-2", "cp-3")}
    assert asyncio.run(restart_components(_ctx(True, s), {h: _comp("rolling") for h in out}, out))
    assert [c[0] for c in s.calls] == ["cp-1", "cp-2", "cp-3"] and s.max_active == 1
    s = Recording(fail_on="cp-2")
    out = {h: HostOutcome(h) for h in ("cp-1", "cp-2", "cp-3")}
    assert not asyncio.run(restart_components(_ctx(True, s), {h: _comp("rolling") for h in out}, out))
    assert [c[0] for c in s.calls] == ["cp-1", "cp-2"]
    assert "not healthy" in (out["cp-2"].error or "")
    assert "stopped at cp-2" in (out["cp-3"].error or "") and out["cp-1"].error is None


def test_all_at_once_restarts_concurrently() -> None:
    s = Recording()
    out = {h: HostOutcome(h) for h in ("cp-1", "cp-2", "cp-3")}
    assert asyncio.run(restart_components(_ctx(True, s), {h: _comp("all") for h in out}, out))
    assert s.max_active == 3


def test_restarts_do_nothing_under_plan() -> None:
    s = Recording()
    out = {h: HostOutcome(h) for h in ("cp-1",)}
    assert asyncio.run(restart_components(_ctx(False, s), {"cp-1": _comp("rolling")}, out))
    assert s.calls == []
