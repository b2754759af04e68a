set -e
systemctl stop etcd
if [ -e /var/lib/etcd ]; then mv /var/lib/etcd /var/lib/etcd.kubeward-s1; fi
if ! kw_out=$(ETCDCTL_API=3 etcdctl snapshot restore /var/lib/kubeward/snap --name cp-1 \
    --initial-cluster a=https://10.0.0.10:2380 --initial-cluster-token t \
    --initial-advertise-peer-urls https://10.0.0.10:2380 --data-dir /var/lib/etcd 2>&1); then
  echo "$kw_out" | tail -5 >&2
  exit 1
fi
chown -R etcd:etcd /var/lib/etcd
chmod 0700 /var/lib/etcd
rm -f /var/lib/kubeward/snap
echo @@restored