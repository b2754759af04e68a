printf '\n@@kw firewall %s\n' guard
( printf '@@guard firewall %s %s %s\n' "$(systemctl is-active kubeward-firewall-rollback.timer 2>/dev/null || true)" "$(for f in /var/lib/kubeward/rollback/firewall /etc/kubeward/firewall.prev.nft; do [ -e "$f" ] && { echo saved; break; }; done)" "$(cat /var/lib/kubeward/rollback/firewall/deadline 2>/dev/null || echo 0)"

) || true
printf '\n@@kw firewall %s\n' state
( [ -f /etc/kubeward/firewall.nft ] && sha256sum < /etc/kubeward/firewall.nft | cut -d' ' -f1 || echo none
(nft -s list table inet kubeward 2>/dev/null || echo absent) | sha256sum | cut -d' ' -f1
cat /etc/kubeward/firewall.listed.sha256 2>/dev/null || echo none
systemctl is-enabled kubeward-firewall.service 2>/dev/null || echo disabled
[ -f /etc/systemd/system/kubeward-firewall.service ] && sha256sum < /etc/systemd/system/kubeward-firewall.service | cut -d' ' -f1 || echo none

) || true
printf '\n@@kw firewall %s\n' end
