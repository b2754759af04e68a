"""Operations are data: given a fact's text, expect these changes (and shell that really works).

Most tests hand-write the fact text a host would print; a few run the generated shell with /bin/sh
against files under tmp_path, so the shell and the parsers are shown to agree.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shlex
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from kubeward.ops.base import (
    Change,
    Op,
    Outcome,
    Refusal,
    Unchanged,
    applied_count,
    evaluate_all,
    handler,
    parse_facts_output,
    render_apply_script,
    render_facts_script,
)
from kubeward.ops.ops import (
    AuthorizedKey,
    Directory,
    File,
    Group,
    Hostname,
    HostsLine,
    KernelModules,
    Packages,
    Service,
    Sysctl,
    SystemUser,
    User,
    parse_stat_fact,
    unified_diff,
    write_file_script,
)

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFyHcpvoFU9dFloJmk8OQ/+icBDjiqm8gFKciq1gR8X9 admin@example.com"
OTHER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJS4M6K1/s3jk6KtQoQqP8ldCTyJmifkEzisd4bkG7kD other@example.com"


def stat_fact(content: bytes | None, owner: str = "root", group: str = "root", mode: int = 0o644,
              kind: str | None = None, read: bool = True) -> str:
    """The text ``_stat_fact`` prints for an existing file (or ``absent`` for None)."""
    if content is None and kind is None:
        return "absent"
    body = content or b""
    kind = kind or ("regular file" if body else "regular empty file")
    lines = [f"{kind}|{owner}|{group}|{mode:o}", hashlib.sha256(body).hexdigest()]
    lines.append(base64.b64encode(body).decode() if read else "")
    return "\n".join(lines)


def changes(outcomes: list[Outcome]) -> list[Change]:
    return [o for o in outcomes if isinstance(o, Change)]


def sh(script: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, timeout=10, **kw)  # type: ignore[call-overload]


def only(outcomes: list[Outcome]) -> Outcome:
    assert len(outcomes) == 1, outcomes
    return outcomes[0]


# ----- File --------------------------------------------------------------------------------------


def test_file_absent_is_created_with_a_diff() -> None:
    f = File("/etc/kubeward/x.conf", b"a = 1\nb = 2\n", mode=0o640, notify=("restart:x",))
    c = only(f.evaluate("absent"))
    assert isinstance(c, Change)
    assert c.op == "file:/etc/kubeward/x.conf"
    assert c.summary == "create /etc/kubeward/x.conf (root:root 0640)"
    assert "+a = 1" in c.diff and "+b = 2" in c.diff
    assert "--- /etc/kubeward/x.conf (now)" in c.diff and "+++ /etc/kubeward/x.conf (wanted)" in c.diff
    assert c.notify == ("restart:x",)
    assert "mv -f \"$tmp\" /etc/kubeward/x.conf" in c.script and "chmod 0640" in c.script


def test_file_same_content_wrong_mode_is_chmod_only() -> None:
    content = b"hello\n"
    c = only(File("/etc/x", content, mode=0o600).evaluate(stat_fact(content, mode=0o644)))
    assert isinstance(c, Change)
    assert c.script == "chmod 0600 /etc/x"
    assert c.diff == ""
    assert "0644 -> root:root 0600" in c.summary


def test_file_same_content_wrong_owner_chowns_and_chmods() -> None:
    content = b"hello\n"
    c = only(File("/etc/x", content, owner="etcd", group="etcd", mode=0o600).evaluate(stat_fact(content)))
    assert isinstance(c, Change)
    assert c.script == "chown etcd:etcd /etc/x && chmod 0600 /etc/x"


def test_file_as_wanted_is_unchanged() -> None:
    content = b"hello\n"
    o = only(File("/etc/x", content).evaluate(stat_fact(content)))
    assert isinstance(o, Unchanged) and o.op == "file:/etc/x"


def test_file_different_content_is_updated_with_unified_diff() -> None:
    old, new = b"one\ntwo\nthree\n", b"one\nTWO\nthree\n"
    c = only(File("/etc/x", new).evaluate(stat_fact(old)))
    assert isinstance(c, Change)
    assert c.summary == "update /etc/x"
    assert "-two\n" in c.diff and "+TWO\n" in c.diff and " one\n" in c.diff
    assert c.diff.startswith("--- /etc/x (now)\n+++ /etc/x (wanted)\n")


def test_secret_file_never_shows_a_diff_nor_reads_content() -> None:
    f = File("/etc/k.key", b"PRIVATE KEY\n", mode=0o600, secret=True)
    assert "base64 -w0" not in f.fact_script()
    created = only(f.evaluate("absent"))
    updated = only(f.evaluate(stat_fact(b"OLD\n", mode=0o600, read=False)))
    assert isinstance(created, Change) and isinstance(updated, Change)
    assert created.diff == "" and updated.diff == ""
    assert "PRIVATE" not in created.summary + updated.summary
    assert updated.summary == "update /etc/k.key"


def test_file_replaces_a_directory() -> None:
    c = only(File("/etc/x", b"x").evaluate(stat_fact(None, kind="directory", mode=0o755)))
    assert isinstance(c, Change)
    assert c.script.startswith("rm -rf /etc/x && ")
    assert "replace directory" in c.summary


def test_validate_placeholder_is_substituted() -> None:
    script = write_file_script("/etc/sudoers.d/a", b"x\n", "root", "root", 0o440, "visudo -cqf {}")
    assert 'visudo -cqf "$tmp"' in script
    assert "{}" not in script
    # validation comes before the rename, so an invalid file never lands
    assert script.index("visudo") < script.index("mv -f")


def test_parse_stat_fact() -> None:
    st = parse_stat_fact(stat_fact(b"abc", owner="a", group="b", mode=0o4755))
    assert st is not None
    assert (st.kind, st.owner, st.group, st.mode, st.content) == ("regular file", "a", "b", 0o4755, b"abc")
    assert st.sha256 == hashlib.sha256(b"abc").hexdigest()
    assert parse_stat_fact("absent") is None
    assert parse_stat_fact("") is None
    big = parse_stat_fact("regular file|root|root|644\n" + "0" * 64 + "\nbig")
    assert big is not None and big.content is None


def test_unified_diff_binary() -> None:
    assert unified_diff("/x", b"\xff\xfe", b"a") == "(binary file /x changes)\n"


# ----- File: shell and parser agree (real /bin/sh on tmp_path) -------------------------------------


def test_write_file_script_really_writes(tmp_path: Path) -> None:
    target = tmp_path / "sub dir" / "it's.conf"
    content = b"line one\n\xc3\xa9 two\n$HOME `x` 'q'\n"
    res = sh(write_file_script(str(target), content, "root", "root", 0o640))
    assert res.returncode == 0, res.stderr
    assert target.read_bytes() == content
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert (target.stat().st_uid, target.stat().st_gid) == (0, 0)
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temporary left


def test_write_file_script_failed_validation_leaves_target_alone(tmp_path: Path) -> None:
    target = tmp_path / "x.conf"
    target.write_bytes(b"old\n")
    res = sh(write_file_script(str(target), b"new\n", "root", "root", 0o644, "grep -q nothing-like-this {}"))
    assert res.returncode != 0
    assert target.read_bytes() == b"old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["x.conf"]


def test_write_file_script_validation_sees_the_new_content(tmp_path: Path) -> None:
    target = tmp_path / "x.conf"
    res = sh(write_file_script(str(target), b"magic\n", "root", "root", 0o644, "grep -q magic {}"))
    assert res.returncode == 0, res.stderr
    assert target.read_bytes() == b"magic\n"


def _facts_for(ops: list[Op]) -> dict[str, str]:
    res = sh(render_facts_script(ops))
    assert res.returncode == 0, res.stderr
    return parse_facts_output(res.stdout, ops)


def test_file_fact_script_really_read_then_evaluated(tmp_path: Path) -> None:
    same, wrong_mode, differs, missing = (tmp_path / n for n in ("same", "mode", "differs", "missing"))
    same.write_bytes(b"same\n")
    os.chmod(same, 0o644)
    wrong_mode.write_bytes(b"m\n")
    os.chmod(wrong_mode, 0o666)
    differs.write_bytes(b"old\n")
    os.chmod(differs, 0o644)
    ops: list[Op] = [
        File(str(same), b"same\n"),
        File(str(wrong_mode), b"m\n", mode=0o600),
        File(str(differs), b"new\n"),
        File(str(missing), b"created\n"),
        File(str(tmp_path / "secret"), b"s\n", secret=True),
    ]
    (tmp_path / "secret").write_bytes(b"t\n")
    out = evaluate_all(ops, _facts_for(ops))
    assert isinstance(out[0], Unchanged)
    assert isinstance(out[1], Change) and out[1].script == f"chmod 0600 {wrong_mode}"
    assert isinstance(out[2], Change) and "-old\n" in out[2].diff and "+new\n" in out[2].diff
    assert isinstance(out[3], Change) and out[3].summary.startswith("create ")
    assert isinstance(out[4], Change) and out[4].diff == "" and out[4].summary.startswith("update ")


def test_file_empty_file_read_back(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    os.chmod(empty, 0o644)
    [fact] = _facts_for([File(str(empty), b"")]).values()
    assert isinstance(only(File(str(empty), b"").evaluate(fact)), Unchanged)
    c = only(File(str(empty), b"x\n").evaluate(fact))
    assert isinstance(c, Change) and "+x\n" in c.diff


def test_apply_then_facts_converge(tmp_path: Path) -> None:
    """Plan, apply the script for real, read facts again: nothing left to change."""
    ops: list[Op] = [
        Directory(str(tmp_path / "d"), mode=0o750),
        File(str(tmp_path / "d" / "a"), b"alpha\n", mode=0o600),
        File(str(tmp_path / "d" / "b"), b"beta\n"),
    ]
    todo = changes(evaluate_all(ops, _facts_for(ops)))
    assert len(todo) == 3
    res = sh(render_apply_script(todo))
    assert res.returncode == 0, res.stderr
    assert applied_count(res.stdout) == 3
    after = evaluate_all(ops, _facts_for(ops))
    assert all(isinstance(o, Unchanged) for o in after), after
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o750


def test_apply_script_stops_at_the_first_failure(tmp_path: Path) -> None:
    good = Change("a", "first", f"touch {tmp_path}/first")
    bad = Change("b", "second", "false")
    never = Change("c", "third", f"touch {tmp_path}/third")
    res = sh(render_apply_script([good, bad, never]))
    assert res.returncode != 0
    assert applied_count(res.stdout) == 1
    assert (tmp_path / "first").exists() and not (tmp_path / "third").exists()


# ----- the facts round-trip --------------------------------------------------------------------------


def test_facts_round_trip_with_real_shell() -> None:
    ops = [_Echo("one\ntwo"), _Echo(""), _Echo("three")]
    res = sh(render_facts_script(ops))
    facts = parse_facts_output(res.stdout, ops)
    assert [facts[o.id] for o in ops] == ["one\ntwo\n", "", "three\n"]


def test_facts_stderr_is_captured_and_failures_do_not_stop_the_script() -> None:
    ops = [_Raw("echo out; echo err >&2; exit 3"), _Raw("echo next")]
    res = sh(render_facts_script(ops))
    assert res.returncode == 0
    facts = parse_facts_output(res.stdout, ops)
    assert [facts[o.id] for o in ops] == ["out\nerr\n", "next\n"]


def test_parse_facts_output_missing_sections_raise() -> None:
    ops = [_Raw("a"), _Raw("b"), _Raw("c")]
    text = f"@@kw fact {ops[0].id}\na\n@@kw fact {ops[2].id}\nc\n@@kw fact end\n"
    with pytest.raises(ValueError, match=r"missing operations \['raw:"):
        parse_facts_output(text, ops)
    assert parse_facts_output(text, ops[:1]) == {ops[0].id: "a"}
    with pytest.raises(ValueError):
        parse_facts_output("", ops[:1])


def test_parse_facts_output_ignores_text_after_end() -> None:
    op = _Raw("x")
    assert parse_facts_output(f"noise\n@@kw fact {op.id}\nx\n@@kw fact end\ntrailing\n", [op]) == {op.id: "x"}


def test_operations_with_the_same_id_are_refused() -> None:
    with pytest.raises(ValueError, match="same id"):
        render_facts_script([_Raw("x"), _Raw("x")])


def test_fact_without_trailing_newline(tmp_path: Path) -> None:
    hostname = tmp_path / "hostname"
    hostname.write_bytes(b"node-1")  # as `printf %s node-1 > /etc/hostname` leaves it
    ops = [_Raw(f"hostname; cat {hostname}"), _Echo("next")]
    res = sh(render_facts_script(ops))
    facts = parse_facts_output(res.stdout, ops)
    assert facts[ops[0].id].splitlines()[-1] == "node-1" and facts[ops[1].id] == "next\n"


# ----- apply script, handlers ------------------------------------------------------------------------


def test_render_apply_script_runs_each_handler_once_in_order() -> None:
    cs = [
        Change("a", "A", "echo a", notify=("reload:ssh", "daemon-reload")),
        Change("b", "B", "echo b", notify=("daemon-reload", "restart:etcd")),
        Change("c", "C", "echo c", notify=("reload:ssh",)),
    ]
    script = render_apply_script(cs, extra_handlers=("restart:etcd", "try-restart:kubelet"))
    lines = script.splitlines()
    assert lines[:2] == ["set -e", "export DEBIAN_FRONTEND=noninteractive LC_ALL=C"]
    handlers = [line[len("echo '@@kw handler "):-1] for line in lines if line.startswith("echo '@@kw handler ")]
    assert handlers == ["reload:ssh", "daemon-reload", "restart:etcd", "try-restart:kubelet"]
    assert script.count("systemctl reload ssh") == 1
    assert script.count("systemctl daemon-reload") == 1
    assert script.count("systemctl restart etcd") == 1
    # every change before any handler, in order, each with its marker
    assert script.index("echo a") < script.index("echo b") < script.index("echo c") < script.index("systemctl")
    assert [line for line in lines if line.startswith("echo '@@kw done")] == [f"echo '@@kw done {i}'" for i in range(3)]


def test_render_apply_script_really_runs(tmp_path: Path) -> None:
    res = sh(render_apply_script([Change("a", "A", f"echo 1 > {tmp_path}/x"), Change("b", "B", "true")]))
    assert res.returncode == 0
    assert res.stdout.splitlines() == ["@@kw done 0", "@@kw done 1"]
    assert (tmp_path / "x").read_text() == "1\n"


def test_applied_count() -> None:
    assert applied_count("") == 0
    assert applied_count("noise\n@@kw done 0\n@@kw done 1\nmore\n") == 2
    assert applied_count("@@kw done 0\n@@kw done 4\n") == 5
    assert applied_count("x @@kw done 3\n") == 0  # only whole lines count


def test_handler_ids() -> None:
    assert handler("reload:ssh").script == "systemctl reload ssh"
    assert handler("restart:etcd").script == "systemctl restart etcd"
    tr = handler("try-restart:kubelet").script
    assert "systemctl cat kubelet" in tr and "systemctl try-restart kubelet" in tr
    assert handler("daemon-reload").script == "systemctl daemon-reload"
    assert handler("reload:ssh").id == "reload:ssh"
    with pytest.raises(ValueError, match="unknown handler 'bounce:x'"):
        handler("bounce:x")
    with pytest.raises(ValueError):
        render_apply_script([Change("a", "A", "true", notify=("nope",))])


def test_try_restart_handler_skips_missing_units() -> None:
    # no systemd here: `systemctl cat` fails, so the handler must succeed without doing anything
    res = sh("set -e; " + handler("try-restart:kubeward-no-such-unit").script + "; echo survived")
    assert res.returncode == 0 and res.stdout.strip() == "survived"


# ----- Directory -------------------------------------------------------------------------------------


def test_directory() -> None:
    d = Directory("/var/lib/x", owner="etcd", group="etcd", mode=0o700)
    c = only(d.evaluate("absent"))
    assert isinstance(c, Change)
    assert c.script == "mkdir -p /var/lib/x && chown etcd:etcd /var/lib/x && chmod 0700 /var/lib/x"
    dir_fact = "directory|etcd|etcd|700\nxx\n"
    assert isinstance(only(d.evaluate(dir_fact)), Unchanged)
    fix = only(d.evaluate("directory|root|root|755\nxx\n"))
    assert isinstance(fix, Change) and fix.script == "chown etcd:etcd /var/lib/x && chmod 0700 /var/lib/x"
    refused = only(d.evaluate("regular file|root|root|644\nxx\n"))
    assert isinstance(refused, Refusal) and "regular file" in refused.reason


def test_directory_fact_script_really(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir(mode=0o700)
    os.chmod(tmp_path / "d", 0o700)
    ops: list[Op] = [Directory(str(tmp_path / "d"), mode=0o700), Directory(str(tmp_path / "e"))]
    out = evaluate_all(ops, _facts_for(ops))
    assert isinstance(out[0], Unchanged)
    assert isinstance(out[1], Change) and out[1].summary == f"create directory {tmp_path}/e"


# ----- Group -----------------------------------------------------------------------------------------


def test_group_create() -> None:
    c = only(Group("kubeadmin", 1500).evaluate("\n@\n"))
    assert isinstance(c, Change) and c.script == "groupadd --gid 1500 kubeadmin"


def test_group_exists_with_gid() -> None:
    assert isinstance(only(Group("kubeadmin", 1500).evaluate("kubeadmin:x:1500:\n@\nkubeadmin:x:1500:\n")), Unchanged)


def test_group_gid_taken_by_another_group_is_refused() -> None:
    c = only(Group("kubeadmin", 1500).evaluate("@\nother:x:1500:alice\n"))
    assert isinstance(c, Refusal)
    assert c.reason == "gid 1500 is taken by group other"


def test_group_existing_with_other_gid_is_refused() -> None:
    c = only(Group("kubeadmin", 1500).evaluate("kubeadmin:x:1600:\n@\n"))
    assert isinstance(c, Refusal) and "has gid 1600, wanted 1500" in c.reason


# ----- User ------------------------------------------------------------------------------------------

ADMIN = User("kubeadmin", 1500, 1500, ("sudo",))
PW = "kubeadmin:x:1500:1500::/home/kubeadmin:/bin/bash"


def user_fact(passwd: str = PW, groups: str = "kubeadmin sudo", by_uid: str = PW, pw: str = "*") -> str:
    return f"{passwd}\n@\n{groups}\n@\n{by_uid}\n@\n{pw}\n"


def test_user_create() -> None:
    c = only(ADMIN.evaluate("\n@\n\n@\n\n@\n\n"))
    assert isinstance(c, Change)
    assert c.script == ("useradd --uid 1500 --gid 1500 --create-home --home-dir /home/kubeadmin --shell /bin/bash "
                        "--groups sudo kubeadmin && usermod -p '*' kubeadmin")
    assert c.summary == "create user kubeadmin (uid 1500, gid 1500, groups sudo)"


def test_user_uid_taken_by_someone_else() -> None:
    c = only(ADMIN.evaluate(user_fact(passwd="", groups="", by_uid="debian:x:1500:1500::/home/debian:/bin/bash")))
    assert isinstance(c, Refusal) and "taken by user debian" in c.reason


def test_user_existing_with_wrong_uid_is_refused() -> None:
    wrong = "kubeadmin:x:1501:1500::/home/kubeadmin:/bin/bash"
    c = only(ADMIN.evaluate(user_fact(passwd=wrong, by_uid="")))
    assert isinstance(c, Refusal)
    assert "uid=1501" in c.reason and "does not renumber" in c.reason


def test_user_as_wanted() -> None:
    o = only(ADMIN.evaluate(user_fact()))
    assert isinstance(o, Unchanged) and "uid 1500" in o.reason


def test_user_missing_supplementary_group() -> None:
    u = User("kubeadmin", 1500, 1500, ("sudo", "adm", "docker"))
    c = only(u.evaluate(user_fact(groups="kubeadmin adm")))
    assert isinstance(c, Change) and c.script == "usermod -aG sudo,docker kubeadmin"


def test_user_locked_password_is_unlocked_and_shell_fixed() -> None:
    out = ADMIN.evaluate(user_fact(passwd=PW.replace("/bin/bash", "/bin/sh"), pw="!"))
    scripts = [c.script for c in changes(out)]
    assert scripts == ["usermod -s /bin/bash kubeadmin", "usermod -p '*' kubeadmin"]


def test_user_with_a_real_password_hash_is_left_alone() -> None:
    assert isinstance(only(ADMIN.evaluate(user_fact(pw="$"))), Unchanged)


def test_user_gecos_with_at_sign() -> None:
    pw = "kubeadmin:x:1500:1500:Kube Admin <admin@example.com>:/home/kubeadmin:/bin/bash"
    assert isinstance(only(ADMIN.evaluate(user_fact(passwd=pw, by_uid=pw))), Unchanged)


def test_system_user() -> None:
    su = SystemUser("etcd", "/var/lib/etcd")
    assert isinstance(only(su.evaluate("etcd:x:101:101::/var/lib/etcd:/usr/sbin/nologin")), Unchanged)
    c = only(su.evaluate(""))
    assert isinstance(c, Change) and "--home /var/lib/etcd" in c.script and c.script.endswith(" etcd")


# ----- AuthorizedKey ---------------------------------------------------------------------------------

AK = AuthorizedKey("kubeadmin", "kubeadmin", "/home/kubeadmin", KEY)
AK_PATH = "/home/kubeadmin/.ssh/authorized_keys"


def ak_fact(content: bytes | None, dir_stat: str = "kubeadmin|kubeadmin|700", mode: int = 0o600) -> str:
    return stat_fact(content, "kubeadmin", "kubeadmin", mode) + "\n@\n" + dir_stat + "\n"


def test_authorized_key_absent_file_creates_dir_and_file() -> None:
    out = changes(AK.evaluate("absent\n@\n"))
    assert len(out) == 2
    assert out[0].script == ("mkdir -p /home/kubeadmin/.ssh && chown kubeadmin:kubeadmin /home/kubeadmin/.ssh "
                             "&& chmod 0700 /home/kubeadmin/.ssh")
    assert out[1].summary == f"add the admin key to {AK_PATH}"
    assert "chmod 0600" in out[1].script and "chown kubeadmin:kubeadmin" in out[1].script
    assert f"+{KEY}\n" in out[1].diff
    assert all(c.op == "authorized_key:kubeadmin" for c in out)


def test_authorized_key_present_is_unchanged() -> None:
    assert isinstance(only(AK.evaluate(ak_fact((KEY + "\n").encode()))), Unchanged)


def test_authorized_key_present_with_another_comment_is_unchanged() -> None:
    content = (" ".join(KEY.split()[:2]) + " someone-else\n").encode()
    assert isinstance(only(AK.evaluate(ak_fact(content))), Unchanged)


def test_authorized_key_other_keys_are_removed_and_named_in_the_plan() -> None:
    # kubeward owns the admin's authorized_keys: a key added by hand (or smuggled in) goes
    content = (OTHER_KEY + "\n" + KEY + "\n").encode()
    c = only(AK.evaluate(ak_fact(content)))
    assert isinstance(c, Change)
    assert c.summary == (f"remove 1 other key from {AK_PATH}: ssh-ed25519 ..."
                         f"{OTHER_KEY.split()[1][-12:]} {' '.join(OTHER_KEY.split()[2:])}".rstrip())
    assert f"-{OTHER_KEY}\n" in c.diff and f"+{OTHER_KEY}" not in c.diff


def test_authorized_key_replaces_a_file_of_other_keys() -> None:
    c = only(AK.evaluate(ak_fact(OTHER_KEY.encode())))
    assert isinstance(c, Change)
    assert c.summary.startswith(f"add the admin key to {AK_PATH}, remove 1 other key from {AK_PATH}: ")
    assert f"-{OTHER_KEY}" in c.diff and f"+{KEY}\n" in c.diff


def test_authorized_key_present_wrong_mode_only_fixes_mode() -> None:
    c = only(AK.evaluate(ak_fact((KEY + "\n").encode(), mode=0o644)))
    assert isinstance(c, Change) and c.script == f"chmod 0600 {AK_PATH}"


def test_authorized_key_with_options_prefix_becomes_the_plain_key() -> None:
    # options (command=, from=, ...) would change what the admin key may do: the line is kubeward's
    content = ('command="/bin/false" ' + KEY + "\n").encode()
    c = only(AK.evaluate(ak_fact(content)))
    assert isinstance(c, Change) and f"-{content.decode()}" in c.diff and f"\n+{KEY}\n" in c.diff


def test_authorized_key_fact_script_really(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    os.chmod(home / ".ssh", 0o700)
    (home / ".ssh" / "authorized_keys").write_text(KEY + "\n")
    os.chmod(home / ".ssh" / "authorized_keys", 0o600)
    ak = AuthorizedKey("root", "root", str(home), KEY)
    [fact] = _facts_for([ak]).values()
    assert isinstance(only(ak.evaluate(fact)), Unchanged)
    other = AuthorizedKey("root", "root", str(home), OTHER_KEY)
    c = only(other.evaluate(fact))
    assert isinstance(c, Change) and f"+{OTHER_KEY}" in c.diff


# ----- Packages --------------------------------------------------------------------------------------


def test_packages_parse_dpkg_query() -> None:
    p = Packages(("curl", "jq", "socat", "conntrack"))
    fact = "curl installed\njq config-files\nconntrack installed\n"
    c = only(p.evaluate(fact))
    assert isinstance(c, Change)
    assert c.summary == "install jq, socat"
    assert c.script.endswith("apt-get install -y -qq --no-install-recommends jq socat >/dev/null")
    assert "apt-get update" in c.script
    assert isinstance(only(Packages(("curl",)).evaluate(fact)), Unchanged)
    # "not-installed" is not "installed"
    assert isinstance(only(Packages(("jq",)).evaluate("jq not-installed\n")), Change)


def test_packages_fact_script_really() -> None:
    p = Packages(("dpkg", "kubeward-no-such-package"))
    [fact] = _facts_for([p]).values()
    c = only(p.evaluate(fact))
    assert isinstance(c, Change) and c.summary == "install kubeward-no-such-package"


# ----- Service ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("enabled", "running", "fact", "want"),
    [
        (True, True, "enabled\nactive\n", []),
        (True, True, "static\nactive\n", []),
        (True, True, "disabled\ninactive\n", ["systemctl enable etcd 2>/dev/null", "systemctl start etcd"]),
        (True, True, "enabled\nfailed\n", ["systemctl start etcd"]),
        (False, False, "enabled\nactive\n", ["systemctl disable etcd 2>/dev/null", "systemctl stop etcd"]),
        (False, False, "disabled\ninactive\n", []),
        (True, False, "enabled\nactive\n", ["systemctl stop etcd"]),
        (False, True, "masked\ninactive\n", ["systemctl start etcd"]),
    ],
)
def test_service(enabled: bool, running: bool, fact: str, want: list[str]) -> None:
    out = Service("etcd", enabled, running).evaluate(fact)
    assert [c.script for c in changes(out)] == want
    if not want:
        assert isinstance(only(out), Unchanged)


def test_service_missing_unit_summary() -> None:
    fact = "Failed to get unit file state for etcd.service: No such file or directory\ninactive\n"
    out = changes(Service("etcd").evaluate(fact))
    assert [c.script for c in out] == ["systemctl enable etcd 2>/dev/null", "systemctl start etcd"]
    assert out[1].summary == "start etcd (now inactive)"


# ----- Sysctl ----------------------------------------------------------------------------------------

SYSCTL = Sysctl((("net.ipv4.ip_forward", "1"), ("net.ipv4.ip_local_port_range", "32768 60999")))
SYSCTL_BODY = b"# managed by kubeward\nnet.ipv4.ip_forward = 1\nnet.ipv4.ip_local_port_range = 32768 60999\n"


def test_sysctl_persisted_and_live() -> None:
    live = "net.ipv4.ip_forward=1\nnet.ipv4.ip_local_port_range=32768\t60999\n"
    assert isinstance(only(SYSCTL.evaluate(stat_fact(SYSCTL_BODY) + "\n@\n" + live)), Unchanged)


def test_sysctl_not_persisted_and_wrong_live() -> None:
    live = "net.ipv4.ip_forward=0\nnet.ipv4.ip_local_port_range=32768\t60999\n"
    out = changes(SYSCTL.evaluate("absent\n@\n" + live))
    assert len(out) == 2
    assert out[0].op == "file:/etc/sysctl.d/90-kubeward.conf" and "+net.ipv4.ip_forward = 1" in out[0].diff
    assert out[1].script == "sysctl -q -w net.ipv4.ip_forward=1"
    assert "(now 0)" in out[1].summary


def test_sysctl_fact_script_really(tmp_path: Path) -> None:
    s = Sysctl((("kernel.ostype", "Linux"), ("kernel.kubeward_no_such_key", "1")), path=str(tmp_path / "s.conf"))
    [fact] = _facts_for([s]).values()
    out = changes(s.evaluate(fact))
    assert [c.summary.split(" (")[0] for c in out] == [f"create {tmp_path}/s.conf", "set kernel.kubeward_no_such_key=1"]


# ----- Hostname --------------------------------------------------------------------------------------


def test_hostname() -> None:
    h = Hostname("cp-1")
    assert isinstance(only(h.evaluate("cp-1\ncp-1\n")), Unchanged)
    c = only(h.evaluate("debian\ncp-1\n"))
    assert isinstance(c, Change) and c.summary == "set hostname to cp-1 (now debian)"
    assert c.script.startswith("echo cp-1 > /etc/hostname && ")
    assert isinstance(only(h.evaluate("cp-1\n")), Change)  # /etc/hostname missing


# ----- HostsLine -------------------------------------------------------------------------------------


def test_hosts_line_replaces_existing_line_keeping_comments() -> None:
    old = ("# The following lines are desirable\n127.0.0.1\tlocalhost\n127.0.1.1\tdebian  # from the image\n"
           "::1 localhost ip6-localhost\n#127.0.1.1 old-name\n127.0.1.1 duplicate\n")
    new = HostsLine("127.0.1.1", ("cp-1",)).render(old)
    assert new == ("# The following lines are desirable\n127.0.0.1\tlocalhost\n127.0.1.1\tcp-1\n"
                   "::1 localhost ip6-localhost\n#127.0.1.1 old-name\n")


def test_hosts_line_inserted_after_localhost_when_absent() -> None:
    old = "# header\n127.0.0.1 localhost\n::1 localhost\n"
    assert HostsLine("127.0.1.1", ("cp-1", "cp-1.lan")).render(old) == (
        "# header\n127.0.0.1 localhost\n127.0.1.1\tcp-1 cp-1.lan\n::1 localhost\n")


def test_hosts_line_empty_file_and_no_localhost() -> None:
    h = HostsLine("127.0.1.1", ("cp-1",))
    assert h.render("") == "127.0.1.1\tcp-1\n"
    assert h.render("::1 localhost\n") == "127.0.1.1\tcp-1\n::1 localhost\n"


def test_hosts_line_evaluate() -> None:
    h = HostsLine("127.0.1.1", ("cp-1",))
    good = b"127.0.0.1\tlocalhost\n127.0.1.1\tcp-1\n"
    assert isinstance(only(h.evaluate(stat_fact(good))), Unchanged)
    c = only(h.evaluate(stat_fact(b"127.0.0.1\tlocalhost\n127.0.1.1\tdebian\n")))
    assert isinstance(c, Change)
    assert "-127.0.1.1\tdebian\n" in c.diff and "+127.0.1.1\tcp-1\n" in c.diff
    assert "mv -f \"$tmp\" /etc/hosts" in c.script


def test_hosts_line_render_is_idempotent() -> None:
    h = HostsLine("127.0.1.1", ("cp-1",))
    once = h.render("127.0.0.1 localhost\n")
    assert h.render(once) == once


# ----- KernelModules ---------------------------------------------------------------------------------


def test_kernel_modules() -> None:
    km = KernelModules(("br_netfilter", "overlay"))
    body = b"br_netfilter\noverlay\n"
    assert isinstance(only(km.evaluate(stat_fact(body) + "\n@\nbr_netfilter\noverlay\n")), Unchanged)
    out = changes(km.evaluate("absent\n@\noverlay\n"))
    assert [c.op for c in out] == ["file:/etc/modules-load.d/kubeward.conf", "modules:br_netfilter,overlay"]
    assert out[1].script == "modprobe br_netfilter"


def test_kernel_modules_fact_script_really(tmp_path: Path) -> None:
    loaded = sorted(os.listdir("/sys/module"))[0]
    km = KernelModules((loaded, "kubeward_no_such_module"), path=str(tmp_path / "m.conf"))
    [fact] = _facts_for([km]).values()
    out = changes(km.evaluate(fact))
    assert out[-1].script == "modprobe kubeward_no_such_module"


# ----- helpers: tiny Ops whose fact is given shell ----------------------------------------------------


@dataclass(frozen=True)
class _Raw:
    script: str

    @property
    def id(self) -> str:
        return "raw:" + hashlib.sha256(self.script.encode()).hexdigest()[:12]

    def fact_script(self) -> str:
        return self.script

    def evaluate(self, fact: str) -> list[Outcome]:
        return [Unchanged(self.id, fact)]


def _Echo(text: str) -> _Raw:  # noqa: N802 - reads like the other Ops
    return _Raw(f"printf '%s\\n' {shlex.quote(text)}" if text else "true")
