
printf '\n@@kw preflight %s\n' os; cat /etc/os-release 2>/dev/null
printf '\n@@kw preflight %s\n' arch; uname -m
printf '\n@@kw preflight %s\n' hostname; hostname
printf '\n@@kw preflight %s\n' systemd; [ -d /run/systemd/system ] && echo yes || echo no
printf '\n@@kw preflight %s\n' apt; command -v apt-get >/dev/null 2>&1 && echo yes || echo no
printf '\n@@kw preflight %s\n' sudo; if [ "$(id -u)" = 0 ]; then echo root; elif sudo -n true 2>/dev/null; then echo yes; else echo no; fi
printf '\n@@kw preflight %s\n' time; date +%s.%N
printf '\n@@kw preflight %s\n' ntp; timedatectl show -p NTPSynchronized --value 2>/dev/null || echo unknown
printf '\n@@kw preflight %s\n' etchosts; cat /etc/hosts
printf '\n@@kw preflight %s\n' ip; ip -j addr 2>/dev/null
printf '\n@@kw preflight %s\n' swaps; tail -n +2 /proc/swaps
printf '\n@@kw preflight %s\n' modules; for m in br_netfilter overlay; do if [ -d /sys/module/$m ] || { [ $m = br_netfilter ] && [ -d /proc/sys/net/bridge ]; }; then echo "$m loaded"; elif modinfo $m >/dev/null 2>&1; then echo "$m available"; else echo "$m missing"; fi; done
printf '\n@@kw preflight %s\n' passwd; getent passwd kubeadmin
printf '\n@@kw preflight %s\n' uid; getent passwd 1500
if [ "$(id -u)" = 0 ]; then
sh -c 'eval "$(cat)"' <<'KUBEWARD_SCRIPT_1FAEC5AAB1DA1C63'

pkill -x kubeward-probe 2>/dev/null && for i in 1 2 3 4 5 6 7 8 9 10; do pgrep -x kubeward-probe >/dev/null || break; sleep 0.05; done
printf '\n@@kw preflight %s\n' ss; ss -Htlnp 2>&1
printf '\n@@kw preflight %s\n' sshd; sshd -T 2>&1 | grep -Ei '^(allowtcpforwarding|permitrootlogin|passwordauthentication|pubkeyauthentication) '
printf '\n@@kw preflight %s\n' authkeys; h=$(getent passwd kubeadmin | cut -d: -f6); [ -n "$h" ] && [ -f "$h/.ssh/authorized_keys" ] && cat "$h/.ssh/authorized_keys"
printf '\n@@kw preflight %s\n' ipforward; cat /proc/sys/net/ipv4/ip_forward; [ -w /proc/sys/net/ipv4/ip_forward ] && echo writable || echo readonly
printf '\n@@kw preflight %s\n' fwnodes; nft list set inet kubeward nodes 2>/dev/null || echo absent

KUBEWARD_SCRIPT_1FAEC5AAB1DA1C63
elif sudo -n true 2>/dev/null; then
sudo -n sh -c 'eval "$(cat)"' <<'KUBEWARD_SCRIPT_1FAEC5AAB1DA1C63'

pkill -x kubeward-probe 2>/dev/null && for i in 1 2 3 4 5 6 7 8 9 10; do pgrep -x kubeward-probe >/dev/null || break; sleep 0.05; done
printf '\n@@kw preflight %s\n' ss; ss -Htlnp 2>&1
printf '\n@@kw preflight %s\n' sshd; sshd -T 2>&1 | grep -Ei '^(allowtcpforwarding|permitrootlogin|passwordauthentication|pubkeyauthentication) '
printf '\n@@kw preflight %s\n' authkeys; h=$(getent passwd kubeadmin | cut -d: -f6); [ -n "$h" ] && [ -f "$h/.ssh/authorized_keys" ] && cat "$h/.ssh/authorized_keys"
printf '\n@@kw preflight %s\n' ipforward; cat /proc/sys/net/ipv4/ip_forward; [ -w /proc/sys/net/ipv4/ip_forward ] && echo writable || echo readonly
printf '\n@@kw preflight %s\n' fwnodes; nft list set inet kubeward nodes 2>/dev/null || echo absent

KUBEWARD_SCRIPT_1FAEC5AAB1DA1C63
fi
printf '\n@@kw preflight %s\n' listener; if command -v python3 >/dev/null 2>&1; then python3 -c '"""kubeward'"'"'s preflight probe listener (runs on a host as `python3 -c`, stdlib only).

argv: ADDRESS SECONDS PEERS PORT. Binds ADDRESS:PORT (retrying while a previous run'"'"'s probe lets
go), prints "PORT listening" (or "PORT in-use"), detaches, and answers up to PEERS connections
for SECONDS. Named kubeward-probe so `ss`, `ps` and the port checks recognise it.
"""

import ctypes
import os
import socket
import sys
import time


def main() -> None:
    address, seconds, peers, port = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    try:
        ctypes.CDLL(None).prctl(15, b"kubeward-probe", 0, 0, 0)  # PR_SET_NAME: recognisable in ss/ps
    except Exception:
        pass
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    for _attempt in range(40):  # a previous run'"'"'s probe, just killed, may still hold the port
        try:
            s.bind((address, port))
            s.listen(128)
            break
        except OSError:
            time.sleep(0.05)
    else:
        print(port, "in-use", flush=True)
        sys.exit(0)
    print(port, "listening", flush=True)
    if os.fork():
        os._exit(0)
    os.setsid()
    fd = os.open(os.devnull, os.O_RDWR)
    for i in (0, 1, 2):
        os.dup2(fd, i)
    s.settimeout(1.0)
    end = time.time() + seconds
    answered = 0
    while time.time() < end and answered < peers:
        try:
            c, _ = s.accept()
            c.sendall(b"kubeward-preflight\n")
            c.close()
            answered += 1
        except OSError:
            pass


if __name__ == "__main__":
    main()
' 10.0.0.10 20 3 10250 2>&1 || true; fi
printf '\n@@kw preflight %s\n' finished
printf '\n@@kw preflight %s\n' end
