systemctl stop kubeward-firewall-rollback.timer >/dev/null 2>&1 || true
systemctl reset-failed kubeward-firewall-rollback.service kubeward-firewall-rollback.timer >/dev/null 2>&1 || true
rm -rf /var/lib/kubeward/rollback/firewall /var/lib/kubeward/rollback/firewall.tmp /usr/local/lib/kubeward/rollback-firewall.sh /etc/kubeward/firewall.prev.nft
