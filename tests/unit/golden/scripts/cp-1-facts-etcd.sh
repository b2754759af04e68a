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
