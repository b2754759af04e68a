set -e
systemctl stop kubeward-firewall-rollback.timer >/dev/null 2>&1 || true
i=0
while systemctl is-active --quiet kubeward-firewall-rollback.service && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
if [ ! -d /var/lib/kubeward/rollback/firewall ]; then echo "@@rolled-back" >&2; exit 7; fi

systemctl stop kubeward-firewall-rollback.timer >/dev/null 2>&1 || true
systemctl reset-failed kubeward-firewall-rollback.service kubeward-firewall-rollback.timer >/dev/null 2>&1 || true
rm -rf /var/lib/kubeward/rollback/firewall /var/lib/kubeward/rollback/firewall.tmp /usr/local/lib/kubeward/rollback-firewall.sh /etc/kubeward/firewall.prev.nft
