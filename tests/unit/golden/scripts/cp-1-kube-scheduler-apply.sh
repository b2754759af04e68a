set -e
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
# create /etc/kubernetes/scheduler.conf (root:root 0600)
mkdir -p /etc/kubernetes && tmp=$(mktemp /etc/kubernetes/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0600 "$tmp" && mv -f "$tmp" /etc/kubernetes/scheduler.conf || { rm -f "$tmp"; exit 1; }
echo '@@kw done 0'
# create /etc/systemd/system/kube-scheduler.service (root:root 0644)
mkdir -p /etc/systemd/system && tmp=$(mktemp /etc/systemd/system/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" /etc/systemd/system/kube-scheduler.service || { rm -f "$tmp"; exit 1; }
echo '@@kw done 1'
# enable kube-scheduler.service
systemctl enable --quiet kube-scheduler.service 2>/dev/null
echo '@@kw done 2'
systemctl daemon-reload
systemctl start --no-block kube-scheduler.service
kw_end=$(( $(date +%s) + 180 ))
until ( curl -sf --max-time 3 --insecure https://127.0.0.1:10259/healthz >/dev/null ) >/dev/null 2>&1; do
  if [ "$(date +%s)" -ge "$kw_end" ]; then
    echo "kube-scheduler.service on $(hostname) is not healthy (/healthz) after 180 s ($(systemctl is-active kube-scheduler.service))" >&2
    journalctl -u kube-scheduler.service -n 12 --no-pager -o cat 2>/dev/null | cut -c1-300 >&2
    exit 1
  fi
  sleep 0.5
done
echo '@@kw health kube-scheduler.service'
