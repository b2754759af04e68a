set -e
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
# create /etc/kubernetes/controller-manager.conf (root:root 0600)
mkdir -p /etc/kubernetes && tmp=$(mktemp /etc/kubernetes/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0600 "$tmp" && mv -f "$tmp" /etc/kubernetes/controller-manager.conf || { rm -f "$tmp"; exit 1; }
echo '@@kw done 0'
# create /etc/systemd/system/kube-controller-manager.service (root:root 0644)
mkdir -p /etc/systemd/system && tmp=$(mktemp /etc/systemd/system/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" /etc/systemd/system/kube-controller-manager.service || { rm -f "$tmp"; exit 1; }
echo '@@kw done 1'
# enable kube-controller-manager.service
systemctl enable --quiet kube-controller-manager.service 2>/dev/null
echo '@@kw done 2'
systemctl daemon-reload
systemctl start --no-block kube-controller-manager.service
kw_end=$(( $(date +%s) + 180 ))
until ( curl -sf --max-time 3 --insecure https://127.0.0.1:10257/healthz >/dev/null ) >/dev/null 2>&1; do
  if [ "$(date +%s)" -ge "$kw_end" ]; then
    echo "kube-controller-manager.service on $(hostname) is not healthy (/healthz) after 180 s ($(systemctl is-active kube-controller-manager.service))" >&2
    journalctl -u kube-controller-manager.service -n 12 --no-pager -o cat 2>/dev/null | cut -c1-300 >&2
    exit 1
  fi
  sleep 0.5
done
echo '@@kw health kube-controller-manager.service'
