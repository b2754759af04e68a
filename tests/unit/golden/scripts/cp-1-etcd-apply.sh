set -e
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
systemctl stop etcd
# move the stale etcd data in /var/lib/etcd aside
if [ -d /var/lib/etcd ] && [ -n "$(ls -A /var/lib/etcd 2>/dev/null)" ]; then mv /var/lib/etcd /var/lib/etcd.kubeward-s1 && echo @@moved /var/lib/etcd.kubeward-s1; fi
mkdir -p /var/lib/etcd && chown etcd:etcd /var/lib/etcd && chmod 0700 /var/lib/etcd
echo '@@kw done 0'
# create directory /etc/etcd
mkdir -p /etc/etcd && chown root:root /etc/etcd && chmod 0755 /etc/etcd
echo '@@kw done 1'
# create directory /var/lib/etcd
mkdir -p /var/lib/etcd && chown etcd:etcd /var/lib/etcd && chmod 0700 /var/lib/etcd
echo '@@kw done 2'
# create /etc/etcd/kubeward.yaml (root:etcd 0640)
mkdir -p /etc/etcd && tmp=$(mktemp /etc/etcd/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:etcd "$tmp" && chmod 0640 "$tmp" && mv -f "$tmp" /etc/etcd/kubeward.yaml || { rm -f "$tmp"; exit 1; }
echo '@@kw done 3'
# create /etc/systemd/system/etcd.service.d/10-kubeward.conf (root:root 0644)
mkdir -p /etc/systemd/system/etcd.service.d && tmp=$(mktemp /etc/systemd/system/etcd.service.d/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" /etc/systemd/system/etcd.service.d/10-kubeward.conf || { rm -f "$tmp"; exit 1; }
echo '@@kw done 4'
# install etcd-server, etcd-client
kw_saved=""
if [ -e /usr/sbin/policy-rc.d ]; then kw_saved=/usr/sbin/policy-rc.d.kubeward-saved; mv -f /usr/sbin/policy-rc.d "$kw_saved"; fi
printf '#!/bin/sh\n# kubeward: no service starts during package installation\nexit 101\n' > /usr/sbin/policy-rc.d
chmod 0755 /usr/sbin/policy-rc.d
kw_rc=0
( apt-get update -qq && apt-get install -y -qq --no-install-recommends etcd-server etcd-client >/dev/null ) || kw_rc=$?
rm -f /usr/sbin/policy-rc.d
if [ -n "$kw_saved" ]; then mv -f "$kw_saved" /usr/sbin/policy-rc.d; fi
[ "$kw_rc" -eq 0 ]
echo '@@kw done 5'
# enable etcd
systemctl enable --quiet etcd 2>/dev/null
echo '@@kw done 6'
systemctl daemon-reload
systemctl start --no-block etcd
kw_end=$(( $(date +%s) + 120 ))
until ( kw_etcdctl() { ETCDCTL_API=3 etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt --key=/etc/kubernetes/pki/etcd/healthcheck-client.key "$@"; }
kw_etcdctl --dial-timeout=1s --command-timeout=3s endpoint health ) >/dev/null 2>&1; do
  if [ "$(date +%s)" -ge "$kw_end" ]; then
    echo "etcd on $(hostname) is not healthy after 120 s ($(systemctl is-active etcd))" >&2
    journalctl -u etcd -n 12 --no-pager -o cat 2>/dev/null | cut -c1-300 >&2
    exit 1
  fi
  sleep 0.5
done
echo '@@kw health etcd'
