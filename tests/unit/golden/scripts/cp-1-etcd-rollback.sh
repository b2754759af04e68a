systemctl stop etcd || true
if [ -e /var/lib/etcd.kubeward-s1 ]; then rm -rf /var/lib/etcd && mv /var/lib/etcd.kubeward-s1 /var/lib/etcd; fi
systemctl start --no-block etcd
echo @@rolledback