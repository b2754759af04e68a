"""The reset host script's file steps, run for real by ``sh`` on a temporary directory: check mode
lists exactly what apply then removes (directories it predicts the removals leave empty included),
apply removes only what the steps name (a link only into its target directory, a directory only
when empty), a second apply finds nothing, and system directories or odd paths are refused."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from kubeward.hostscripts.reset import RESET_SCRIPT, Item, parse_reset_output


def run(steps: list[str], mode: str) -> subprocess.CompletedProcess[str]:
    data = "\n".join([f"mode\t{mode}", *steps]) + "\n"
    return subprocess.run(["sh", "-c", RESET_SCRIPT], input=data, capture_output=True, text=True, timeout=60)


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    t = tmp_path / "host"
    (t / "etc" / "kw" / "sub").mkdir(parents=True)
    (t / "etc" / "kw" / "sub" / "a.conf").write_text("a")
    (t / "etc" / "kw" / "b.conf").write_text("b")
    (t / "etc" / "kw" / "user.txt").write_text("not kubeward's")  # keeps etc/kw
    (t / "etc" / "empty").mkdir()
    (t / "data" / "x" / "y").mkdir(parents=True)
    (t / "data" / "x" / "y" / "z").write_text("z")
    (t / "data.kubeward-1").mkdir()
    (t / "data.other").mkdir()
    (t / "bin").mkdir()
    (t / "opt" / "v1").mkdir(parents=True)
    os.symlink(t / "opt" / "v1", t / "bin" / "ours")
    os.symlink("/usr/bin/true", t / "bin" / "theirs")
    return t


def steps_for(t: Path) -> list[str]:
    return [
        f"file\t{t}/etc/kw/sub/a.conf", f"file\t{t}/etc/kw/b.conf", f"file\t{t}/etc/kw/missing",
        f"link\t{t}/bin/ours\t{t}/opt", f"link\t{t}/bin/theirs\t{t}/opt",
        f"tree\t{t}/data", f"prefixed\t{t}\tdata.kubeward-", f"tree\t{t}/opt",
        f"dir\t{t}/etc/kw/sub", f"dir\t{t}/etc/kw", f"dir\t{t}/etc/empty", f"dir\t{t}/etc",
    ]


def test_check_lists_exactly_what_apply_removes_and_a_second_apply_nothing(tree: Path) -> None:
    t = tree
    check = run(steps_for(t), "check")
    assert check.returncode == 0, check.stderr
    listed = parse_reset_output(check.stdout)
    assert listed.finished and listed.steps_started == len(steps_for(t))
    assert listed.items == [
        Item("file", f"{t}/etc/kw/sub/a.conf"), Item("file", f"{t}/etc/kw/b.conf"), Item("link", f"{t}/bin/ours"),
        Item("tree", f"{t}/data"), Item("tree", f"{t}/data.kubeward-1"), Item("tree", f"{t}/opt"),
        Item("dir", f"{t}/etc/kw/sub"), Item("dir", f"{t}/etc/empty"),
    ]
    assert (t / "etc" / "kw" / "sub" / "a.conf").exists() and (t / "data").exists()  # check changed nothing
    apply = run(steps_for(t), "apply")
    assert apply.returncode == 0, apply.stderr
    assert parse_reset_output(apply.stdout).items == listed.items
    left = sorted(str(p.relative_to(t)) for p in t.rglob("*"))
    assert left == ["bin", "bin/theirs", "data.other", "etc", "etc/kw", "etc/kw/user.txt"], left
    again = run(steps_for(t), "apply")
    assert again.returncode == 0 and parse_reset_output(again.stdout).items == []


@pytest.mark.parametrize("step", ["tree\t/etc", "dir\t/var/lib", "file\t/usr/local/bin", "tree\t/",
                                  "tree\trelative/path", "tree\t/tmp/../etc", "file\t/tmp//x"])
def test_system_directories_and_odd_paths_are_refused(step: str) -> None:
    r = run([step], "check")
    assert r.returncode == 1 and "refusing" in r.stderr, (r.stdout, r.stderr)
    assert not parse_reset_output(r.stdout).finished


def test_a_failing_step_stops_the_script_and_says_which(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    r = run([f"file\t{tmp_path}/nothing", f"file\t{tmp_path}/d", f"file\t{tmp_path}/later"], "apply")
    assert r.returncode == 1 and "a directory where kubeward keeps a file" in r.stderr
    out = parse_reset_output(r.stdout)
    assert out.steps_started == 2 and not out.finished
    bad = run(["frobnicate\tx"], "check")
    assert bad.returncode == 1 and "unknown step 'frobnicate'" in bad.stderr
