set -e
umask 077
mkdir -p /usr/local/lib/kubeward /var/lib/kubeward/rollback && chmod 0700 /var/lib/kubeward /var/lib/kubeward/rollback
S=/var/lib/kubeward/rollback/sshd
rm -rf "$S" "$S.tmp" && mkdir -m 0700 "$S.tmp"
(S="$S.tmp"
if [ -f '/etc/ssh/sshd_config.d/!kubeward-hardening.conf' ]; then cp -a '/etc/ssh/sshd_config.d/!kubeward-hardening.conf' "$S/dropin"; else : > "$S/absent"; fi
)
mv "$S.tmp" "$S"
rm -f '/etc/ssh/sshd_config.d/!kubeward-hardening.conf'
if ! out=$( ( sshd -t
) 2>&1); then
  if [ -f "$S/absent" ]; then rm -f '/etc/ssh/sshd_config.d/!kubeward-hardening.conf'; else cp -a "$S/dropin" '/etc/ssh/sshd_config.d/!kubeward-hardening.conf'; fi
  rm -rf "$S"
  echo "@@invalid $out" >&2
  exit 3
fi
printf %s '#!/bin/sh
# Managed by kubeward: restores the sshd configuration saved before a guarded change.
# Run by kubeward-sshd-rollback.timer when kubeward did not prove a fresh SSH login in time,
# or by kubeward itself when that proof failed.
S=/var/lib/kubeward/rollback/sshd
[ -d "$S" ] || { echo "kubeward: nothing saved in $S, nothing to restore"; exit 0; }
restore() {
if [ -f "$S/absent" ]; then rm -f '"'"'/etc/ssh/sshd_config.d/!kubeward-hardening.conf'"'"'; else cp -a "$S/dropin" '"'"'/etc/ssh/sshd_config.d/!kubeward-hardening.conf'"'"'; fi && systemctl reload ssh
}
if restore; then
  rm -rf "$S"
  echo "kubeward: restored the sshd configuration saved before an unproven change"
else
  echo "kubeward: restoring the sshd configuration failed; the saved state stays in $S" >&2
  exit 1
fi
' > /usr/local/lib/kubeward/rollback-sshd.sh.tmp
chown root:root /usr/local/lib/kubeward/rollback-sshd.sh.tmp && chmod 0700 /usr/local/lib/kubeward/rollback-sshd.sh.tmp && mv -f /usr/local/lib/kubeward/rollback-sshd.sh.tmp /usr/local/lib/kubeward/rollback-sshd.sh
systemctl stop kubeward-sshd-rollback.timer >/dev/null 2>&1 || true
systemctl reset-failed kubeward-sshd-rollback.service kubeward-sshd-rollback.timer >/dev/null 2>&1 || true
systemd-run --quiet --unit kubeward-sshd-rollback --on-active=60 --timer-property=AccuracySec=1ms \
  --description='kubeward: roll the sshd configuration back unless a fresh SSH login was proven' /usr/local/lib/kubeward/rollback-sshd.sh
# the timer started before this line: it fires within the second before this deadline
deadline=$(( $(date +%s) + 60 + 1 ))
echo "$deadline" > "$S/deadline"
systemctl reload ssh
echo "@@armed $deadline"
