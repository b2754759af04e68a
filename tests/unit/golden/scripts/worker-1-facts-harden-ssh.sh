printf '\n@@kw sshd %s\n' guard
( printf '@@guard sshd %s %s %s\n' "$(systemctl is-active kubeward-sshd-rollback.timer 2>/dev/null || true)" "$(for f in /var/lib/kubeward/rollback/sshd /var/lib/kubeward/sshd-hardening.prev; do [ -e "$f" ] && { echo saved; break; }; done)" "$(cat /var/lib/kubeward/rollback/sshd/deadline 2>/dev/null || echo 0)"

) || true
printf '\n@@kw sshd %s\n' kex
( ssh -Q kex 2>/dev/null | tr '\n' ' '; echo
) || true
printf '\n@@kw sshd %s\n' dropin
( if [ -e '/etc/ssh/sshd_config.d/!kubeward-hardening.conf' ]; then stat -c '%F|%U|%G|%a' '/etc/ssh/sshd_config.d/!kubeward-hardening.conf'; sha256sum '/etc/ssh/sshd_config.d/!kubeward-hardening.conf' | cut -d' ' -f1; if [ $(stat -c %s '/etc/ssh/sshd_config.d/!kubeward-hardening.conf') -le 262144 ]; then base64 -w0 '/etc/ssh/sshd_config.d/!kubeward-hardening.conf'; echo; else echo big; fi; else echo absent; fi
) || true
printf '\n@@kw sshd %s\n' effective
( sshd -T 2>/dev/null
) || true
printf '\n@@kw sshd %s\n' files
( t=$(mktemp); sshd -T -dd 2>"$t"; echo "@@sshd-rc $?"
sed -n 's/.*load_server_config: filename //p' "$t" | tr -d '\r' | while IFS= read -r f; do
  echo "@@file $f"; head -c 262144 "$f" | sed 's/^/ /'; echo; done; rm -f "$t"

) || true
printf '\n@@kw sshd %s\n' end
