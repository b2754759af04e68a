"""A lab node's pure parts: cgroup hierarchies from /proc texts and the shell scripts rendered to boot
it, to put it in its cgroups and to remove them."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from kubeward.lab.image import REPO_MOUNT, Image
from kubeward.lab.node import (
    DATA_MOUNTS,
    CgroupHierarchy,
    NodeSpec,
    enter_argv,
    new_machine_id,
    parse_cgroup_hierarchies,
    render_boot_script,
    render_enter_cgroups_script,
    render_remove_cgroups_script,
)

PROC_CGROUPS = """\
#subsys_name\thierarchy\tnum_cgroups\tenabled
cpuset\t3\t4\t1
cpu\t1\t4\t1
cpuacct\t2\t4\t1
blkio\t7\t4\t1
memory\t4\t112\t1
devices\t5\t43\t1
rdma\t0\t1\t0
misc\t0\t1\t0
pids\t8\t43\t1
"""

PROC_SELF_CGROUP = """\
8:pids:/
7:blkio:/
5:devices:/user.slice
4:memory:/process_api/abc
3:cpuset:/
2:cpuacct:/
1:cpu:/
9:name=systemd:/user.slice/session-1.scope
0::/user.slice/session-1.scope
"""


@pytest.fixture
def hierarchies() -> list[CgroupHierarchy]:
    return parse_cgroup_hierarchies(PROC_CGROUPS, PROC_SELF_CGROUP)


@pytest.fixture
def spec(tmp_path: Path) -> NodeSpec:
    return NodeSpec(
        lab="demo", name="demo-w1", netns="kubeward-demo-w1", dir=tmp_path / "labs/demo/nodes/demo-w1"
    )


@pytest.fixture
def image(tmp_path: Path) -> Image:
    return Image(key="0123456789ab", root=tmp_path / "images/0123456789ab")


def _lines(script: str) -> list[str]:
    return script.splitlines()


def _index(lines: list[str], needle: str) -> int:
    hits = [i for i, line in enumerate(lines) if needle in line]
    assert hits, f"{needle!r} not in script"
    return hits[0]


def _strict(first_line: str) -> None:
    """The script stops at the first failing step and on unset variables (`set -eu`, maybe `x`)."""
    m = re.fullmatch(r"set -([a-z]+)", first_line)
    assert m and {"e", "u"} <= set(m.group(1)), first_line


def _syntax_ok(script: str) -> None:
    sh = shutil.which("sh")
    if sh is None:
        pytest.skip("no sh")
    r = subprocess.run([sh, "-n"], input=script, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


# ----- parse_cgroup_hierarchies ----------------------------------------------------------------------
def test_parse_cgroup_hierarchies(hierarchies: list[CgroupHierarchy]) -> None:
    by = {h.name: h for h in hierarchies}
    # every enabled controller on its own, in /proc/cgroups order, then name=systemd, then unified
    assert [h.name for h in hierarchies] == [
        "cpuset",
        "cpu",
        "cpuacct",
        "blkio",
        "memory",
        "devices",
        "pids",
        "systemd",
        "unified",
    ]
    assert "rdma" not in by and "misc" not in by  # enabled=0
    assert by["memory"] == CgroupHierarchy("memory", "cgroup", "memory", "/process_api/abc")
    assert by["devices"].parent == "/user.slice"
    assert by["cpu"] == CgroupHierarchy("cpu", "cgroup", "cpu", "/")
    assert by["systemd"] == CgroupHierarchy(
        "systemd", "cgroup", "none,name=systemd", "/user.slice/session-1.scope"
    )
    assert by["unified"] == CgroupHierarchy("unified", "cgroup2", "", "/user.slice/session-1.scope")


def test_parse_cgroup_hierarchies_co_mounted_missing_and_malformed_lines() -> None:
    proc_cgroups = (
        "#subsys_name hierarchy num_cgroups enabled\ncpu 2 1 1\ncpuacct 2 1 1\nfreezer 6 1 1\nbad\n\n"
    )
    self_cgroup = "2:cpu,cpuacct:/a/b\nnot a cgroup line\n"
    by = {h.name: h for h in parse_cgroup_hierarchies(proc_cgroups, self_cgroup)}
    assert by["cpu"].parent == by["cpuacct"].parent == "/a/b"
    assert by["freezer"].parent == "/"  # not in /proc/self/cgroup: the root
    assert by["systemd"].parent == "/" and by["unified"].parent == "/"
    assert set(by) == {"cpu", "cpuacct", "freezer", "systemd", "unified"}


# ----- render_boot_script ----------------------------------------------------------------------------
def test_boot_script_mounts_the_overlay_first(
    spec: NodeSpec, image: Image, hierarchies: list[CgroupHierarchy]
) -> None:
    lines = _lines(render_boot_script(spec, image, hierarchies))
    _strict(lines[0])
    assert lines[1] == f"M={spec.merged}"
    assert lines[2] == (
        f"mount -t overlay overlay -o lowerdir={image.rootfs},upperdir={spec.upper},workdir={spec.work} $M"
    )
    assert (
        spec.upper == spec.dir / "upper"
        and spec.work == spec.dir / "work"
        and spec.merged == spec.dir / "merged"
    )


def test_boot_script_mounts_every_hierarchy(
    spec: NodeSpec, image: Image, hierarchies: list[CgroupHierarchy]
) -> None:
    lines = _lines(render_boot_script(spec, image, hierarchies))
    tmpfs = _index(lines, "cgroup $M/sys/fs/cgroup")
    ro = _index(lines, "mount -o remount,ro,nosuid,nodev,noexec,mode=755 $M/sys/fs/cgroup")
    for h in hierarchies:
        target = f"$M/sys/fs/cgroup/{h.name}"
        if h.kind == "cgroup2":
            mount = f"mount -t cgroup2 cgroup2 {target}"
        else:
            mount = f"mount -t cgroup -o {h.options} cgroup {target}"
        i = lines.index(mount)
        assert lines[i - 1] == f"mkdir -p {target}"
        assert tmpfs < i < ro  # inside the tmpfs, before it turns read-only
    assert "mount -t cgroup -o cpu cgroup $M/sys/fs/cgroup/cpu" in lines  # cpu and cpuacct apart
    assert "mount -t cgroup -o cpuacct cgroup $M/sys/fs/cgroup/cpuacct" in lines
    assert "mount -t cgroup -o none,name=systemd cgroup $M/sys/fs/cgroup/systemd" in lines


def test_boot_script_pivots_and_execs_systemd_as_a_container(
    spec: NodeSpec, image: Image, hierarchies: list[CgroupHierarchy]
) -> None:
    script = render_boot_script(spec, image, hierarchies)
    lines = _lines(script)
    pivot = _index(lines, "pivot_root . .kubeward-oldroot")
    assert lines[pivot].startswith("cd $M &&")
    assert _index(lines, "umount -l /.kubeward-oldroot") == pivot + 1
    last = lines[-1]
    assert last.startswith("exec env -i ") and last.endswith(" /lib/systemd/systemd")
    assert "container=other" in last.split()
    assert re.search(r"\bPATH=\S*/usr/sbin\S*", last)
    # everything the node needs is mounted before the pivot
    for needle in (
        "mount -t proc proc $M/proc",
        "sysfs $M/sys",
        "devpts $M/dev/pts",
        "run $M/run",
        "tmp $M/tmp",
        f"hostname {spec.name}",
    ):
        assert _index(lines, needle) < pivot, needle
    assert script.endswith("\n")
    _syntax_ok(script)


def test_boot_script_mounts_the_repository_read_only_and_the_data_dirs(
    spec: NodeSpec, image: Image, hierarchies: list[CgroupHierarchy]
) -> None:
    lines = _lines(render_boot_script(spec, image, hierarchies))
    bind = lines.index(f"mount --bind {image.repo} $M{REPO_MOUNT}")
    assert lines[bind + 1] == f"mount -o remount,bind,ro $M{REPO_MOUNT}"
    assert set(DATA_MOUNTS) == {"containerd", "kubelet"}
    for d in DATA_MOUNTS:
        assert f"mount --bind {spec.data}/{d} $M/var/lib/{d}" in lines


def test_boot_script_without_cgroup_hierarchies_still_boots(spec: NodeSpec, image: Image) -> None:
    script = render_boot_script(spec, image, [])
    assert "/sys/fs/cgroup/" not in script and "mount -t cgroup" not in script
    assert script.splitlines()[-1].endswith("/lib/systemd/systemd")
    _syntax_ok(script)


# ----- render_enter_cgroups_script -------------------------------------------------------------------
def _cg_path(h: CgroupHierarchy, spec: NodeSpec) -> str:
    return f"$T/{h.name}{h.parent.rstrip('/')}/kubeward-demo-demo-w1"


def test_cgroup_name(spec: NodeSpec) -> None:
    assert spec.cgroup_name == "kubeward-demo-demo-w1"


def test_enter_script_nests_each_cgroup_under_the_booting_process(
    spec: NodeSpec, hierarchies: list[CgroupHierarchy]
) -> None:
    script = render_enter_cgroups_script(spec, hierarchies)
    lines = _lines(script)
    _strict(lines[0])
    assert "mkdir -p $T/memory/process_api/abc/kubeward-demo-demo-w1" in lines
    assert "mkdir -p $T/cpu/kubeward-demo-demo-w1" in lines  # parent "/" gives no double slash
    assert "//" not in script
    for h in hierarchies:
        path = _cg_path(h, spec)
        if h.kind == "cgroup2":
            mount = lines.index(f"mount -t cgroup2 cgroup2 $T/{h.name}")
        else:
            mount = lines.index(f"mount -t cgroup -o {h.options} cgroup $T/{h.name}")
        assert lines[mount - 1] == f"mkdir -p $T/{h.name}"
        make = lines.index(f"mkdir -p {path}")
        join = lines.index(f"echo $$ > {path}/cgroup.procs")
        umount = lines.index(f"umount $T/{h.name}")
        assert mount < make < join < umount, h.name
    _syntax_ok(script)


def test_enter_script_copies_cpuset_cpus_and_mems_before_moving_in(
    spec: NodeSpec, hierarchies: list[CgroupHierarchy]
) -> None:
    lines = _lines(render_enter_cgroups_script(spec, hierarchies))
    path = "$T/cpuset/kubeward-demo-demo-w1"
    copy = _index(lines, f"cat {path}/../cpuset.cpus > {path}/cpuset.cpus")
    assert f"cat {path}/../cpuset.mems > {path}/cpuset.mems" in lines[copy]
    assert copy < lines.index(f"echo $$ > {path}/cgroup.procs")


def test_enter_script_cpuset_copy_really_inherits_the_parent(tmp_path: Path, spec: NodeSpec) -> None:
    """Run the rendered cpuset line against a directory standing in for the cgroup tree."""
    h = CgroupHierarchy("cpuset", "cgroup", "cpuset", "/")
    line = next(x for x in _lines(render_enter_cgroups_script(spec, [h])) if "cpuset.cpus" in x)
    tree = tmp_path / "T"
    (tree / "cpuset" / spec.cgroup_name).mkdir(parents=True)
    (tree / "cpuset" / "cpuset.cpus").write_text("0-1\n")
    (tree / "cpuset" / "cpuset.mems").write_text("0\n")
    (tree / "cpuset" / spec.cgroup_name / "cpuset.cpus").write_text("\n")
    (tree / "cpuset" / spec.cgroup_name / "cpuset.mems").write_text("\n")
    r = subprocess.run(["sh", "-c", f"set -eu; T={tree}; {line}"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (tree / "cpuset" / spec.cgroup_name / "cpuset.cpus").read_text() == "0-1\n"
    assert (tree / "cpuset" / spec.cgroup_name / "cpuset.mems").read_text() == "0\n"


# ----- render_remove_cgroups_script ------------------------------------------------------------------
def test_remove_script_removes_the_cgroups_enter_creates(
    spec: NodeSpec, hierarchies: list[CgroupHierarchy]
) -> None:
    enter = render_enter_cgroups_script(spec, hierarchies)
    remove = render_remove_cgroups_script(spec, hierarchies)
    created = re.findall(r"^mkdir -p (\$T/\S+/kubeward-\S+)$", enter, re.M)
    removed = re.findall(r"find (\S+) -depth -type d -exec rmdir \{\} \+", remove)
    assert created == removed == [_cg_path(h, spec) for h in hierarchies]
    # best effort: one hierarchy failing to mount must not stop the others
    assert "set -e" not in remove
    assert remove.count("umount $T/") == len(hierarchies)
    _syntax_ok(remove)


def test_remove_script_find_line_removes_nested_cgroups_depth_first(tmp_path: Path, spec: NodeSpec) -> None:
    """Run the rendered removal line on a directory tree shaped like systemd's cgroups in a node."""
    h = CgroupHierarchy("memory", "cgroup", "memory", "/process_api/abc")
    line = next(x.strip() for x in _lines(render_remove_cgroups_script(spec, [h])) if "find " in x)
    tree = tmp_path / "T"
    node = tree / "memory/process_api/abc" / spec.cgroup_name
    for sub in (
        "init.scope",
        "system.slice/ssh.service",
        "system.slice/systemd-journald.service",
        "user.slice/user-1000.slice/session-1.scope",
    ):
        (node / sub).mkdir(parents=True)
    sibling = tree / "memory/process_api/abc/kubeward-demo-demo-w10"
    sibling.mkdir()
    r = subprocess.run(["sh", "-c", f"T={tree}; {line}"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert not node.exists()
    assert sibling.is_dir() and (tree / "memory/process_api/abc").is_dir()


# ----- exec into a node ------------------------------------------------------------------------------
def test_enter_argv_enters_every_namespace_and_the_node_root() -> None:
    argv = enter_argv(4242, ["systemctl", "is-system-running"])
    sep = argv.index("--")
    assert argv[:3] == ["nsenter", "-t", "4242"]
    assert {"-m", "-u", "-i", "-n", "-p", "-C", "-r", "-w"} <= set(argv[:sep])
    assert argv[sep + 1 : sep + 3] == ["env", "-i"]
    assert argv[-2:] == ["systemctl", "is-system-running"]


def test_new_machine_id_is_32_hex_and_fresh() -> None:
    ids = {new_machine_id() for _ in range(5)}
    assert len(ids) == 5
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
