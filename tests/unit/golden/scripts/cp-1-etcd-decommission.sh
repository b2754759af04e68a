systemctl disable --now etcd >/dev/null 2>&1 || true
if [ -d /var/lib/etcd ] && [ -n "$(ls -A /var/lib/etcd 2>/dev/null)" ]; then mv /var/lib/etcd /var/lib/etcd.kubeward-s1 && echo @@moved /var/lib/etcd.kubeward-s1; fi
rm -f /etc/systemd/system/etcd.service.d/10-kubeward.conf /etc/etcd/kubeward.yaml
systemctl daemon-reload
echo @@decommissioned