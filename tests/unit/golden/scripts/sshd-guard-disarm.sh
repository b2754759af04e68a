systemctl stop kubeward-sshd-rollback.timer >/dev/null 2>&1 || true
systemctl reset-failed kubeward-sshd-rollback.service kubeward-sshd-rollback.timer >/dev/null 2>&1 || true
rm -rf /var/lib/kubeward/rollback/sshd /var/lib/kubeward/rollback/sshd.tmp /usr/local/lib/kubeward/rollback-sshd.sh /var/lib/kubeward/sshd-hardening.prev
