"""The host script of ``kubeward reset`` and its answer (pure).

:data:`RESET_SCRIPT` is one fixed shell script (POSIX sh, run as root). It is told everything on its
stdin, never on a command line: a first line ``mode<TAB>check|apply``, then one step a line,
``ACTION<TAB>ARG[<TAB>ARG]``, which it does in that order (the order is the planner's:
:mod:`kubeward.reset.plan`). Each step answers in a ``reset`` section keyed by its number, one line
per thing it removed (``apply``) or would remove (``check``, which changes nothing)::

    stop UNIT               disable UNIT             container ID             netns NAME
    image REF               iptables FAMILY TABLE CHAIN                       unmount PATH
    file PATH               conffile PATH            link PATH                tree PATH
    dir PATH                nft FAMILY NAME          route DESTINATION        netdev NAME
    user NAME               group NAME               sshd-dropin PATH
    keep WHAT: WHY                (left in place on purpose; not a change)

A step with nothing to do prints nothing, so a host that was reset answers with empty sections. The
first step that fails stops the script (exit 1, the reason on stderr): its section and the ones
before it say what was removed until then, so a failed run says how far it got, and the next run
continues. ``check`` mode predicts which directories the removals before would leave empty.

Actions (paths must be absolute and normalized, and never one of :data:`KEEP_DIRS`):

``stop UNIT``              stop it if it ran when the script started, disable it if enabled
``pods NS SOCKET``         every container (and its task) of containerd's namespace NS, containerd
                           answering on SOCKET; a stopped containerd with shims of NS still running
                           is an error
``images NS SOCKET``       every image of NS (containerd running)
``netns PREFIX``           network namespaces whose name starts with PREFIX
``iptables PREFIX``        in iptables and ip6tables (filter, nat, mangle, raw): the rules of other
                           chains jumping to chains named PREFIX*, then those chains
``umount PATH``            every mount strictly below PATH (deepest first; PATH itself stays)
``file PATH``              a file or symbolic link (not a directory); a package's conffile that
                           kubeward wrote over gets the package's version back (``PATH.dpkg-dist``,
                           reported as ``conffile PATH``) and is left alone once it is the package's
``link PATH TARGETDIR``    a symbolic link, only if it points into TARGETDIR
``tree PATH``              a directory with everything in it, on its file system only (a mount
                           point is emptied and kept), or a file
``prefixed DIR PREFIX``    every entry of DIR whose name starts with PREFIX, as ``tree``
``dir PATH``               a directory, only if it is (or the steps before left it) empty
``nft FAMILY NAME``        that nftables table, and no other
``routes PROTO``           every IPv4 route of routing protocol PROTO
``netdev NAME``            that network device
``user NAME``              the account (``userdel``; its home stays); kept while it has processes or
                           is the user this script was started by (``SUDO_USER``)
``group NAME``             the group, unless a user still has it (as primary group or member)
``sshd-dropin PATH``       only reports the file: removing it is a guarded change of its own
``reload``                 ``systemctl daemon-reload`` if this run removed or disabled units
``forget UNIT``            ``systemctl reset-failed UNIT`` (silent)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kubeward.hostscripts.sections import MARK, parse_sections

SCOPE = "reset"
#: what each action's lines start with (the kinds of things removed); ``keep`` lines are not changes
KINDS = ("stop", "disable", "container", "netns", "image", "iptables", "unmount", "file", "conffile", "link", "tree",
         "dir", "nft", "route", "netdev", "user", "group", "sshd-dropin")
ACTIONS = ("stop", "pods", "images", "netns", "iptables", "umount", "file", "link", "tree", "prefixed", "dir",
           "nft", "routes", "netdev", "user", "group", "sshd-dropin", "reload", "forget")

#: directories the script never removes, even when empty (the system's and other software's)
KEEP_DIRS = frozenset({
    "/", "/bin", "/boot", "/dev", "/etc", "/etc/default", "/etc/ssh", "/etc/ssh/sshd_config.d", "/etc/sudoers.d",
    "/etc/systemd", "/etc/systemd/system", "/home", "/lib", "/lib64", "/media", "/mnt", "/opt", "/proc", "/root",
    "/run", "/run/containerd", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/usr/bin", "/usr/lib", "/usr/local",
    "/usr/local/bin", "/usr/local/lib", "/usr/local/sbin", "/usr/sbin", "/var", "/var/lib", "/var/lib/containerd",
    "/var/log", "/var/tmp",
})

_SCRIPT = r"""# kubeward reset: does the steps on stdin in order (see kubeward.hostscripts.reset).
export LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
kw_tab=$(printf '\t')
kw_nl='
'
kw_mode=check
kw_units=no
kw_gone=''
kw_in=$(cat)
kw_fail() { echo "kubeward reset: $*" >&2; exit 1; }
kw_do() { [ "$kw_mode" = apply ]; }
kw_mark() { kw_gone="$kw_gone$kw_nl$1"; }
kw_path() {  # only absolute, normalized paths, never a directory of the system's
  case "$1" in /?*) ;; *) kw_fail "refusing $1: not an absolute path";; esac
  case "$1" in *//*|*/./*|*/../*|*/.|*/..|*/) kw_fail "refusing $1: not a normalized path";; esac
  case "$1" in @KEEP_DIRS@) kw_fail "refusing $1: a directory of the system's";; esac
}
kw_mounted() { awk -v p="$1" '$5 == p {f = 1} END {exit !f}' /proc/self/mountinfo; }
kw_exists() { [ -e "$1" ] || [ -L "$1" ]; }
kw_empty() {  # empty now, or once the paths removed (or to be removed) before are gone
  for e in "$1"/* "$1"/.[!.]* "$1"/..?*; do
    kw_exists "$e" || continue
    printf '%s\n' "$kw_gone" | grep -qxF -- "$e" || return 1
  done
}
kw_tree() {
  kw_path "$1"
  kw_exists "$1" || return 0
  if [ -d "$1" ] && [ ! -L "$1" ] && kw_mounted "$1"; then
    kw_empty "$1" && return 0
    echo "tree $1"
    for e in "$1"/* "$1"/.[!.]* "$1"/..?*; do kw_exists "$e" && kw_mark "$e"; done
    if kw_do; then
      find "$1" -mindepth 1 -maxdepth 1 -exec rm -rf --one-file-system -- {} + || kw_fail "removing the content of $1 failed"
    fi
    return 0
  fi
  if [ -d "$1" ] && [ ! -L "$1" ]; then echo "tree $1"; else echo "file $1"; fi
  kw_mark "$1"
  if kw_do; then rm -rf --one-file-system -- "$1" || kw_fail "removing $1 failed"; fi
}
kw_ctr_up() {  # containerd answers on socket $1 (a stopped containerd removes its socket)
  command -v ctr >/dev/null 2>&1 && [ -S "$1" ] && ctr -a "$1" --connect-timeout 3s version >/dev/null 2>&1
}
kw_running=''
kw_stop() {  # "stop" names units that ran when the script started (stopping one stops those requiring it)
  if printf '%s\n' "$kw_running" | grep -qxF -- "$1"; then
    echo "stop $1"
    if kw_do; then systemctl stop "$1" || kw_fail "systemctl stop $1 failed"; kw_units=yes; fi
  fi
  case "$(systemctl is-enabled "$1" 2>/dev/null)" in
    enabled|enabled-runtime|linked|linked-runtime)
      echo "disable $1"
      if kw_do; then systemctl disable --quiet "$1" || kw_fail "systemctl disable $1 failed"; kw_units=yes; fi;;
  esac
}
kw_pods() {
  if ! kw_ctr_up "$2"; then
    if pgrep -f "containerd-shim.* -namespace $1 " >/dev/null 2>&1; then
      kw_fail "containerd does not answer but containers of namespace $1 still run: start containerd and run reset again"
    fi
    return 0
  fi
  for c in $(ctr -a "$2" -n "$1" containers ls -q); do
    echo "container $c"
    if kw_do; then
      ctr -a "$2" -n "$1" tasks rm -f "$c" >/dev/null 2>&1 || true  # none, or gone already
      ctr -a "$2" -n "$1" containers rm "$c" >/dev/null || kw_fail "ctr -n $1 containers rm $c failed"
    fi
  done
  # a shim whose container containerd no longer lists (a pod killed while the kubelet restarted)
  # outlives all of the above: its container's init first (that ends the container's pid
  # namespace), then the shim; only shims of this namespace
  if kw_do; then
    kw_i=0
    while pgrep -f "containerd-shim.* -namespace $1 " >/dev/null 2>&1 && [ $kw_i -lt 10 ]; do
      sleep 0.5; kw_i=$((kw_i + 1))
    done
    for kw_p in $(pgrep -f "containerd-shim.* -namespace $1 "); do
      pkill -KILL -P "$kw_p" 2>/dev/null || true
      kill -KILL "$kw_p" 2>/dev/null || true
    done
  fi
}
kw_images() {
  kw_ctr_up "$2" || return 0
  for r in $(ctr -a "$2" -n "$1" images ls -q); do
    echo "image $r"
    if kw_do; then ctr -a "$2" -n "$1" images rm --sync "$r" >/dev/null || kw_fail "ctr -n $1 images rm $r failed"; fi
  done
}
kw_netns() {
  for n in $(ip netns list 2>/dev/null | awk '{print $1}'); do
    case "$n" in
      "$1"*) echo "netns $n"
             if kw_do; then ip netns delete "$n" || kw_fail "ip netns delete $n failed"; fi;;
    esac
  done
}
kw_iptables() {
  for ipt in iptables ip6tables; do
    command -v "$ipt" >/dev/null 2>&1 || continue
    for t in filter nat mangle raw; do
      rules=$("$ipt" -w -t "$t" -S 2>/dev/null) || continue
      chains=$(printf '%s\n' "$rules" | awk -v p="$1" '$1 == "-N" && index($2, p) == 1 {print $2}')
      [ -n "$chains" ] || continue
      if kw_do; then
        # jumps into those chains from other chains, as iptables prints them (xargs splits the
        # quoted comments like a shell would, without running anything)
        printf '%s\n' "$rules" | awk -v p="$1" '$1 == "-A" && index($2, p) != 1 {
            for (i = 3; i < NF; i++) if (($i == "-j" || $i == "-g") && index($(i + 1), p) == 1) { print; next } }' |
          while IFS= read -r r; do
            printf '%s\n' "${r#-A }" | xargs "$ipt" -w -t "$t" -D || exit 1
          done || kw_fail "$ipt -t $t: removing the rules that jump to $1* chains failed"
        for c in $chains; do "$ipt" -w -t "$t" -F "$c" || kw_fail "$ipt -t $t -F $c failed"; done
      fi
      for c in $chains; do
        echo "iptables ${ipt%tables} $t $c"
        if kw_do; then "$ipt" -w -t "$t" -X "$c" || kw_fail "$ipt -t $t -X $c failed"; fi
      done
    done
  done
}
kw_umount() {
  kw_path "$1"
  for m in $(awk -v p="$1/" 'index($5, p) == 1 {print $5}' /proc/self/mountinfo | sort -ru); do
    echo "unmount $m"
    if kw_do; then
      umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || ! kw_mounted "$m" || kw_fail "umount $m failed"
    fi
  done
}
kw_conffiles=''
kw_conffile() {  # the MD5 dpkg recorded for $1 when a package ships it as a conffile
  [ -n "$kw_conffiles" ] || kw_conffiles=$(dpkg-query -W -f='${Conffiles}\n' 2>/dev/null; echo .)
  printf '%s\n' "$kw_conffiles" | awk -v p="$1" '$1 == p {print $2; exit}'
}
kw_file() {
  kw_path "$1"
  kw_exists "$1" || return 0
  [ -d "$1" ] && [ ! -L "$1" ] && kw_fail "refusing to remove $1: a directory where kubeward keeps a file"
  md5=$(kw_conffile "$1")
  if [ -n "$md5" ]; then  # a package's conffile that kubeward wrote over (dpkg kept kubeward's)
    if [ -f "$1.dpkg-dist" ]; then
      echo "conffile $1"
      if kw_do; then mv -f -- "$1.dpkg-dist" "$1" || kw_fail "putting $1.dpkg-dist back failed"; fi
      return 0
    fi
    [ "$(md5sum < "$1" | cut -d' ' -f1)" = "$md5" ] && return 0  # the package's own version
  fi
  echo "file $1"
  kw_mark "$1"
  if kw_do; then
    rm -f -- "$1" || kw_fail "rm $1 failed"
    case "$1" in /etc/systemd/*|/lib/systemd/*|/usr/lib/systemd/*) kw_units=yes;; esac
  fi
}
kw_link() {
  kw_path "$1"
  [ -L "$1" ] || return 0
  case "$(readlink "$1")" in
    "$2"|"$2"/*) echo "link $1"
                 kw_mark "$1"
                 if kw_do; then rm -f -- "$1" || kw_fail "rm $1 failed"; fi;;
  esac
}
kw_prefixed() {
  kw_path "${1%/}/$2"
  for e in "${1%/}/$2"*; do kw_exists "$e" && kw_tree "$e"; done
  return 0
}
kw_dir() {
  kw_path "$1"
  [ -d "$1" ] && [ ! -L "$1" ] || return 0
  kw_mounted "$1" && return 0
  kw_empty "$1" || return 0
  echo "dir $1"
  kw_mark "$1"
  if kw_do; then rmdir -- "$1" || kw_fail "rmdir $1 failed"; fi
}
kw_nft() {
  nft list table "$1" "$2" >/dev/null 2>&1 || return 0
  echo "nft $1 $2"
  if kw_do; then nft delete table "$1" "$2" || kw_fail "nft delete table $1 $2 failed"; fi
}
kw_routes() {
  ip -4 route show proto "$1" | while read -r dst _; do
    echo "route $dst"
    if kw_do; then ip -4 route del "$dst" proto "$1" || exit 1; fi
  done || kw_fail "removing the routes of protocol $1 failed"
}
kw_netdev() {
  ip link show "$1" >/dev/null 2>&1 || return 0
  echo "netdev $1"
  if kw_do; then ip link delete "$1" || kw_fail "ip link delete $1 failed"; fi
}
kw_user() {
  id -u "$1" >/dev/null 2>&1 || return 0
  if [ "$1" = "${SUDO_USER:-}" ]; then echo "keep user $1: kubeward is logged in as $1"; return 0; fi
  if pgrep -u "$1" >/dev/null 2>&1; then echo "keep user $1: it has running processes (logged in?)"; return 0; fi
  echo "user $1"
  kw_mark "user:$1"
  if kw_do; then
    g=$(getent group "$1")
    userdel "$1" || kw_fail "userdel $1 failed"
    # userdel takes the user's own group along when nobody else has it (USERGROUPS_ENAB)
    if [ -n "$g" ] && ! getent group "$1" >/dev/null; then echo "group $1"; fi
  fi
}
kw_group() {
  g=$(getent group "$1") || return 0
  gid=$(printf '%s' "$g" | cut -d: -f3)
  users=$(printf '%s' "$g" | cut -d: -f4 | tr ',' ' ')
  users="$users $(getent passwd | awk -F: -v g="$gid" '$4 == g {print $1}')"
  still=''
  for u in $users; do
    printf '%s\n' "$kw_gone" | grep -qxF "user:$u" || still="$still $u"
  done
  if [ -n "$still" ]; then echo "keep group $1: still the group of$still"; return 0; fi
  echo "group $1"
  if kw_do; then groupdel "$1" || kw_fail "groupdel $1 failed"; fi
}
for u in $(printf '%s\n' "$kw_in" | awk -F "$kw_tab" '$1 == "stop" {print $2}'); do
  case "$(systemctl is-active "$u" 2>/dev/null)" in
    active|activating|reloading|deactivating) kw_running="$kw_running$kw_nl$u";;
  esac
done
kw_i=0
while IFS="$kw_tab" read -r kw_action kw_a kw_b <&3; do
  [ -n "$kw_action" ] || continue
  if [ "$kw_action" = mode ]; then kw_mode=$kw_a; continue; fi
  printf '\n@@kw reset %s\n' "$kw_i"
  case "$kw_action" in
    stop) kw_stop "$kw_a";;
    pods) kw_pods "$kw_a" "$kw_b";;
    images) kw_images "$kw_a" "$kw_b";;
    netns) kw_netns "$kw_a";;
    iptables) kw_iptables "$kw_a";;
    umount) kw_umount "$kw_a";;
    file) kw_file "$kw_a";;
    link) kw_link "$kw_a" "$kw_b";;
    tree) kw_tree "$kw_a";;
    prefixed) kw_prefixed "$kw_a" "$kw_b";;
    dir) kw_dir "$kw_a";;
    nft) kw_nft "$kw_a" "$kw_b";;
    routes) kw_routes "$kw_a";;
    netdev) kw_netdev "$kw_a";;
    user) kw_user "$kw_a";;
    group) kw_group "$kw_a";;
    sshd-dropin) if kw_exists "$kw_a"; then echo "sshd-dropin $kw_a"; fi;;
    reload) if kw_do && [ "$kw_units" = yes ]; then systemctl daemon-reload || kw_fail "systemctl daemon-reload failed"; fi;;
    forget) if kw_do; then systemctl reset-failed "$kw_a" >/dev/null 2>&1 || true; fi;;
    *) kw_fail "unknown step '$kw_action'";;
  esac
  kw_i=$((kw_i + 1))
done 3<<KW_STEPS
$kw_in
KW_STEPS
printf '\n@@kw reset end\n'
"""

#: the script itself (the patterns are plain paths: no glob characters)
RESET_SCRIPT = _SCRIPT.replace("@KEEP_DIRS@", "|".join(sorted(KEEP_DIRS)))
assert f"{MARK} {SCOPE} " in RESET_SCRIPT


@dataclass(frozen=True)
class Item:
    """One thing a reset removed (or would remove): its kind (:data:`KINDS`) and what it is."""

    kind: str
    what: str


@dataclass
class ResetOutput:
    """What the script answered: the items removed (or to be), what it kept on purpose and why,
    and how far it got."""

    items: list[Item] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    steps_started: int = 0  # sections seen: when not finished, the last one is the step that failed
    finished: bool = False


def parse_reset_output(text: str) -> ResetOutput:
    """Read the script's sections (a step's section whose text ends early is the step that failed)."""
    sections = parse_sections(text, SCOPE)
    out = ResetOutput(finished=f"{MARK} {SCOPE} end" in text)
    for key in sorted(sections, key=lambda k: int(k) if k.isdigit() else -1):
        if not key.isdigit():
            continue
        out.steps_started = max(out.steps_started, int(key) + 1)
        for line in sections[key].splitlines():
            kind, _, what = line.strip().partition(" ")
            if kind == "keep":
                out.kept.append(what)
            elif kind in KINDS and what:
                out.items.append(Item(kind, what))
    return out
