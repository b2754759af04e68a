set -e
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
# create directory /etc/kubernetes
mkdir -p /etc/kubernetes && chown root:root /etc/kubernetes && chmod 0755 /etc/kubernetes
echo '@@kw done 0'
# create /etc/kubernetes/kube-proxy.yaml (root:root 0644)
mkdir -p /etc/kubernetes && tmp=$(mktemp /etc/kubernetes/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" /etc/kubernetes/kube-proxy.yaml || { rm -f "$tmp"; exit 1; }
echo '@@kw done 1'
# create /etc/kubernetes/kube-proxy.conf (root:root 0600)
mkdir -p /etc/kubernetes && tmp=$(mktemp /etc/kubernetes/.kubeward.XXXXXX) && printf %s YXBpVmVyc2lvbjogdjEKa2luZDogQ29uZmlnCiMgPGNsaWVudCBjZXJ0aWZpY2F0ZT4K | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0600 "$tmp" && mv -f "$tmp" /etc/kubernetes/kube-proxy.conf || { rm -f "$tmp"; exit 1; }
echo '@@kw done 2'
# create /etc/systemd/system/kube-proxy.service (root:root 0644)
mkdir -p /etc/systemd/system && tmp=$(mktemp /etc/systemd/system/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" /etc/systemd/system/kube-proxy.service || { rm -f "$tmp"; exit 1; }
echo '@@kw done 3'
# install iptables, conntrack, curl
apt-get update -qq && apt-get install -y -qq --no-install-recommends iptables conntrack curl >/dev/null
echo '@@kw done 4'
# enable kube-proxy.service
systemctl enable --quiet kube-proxy.service 2>/dev/null
echo '@@kw done 5'
systemctl daemon-reload
systemctl start --no-block kube-proxy.service
kw_end=$(( $(date +%s) + 120 ))
until ( curl -sf --max-time 3 http://127.0.0.1:10256/healthz >/dev/null ) >/dev/null 2>&1; do
  if [ "$(date +%s)" -ge "$kw_end" ]; then
    echo "kube-proxy.service on $(hostname) is not healthy after 120 s ($(systemctl is-active kube-proxy.service))" >&2
    journalctl -u kube-proxy.service -n 12 --no-pager -o cat 2>/dev/null | cut -c1-300 >&2
    exit 1
  fi
  sleep 0.5
done
echo '@@kw health kube-proxy.service'
