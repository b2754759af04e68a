set -e
systemctl stop kubeward-sshd-rollback.timer >/dev/null 2>&1 || true
i=0
while systemctl is-active --quiet kubeward-sshd-rollback.service && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
if [ ! -d /var/lib/kubeward/rollback/sshd ]; then echo "@@rolled-back" >&2; exit 7; fi

systemctl stop kubeward-sshd-rollback.timer >/dev/null 2>&1 || true
systemctl reset-failed kubeward-sshd-rollback.service kubeward-sshd-rollback.timer >/dev/null 2>&1 || true
rm -rf /var/lib/kubeward/rollback/sshd /var/lib/kubeward/rollback/sshd.tmp /usr/local/lib/kubeward/rollback-sshd.sh /var/lib/kubeward/sshd-hardening.prev
