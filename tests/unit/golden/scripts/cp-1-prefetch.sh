printf '\n@@kw phase %s\n' preflight
sh -c 'eval "$(cat)"' <<'KUBEWARD_SCRIPT_C3F15ECEE8E25238'

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

KUBEWARD_SCRIPT_C3F15ECEE8E25238

printf '\n@@kw phase %s\n' provision
sudo -n sh -c 'eval "$(cat)"' <<'KUBEWARD_SCRIPT_5777C54AB9FC527F'
printf '\n@@kw fact %s\n' hostname
( hostname; cat /etc/hostname 2>/dev/null
) 2>&1 || true
printf '\n@@kw fact %s\n' hosts:127.0.1.1
( if [ -e /etc/hosts ]; then stat -c '%F|%U|%G|%a' /etc/hosts; sha256sum /etc/hosts | cut -d' ' -f1; if [ $(stat -c %s /etc/hosts) -le 262144 ]; then base64 -w0 /etc/hosts; echo; else echo big; fi; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' group:kubeadmin
( getent group kubeadmin; echo @; getent group 1500
) 2>&1 || true
printf '\n@@kw fact %s\n' user:kubeadmin
( getent passwd kubeadmin; echo @; id -nG kubeadmin 2>/dev/null; echo @; getent passwd 1500; echo @; getent shadow kubeadmin | cut -d: -f2 | cut -c1
) 2>&1 || true
printf '\n@@kw fact %s\n' authorized_key:kubeadmin
( if [ -e /home/kubeadmin/.ssh/authorized_keys ]; then stat -c '%F|%U|%G|%a' /home/kubeadmin/.ssh/authorized_keys; sha256sum /home/kubeadmin/.ssh/authorized_keys | cut -d' ' -f1; if [ $(stat -c %s /home/kubeadmin/.ssh/authorized_keys) -le 262144 ]; then base64 -w0 /home/kubeadmin/.ssh/authorized_keys; echo; else echo big; fi; else echo absent; fi; echo @; stat -c '%U|%G|%a' /home/kubeadmin/.ssh 2>/dev/null
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/sudoers.d/kubeward-kubeadmin
( if [ -e /etc/sudoers.d/kubeward-kubeadmin ]; then stat -c '%F|%U|%G|%a' /etc/sudoers.d/kubeward-kubeadmin; sha256sum /etc/sudoers.d/kubeward-kubeadmin | cut -d' ' -f1; if [ $(stat -c %s /etc/sudoers.d/kubeward-kubeadmin) -le 262144 ]; then base64 -w0 /etc/sudoers.d/kubeward-kubeadmin; echo; else echo big; fi; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' packages:ca-certificates,curl,jq,conntrack,socat
( dpkg-query -W -f='${Package} ${db:Status-Status}\n' ca-certificates curl jq conntrack socat 2>/dev/null
) 2>&1 || true
printf '\n@@kw fact %s\n' end

KUBEWARD_SCRIPT_5777C54AB9FC527F

printf '\n@@kw phase %s\n' harden-ssh
sudo -n sh -c 'eval "$(cat)"' <<'KUBEWARD_SCRIPT_53ECE334092247B4'
printf '\n@@kw sshd %s\n' guard
( printf '@@guard sshd %s %s %s\n' "$(systemctl is-active kubeward-sshd-rollback.timer 2>/dev/null || true)" "$(for f in /var/lib/kubeward/rollback/sshd /var/lib/kubeward/sshd-hardening.prev; do [ -e "$f" ] && { echo saved; break; }; done)" "$(cat /var/lib/kubeward/rollback/sshd/deadline 2>/dev/null || echo 0)"

) || true
printf '\n@@kw sshd %s\n' kex
( ssh -Q kex 2>/dev/null | tr '\n' ' '; echo
) || true
printf '\n@@kw sshd %s\n' dropin
( if [ -e '/etc/ssh/sshd_config.d/!kubeward-hardening.conf' ]; then stat -c '%F|%U|%G|%a' '/etc/ssh/sshd_config.d/!kubeward-hardening.conf'; sha256sum '/etc/ssh/sshd_config.d/!kubeward-hardening.conf' | cut -d' ' -f1; if [ $(stat -c %s '/etc/ssh/sshd_config.d/!kubeward-hardening.conf') -le 262144 ]; then base64 -w0 '/etc/ssh/sshd_config.d/!kubeward-hardening.conf'; echo; else echo big; fi; else echo absent; fi
) || true
printf '\n@@kw sshd %s\n' effective
( sshd -T 2>/dev/null
) || true
printf '\n@@kw sshd %s\n' files
( t=$(mktemp); sshd -T -dd 2>"$t"; echo "@@sshd-rc $?"
sed -n 's/.*load_server_config: filename //p' "$t" | tr -d '\r' | while IFS= read -r f; do
  echo "@@file $f"; head -c 262144 "$f" | sed 's/^/ /'; echo; done; rm -f "$t"

) || true
printf '\n@@kw sshd %s\n' end

KUBEWARD_SCRIPT_53ECE334092247B4

printf '\n@@kw phase %s\n' firewall
sudo -n sh -c 'eval "$(cat)"' <<'KUBEWARD_SCRIPT_DDBB00C484D18163'
printf '\n@@kw firewall %s\n' guard
( printf '@@guard firewall %s %s %s\n' "$(systemctl is-active kubeward-firewall-rollback.timer 2>/dev/null || true)" "$(for f in /var/lib/kubeward/rollback/firewall /etc/kubeward/firewall.prev.nft; do [ -e "$f" ] && { echo saved; break; }; done)" "$(cat /var/lib/kubeward/rollback/firewall/deadline 2>/dev/null || echo 0)"

) || true
printf '\n@@kw firewall %s\n' state
( [ -f /etc/kubeward/firewall.nft ] && sha256sum < /etc/kubeward/firewall.nft | cut -d' ' -f1 || echo none
(nft -s list table inet kubeward 2>/dev/null || echo absent) | sha256sum | cut -d' ' -f1
cat /etc/kubeward/firewall.listed.sha256 2>/dev/null || echo none
systemctl is-enabled kubeward-firewall.service 2>/dev/null || echo disabled
[ -f /etc/systemd/system/kubeward-firewall.service ] && sha256sum < /etc/systemd/system/kubeward-firewall.service | cut -d' ' -f1 || echo none

) || true
printf '\n@@kw firewall %s\n' end

KUBEWARD_SCRIPT_DDBB00C484D18163

printf '\n@@kw phase %s\n' pki
sudo -n sh -c 'eval "$(cat)"' <<'KUBEWARD_SCRIPT_4F544646F8807BCC'
printf '\n@@kw fact %s\n' system-user:etcd
( getent passwd etcd
) 2>&1 || true
printf '\n@@kw fact %s\n' dir:/etc/kubernetes/pki
( if [ -e /etc/kubernetes/pki ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki; sha256sum /etc/kubernetes/pki | cut -d' ' -f1; echo; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' dir:/etc/kubernetes/pki/etcd
( if [ -e /etc/kubernetes/pki/etcd ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/etcd; sha256sum /etc/kubernetes/pki/etcd | cut -d' ' -f1; echo; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/ca.crt
( printf 'active:'; for u in etcd kube-apiserver kubelet; do systemctl is-active -q "$u" 2>/dev/null && printf ' %s' "$u"; done; echo
if [ -e /etc/kubernetes/pki/ca.crt ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/ca.crt; sha256sum /etc/kubernetes/pki/ca.crt | cut -d' ' -f1; if [ $(stat -c %s /etc/kubernetes/pki/ca.crt) -le 262144 ]; then base64 -w0 /etc/kubernetes/pki/ca.crt; echo; else echo big; fi; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/api-proxy.crt
( if [ -e /etc/kubernetes/pki/api-proxy.crt ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/api-proxy.crt; sha256sum /etc/kubernetes/pki/api-proxy.crt | cut -d' ' -f1; if [ $(stat -c %s /etc/kubernetes/pki/api-proxy.crt) -le 262144 ]; then base64 -w0 /etc/kubernetes/pki/api-proxy.crt; echo; else echo big; fi; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/api-proxy.key
( if [ -e /etc/kubernetes/pki/api-proxy.key ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/api-proxy.key; sha256sum /etc/kubernetes/pki/api-proxy.key | cut -d' ' -f1; echo; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/etcd/ca.crt
( printf 'active:'; for u in etcd kube-apiserver kubelet; do systemctl is-active -q "$u" 2>/dev/null && printf ' %s' "$u"; done; echo
if [ -e /etc/kubernetes/pki/etcd/ca.crt ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/etcd/ca.crt; sha256sum /etc/kubernetes/pki/etcd/ca.crt | cut -d' ' -f1; if [ $(stat -c %s /etc/kubernetes/pki/etcd/ca.crt) -le 262144 ]; then base64 -w0 /etc/kubernetes/pki/etcd/ca.crt; echo; else echo big; fi; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/etcd/server.crt
( if [ -e /etc/kubernetes/pki/etcd/server.crt ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/etcd/server.crt; sha256sum /etc/kubernetes/pki/etcd/server.crt | cut -d' ' -f1; if [ $(stat -c %s /etc/kubernetes/pki/etcd/server.crt) -le 262144 ]; then base64 -w0 /etc/kubernetes/pki/etcd/server.crt; echo; else echo big; fi; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/etcd/server.key
( if [ -e /etc/kubernetes/pki/etcd/server.key ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/etcd/server.key; sha256sum /etc/kubernetes/pki/etcd/server.key | cut -d' ' -f1; echo; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/etcd/peer.crt
( if [ -e /etc/kubernetes/pki/etcd/peer.crt ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/etcd/peer.crt; sha256sum /etc/kubernetes/pki/etcd/peer.crt | cut -d' ' -f1; if [ $(stat -c %s /etc/kubernetes/pki/etcd/peer.crt) -le 262144 ]; then base64 -w0 /etc/kubernetes/pki/etcd/peer.crt; echo; else echo big; fi; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/etcd/peer.key
( if [ -e /etc/kubernetes/pki/etcd/peer.key ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/etcd/peer.key; sha256sum /etc/kubernetes/pki/etcd/peer.key | cut -d' ' -f1; echo; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/etcd/healthcheck-client.crt
( if [ -e /etc/kubernetes/pki/etcd/healthcheck-client.crt ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/etcd/healthcheck-client.crt; sha256sum /etc/kubernetes/pki/etcd/healthcheck-client.crt | cut -d' ' -f1; if [ $(stat -c %s /etc/kubernetes/pki/etcd/healthcheck-client.crt) -le 262144 ]; then base64 -w0 /etc/kubernetes/pki/etcd/healthcheck-client.crt; echo; else echo big; fi; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/etcd/healthcheck-client.key
( if [ -e /etc/kubernetes/pki/etcd/healthcheck-client.key ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/etcd/healthcheck-client.key; sha256sum /etc/kubernetes/pki/etcd/healthcheck-client.key | cut -d' ' -f1; echo; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/apiserver.crt
( if [ -e /etc/kubernetes/pki/apiserver.crt ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/apiserver.crt; sha256sum /etc/kubernetes/pki/apiserver.crt | cut -d' ' -f1; if [ $(stat -c %s /etc/kubernetes/pki/apiserver.crt) -le 262144 ]; then base64 -w0 /etc/kubernetes/pki/apiserver.crt; echo; else echo big; fi; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/apiserver.key
( if [ -e /etc/kubernetes/pki/apiserver.key ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/apiserver.key; sha256sum /etc/kubernetes/pki/apiserver.key | cut -d' ' -f1; echo; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/apiserver-kubelet-client.crt
( if [ -e /etc/kubernetes/pki/apiserver-kubelet-client.crt ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/apiserver-kubelet-client.crt; sha256sum /etc/kubernetes/pki/apiserver-kubelet-client.crt | cut -d' ' -f1; if [ $(stat -c %s /etc/kubernetes/pki/apiserver-kubelet-client.crt) -le 262144 ]; then base64 -w0 /etc/kubernetes/pki/apiserver-kubelet-client.crt; echo; else echo big; fi; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/apiserver-kubelet-client.key
( if [ -e /etc/kubernetes/pki/apiserver-kubelet-client.key ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/apiserver-kubelet-client.key; sha256sum /etc/kubernetes/pki/apiserver-kubelet-client.key | cut -d' ' -f1; echo; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/apiserver-etcd-client.crt
( if [ -e /etc/kubernetes/pki/apiserver-etcd-client.crt ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/apiserver-etcd-client.crt; sha256sum /etc/kubernetes/pki/apiserver-etcd-client.crt | cut -d' ' -f1; if [ $(stat -c %s /etc/kubernetes/pki/apiserver-etcd-client.crt) -le 262144 ]; then base64 -w0 /etc/kubernetes/pki/apiserver-etcd-client.crt; echo; else echo big; fi; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/apiserver-etcd-client.key
( if [ -e /etc/kubernetes/pki/apiserver-etcd-client.key ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/apiserver-etcd-client.key; sha256sum /etc/kubernetes/pki/apiserver-etcd-client.key | cut -d' ' -f1; echo; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/front-proxy-ca.crt
( printf 'active:'; for u in etcd kube-apiserver kubelet; do systemctl is-active -q "$u" 2>/dev/null && printf ' %s' "$u"; done; echo
if [ -e /etc/kubernetes/pki/front-proxy-ca.crt ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/front-proxy-ca.crt; sha256sum /etc/kubernetes/pki/front-proxy-ca.crt | cut -d' ' -f1; if [ $(stat -c %s /etc/kubernetes/pki/front-proxy-ca.crt) -le 262144 ]; then base64 -w0 /etc/kubernetes/pki/front-proxy-ca.crt; echo; else echo big; fi; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/kubelet-signer.crt
( printf 'active:'; for u in etcd kube-apiserver kubelet; do systemctl is-active -q "$u" 2>/dev/null && printf ' %s' "$u"; done; echo
if [ -e /etc/kubernetes/pki/kubelet-signer.crt ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/kubelet-signer.crt; sha256sum /etc/kubernetes/pki/kubelet-signer.crt | cut -d' ' -f1; if [ $(stat -c %s /etc/kubernetes/pki/kubelet-signer.crt) -le 262144 ]; then base64 -w0 /etc/kubernetes/pki/kubelet-signer.crt; echo; else echo big; fi; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/kubelet-signer.key
( if [ -e /etc/kubernetes/pki/kubelet-signer.key ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/kubelet-signer.key; sha256sum /etc/kubernetes/pki/kubelet-signer.key | cut -d' ' -f1; echo; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/controller-manager-serving.crt
( if [ -e /etc/kubernetes/pki/controller-manager-serving.crt ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/controller-manager-serving.crt; sha256sum /etc/kubernetes/pki/controller-manager-serving.crt | cut -d' ' -f1; if [ $(stat -c %s /etc/kubernetes/pki/controller-manager-serving.crt) -le 262144 ]; then base64 -w0 /etc/kubernetes/pki/controller-manager-serving.crt; echo; else echo big; fi; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/controller-manager-serving.key
( if [ -e /etc/kubernetes/pki/controller-manager-serving.key ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/controller-manager-serving.key; sha256sum /etc/kubernetes/pki/controller-manager-serving.key | cut -d' ' -f1; echo; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/scheduler-serving.crt
( if [ -e /etc/kubernetes/pki/scheduler-serving.crt ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/scheduler-serving.crt; sha256sum /etc/kubernetes/pki/scheduler-serving.crt | cut -d' ' -f1; if [ $(stat -c %s /etc/kubernetes/pki/scheduler-serving.crt) -le 262144 ]; then base64 -w0 /etc/kubernetes/pki/scheduler-serving.crt; echo; else echo big; fi; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/scheduler-serving.key
( if [ -e /etc/kubernetes/pki/scheduler-serving.key ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/scheduler-serving.key; sha256sum /etc/kubernetes/pki/scheduler-serving.key | cut -d' ' -f1; echo; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/front-proxy-client.crt
( if [ -e /etc/kubernetes/pki/front-proxy-client.crt ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/front-proxy-client.crt; sha256sum /etc/kubernetes/pki/front-proxy-client.crt | cut -d' ' -f1; if [ $(stat -c %s /etc/kubernetes/pki/front-proxy-client.crt) -le 262144 ]; then base64 -w0 /etc/kubernetes/pki/front-proxy-client.crt; echo; else echo big; fi; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/front-proxy-client.key
( if [ -e /etc/kubernetes/pki/front-proxy-client.key ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/front-proxy-client.key; sha256sum /etc/kubernetes/pki/front-proxy-client.key | cut -d' ' -f1; echo; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/sa.key
( if [ -e /etc/kubernetes/pki/sa.key ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/sa.key; sha256sum /etc/kubernetes/pki/sa.key | cut -d' ' -f1; echo; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/sa.pub
( if [ -e /etc/kubernetes/pki/sa.pub ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/sa.pub; sha256sum /etc/kubernetes/pki/sa.pub | cut -d' ' -f1; if [ $(stat -c %s /etc/kubernetes/pki/sa.pub) -le 262144 ]; then base64 -w0 /etc/kubernetes/pki/sa.pub; echo; else echo big; fi; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' absent:/var/lib/kubelet/pki/kubelet-client.crt
( [ -e /var/lib/kubelet/pki/kubelet-client.crt ] && echo present || echo absent
) 2>&1 || true
printf '\n@@kw fact %s\n' absent:/var/lib/kubelet/pki/kubelet-client.key
( [ -e /var/lib/kubelet/pki/kubelet-client.key ] && echo present || echo absent
) 2>&1 || true
printf '\n@@kw fact %s\n' absent:/var/lib/kubelet/pki/kubelet.crt
( [ -e /var/lib/kubelet/pki/kubelet.crt ] && echo present || echo absent
) 2>&1 || true
printf '\n@@kw fact %s\n' absent:/var/lib/kubelet/pki/kubelet.key
( [ -e /var/lib/kubelet/pki/kubelet.key ] && echo present || echo absent
) 2>&1 || true
printf '\n@@kw fact %s\n' end

KUBEWARD_SCRIPT_4F544646F8807BCC

printf '\n@@kw phase %s\n' etcd
sudo -n sh -c 'eval "$(cat)"' <<'KUBEWARD_SCRIPT_46D8EEE3A6BC2C02'
printf '\n@@kw fact %s\n' system-user:etcd
( getent passwd etcd
) || true
printf '\n@@kw fact %s\n' dir:/etc/etcd
( if [ -e /etc/etcd ]; then stat -c '%F|%U|%G|%a' /etc/etcd; sha256sum /etc/etcd | cut -d' ' -f1; echo; else echo absent; fi
) || true
printf '\n@@kw fact %s\n' dir:/var/lib/etcd
( if [ -e /var/lib/etcd ]; then stat -c '%F|%U|%G|%a' /var/lib/etcd; sha256sum /var/lib/etcd | cut -d' ' -f1; echo; else echo absent; fi
) || true
printf '\n@@kw fact %s\n' file:/etc/etcd/kubeward.yaml
( if [ -e /etc/etcd/kubeward.yaml ]; then stat -c '%F|%U|%G|%a' /etc/etcd/kubeward.yaml; sha256sum /etc/etcd/kubeward.yaml | cut -d' ' -f1; if [ $(stat -c %s /etc/etcd/kubeward.yaml) -le 262144 ]; then base64 -w0 /etc/etcd/kubeward.yaml; echo; else echo big; fi; else echo absent; fi
) || true
printf '\n@@kw fact %s\n' file:/etc/systemd/system/etcd.service.d/10-kubeward.conf
( if [ -e /etc/systemd/system/etcd.service.d/10-kubeward.conf ]; then stat -c '%F|%U|%G|%a' /etc/systemd/system/etcd.service.d/10-kubeward.conf; sha256sum /etc/systemd/system/etcd.service.d/10-kubeward.conf | cut -d' ' -f1; if [ $(stat -c %s /etc/systemd/system/etcd.service.d/10-kubeward.conf) -le 262144 ]; then base64 -w0 /etc/systemd/system/etcd.service.d/10-kubeward.conf; echo; else echo big; fi; else echo absent; fi
) || true
printf '\n@@kw fact %s\n' packages:etcd-server,etcd-client
( dpkg-query -W -f='${Package} ${db:Status-Status}\n' etcd-server etcd-client 2>/dev/null
) || true
printf '\n@@kw fact %s\n' service:etcd
( e=$(systemctl is-enabled etcd 2>/dev/null); echo "${e:-missing}"; a=$(systemctl is-active etcd 2>/dev/null); echo "${a:-unknown}"
) || true
printf '\n@@kw fact %s\n' etcd-data
( [ -d /var/lib/etcd/member ] && echo data || echo none
) || true
printf '\n@@kw fact %s\n' etcd-members
( kw_etcdctl() { ETCDCTL_API=3 etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt --key=/etc/kubernetes/pki/etcd/healthcheck-client.key "$@"; }
kw_up=no
command -v etcdctl >/dev/null 2>&1 && systemctl is-active -q etcd && kw_up=yes
[ $kw_up = yes ] && kw_etcdctl --dial-timeout=1s --command-timeout=3s member list -w json 2>/dev/null | tr -d '\n'
) || true
printf '\n@@kw fact %s\n' etcd-health
( kw_etcdctl() { ETCDCTL_API=3 etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt --key=/etc/kubernetes/pki/etcd/healthcheck-client.key "$@"; }
kw_up=no
command -v etcdctl >/dev/null 2>&1 && systemctl is-active -q etcd && kw_up=yes
[ $kw_up = yes ] && kw_etcdctl --dial-timeout=1s --command-timeout=3s endpoint health --cluster -w json 2>/dev/null | tr -d '\n'
) || true
printf '\n@@kw fact %s\n' end

KUBEWARD_SCRIPT_46D8EEE3A6BC2C02

printf '\n@@kw phase %s\n' audit
sudo -n sh -c 'eval "$(cat)"' <<'KUBEWARD_SCRIPT_3243FB7A89A1AA9F'
echo @@ss; ss -Htlnupe 2>/dev/null
echo @@sshd
t=$(mktemp); sshd -T -dd 2>"$t"; echo "@@sshd-rc $?"
sed -n 's/.*load_server_config: filename //p' "$t" | tr -d '\r' | while IFS= read -r f; do
  echo "@@file $f"; head -c 262144 "$f" | sed 's/^/ /'; echo; done; rm -f "$t"

echo @@files
for f in '/etc/ssh/sshd_config.d/!kubeward-hardening.conf' /etc/kubeward/firewall.nft /etc/sudoers.d/kubeward-kubeadmin /home/kubeadmin/.ssh/authorized_keys /etc/ssh/ssh_host_ed25519_key /etc/kubernetes/pki/ca.crt /etc/kubernetes/pki/api-proxy.crt /etc/kubernetes/pki/api-proxy.key /etc/kubernetes/pki/etcd/ca.crt /etc/kubernetes/pki/etcd/server.crt /etc/kubernetes/pki/etcd/server.key /etc/kubernetes/pki/etcd/peer.crt /etc/kubernetes/pki/etcd/peer.key /etc/kubernetes/pki/etcd/healthcheck-client.crt /etc/kubernetes/pki/etcd/healthcheck-client.key /etc/kubernetes/pki/apiserver.crt /etc/kubernetes/pki/apiserver.key /etc/kubernetes/pki/apiserver-kubelet-client.crt /etc/kubernetes/pki/apiserver-kubelet-client.key /etc/kubernetes/pki/apiserver-etcd-client.crt /etc/kubernetes/pki/apiserver-etcd-client.key /etc/kubernetes/pki/front-proxy-ca.crt /etc/kubernetes/pki/kubelet-signer.crt /etc/kubernetes/pki/kubelet-signer.key /etc/kubernetes/pki/controller-manager-serving.crt /etc/kubernetes/pki/controller-manager-serving.key /etc/kubernetes/pki/scheduler-serving.crt /etc/kubernetes/pki/scheduler-serving.key /etc/kubernetes/pki/front-proxy-client.crt /etc/kubernetes/pki/front-proxy-client.key /etc/kubernetes/pki/sa.key /etc/kubernetes/pki/sa.pub $(find /etc/kubernetes /etc/etcd /etc/kubeward /var/lib/kubeward /etc/ssl/private /root /home /tmp /srv -xdev -type f \( -name '*.key' -o -name '*.pem' -o -name '*kubeconfig*' \
    -o -name '*.conf' -path '*/kubernetes/*' -o -name 'authorized_keys' \) -size -256k 2>/dev/null); do
  [ -f "$f" ] && echo "$(stat -c '%U|%G|%a' "$f")|$(sha256sum < "$f" | cut -d' ' -f1)|$f"
done
echo @@passwd; getent passwd | cut -d: -f1,3,4,6
echo @@group; getent group | cut -d: -f1,3,4
echo @@ak

akf="$(sshd -T 2>/dev/null | sed -n 's/^authorizedkeysfile //p') .ssh/authorized_keys .ssh/authorized_keys2"
getent passwd | awk -F: -v akf="$akf" '
BEGIN { n = split(akf, pats, " ") }
{
  for (i = 1; i <= n; i++) {
    p = pats[i]; out = ""
    if (p == "none") continue
    while ((j = index(p, "%")) > 0) {
      c = substr(p, j + 1, 1); out = out substr(p, 1, j - 1)
      if (c == "%") out = out "%"; else if (c == "h") out = out $6; else if (c == "u") out = out $1
      else if (c == "U") out = out $3; else out = out "%" c
      p = substr(p, j + 2)
    }
    out = out p
    if (substr(out, 1, 1) != "/") { h = $6; sub(/\/$/, "", h); out = h "/" out }
    print $1 "\t" out
  }
}' | while IFS='	' read -r u p; do
  [ -f "$p" ] || continue
  echo "@@akfile $u|$(stat -c '%U|%a' "$p")|$p"
  head -c 65536 "$p" | sed 's/^/ /'; echo
done

echo @@keys

kw_spki() { sha256sum | cut -c1-64; }
kw_fp() {  # the public key of a private key file, whatever its encoding: PEM/DER, PKCS#8/traditional, OpenSSH
  for inf in PEM DER; do
    s=$(openssl pkey -inform $inf -in "$1" -passin pass: -pubout -outform DER 2>/dev/null </dev/null | kw_spki)
    [ "$s" != <sha256> ] && { printf ' spki:%s' "$s"; return; }
  done
  s=$(ssh-keygen -y -P '' -f "$1" 2>/dev/null </dev/null | awk '{print $2}' | base64 -d 2>/dev/null | kw_spki)
  [ "$s" != <sha256> ] && printf ' ssh:%s' "$s"
  grep -o 'client-key-data: *[A-Za-z0-9+/=]*' "$1" 2>/dev/null | while read -r _ b; do
    s=$(printf %s "$b" | base64 -d 2>/dev/null | openssl pkey -passin pass: -pubout -outform DER 2>/dev/null | kw_spki)
    [ "$s" != <sha256> ] && printf ' spki:%s' "$s"
  done
}
command -v openssl >/dev/null 2>&1 || echo '@@gap keys|openssl is not installed: private keys are not identified'
list=$(mktemp)
timeout 30 find /etc /root /home /var/lib /opt /srv /tmp /usr/local -xdev -maxdepth 8 \( -path /var/lib/containerd -o -path /var/lib/docker -o -path /var/lib/dpkg -o -path /var/lib/apt -o -path /var/cache \) -prune -o -type f -size -64k -print 2>/dev/null > "$list"
[ $? = 124 ] && echo '@@gap keys|the search for private keys timed out after 30s'
n=$(wc -l < "$list"); echo "@@searched $n"
marker='-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY-----'
xargs -r -d '\n' grep -l -E -e "$marker" -e 'client-key-data:' < "$list" 2>/dev/null > "$list.c"
[ "$(wc -l < "$list.c")" -gt 2000 ] && echo '@@gap keys|more than 2000 files hold key material: only the first 2000 were identified'
{ cat "$list.c"; grep -E '\.(key|der|p8|pk8)$' "$list" | grep -vxF -f "$list.c"; } | head -n 2000 \
  | while IFS= read -r f; do
  fp=$(kw_fp "$f")
  if grep -q -E -e "$marker" "$f" 2>/dev/null; then k=m; elif [ -n "$fp" ]; then k=n; else continue; fi
  echo "$k|$(stat -c '%U|%G|%a' "$f")|${fp# }|$f"
done
rm -f "$list.c"
rm -f "$list"

echo @@procs
for pid in $(pgrep -x 'kube-apiserver|kube-controller|kube-scheduler|etcd|kubelet|kube-proxy'); do
  [ -r /proc/$pid/cmdline ] || continue
  echo "@@proc $(cat /proc/$pid/comm) $pid"
  tr '\0' '\n' < /proc/$pid/cmdline | sed 's/^/ a /'
  [ "$(cat /proc/$pid/comm)" = etcd ] && tr '\0' '\n' < /proc/$pid/environ | grep '^ETCD_' | sed 's/^/ e /'
  echo " v $(timeout 5 /proc/$pid/exe --version 2>/dev/null </dev/null | head -n 1)"
  prev=
  tr '\0' '\n' < /proc/$pid/cmdline | while IFS= read -r a; do
    f=
    case "$a" in
      --config=*|--config-file=*|--encryption-provider-config=*) k=${a%%=*}; f=${a#*=} ;;
      *) case "$prev" in --config|--config-file|--encryption-provider-config) k=$prev; f=$a ;; esac ;;
    esac
    prev=$a
    [ -n "$f" ] || continue
    case "$f" in /*) p=$f ;; *) p=/proc/$pid/cwd/$f ;; esac
    echo " f ${k#--} $f"
    head -c 262144 "$p" 2>/dev/null | sed -E 's/^([[:space:]-]*(secret|key|token|password):).*/\1 (redacted)/; s/^/ c /'
  done
done
echo @@certs
for f in /var/lib/kubelet/pki/kubelet-client-current.pem; do
  [ -f "$f" ] && echo "$(openssl x509 -noout -enddate -in "$f" 2>/dev/null | cut -d= -f2)|$f"
done
echo @@fw
(nft -s list table inet kubeward 2>/dev/null | sha256sum | cut -d' ' -f1) ; nft list table inet kubeward >/dev/null 2>&1 && echo present || echo absent
cat /etc/kubeward/firewall.listed.sha256 2>/dev/null || echo
[ -f /etc/kubeward/firewall.nft ] && sha256sum < /etc/kubeward/firewall.nft | cut -d' ' -f1 || echo
echo @@state
kw_digest() { sha256sum | cut -c1-64; }
echo "ruleset $({ nft -s list ruleset; for t in iptables-legacy-save ip6tables-legacy-save; do
  command -v $t >/dev/null 2>&1 && $t | grep -v '^#'; done; } 2>&1 | kw_digest)"
echo "net $({ ip -br addr; ip route show table all; ip -6 route show table all; ip rule; ip -6 rule
  for k in net.ipv4.ip_forward net.ipv6.conf.all.forwarding net.ipv4.conf.all.route_localnet \
    net.ipv4.conf.all.rp_filter net.ipv4.conf.all.accept_local; do sysctl -n $k; done
} 2>&1 | sed -E 's/ expires [0-9]+sec//' | kw_digest)"
echo "sshd-bin $(sha256sum < "$(command -v sshd || echo /usr/sbin/sshd)" 2>&1 | cut -c1-64)"

echo @@end

KUBEWARD_SCRIPT_3243FB7A89A1AA9F

printf '\n@@kw phase %s\n' end
