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
