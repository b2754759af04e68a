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
